package volume

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
)

// This file holds the binder's decisions as pure functions of the objects involved.

// findMatchingVolume returns the volume to bind claim to, or nil:
//
//   - a volume pre-bound to the claim (its claimRef names the claim) wins outright, unless
//     node is set and the volume cannot be used there;
//   - otherwise, unless delayBinding, the smallest Available volume with the claim's class,
//     volume mode and attributes class, at least the requested capacity, all requested access
//     modes, labels matching the claim's selector, no deletion timestamp and (when node is
//     set) node affinity allowing node. As in Kubernetes, volumes offering fewer access
//     modes are preferred over smaller volumes offering more.
//
// node is the claim's selected node, when it has one.
func findMatchingVolume(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, node *corev1.Node, delayBinding bool) (*corev1.PersistentVolume, error) {
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	class := claimClass(claim)
	var selector labels.Selector
	if claim.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(claim.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("invalid label selector of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		selector = s
	}
	var candidates []*corev1.PersistentVolume
	for _, pv := range volumes {
		if pv.Spec.ClaimRef != nil && !isVolumeBoundToClaim(pv, claim) {
			continue
		}
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		if size.Cmp(requested) < 0 || volumeModeMismatch(&claim.Spec, &pv.Spec) || pv.DeletionTimestamp != nil {
			continue
		}
		if !accessModesContained(pv.Spec.AccessModes, claim.Spec.AccessModes) {
			continue
		}
		affinityOK := node == nil || volumeFitsNode(pv, node)
		if isVolumeBoundToClaim(pv, claim) {
			if !affinityOK {
				return nil, nil // the claim's own volume is not usable on the chosen node
			}
			return pv, nil
		}
		if delayBinding && node == nil {
			continue // binding waits for the first consumer
		}
		if pv.Status.Phase != corev1.VolumeAvailable ||
			selector != nil && !selector.Matches(labels.Set(pv.Labels)) ||
			volumeClass(pv) != class ||
			vacName(pv.Spec.VolumeAttributesClassName) != vacName(claim.Spec.VolumeAttributesClassName) ||
			!affinityOK {
			continue
		}
		candidates = append(candidates, pv)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	best := slices.MinFunc(candidates, func(a, b *corev1.PersistentVolume) int {
		if c := cmp.Compare(len(a.Spec.AccessModes), len(b.Spec.AccessModes)); c != 0 {
			return c
		}
		sa, sb := a.Spec.Capacity[corev1.ResourceStorage], b.Spec.Capacity[corev1.ResourceStorage]
		if c := sa.Cmp(sb); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return best, nil
}

// volumeFitsNode reports whether the volume's node affinity allows node.
func volumeFitsNode(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	ok, err := schedcorev1.MatchNodeSelectorTerms(node, pv.Spec.NodeAffinity.Required)
	return err == nil && ok
}

// checkVolumeSatisfyClaim says why a volume the claim names in spec.volumeName cannot be
// bound to it, or nil.
func checkVolumeSatisfyClaim(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if pv.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", pv.Name)
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case size.Cmp(requested) < 0:
		return errors.New("requested PV is too small")
	case volumeClass(pv) != claimClass(claim):
		return errors.New("storageClassName does not match")
	case vacName(pv.Spec.VolumeAttributesClassName) != vacName(claim.Spec.VolumeAttributesClassName):
		return errors.New("volumeAttributesClassName does not match")
	case volumeModeMismatch(&claim.Spec, &pv.Spec):
		return errors.New("incompatible volumeMode")
	case !accessModesContained(pv.Spec.AccessModes, claim.Spec.AccessModes):
		return errors.New("incompatible accessMode")
	}
	return nil
}

// claimAction is what the binder does with a claim.
type claimAction int

const (
	// claimBind binds the claim to decision.volume (idempotently completing a binding).
	claimBind claimAction = iota
	// claimPending leaves the claim Pending (without capacity or access modes).
	claimPending
	// claimLost marks the claim Lost.
	claimLost
	// claimProvision hands the claim to decision.provisioner and leaves it Pending.
	claimProvision
	// claimError is an inconsistency worth retrying; decision.err says what.
	claimError
)

// claimDecision is the outcome of decideClaim. An event is recorded on the claim when reason
// is set (for Lost only when the phase changes).
type claimDecision struct {
	action            claimAction
	volume            *corev1.PersistentVolume
	provisioner       string
	eventType, reason string
	message           string
	err               error
}

// claimInput is what decideClaim looks at besides the claim.
type claimInput struct {
	// volume is the volume named by claim.spec.volumeName, nil when it does not exist.
	volume *corev1.PersistentVolume
	// volumes are all volumes, for finding a match.
	volumes []*corev1.PersistentVolume
	// class is the claim's StorageClass, nil when it has none or it does not exist.
	class *storagev1.StorageClass
	// node is the claim's selected node (a stand-in with only its name and hostname label
	// when the Node object is unknown), nil when none is selected.
	node *corev1.Node
	// unscheduledConsumer names a pod that uses the claim and waits for a node.
	unscheduledConsumer string
}

// decideClaim decides what to do with a claim, as Kubernetes' PV controller does.
func decideClaim(claim *corev1.PersistentVolumeClaim, in claimInput) claimDecision {
	if metav1.HasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
		return decideBoundClaim(claim, in.volume)
	}
	if claim.Spec.VolumeName != "" {
		return decidePreboundClaim(claim, in.volume)
	}
	delay := isDelayBinding(in.class) && claim.Annotations[AnnSelectedNode] == ""
	pv, err := findMatchingVolume(claim, in.volumes, in.node, delay)
	if err != nil {
		return claimDecision{action: claimPending, eventType: corev1.EventTypeWarning, reason: reasonFailedBinding, message: err.Error()}
	}
	if pv != nil {
		return claimDecision{action: claimBind, volume: pv}
	}
	class := claimClass(claim)
	switch {
	case delay && in.unscheduledConsumer != "":
		return claimDecision{action: claimPending, eventType: corev1.EventTypeNormal, reason: reasonWaitForPodScheduled,
			message: fmt.Sprintf("waiting for pod %s to be scheduled", in.unscheduledConsumer)}
	case delay:
		return claimDecision{action: claimPending, eventType: corev1.EventTypeNormal, reason: reasonWaitForFirstConsumer,
			message: "waiting for first consumer to be created before binding"}
	case class == "":
		return claimDecision{action: claimPending, eventType: corev1.EventTypeNormal, reason: reasonFailedBinding,
			message: "no persistent volumes available for this claim and no storage class is set"}
	case in.class == nil:
		return claimDecision{action: claimPending, eventType: corev1.EventTypeWarning, reason: reasonProvisioningFailed,
			message: fmt.Sprintf("storageclass.storage.k8s.io %q not found", class)}
	case in.class.Provisioner == NotSupportedProvisioner || in.class.Provisioner == "":
		return claimDecision{action: claimPending, eventType: corev1.EventTypeNormal, reason: reasonFailedBinding,
			message: fmt.Sprintf("no persistent volumes available for this claim and storage class %q does not support dynamic provisioning", class)}
	default:
		return claimDecision{action: claimProvision, provisioner: in.class.Provisioner, eventType: corev1.EventTypeNormal, reason: reasonExternalProvisioning,
			message: fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", in.class.Provisioner)}
	}
}

// decidePreboundClaim handles an unbound claim whose spec.volumeName the user set.
func decidePreboundClaim(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) claimDecision {
	switch {
	case pv == nil:
		return claimDecision{action: claimPending} // the volume may appear later
	case pv.Spec.ClaimRef == nil:
		if err := checkVolumeSatisfyClaim(pv, claim); err != nil {
			return claimDecision{action: claimPending, eventType: corev1.EventTypeWarning, reason: reasonVolumeMismatch,
				message: fmt.Sprintf("Cannot bind to requested volume %q: %v", pv.Name, err)}
		}
		return claimDecision{action: claimBind, volume: pv}
	case isVolumeBoundToClaim(pv, claim):
		return claimDecision{action: claimBind, volume: pv}
	case !metav1.HasAnnotation(claim.ObjectMeta, AnnBoundByController):
		return claimDecision{action: claimPending, eventType: corev1.EventTypeWarning, reason: reasonFailedBinding,
			message: fmt.Sprintf("volume %q already bound to a different claim.", pv.Name)}
	default:
		return claimDecision{action: claimError, err: fmt.Errorf("claim %s/%s: two claims are bound to volume %q, this one is bound incorrectly", claim.Namespace, claim.Name, pv.Name)}
	}
}

// decideBoundClaim handles a claim whose binding was completed once.
func decideBoundClaim(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) claimDecision {
	switch {
	case claim.Spec.VolumeName == "":
		return claimDecision{action: claimLost, eventType: corev1.EventTypeWarning, reason: reasonClaimLost,
			message: "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"}
	case pv == nil:
		return claimDecision{action: claimLost, eventType: corev1.EventTypeWarning, reason: reasonClaimLost,
			message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!"}
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == claim.UID:
		// Unbound volume (or our informer has not seen its binding yet): bind again; a no-op
		// when everything is in place.
		return claimDecision{action: claimBind, volume: pv}
	default:
		return claimDecision{action: claimLost, eventType: corev1.EventTypeWarning, reason: reasonClaimMisbound,
			message: "Two claims are bound to the same volume, this one is bound incorrectly"}
	}
}

// claimStatus returns the claim status for phase: bound claims report the volume's access
// modes and capacity, the others none.
func claimStatus(claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) corev1.PersistentVolumeClaimStatus {
	st := *claim.Status.DeepCopy()
	st.Phase = phase
	if pv == nil {
		st.AccessModes, st.Capacity = nil, nil
		return st
	}
	st.AccessModes = slices.Clone(pv.Spec.AccessModes)
	if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
		if cur, ok := claim.Status.Capacity[corev1.ResourceStorage]; !ok || cur.Cmp(q) != 0 {
			st.Capacity = corev1.ResourceList{corev1.ResourceStorage: q}
		}
	}
	return st
}

// claimStatusEqual reports whether two claim statuses agree on what the binder writes.
func claimStatusEqual(a, b corev1.PersistentVolumeClaimStatus) bool {
	if a.Phase != b.Phase || !slices.Equal(a.AccessModes, b.AccessModes) || len(a.Capacity) != len(b.Capacity) {
		return false
	}
	for k, q := range a.Capacity {
		if o, ok := b.Capacity[k]; !ok || o.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

// volumeAction is what the binder does with a volume.
type volumeAction int

const (
	// volumeAvailable sets the volume Available (unused, or pre-bound to a claim by name).
	volumeAvailable volumeAction = iota
	// volumeBound sets the volume Bound: it and its claim agree.
	volumeBound
	// volumeRelease marks the volume Released (unless it is already Released or Failed)
	// and applies its reclaim policy.
	volumeRelease
	// volumeSyncClaim leaves the volume to the claim's sync (the claim is not bound yet).
	volumeSyncClaim
	// volumeUnbind undoes the binder's binding (or the UID of a user's pre-binding).
	volumeUnbind
	// volumeModeMismatchEvent reports that the claim it is pre-bound to cannot use it.
	volumeModeMismatchEvent
)

// decideVolume decides what to do with a volume, given the claim its claimRef names (nil
// when that claim does not exist or is a different object of the same name).
func decideVolume(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) volumeAction {
	ref := pv.Spec.ClaimRef
	switch {
	case ref == nil || ref.UID == "":
		return volumeAvailable
	case claim == nil || claim.UID != ref.UID:
		return volumeRelease
	case claim.Spec.VolumeName == "":
		if volumeModeMismatch(&claim.Spec, &pv.Spec) {
			return volumeModeMismatchEvent
		}
		return volumeSyncClaim
	case claim.Spec.VolumeName == pv.Name:
		return volumeBound
	case metav1.HasAnnotation(pv.ObjectMeta, AnnDynamicallyProvisioned) && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for a claim that got bound elsewhere: not needed any more.
		return volumeRelease
	default:
		return volumeUnbind
	}
}

// reclaimAction is what happens to a released volume.
type reclaimAction int

const (
	// reclaimRetain keeps the volume Released until an administrator acts.
	reclaimRetain reclaimAction = iota
	// reclaimDelete deletes the PersistentVolume object.
	reclaimDelete
	// reclaimExternal leaves deletion to the volume's provisioner.
	reclaimExternal
	// reclaimFail marks the volume Failed (a policy the binder cannot carry out).
	reclaimFail
)

// decideReclaim applies a released volume's reclaim policy. For reclaimFail it returns the
// event reason and message.
func decideReclaim(pv *corev1.PersistentVolume) (action reclaimAction, reason, message string) {
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return reclaimRetain, "", ""
	case corev1.PersistentVolumeReclaimDelete:
		if pv.Annotations[AnnDynamicallyProvisioned] != "" {
			return reclaimExternal, "", ""
		}
		return reclaimDelete, "", ""
	case corev1.PersistentVolumeReclaimRecycle:
		return reclaimFail, reasonVolumeFailedRecycle, "No recycler plugin found for the volume!"
	default:
		return reclaimFail, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy"
	}
}

// bindVolume returns the volume bound to claim, and whether that changed anything. A volume
// that did not already name the claim gets the bound-by-controller annotation.
func bindVolume(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, bool) {
	ref := pv.Spec.ClaimRef
	if ref != nil && ref.Name == claim.Name && ref.Namespace == claim.Namespace && ref.UID == claim.UID {
		return pv, false
	}
	byController := !isVolumeBoundToClaim(pv, claim)
	pv = pv.DeepCopy()
	pv.Spec.ClaimRef = claimRefFor(claim)
	if byController {
		metav1.SetMetaDataAnnotation(&pv.ObjectMeta, AnnBoundByController, "yes")
	}
	return pv, true
}

// bindClaim returns the claim bound to the volume, and whether that changed anything.
func bindClaim(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, bool) {
	byController := claim.Spec.VolumeName != pv.Name
	if !byController && metav1.HasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
		return claim, false
	}
	claim = claim.DeepCopy()
	claim.Spec.VolumeName = pv.Name
	if byController {
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnBoundByController, "yes")
	}
	metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnBindCompleted, "yes")
	return claim, true
}

// unbindVolume returns the volume with the binder's binding undone: a volume the binder
// bound loses its claimRef, a volume the user pre-bound only the claim's UID.
func unbindVolume(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
	pv = pv.DeepCopy()
	if metav1.HasAnnotation(pv.ObjectMeta, AnnBoundByController) {
		pv.Spec.ClaimRef = nil
		delete(pv.Annotations, AnnBoundByController)
		if len(pv.Annotations) == 0 {
			pv.Annotations = nil
		}
	} else if pv.Spec.ClaimRef != nil {
		pv.Spec.ClaimRef.UID = ""
	}
	return pv
}

// selectedNodeFor returns the node a WaitForFirstConsumer claim should be provisioned or
// bound on: that of the first (by name) scheduled, not terminated pod using it. unscheduled
// names a pod using it that still waits for a node.
func selectedNodeFor(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) (node, unscheduled string) {
	var best *corev1.Pod
	for _, p := range pods {
		if p.Namespace != claim.Namespace || p.DeletionTimestamp != nil || podTerminated(p) || !slices.Contains(podClaimNames(p), claim.Name) {
			continue
		}
		if p.Spec.NodeName == "" {
			if unscheduled == "" || p.Name < unscheduled {
				unscheduled = p.Name
			}
			continue
		}
		if best == nil || p.Name < best.Name {
			best = p
		}
	}
	if best != nil {
		return best.Spec.NodeName, unscheduled
	}
	return "", unscheduled
}
