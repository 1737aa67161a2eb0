package deployment

import (
	"fmt"
	"math"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// This file holds the controller's decisions as pure functions of the Deployment, its
// ReplicaSets and the time: which ReplicaSet is new, how far each one scales, which old
// ones are deleted and what the status says. controller.go and rollout.go apply them.

// scaleAction sets a ReplicaSet's spec.replicas to Replicas (and refreshes its
// desired-replicas/max-replicas annotations). With Annotate the update happens even when the
// size is unchanged but the annotations are stale (proportional scaling does this).
type scaleAction struct {
	RS       *appsv1.ReplicaSet
	Replicas int32
	Annotate bool
}

// findNewRS returns the oldest ReplicaSet whose template equals the Deployment's (ignoring
// the pod-template-hash label), or nil.
func findNewRS(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := slices.Clone(rss)
	sortByCreation(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// findOldRSs returns every ReplicaSet but newRS.
func findOldRSs(rss []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS != nil && rs.UID == newRS.UID {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// newRSReplicas is the size the new ReplicaSet may grow to now. With RollingUpdate the
// ReplicaSets together may hold spec.replicas+maxSurge pods; a ReplicaSet counts as the larger
// of its spec and its observed replicas, so pods an old ReplicaSet has not deleted yet still
// count against the surge. With Recreate it is spec.replicas.
func newRSReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicas(d.Spec.Replicas)
	cur := replicas(newRS.Spec.Replicas)
	if !isRollingUpdate(d) {
		return want
	}
	var current int32
	for _, rs := range allRSs {
		if rs != nil {
			current += max(replicas(rs.Spec.Replicas), rs.Status.Replicas)
		}
	}
	maxTotal := want + maxSurge(d)
	if current >= maxTotal {
		return cur
	}
	return cur + min(maxTotal-current, want-cur)
}

// planNewRS decides the new ReplicaSet's size during a rolling update: straight down to
// spec.replicas if it is larger, else as far up as the surge allows.
func planNewRS(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, bool) {
	want, cur := replicas(d.Spec.Replicas), replicas(newRS.Spec.Replicas)
	switch {
	case cur == want:
		return cur, false
	case cur > want:
		return want, true
	}
	n := newRSReplicas(d, allRSs, newRS)
	return n, n != cur
}

// planOldRSs decides how far the old ReplicaSets scale down during a rolling update, oldest
// first, without going below spec.replicas-maxUnavailable available pods: first the pods
// that are not available anyway (never more than the rollout can spare), then available
// ones. An old ReplicaSet's available pods are counted as at most its spec.replicas, so a
// status that has not caught up with a scale-down cannot make it scale down twice.
func planOldRSs(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []scaleAction {
	if sumReplicas(oldRSs) == 0 {
		return nil
	}
	all := append(slices.Clone(oldRSs), newRS)
	minAvailable := replicas(d.Spec.Replicas) - maxUnavailable(d)
	newUnavailable := replicas(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	olds := slices.Clone(oldRSs)
	sortByCreation(olds)
	size := map[types.UID]int32{}
	for _, rs := range all {
		size[rs.UID] = replicas(rs.Spec.Replicas)
	}
	avail := func(rs *appsv1.ReplicaSet) int32 { return min(rs.Status.AvailableReplicas, size[rs.UID]) }

	// Unhealthy replicas first: removing them costs no availability.
	var total int32
	for _, rs := range olds {
		if total >= maxScaledDown {
			break
		}
		r := size[rs.UID]
		if r == 0 || r == avail(rs) {
			continue
		}
		n := min(maxScaledDown-total, r-avail(rs))
		size[rs.UID] = r - n
		total += n
	}

	// Then healthy ones, as far as availability allows.
	var available int32
	for _, rs := range all {
		available += avail(rs)
	}
	if available > minAvailable {
		budget := available - minAvailable
		var done int32
		for _, rs := range olds {
			if done >= budget {
				break
			}
			r := size[rs.UID]
			if r == 0 {
				continue
			}
			n := min(r, budget-done)
			size[rs.UID] = r - n
			done += n
		}
	}

	var out []scaleAction
	for _, rs := range olds {
		if size[rs.UID] != replicas(rs.Spec.Replicas) {
			out = append(out, scaleAction{RS: rs, Replicas: size[rs.UID]})
		}
	}
	return out
}

// isScalingEvent reports whether spec.replicas changed since the active ReplicaSets were last
// scaled (their desired-replicas annotation differs).
func isScalingEvent(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) bool {
	for _, rs := range activeRSs(rss) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicas(d.Spec.Replicas) {
			return true
		}
	}
	return false
}

// isSaturated reports whether rs runs the whole Deployment: its size, its desired-replicas
// annotation and its available pods all equal spec.replicas.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	want := replicas(d.Spec.Replicas)
	return ok && replicas(rs.Spec.Replicas) == want && desired == want && rs.Status.AvailableReplicas == want
}

// planScale decides how to resize the ReplicaSets when the Deployment itself is resized (or
// paused): a lone active ReplicaSet (or else the newest) takes spec.replicas; a saturated new
// ReplicaSet makes the old ones go to 0; mid-rollout the change is spread over the active
// ReplicaSets in proportion to their size (larger first, leftovers to the largest).
func planScale(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) []scaleAction {
	want := replicas(d.Spec.Replicas)
	if rs := activeOrLatest(newRS, oldRSs); rs != nil {
		if replicas(rs.Spec.Replicas) == want {
			return nil
		}
		return []scaleAction{{RS: rs, Replicas: want}}
	}
	if isSaturated(d, newRS) {
		var out []scaleAction
		for _, rs := range activeRSs(oldRSs) {
			out = append(out, scaleAction{RS: rs, Replicas: 0})
		}
		return out
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeRSs(append(slices.Clone(oldRSs), newRS))
	var allowed int32
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - sumReplicas(all)
	switch {
	case toAdd > 0:
		sortBySize(all, true)
	case toAdd < 0:
		sortBySize(all, false)
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = replicas(rs.Spec.Replicas)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	out := make([]scaleAction, 0, len(all))
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		out = append(out, scaleAction{RS: rs, Replicas: sizes[i], Annotate: true})
	}
	return out
}

// activeOrLatest returns the only active ReplicaSet, or the newest one (newRS if any) when
// none is active, or nil when several are.
func activeOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	olds := slices.Clone(oldRSs)
	sortByCreation(olds)
	slices.Reverse(olds)
	active := activeRSs(append(olds, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return olds[0]
	case 1:
		return active[0]
	}
	return nil
}

// proportion is how many of toAdd (already added so far) replicas rs gets: its share of
// the new total by its size relative to the max-replicas it was last scaled for.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicas(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	r := replicas(rs.Spec.Replicas)
	if replicas(d.Spec.Replicas) == 0 {
		return -r
	}
	total := replicas(d.Spec.Replicas) + maxSurge(d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	return int32(math.Round(float64(r*total)/float64(annotated))) - r
}

// planCleanup returns the old ReplicaSets to delete to keep at most revisionHistoryLimit:
// the lowest revisions first, and only ones that are scaled to 0, have no pods, whose status
// is current and that are not already being deleted.
func planCleanup(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := int32(len(alive)) - *d.Spec.RevisionHistoryLimit
	if diff <= 0 {
		return nil
	}
	sortByRevision(alive)
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicas(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// calculateStatus computes the Deployment's status from its ReplicaSets (conditions other
// than Available are carried over).
func calculateStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	available := sumAvailable(allRSs)
	unavailable := max(sumReplicas(allRSs)-available, 0)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumActual(allRSs),
		UpdatedReplicas:     sumActual([]*appsv1.ReplicaSet{newRS}),
		ReadyReplicas:       sumReady(allRSs),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if available >= replicas(d.Spec.Replicas)-maxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, messageMinimumAvailable, now))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable, messageMinimumUnavailable, now))
	}
	return st
}

// complete reports whether st shows the rollout of d finished: every replica updated and
// available, and nothing else running.
func complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	want := replicas(d.Spec.Replicas)
	return st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want && st.ObservedGeneration >= d.Generation
}

// progressing reports whether st shows progress since d's recorded status.
func progressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// timedOut reports whether the rollout made no progress for progressDeadlineSeconds.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(*st, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(now)
}

// rolloutStatus computes the status of a Deployment being rolled out: calculateStatus plus
// the Progressing condition (NewReplicaSetAvailable when complete, ReplicaSetUpdated while
// it progresses, ProgressDeadlineExceeded when it stalled past the deadline) and the
// ReplicaFailure condition copied from the ReplicaSets (the new one's first). It also says
// when to look again to notice a stalled rollout (negative: no need).
func rolloutStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) (appsv1.DeploymentStatus, time.Duration) {
	st := calculateStatus(d, allRSs, newRS, now)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	isComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !isComplete {
		switch {
		case complete(d, &st):
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
			}
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable, msg, now))
		case progressing(d, &st):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			}
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, msg, now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, c)
		case timedOut(d, &st, now):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)
			}
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut, msg, now))
		}
	}
	if failures := replicaFailures(allRSs, newRS); len(failures) > 0 {
		setCondition(&st, failures[0])
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	return st, stuckRequeue(d, st, now)
}

// stuckRequeue is when to sync again to check the progress deadline of a rollout that is
// neither complete nor timed out (negative: no need).
func stuckRequeue(d *appsv1.Deployment, st appsv1.DeploymentStatus, now time.Time) time.Duration {
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil {
		return -1
	}
	if complete(d, &st) || cur.Reason == reasonTimedOut {
		return -1
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	return max(after, 0)
}

func replicaFailures(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []appsv1.DeploymentCondition {
	conv := func(c appsv1.ReplicaSetCondition) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{
			Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
			LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime,
		}
	}
	var out []appsv1.DeploymentCondition
	if newRS != nil {
		for _, c := range newRS.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				out = append(out, conv(c))
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, rs := range allRSs {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				out = append(out, conv(c))
			}
		}
	}
	return out
}

// pausedCondition returns the Progressing condition to set when d was paused or resumed,
// or nil. Nothing changes once the rollout timed out or without a progress deadline.
func pausedCondition(d *appsv1.Deployment, now time.Time) *appsv1.DeploymentCondition {
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == reasonTimedOut {
		return nil
	}
	pausedSet := cur != nil && cur.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedSet:
		c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused", now)
		return &c
	case !d.Spec.Paused && pausedSet:
		c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed", now)
		return &c
	}
	return nil
}

// oldPodsRunning reports whether pods of old ReplicaSets still run (Recreate waits for them).
func oldPodsRunning(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, podsByRS map[types.UID][]*corev1.Pod) bool {
	if sumActual(oldRSs) > 0 {
		return true
	}
	for uid, pods := range podsByRS {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				return true
			}
		}
	}
	return false
}
