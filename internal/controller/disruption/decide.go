package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// DeletionTimeout is how long an evicted pod counts as disrupted (not healthy) while it has
// not been deleted yet.
const DeletionTimeout = 2 * time.Minute

// Condition reasons, as Kubernetes writes them.
const (
	ReasonSufficientPods   = "SufficientPods"
	ReasonInsufficientPods = "InsufficientPods"
	ReasonSyncFailed       = "SyncFailed"
)

// Input is what a budget's status is computed from.
type Input struct {
	PDB *policyv1.PodDisruptionBudget
	// Pods are the pods of the budget's namespace its selector matches.
	Pods []*corev1.Pod
	// ExpectedScale returns the replicas the pods' controllers want in total; it is called
	// only when the budget needs it (maxUnavailable, or a percentage minAvailable).
	ExpectedScale func() (int32, error)
	Now           time.Time
}

// Status computes the budget's new status. recheck, when not zero, is when an entry of
// disruptedPods expires and the status must be computed again.
func Status(in Input) (status policyv1.PodDisruptionBudgetStatus, recheck time.Duration) {
	pdb := in.PDB
	status = *pdb.Status.DeepCopy()
	status.ObservedGeneration = pdb.Generation

	expected, desired, err := expectedAndDesired(in)
	if err != nil {
		// Fail safe: nothing may be disrupted while the budget cannot be evaluated.
		status.DisruptionsAllowed = 0
		setCondition(&status, metav1.ConditionFalse, ReasonSyncFailed, err.Error(), pdb.Generation, in.Now)
		return status, 0
	}

	// Disrupted pods stay recorded until they are deleted or their entry expires.
	disrupted := map[string]metav1.Time{}
	byName := map[string]*corev1.Pod{}
	for _, p := range in.Pods {
		byName[p.Name] = p
	}
	for name, at := range pdb.Status.DisruptedPods {
		p, ok := byName[name]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		expiry := at.Add(DeletionTimeout)
		if !expiry.After(in.Now) {
			continue
		}
		disrupted[name] = at
		if d := expiry.Sub(in.Now); recheck == 0 || d < recheck {
			recheck = d
		}
	}
	healthy := int32(0)
	for _, p := range in.Pods {
		if p.DeletionTimestamp != nil || !controllerutil.IsPodReady(p) {
			continue
		}
		if _, ok := disrupted[p.Name]; ok {
			continue
		}
		healthy++
	}
	allowed := healthy - desired
	if expected <= 0 || allowed < 0 {
		allowed = 0
	}
	status.CurrentHealthy, status.DesiredHealthy, status.ExpectedPods, status.DisruptionsAllowed = healthy, desired, expected, allowed
	status.DisruptedPods = nil
	if len(disrupted) > 0 {
		status.DisruptedPods = disrupted
	}
	if allowed > 0 {
		setCondition(&status, metav1.ConditionTrue, ReasonSufficientPods, "", pdb.Generation, in.Now)
	} else {
		setCondition(&status, metav1.ConditionFalse, ReasonInsufficientPods, "", pdb.Generation, in.Now)
	}
	return status, recheck
}

// expectedAndDesired returns how many pods the budget expects and how many must be healthy.
func expectedAndDesired(in Input) (expected, desired int32, err error) {
	spec := in.PDB.Spec
	switch {
	case spec.MaxUnavailable != nil:
		if expected, err = in.ExpectedScale(); err != nil {
			return 0, 0, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid maxUnavailable: %w", err)
		}
		return expected, max(expected-int32(maxUnavailable), 0), nil
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		return int32(len(in.Pods)), spec.MinAvailable.IntVal, nil
	case spec.MinAvailable != nil:
		if expected, err = in.ExpectedScale(); err != nil {
			return 0, 0, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid minAvailable: %w", err)
		}
		return expected, int32(minAvailable), nil
	}
	// Neither is set (validation forbids it): nothing must stay up.
	return int32(len(in.Pods)), 0, nil
}

func setCondition(s *policyv1.PodDisruptionBudgetStatus, status metav1.ConditionStatus, reason, message string, gen int64, now time.Time) {
	apimeta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: status, Reason: reason, Message: message,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now),
	})
}
