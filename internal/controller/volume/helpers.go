package volume

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Annotations written and read by the binder and the provisioner, as in Kubernetes.
const (
	// AnnBindCompleted on a claim: the binder finished binding it (its volumeName is final).
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController on a claim or volume: the binder (not the user) bound it.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnSelectedNode on a claim: the node its first consumer runs on; provisioners create
	// the volume there.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnStorageProvisioner on a claim: the provisioner that should provision it (set by the
	// binder when no existing volume fits).
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnBetaStorageProvisioner is the deprecated form of AnnStorageProvisioner, still
	// written for older provisioners.
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// AnnDynamicallyProvisioned on a volume: the provisioner that created it.
	AnnDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	// AnnBetaStorageClass is the deprecated annotation form of storageClassName.
	AnnBetaStorageClass = "volume.beta.kubernetes.io/storage-class"
	// AnnDefaultStorageClass marks the default StorageClass.
	AnnDefaultStorageClass = "storageclass.kubernetes.io/is-default-class"

	// NotSupportedProvisioner is the provisioner of classes for statically created volumes.
	NotSupportedProvisioner = "kubernetes.io/no-provisioner"
)

// Event reasons.
const (
	reasonFailedBinding         = "FailedBinding"
	reasonVolumeMismatch        = "VolumeMismatch"
	reasonWaitForFirstConsumer  = "WaitForFirstConsumer"
	reasonWaitForPodScheduled   = "WaitForPodScheduled"
	reasonExternalProvisioning  = "ExternalProvisioning"
	reasonProvisioningFailed    = "ProvisioningFailed"
	reasonProvisioning          = "Provisioning"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonClaimLost             = "ClaimLost"
	reasonClaimMisbound         = "ClaimMisbound"
	reasonVolumeFailedDelete    = "VolumeFailedDelete"
	reasonVolumeFailedRecycle   = "VolumeFailedRecycle"
	reasonVolumeDelete          = "VolumeDelete"
)

// claimClass returns the class a claim asks for: the beta annotation wins over
// spec.storageClassName; "" means no class.
func claimClass(claim *corev1.PersistentVolumeClaim) string {
	if c, ok := claim.Annotations[AnnBetaStorageClass]; ok {
		return c
	}
	if claim.Spec.StorageClassName != nil {
		return *claim.Spec.StorageClassName
	}
	return ""
}

// volumeClass returns the class of a volume, the beta annotation winning.
func volumeClass(pv *corev1.PersistentVolume) string {
	if c, ok := pv.Annotations[AnnBetaStorageClass]; ok {
		return c
	}
	return pv.Spec.StorageClassName
}

// volumeModeMismatch reports whether claim and volume ask for different volume modes (unset
// means Filesystem).
func volumeModeMismatch(claim *corev1.PersistentVolumeClaimSpec, pv *corev1.PersistentVolumeSpec) bool {
	mode := func(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
		if m == nil {
			return corev1.PersistentVolumeFilesystem
		}
		return *m
	}
	return mode(claim.VolumeMode) != mode(pv.VolumeMode)
}

// accessModesContained reports whether every mode the claim asks for is offered.
func accessModesContained(offered, requested []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range requested {
		if !slices.Contains(offered, m) {
			return false
		}
	}
	return true
}

// vacName returns a *string attributes class name, "" for nil.
func vacName(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// isVolumeBoundToClaim reports whether the volume's claimRef names the claim (by namespace
// and name, and by UID when the claimRef has one).
func isVolumeBoundToClaim(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) bool {
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Name != claim.Name || ref.Namespace != claim.Namespace {
		return false
	}
	return ref.UID == "" || ref.UID == claim.UID
}

// claimRefFor returns the object reference a volume bound to claim carries.
func claimRefFor(claim *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind:            "PersistentVolumeClaim",
		APIVersion:      "v1",
		Namespace:       claim.Namespace,
		Name:            claim.Name,
		UID:             claim.UID,
		ResourceVersion: claim.ResourceVersion,
	}
}

// isDelayBinding reports whether the claim's class binds only once a consumer is scheduled.
func isDelayBinding(class *storagev1.StorageClass) bool {
	return class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// claimProvisioner returns the provisioner the claim was handed to, if any.
func claimProvisioner(claim *corev1.PersistentVolumeClaim) string {
	if p := claim.Annotations[AnnStorageProvisioner]; p != "" {
		return p
	}
	return claim.Annotations[AnnBetaStorageProvisioner]
}

// podClaimNames returns the names of the claims a pod's volumes use: persistentVolumeClaim
// volumes and the claims of generic ephemeral volumes (<pod>-<volume>).
func podClaimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// podTerminated reports whether a pod will never run (again).
func podTerminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// nodeReady reports whether a node's Ready condition is True.
func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
