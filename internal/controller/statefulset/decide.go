package statefulset

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// podNameRegex splits a stateful pod name into the set name and the ordinal.
var podNameRegex = regexp.MustCompile(`(.*)-([0-9]+)$`)

// parentAndOrdinal returns the set name and ordinal encoded in a pod name (ordinal -1 if none).
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRegex.FindStringSubmatch(pod.Name)
	if len(m) != 3 {
		return "", -1
	}
	ord, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return m[1], -1
	}
	return m[1], int(ord)
}

func ordinalOf(pod *corev1.Pod) int {
	_, o := parentAndOrdinal(pod)
	return o
}

// isMemberOf reports whether the pod's name makes it one of set's pods.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod)
	return parent == set.Name
}

// podName is the name of the pod with the given ordinal.
func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// claimName is the name of the PVC from template claim for the given ordinal.
func claimName(set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, ordinal int) string {
	return claim.Name + "-" + podName(set, ordinal)
}

// startOrdinal is spec.ordinals.start (0 by default).
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicaCount(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// inOrdinalRange reports whether ordinal is one of the set's replicas.
func inOrdinalRange(set *appsv1.StatefulSet, ordinal int) bool {
	s := startOrdinal(set)
	return ordinal >= s && ordinal < s+replicaCount(set)
}

func revisionOf(pod *corev1.Pod) string { return pod.Labels[appsv1.ControllerRevisionHashLabelKey] }

func isFailed(p *corev1.Pod) bool      { return p.Status.Phase == corev1.PodFailed }
func isSucceeded(p *corev1.Pod) bool   { return p.Status.Phase == corev1.PodSucceeded }
func isTerminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }
func isPending(p *corev1.Pod) bool     { return p.Status.Phase == corev1.PodPending }

func isRunningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && controllerutil.IsPodReady(p)
}

func isRunningAndAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return p.Status.Phase == corev1.PodRunning && controllerutil.IsPodAvailable(p, minReadySeconds, now)
}

// isHealthy: running and ready, and not terminating.
func isHealthy(p *corev1.Pod) bool { return isRunningAndReady(p) && !isTerminating(p) }

// newPod is the pod with the given ordinal built from set's template (set is the set with
// the template of the revision the pod belongs to) and labelled with revision.
func newPod(set *appsv1.StatefulSet, ordinal int, revision string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	lbls := maps.Clone(t.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: t.Spec,
	}
	setIdentity(set, pod, ordinal)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	setStorage(set, pod, ordinal)
	if revision != "" {
		pod.Labels[appsv1.ControllerRevisionHashLabelKey] = revision
	}
	return pod
}

// setIdentity sets the name, namespace and identity labels of the pod with ordinal.
func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	pod.Name = podName(set, ordinal)
	pod.Namespace = set.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
}

// identityMatches reports whether the pod carries the identity of its ordinal in set.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := parentAndOrdinal(pod)
	return ord >= 0 && parent == set.Name && pod.Name == podName(set, ord) && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name && pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(ord)
}

// setStorage points the pod's volumes named like the claim templates at the ordinal's PVCs.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return
	}
	claims := map[string]string{}
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		claims[t.Name] = claimName(set, t, ordinal)
	}
	var vols []corev1.Volume
	for name, claim := range claims {
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		}})
	}
	slices.SortFunc(vols, func(a, b corev1.Volume) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	for _, v := range pod.Spec.Volumes {
		if _, ok := claims[v.Name]; !ok {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

// newClaims are the PVCs the pod with ordinal uses, from the claim templates, labelled with
// the set's selector labels.
func newClaims(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for i := range set.Spec.VolumeClaimTemplates {
		claim := set.Spec.VolumeClaimTemplates[i].DeepCopy()
		claim.Name = claimName(set, &set.Spec.VolumeClaimTemplates[i], ordinal)
		claim.Namespace = set.Namespace
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			maps.Copy(claim.Labels, set.Spec.Selector.MatchLabels)
		}
		claim.ResourceVersion, claim.UID, claim.CreationTimestamp = "", "", metav1.Time{}
		claim.Status = corev1.PersistentVolumeClaimStatus{}
		out = append(out, claim)
	}
	return out
}

// retentionPolicy returns the PVC retention policy with Retain defaults.
func retentionPolicy(set *appsv1.StatefulSet) (whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) {
	whenDeleted, whenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			whenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			whenScaled = p.WhenScaled
		}
	}
	return whenDeleted, whenScaled
}

// claimOwnerRefs returns the owner references a PVC should have under the retention policy:
// a (non-controller) reference to the set when WhenDeleted=Delete, and to the pod when
// WhenScaled=Delete and the pod's ordinal is being scaled away (pod is nil otherwise). Other
// references to the set or to pods of the set are dropped; foreign ones kept.
func claimOwnerRefs(set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, condemnedPod *corev1.Pod) []metav1.OwnerReference {
	whenDeleted, whenScaled := retentionPolicy(set)
	var out []metav1.OwnerReference
	for _, r := range claim.OwnerReferences {
		switch {
		case r.UID == set.UID:
		case r.Kind == "Pod" && r.APIVersion == "v1" && isPodOfSet(set, r.Name):
		default:
			out = append(out, r)
		}
	}
	if whenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		out = append(out, metav1.OwnerReference{APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind, Name: set.Name, UID: set.UID})
	}
	if whenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && condemnedPod != nil {
		out = append(out, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: condemnedPod.Name, UID: condemnedPod.UID})
	}
	return out
}

func isPodOfSet(set *appsv1.StatefulSet, name string) bool {
	m := podNameRegex.FindStringSubmatch(name)
	return len(m) == 3 && m[1] == set.Name
}

func ownerRefsEqual(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || a[i].Kind != b[i].Kind || a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// actionKind is what an action does.
type actionKind int

const (
	// actCreate creates the pod (and first its missing PVCs).
	actCreate actionKind = iota
	// actDelete deletes the pod (condemned: its ordinal is out of range).
	actDelete
	// actFixIdentity updates the pod's identity labels.
	actFixIdentity
	// actEnsureClaims creates the missing PVCs of a pending pod.
	actEnsureClaims
)

func (k actionKind) String() string {
	return [...]string{"create", "delete", "fix-identity", "ensure-claims"}[k]
}

// action is one write the controller makes.
type action struct {
	kind      actionKind
	ordinal   int
	pod       *corev1.Pod
	condemned bool
}

// revisions is what the plan needs to know about the set's revisions: the set with the
// template of its current and update revisions, and their names.
type revisions struct {
	currentSet, updateSet *appsv1.StatefulSet
	current, update       string
}

// newVersionedPod builds the missing pod with ordinal: at the current revision when a rolling
// update has not reached that ordinal (below the partition), else at the update revision.
func newVersionedPod(set *appsv1.StatefulSet, revs revisions, ordinal int) *corev1.Pod {
	cs := revs.currentSet
	if cs.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		ru := cs.Spec.UpdateStrategy.RollingUpdate
		if (ru == nil && ordinal < startOrdinal(cs)+int(cs.Status.CurrentReplicas)) ||
			(ru != nil && ru.Partition != nil && ordinal < startOrdinal(cs)+int(*ru.Partition)) {
			return newPod(cs, ordinal, revs.current)
		}
	}
	return newPod(revs.updateSet, ordinal, revs.update)
}

// monotonic reports whether pods are managed one at a time in order (OrderedReady).
func monotonic(set *appsv1.StatefulSet) bool {
	return set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
}

// plan decides the writes of one sync, as upstream's StatefulSet control loop does.
//
// Pods are sorted into replicas (ordinals in [start, start+replicas)) and condemned (other
// ordinals). Then:
//
//  1. each replica in ordinal order: a failed or succeeded pod is deleted (to be recreated);
//     a missing pod is created (its PVCs first); a pending pod gets its missing PVCs; a pod
//     with the wrong identity labels is fixed. With OrderedReady the loop stops after a
//     creation or deletion and at the first pod that is terminating or not Running, Ready
//     and available: each pod waits for all its predecessors;
//  2. condemned pods, from the highest ordinal down, are deleted; with OrderedReady one at a
//     time, only once every replica is healthy, and an unhealthy condemned pod only if it is
//     the first unhealthy pod;
//  3. with the RollingUpdate strategy, pods at ordinals at or above the partition that are not
//     at the update revision are deleted (they are recreated at the update revision by step 1
//     of a later sync), from the highest ordinal down, while fewer than maxUnavailable
//     replicas are unavailable. OnDelete leaves them alone.
func plan(set *appsv1.StatefulSet, revs revisions, pods []*corev1.Pod, now time.Time) []action {
	start, n := startOrdinal(set), replicaCount(set)
	replicas := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		ord := ordinalOf(p)
		switch {
		case ord < 0:
		case inOrdinalRange(set, ord):
			replicas[ord-start] = p
		default:
			condemned = append(condemned, p)
		}
	}
	slices.SortFunc(condemned, func(a, b *corev1.Pod) int { return ordinalOf(b) - ordinalOf(a) })

	// The first unhealthy pod (a missing replica counts) may be deleted when condemned.
	var firstUnhealthy *corev1.Pod
	replicasHealthy := true
	for _, p := range replicas {
		if p == nil || !isHealthy(p) {
			firstUnhealthy, replicasHealthy = p, false
			break
		}
	}
	if replicasHealthy {
		for i := len(condemned) - 1; i >= 0; i-- {
			if !isHealthy(condemned[i]) {
				firstUnhealthy = condemned[i]
				break
			}
		}
	}
	if set.DeletionTimestamp != nil {
		return nil
	}
	mono := monotonic(set)
	var acts []action
	creating := make([]bool, n)
	for i, p := range replicas {
		ord := start + i
		if p == nil {
			acts = append(acts, action{kind: actCreate, ordinal: ord, pod: newVersionedPod(set, revs, ord)})
			creating[i] = true
			if mono {
				return acts
			}
			continue
		}
		if isFailed(p) || isSucceeded(p) {
			if !isTerminating(p) {
				acts = append(acts, action{kind: actDelete, ordinal: ord, pod: p})
			}
			if mono {
				return acts
			}
			continue
		}
		if isPending(p) && !isTerminating(p) && len(set.Spec.VolumeClaimTemplates) > 0 {
			acts = append(acts, action{kind: actEnsureClaims, ordinal: ord, pod: p})
		}
		if mono && (isTerminating(p) || !isRunningAndReady(p) || !isRunningAndAvailable(p, set.Spec.MinReadySeconds, now)) {
			return acts
		}
		if !identityMatches(set, p) {
			acts = append(acts, action{kind: actFixIdentity, ordinal: ord, pod: p})
		}
	}

	for _, p := range condemned {
		if isTerminating(p) {
			if mono {
				return acts
			}
			continue
		}
		if mono && p != firstUnhealthy && (!isRunningAndReady(p) || !isRunningAndAvailable(p, set.Spec.MinReadySeconds, now)) {
			return acts
		}
		acts = append(acts, action{kind: actDelete, ordinal: ordinalOf(p), pod: p, condemned: true})
		if mono {
			return acts
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return acts
	}
	partition, maxUnavailable := rollingParams(set)
	unavailable := 0
	for i, p := range replicas {
		if creating[i] || p == nil || !isHealthy(p) || !isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	for _, a := range acts {
		if a.kind == actDelete && !a.condemned {
			unavailable++ // a failed pod being replaced
		}
	}
	budget := maxUnavailable - unavailable
	for target := n - 1; target >= partition && budget > 0; target-- {
		p := replicas[target]
		if p == nil || creating[target] || isTerminating(p) || revisionOf(p) == revs.update || isFailed(p) || isSucceeded(p) {
			continue
		}
		acts = append(acts, action{kind: actDelete, ordinal: start + target, pod: p})
		budget--
	}
	return acts
}

// rollingParams returns the partition (an index into the replicas, 0 by default) and
// maxUnavailable (1 by default; a percentage of the replicas rounds down; at least 1).
func rollingParams(set *appsv1.StatefulSet) (partition, maxUnavailable int) {
	maxUnavailable = 1
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return 0, 1
	}
	if ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	if ru.MaxUnavailable != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicaCount(set), false); err == nil {
			maxUnavailable = max(v, 1)
		}
	}
	return partition, maxUnavailable
}

// computeStatus is the status for these pods: counts over every pod of the set (replicas and
// condemned), and, once a rolling update has updated every replica and they are all ready,
// the update revision becomes the current revision.
func computeStatus(set *appsv1.StatefulSet, current, update string, collisionCount int32, pods []*corev1.Pod, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current,
		UpdateRevision:     update,
		CollisionCount:     &collisionCount,
		Conditions:         set.Status.Conditions,
	}
	for _, p := range pods {
		if ordinalOf(p) < 0 {
			continue
		}
		st.Replicas++
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if !isTerminating(p) {
			if revisionOf(p) == current {
				st.CurrentReplicas++
			}
			if revisionOf(p) == update {
				st.UpdatedReplicas++
			}
		}
	}
	want := int32(replicaCount(set))
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// statusEqual compares the fields the controller owns.
func statusEqual(a, b appsv1.StatefulSetStatus) bool {
	ac, bc := int32(0), int32(0)
	if a.CollisionCount != nil {
		ac = *a.CollisionCount
	}
	if b.CollisionCount != nil {
		bc = *b.CollisionCount
	}
	return a.ObservedGeneration == b.ObservedGeneration && a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.CurrentReplicas == b.CurrentReplicas && a.UpdatedReplicas == b.UpdatedReplicas &&
		a.AvailableReplicas == b.AvailableReplicas && a.CurrentRevision == b.CurrentRevision &&
		a.UpdateRevision == b.UpdateRevision && ac == bc && (a.CollisionCount == nil) == (b.CollisionCount == nil)
}
