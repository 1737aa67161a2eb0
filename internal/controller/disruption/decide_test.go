package disruption

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	intOrStr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	deleting := pod("d", true)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	scale := func(n int32) func() (int32, error) { return func() (int32, error) { return n, nil } }
	for _, tc := range []struct {
		name                                string
		spec                                policyv1.PodDisruptionBudgetSpec
		disrupted                           map[string]metav1.Time
		pods                                []*corev1.Pod
		scale                               func() (int32, error)
		healthy, desired, expected, allowed int32
		reason                              string
		keepDisrupted                       int
		recheck                             bool
	}{
		{name: "minAvailable count", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, healthy: 3, desired: 2, expected: 3, allowed: 1, reason: ReasonSufficientPods},
		{name: "unready and deleting pods are not healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", false), deleting}, healthy: 1, desired: 2, expected: 3, allowed: 0, reason: ReasonInsufficientPods},
		{name: "minAvailable percent of the controllers' scale, rounded up", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromString("50%"))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, scale: scale(5), healthy: 3, desired: 3, expected: 5, allowed: 0, reason: ReasonInsufficientPods},
		{name: "maxUnavailable", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOrStr(intstr.FromInt32(1))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, scale: scale(3), healthy: 3, desired: 2, expected: 3, allowed: 1, reason: ReasonSufficientPods},
		{name: "maxUnavailable larger than the scale", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOrStr(intstr.FromInt32(5))},
			pods: []*corev1.Pod{pod("a", true)}, scale: scale(1), healthy: 1, desired: 0, expected: 1, allowed: 1, reason: ReasonSufficientPods},
		{name: "no pods, nothing allowed", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOrStr(intstr.FromInt32(1))},
			scale: scale(0), allowed: 0, reason: ReasonInsufficientPods},
		{name: "a recently evicted pod is not healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(1))},
			disrupted: map[string]metav1.Time{"a": {Time: now.Add(-time.Minute)}, "gone": {Time: now}, "old": {Time: now.Add(-3 * time.Minute)}},
			pods:      []*corev1.Pod{pod("a", true), pod("b", true), pod("old", true)}, healthy: 2, desired: 1, expected: 3, allowed: 1,
			reason: ReasonSufficientPods, keepDisrupted: 1, recheck: true},
		{name: "scale unknown fails safe", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOrStr(intstr.FromInt32(1))},
			pods: []*corev1.Pod{pod("a", true)}, scale: func() (int32, error) { return 0, errors.New("found no controller ref for pod \"a\"") },
			reason: ReasonSyncFailed},
	} {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "b", Generation: 4}, Spec: tc.spec,
			Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted, DisruptionsAllowed: 7}}
		st, recheck := Status(Input{PDB: pdb, Pods: tc.pods, ExpectedScale: tc.scale, Now: now})
		if tc.reason != ReasonSyncFailed && (st.CurrentHealthy != tc.healthy || st.DesiredHealthy != tc.desired || st.ExpectedPods != tc.expected) {
			t.Errorf("%s: healthy/desired/expected %d/%d/%d, want %d/%d/%d", tc.name, st.CurrentHealthy, st.DesiredHealthy, st.ExpectedPods, tc.healthy, tc.desired, tc.expected)
		}
		if st.DisruptionsAllowed != tc.allowed || st.ObservedGeneration != 4 {
			t.Errorf("%s: allowed %d (generation %d), want %d", tc.name, st.DisruptionsAllowed, st.ObservedGeneration, tc.allowed)
		}
		if len(st.Conditions) != 1 || st.Conditions[0].Reason != tc.reason || st.Conditions[0].Type != policyv1.DisruptionAllowedCondition {
			t.Errorf("%s: conditions %+v, want reason %s", tc.name, st.Conditions, tc.reason)
		}
		if len(st.DisruptedPods) != tc.keepDisrupted || (recheck > 0) != tc.recheck {
			t.Errorf("%s: disruptedPods %v recheck %v", tc.name, st.DisruptedPods, recheck)
		}
	}
}
