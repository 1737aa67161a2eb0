package replicaset

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestReplicaDiff(t *testing.T) {
	for _, tc := range []struct {
		want, have, diff int
	}{
		{3, 0, 3}, {3, 3, 0}, {1, 4, -3}, {0, 2, -2}, {1000, 0, burstReplicas}, {0, 900, -burstReplicas},
	} {
		rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(tc.want))}}
		if got := replicaDiff(rs, tc.have); got != tc.diff {
			t.Errorf("replicaDiff(want %d, have %d) = %d, want %d", tc.want, tc.have, got, tc.diff)
		}
	}
}

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     int
		failAfter int64 // calls after this many fail; -1 never
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, -1, 10, 10},
		{"first fails", 10, 0, 0, 1},
		{"fails in third batch", 10, 4, 4, 7}, // batches 1, 2, 4: calls 4..6 fail
		{"zero", 0, -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := slowStartBatch(tc.count, 1, func() error {
				n := calls.Add(1)
				if tc.failAfter >= 0 && n > tc.failAfter {
					return errors.New("quota exceeded")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err != nil) != (tc.failAfter >= 0) {
				t.Errorf("got ok=%d calls=%d err=%v, want ok=%d calls=%d", ok, calls.Load(), err, tc.wantOK, tc.wantCalls)
			}
		})
	}
}

// A ReplicaSet created in rounds of burstReplicas goes through the slow start once: the
// next round starts where the last one, all successful, left off; a failure starts over.
func TestSlowStartContinues(t *testing.T) {
	var calls atomic.Int64
	succeed := func() error { calls.Add(1); return nil }
	ok, next, err := slowStart(burstReplicas, slowStartInitialBatchSize, succeed)
	if ok != burstReplicas || err != nil || next != 512 {
		t.Fatalf("first round: ok=%d next=%d err=%v, want %d, 512, nil", ok, next, err, burstReplicas)
	}
	var inFlight, most atomic.Int64
	ok, _, err = slowStart(burstReplicas, next, func() error {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		defer inFlight.Add(-1)
		return nil
	})
	if ok != burstReplicas || err != nil {
		t.Fatalf("second round: ok=%d err=%v", ok, err)
	}
	if most.Load() > int64(burstReplicas) {
		t.Errorf("%d creations at once, want at most %d", most.Load(), burstReplicas)
	}
	_, next, err = slowStart(10, 8, func() error { return errors.New("quota exceeded") })
	if err == nil || next != slowStartInitialBatchSize {
		t.Errorf("after a failure: next=%d err=%v, want %d and the error", next, err, slowStartInitialBatchSize)
	}
}

func TestStatusDelay(t *testing.T) {
	rs := func(spec, status int32) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: &spec}, Status: appsv1.ReplicaSetStatus{Replicas: status}}
	}
	for _, tc := range []struct {
		rs   *appsv1.ReplicaSet
		want time.Duration
	}{
		{rs(3, 0), 60 * time.Microsecond},
		{rs(10000, 200), 200 * time.Millisecond},
		{rs(0, 10000), 200 * time.Millisecond}, // scaling down: its pods still cost a sync
		{rs(1000000, 0), maxStatusDelay},
	} {
		if got := statusDelay(tc.rs); got != tc.want {
			t.Errorf("statusDelay(spec %d, status %d) = %v, want %v", *tc.rs.Spec.Replicas, tc.rs.Status.Replicas, got, tc.want)
		}
	}
}

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
		CreationTimestamp: metav1.NewTime(t0), Labels: map[string]string{"app": "a"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{deletionCostAnnotation: c} }
}

func TestPodsToDelete(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name  string
		pods  []*corev1.Pod
		first string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{mkPod("a", onNode("n")), mkPod("b")}, "b"},
		{"pending before running", []*corev1.Pod{mkPod("a", onNode("n")), mkPod("b", onNode("n"), phase(corev1.PodPending))}, "b"},
		{"unknown before running", []*corev1.Pod{mkPod("a", onNode("n")), mkPod("b", onNode("n"), phase(corev1.PodUnknown))}, "b"},
		{"not ready before ready", []*corev1.Pod{mkPod("a", onNode("n"), readySince(t0)), mkPod("b", onNode("n"))}, "b"},
		{"lower deletion cost first", []*corev1.Pod{mkPod("a", onNode("n"), cost("10")), mkPod("b", onNode("n"), cost("-5"))}, "b"},
		{"ready for less time first", []*corev1.Pod{mkPod("a", onNode("n"), readySince(t0)), mkPod("b", onNode("n"), readySince(now.Add(-time.Second)))}, "b"},
		{"more restarts first", []*corev1.Pod{mkPod("a", onNode("n"), restarts(1)), mkPod("b", onNode("n"), restarts(5))}, "b"},
		{"newer first", []*corev1.Pod{mkPod("a", onNode("n")), mkPod("b", onNode("n"), created(t0.Add(time.Minute)))}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podsToDelete(tc.pods, nil, 1, now)
			if len(got) != 1 || got[0].Name != tc.first {
				t.Errorf("deleted %v, want %s", names(got), tc.first)
			}
		})
	}
	// Pods on a node crowded with related pods go first.
	a, b := mkPod("a", onNode("n1")), mkPod("b", onNode("n2"))
	related := []*corev1.Pod{a, b, mkPod("c", onNode("n2"))}
	if got := podsToDelete([]*corev1.Pod{a, b}, related, 1, now); got[0].Name != "b" {
		t.Errorf("deleted %v, want b (doubled up)", names(got))
	}
	if got := podsToDelete([]*corev1.Pod{a, b}, nil, 5, now); len(got) != 2 {
		t.Errorf("deleting more than exist: %v", names(got))
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestCalculateStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 4},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](5), MinReadySeconds: 30,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a", "tier": "web"}}}},
	}
	full := func(p *corev1.Pod) { p.Labels["tier"] = "web" }
	pods := []*corev1.Pod{
		mkPod("a", full, readySince(t0)),                    // available
		mkPod("b", full, readySince(now.Add(-time.Second))), // ready, not yet available
		mkPod("c"), // neither; not fully labeled
	}
	st := calculateStatus(rs, pods, nil, now)
	want := appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}
	if !statusEqual(st, want) {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	if d, ok := nextAvailable(rs, pods, now); !ok || d != 30*time.Second {
		t.Errorf("nextAvailable = %v %v, want 30s", d, ok)
	}

	st = calculateStatus(rs, pods, errors.New(`pods "x" is forbidden: exceeded quota`), now)
	c := findCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || c.Status != corev1.ConditionTrue || c.Message != `pods "x" is forbidden: exceeded quota` {
		t.Fatalf("ReplicaFailure = %+v", c)
	}
	rs.Status = st
	if st = calculateStatus(rs, pods, nil, now); findCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure) != nil {
		t.Errorf("ReplicaFailure not cleared: %+v", st.Conditions)
	}
}
