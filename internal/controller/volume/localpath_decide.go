package volume

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults of the built-in local-path provisioner.
const (
	// LocalPathProvisioner is the provisioner name of the built-in local-path class.
	LocalPathProvisioner = "kijabi.io/local-path"
	// LocalPathClass is the name of the StorageClass the provisioner ensures.
	LocalPathClass = "local-path"
)

// LocalPathConfig configures a LocalPath provisioner.
type LocalPathConfig struct {
	// BaseDir is the directory holding the volume directories on every node.
	BaseDir string
	// NodeName is the node this provisioner runs on: only there does it create and remove
	// directories itself. Empty: it runs on no node.
	NodeName string
	// LocalOnly makes the provisioner handle only volumes of its own node (plus volumes of
	// nodes that no longer exist), for running one provisioner on every node. Otherwise it
	// provisions and deletes volumes of every node, touching directories only on its own.
	LocalOnly bool
	// Provisioner is the provisioner name; LocalPathProvisioner by default.
	Provisioner string
	// ClassName is the StorageClass ensured at start; LocalPathClass by default.
	ClassName string
}

func (c LocalPathConfig) withDefaults() LocalPathConfig {
	if c.Provisioner == "" {
		c.Provisioner = LocalPathProvisioner
	}
	if c.ClassName == "" {
		c.ClassName = LocalPathClass
	}
	return c
}

// LocalPathStorageClass returns the default StorageClass of the provisioner: binding waits
// for the first consumer, released volumes are deleted.
func LocalPathStorageClass(cfg LocalPathConfig) *storagev1.StorageClass {
	cfg = cfg.withDefaults()
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        cfg.ClassName,
			Annotations: map[string]string{AnnDefaultStorageClass: "true"},
		},
		Provisioner:       cfg.Provisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
}

// provisionedVolumeName is the name of the volume provisioned for a claim.
func provisionedVolumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// volumeDir is the directory of a claim's volume: <baseDir>/<namespace>_<claim>_<volume>.
func volumeDir(baseDir string, claim *corev1.PersistentVolumeClaim, pvName string) string {
	return filepath.Join(baseDir, strings.Join([]string{claim.Namespace, claim.Name, pvName}, "_"))
}

// wantsProvisioning reports whether a claim is one this provisioner should provision now:
// unbound, not being deleted, of a class of this provisioner, and handed to it by the binder
// (which does so only when no existing volume fits).
func wantsProvisioning(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, provisioner string) bool {
	return claim.Spec.VolumeName == "" && claim.DeletionTimestamp == nil &&
		class != nil && class.Provisioner == provisioner && claimProvisioner(claim) == provisioner
}

// checkLocalPathClaim says why a claim cannot get a local-path volume, or nil.
func checkLocalPathClaim(claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.Selector != nil {
		return errors.New("claim.Spec.Selector is not supported")
	}
	if claim.Spec.DataSource != nil || claim.Spec.DataSourceRef != nil {
		return errors.New("claim.Spec.DataSource is not supported")
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return errors.New("block volume mode is not supported")
	}
	if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		return errors.New("claim requests no storage")
	}
	for _, m := range claim.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return fmt.Errorf("access mode %s is not supported, only ReadWriteOnce and ReadWriteOncePod", m)
		}
	}
	return nil
}

// provisionNode returns the node to provision a claim on: its selected node; for
// WaitForFirstConsumer claims without one "" (wait); otherwise a Ready, schedulable node,
// the same for every provisioner instance (by a hash of the claim's UID), "" when none is.
func provisionNode(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, nodes []*corev1.Node) string {
	if n := claim.Annotations[AnnSelectedNode]; n != "" {
		return n
	}
	if isDelayBinding(class) {
		return ""
	}
	var ready []string
	for _, n := range nodes {
		if nodeReady(n) && !n.Spec.Unschedulable && n.DeletionTimestamp == nil {
			ready = append(ready, n.Name)
		}
	}
	if len(ready) == 0 {
		return ""
	}
	slices.Sort(ready)
	h := fnv.New32a()
	h.Write([]byte(claim.UID))
	return ready[h.Sum32()%uint32(len(ready))]
}

// localPathVolume returns the volume to create for claim on node (whose
// kubernetes.io/hostname label is hostname) in dir.
func localPathVolume(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, provisioner, hostname, dir string) *corev1.PersistentVolume {
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	mode := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        provisionedVolumeName(claim),
			Annotations: map[string]string{AnnDynamicallyProvisioned: provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   slices.Clone(claim.Spec.AccessModes),
			VolumeMode:                    &mode,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			MountOptions:                  slices.Clone(class.MountOptions),
			ClaimRef:                      claimRefFor(claim),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
				}}}},
			}},
		},
	}
}

// volumeHost returns the kubernetes.io/hostname a provisioned volume is pinned to.
func volumeHost(pv *corev1.PersistentVolume) string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return ""
	}
	for _, t := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, r := range t.MatchExpressions {
			if r.Key == corev1.LabelHostname && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
				return r.Values[0]
			}
		}
	}
	return ""
}

// volumePath returns the directory of a hostPath or local volume.
func volumePath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	}
	return ""
}

// deleteAction is what the provisioner does with one of its volumes.
type deleteAction int

const (
	// deleteNothing: not released for deletion, or another instance's.
	deleteNothing deleteAction = iota
	// deleteDirAndVolume removes the directory (on this node) and then the volume.
	deleteDirAndVolume
	// deleteVolumeOnly removes the volume; its directory is on another node.
	deleteVolumeOnly
)

// decideDelete decides what the provisioner does with a volume. local says whether the
// volume is on this provisioner's node, nodeExists whether its node still exists.
func decideDelete(pv *corev1.PersistentVolume, cfg LocalPathConfig, local, nodeExists bool) deleteAction {
	if pv.Annotations[AnnDynamicallyProvisioned] != cfg.Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return deleteNothing
	}
	switch {
	case local:
		return deleteDirAndVolume
	case cfg.LocalOnly && nodeExists:
		return deleteNothing // the provisioner on that node removes it
	default:
		return deleteVolumeOnly
	}
}

// dirUnder reports whether dir is a directory directly inside base (so that removing it
// cannot touch anything else).
func dirUnder(dir, base string) bool {
	if dir == "" || base == "" || !filepath.IsAbs(dir) {
		return false
	}
	d := filepath.Clean(dir)
	return filepath.Dir(d) == filepath.Clean(base) && filepath.Base(d) != ".."
}
