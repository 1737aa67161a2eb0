package replicaset

import (
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

const (
	// burstReplicas caps the pods created or deleted in one sync.
	burstReplicas = 500
	// slowStartInitialBatchSize is the size of the first batch of pod creations; each
	// successful batch doubles the next.
	slowStartInitialBatchSize = 1
	// deletionCostAnnotation lets users say which pods should go first (lower cost first).
	deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"
)

// replicaDiff is how many pods to create (positive) or delete (negative) to go from the
// active pods the ReplicaSet owns to its desired replicas, capped at burstReplicas.
func replicaDiff(rs *appsv1.ReplicaSet, active int) int {
	want := 1
	if rs.Spec.Replicas != nil {
		want = int(*rs.Spec.Replicas)
	}
	diff := want - active
	return max(-burstReplicas, min(burstReplicas, diff))
}

// slowStartBatch calls fn count times in batches of initialBatchSize, then twice that, and so
// on; calls within a batch run concurrently. It stops after the first batch with an error,
// and returns how many calls succeeded (calls never made are not counted) and the first
// error. This keeps a controller that cannot create pods (quota, admission) from flooding the
// API server with doomed requests.
func slowStartBatch(count, initialBatchSize int, fn func() error) (int, error) {
	ok, _, err := slowStart(count, initialBatchSize, fn)
	return ok, err
}

// slowStart is slowStartBatch that also returns the size the next batch would have had:
// where a later round of creations for the same owner may start, since these all succeeded.
func slowStart(count, initialBatchSize int, fn func() error) (successes, next int, err error) {
	remaining := count
	next = max(initialBatchSize, 1)
	for remaining > 0 {
		batch := min(next, remaining)
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, slowStartInitialBatchSize, <-errCh
		}
		remaining -= batch
		next *= 2
	}
	return successes, next, nil
}

// statusDelay is how long a ReplicaSet's wake-up for a change that only its status reflects
// (a pod became ready, a creation it waits for was observed) may wait, so that such changes
// are gathered into one sync. A sync costs time proportional to the ReplicaSet's pods, and
// its pods change about as often as they are many: without the delay a 10,000-pod
// ReplicaSet syncs and writes its status back to back while its pods start. With it, one
// syncs at most every replicas×statusDelayPerReplica (capped at maxStatusDelay): a
// 10,000-replica set five times a second, a 50-replica one within a millisecond.
func statusDelay(rs *appsv1.ReplicaSet) time.Duration {
	n := max(rs.Status.Replicas, ptrValue(rs.Spec.Replicas))
	return min(time.Duration(n)*statusDelayPerReplica, maxStatusDelay)
}

const (
	statusDelayPerReplica = 20 * time.Microsecond
	maxStatusDelay        = time.Second
)

func ptrValue(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// podsToDelete picks the n pods to delete first, in Kubernetes' order of preference:
// unscheduled before scheduled; pending before unknown before running; not ready before
// ready; lower pod-deletion-cost first; pods sharing a node with more related pods first;
// ready for less time first; more container restarts first; newer first. related are the
// pods of sibling ReplicaSets (same controller), used to spread what survives across nodes.
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if controllerutil.IsPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ranked[i] = rankedPod{pod: p, rank: onNode[p.Spec.NodeName]}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j], now) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod  *corev1.Pod
	rank int
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// deleteFirst reports whether a should be deleted before b.
func deleteFirst(a, b rankedPod, now time.Time) bool {
	pa, pb := a.pod, b.pod
	if (pa.Spec.NodeName == "") != (pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if oa, ob := phaseOrdinal[pa.Status.Phase], phaseOrdinal[pb.Status.Phase]; oa != ob {
		return oa < ob
	}
	ra, rb := controllerutil.IsPodReady(pa), controllerutil.IsPodReady(pb)
	if ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(pa), deletionCost(pb); ca != cb {
		return ca < cb
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if ra && rb {
		ta, tb := readyTime(pa), readyTime(pb)
		if !ta.Equal(tb) {
			if ta.IsZero() || tb.IsZero() {
				return ta.IsZero()
			}
			// Ready times in the same power-of-two age bucket count as equal.
			if d := logRank(ta, now) - logRank(tb, now); d != 0 {
				return d < 0
			}
		}
	}
	if ma, mb := maxRestarts(pa), maxRestarts(pb); ma != mb {
		return ma > mb
	}
	ta, tb := pa.CreationTimestamp.Time, pb.CreationTimestamp.Time
	if !ta.Equal(tb) {
		if ta.IsZero() || tb.IsZero() {
			return ta.IsZero()
		}
		return ta.After(tb)
	}
	return false
}

// logRank buckets how long ago t was: floor(log2(age in ns)), -1 for the future.
func logRank(t, now time.Time) int64 {
	if d := now.Sub(t); d > 0 {
		return int64(math.Log2(float64(d)))
	}
	return -1
}

func readyTime(p *corev1.Pod) time.Time {
	if c := controllerutil.PodReadyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[deletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}

// calculateStatus computes the ReplicaSet's status from the active pods it owns and the
// outcome of the last attempt to resize it.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fully, ready, available int32
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			fully++
		}
		if controllerutil.IsPodReady(p) {
			ready++
			if controllerutil.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := findCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		want := int32(1)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		reason := ""
		switch diff := int32(len(pods)) - want; {
		case diff < 0:
			reason = "FailedCreate"
		case diff > 0:
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		st.Conditions = removeCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	}
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas = fully
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.ObservedGeneration = rs.Generation
	return st
}

// nextAvailable returns how long until the next ready pod becomes available under
// minReadySeconds, and false when no pod is waiting for that.
func nextAvailable(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) (time.Duration, bool) {
	if rs.Spec.MinReadySeconds == 0 {
		return 0, false
	}
	var next time.Time
	for _, p := range pods {
		at, ok := controllerutil.AvailableAt(p, rs.Spec.MinReadySeconds)
		if !ok || at.Before(now) {
			continue // not ready, or already available
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		return 0, false
	}
	// A second's slack: availability needs the ready time strictly before now.
	return max(next.Sub(now), 0) + time.Second, true
}

func findCondition(conds []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func removeCondition(conds []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// statusEqual reports whether two statuses need no update.
func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.ObservedGeneration == b.ObservedGeneration && conditionsEqual(a.Conditions, b.Conditions)
}

func conditionsEqual(a, b []appsv1.ReplicaSetCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason || a[i].Message != b[i].Message {
			return false
		}
	}
	return true
}
