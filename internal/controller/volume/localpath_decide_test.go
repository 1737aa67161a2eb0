package volume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func readyNode(name string, ready bool, opts ...func(*corev1.Node)) *corev1.Node {
	n := nodeNamed(name)
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func TestLocalPathStorageClass(t *testing.T) {
	sc := LocalPathStorageClass(LocalPathConfig{})
	if sc.Name != "local-path" || sc.Provisioner != "kijabi.io/local-path" || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		*sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || sc.Annotations[AnnDefaultStorageClass] != "true" {
		t.Errorf("class = %+v", sc)
	}
}

func TestWantsProvisioning(t *testing.T) {
	class := LocalPathStorageClass(LocalPathConfig{})
	handed := pvcAnn(AnnStorageProvisioner, LocalPathProvisioner)
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		class *storagev1.StorageClass
		want  bool
	}{
		{"handed to us", newPVC("c", "1Gi", "local-path", handed), class, true},
		{"beta annotation", newPVC("c", "1Gi", "local-path", pvcAnn(AnnBetaStorageProvisioner, LocalPathProvisioner)), class, true},
		{"not handed yet", newPVC("c", "1Gi", "local-path"), class, false},
		{"handed to another", newPVC("c", "1Gi", "local-path", pvcAnn(AnnStorageProvisioner, "other")), class, false},
		{"bound", newPVC("c", "1Gi", "local-path", handed, volumeName("v")), class, false},
		{"class of another provisioner", newPVC("c", "1Gi", "x", handed), &storagev1.StorageClass{Provisioner: "other"}, false},
		{"no class", newPVC("c", "1Gi", "x", handed), nil, false},
	}
	for _, tt := range tests {
		if got := wantsProvisioning(tt.claim, tt.class, LocalPathProvisioner); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

func TestCheckLocalPathClaim(t *testing.T) {
	tests := []struct {
		claim *corev1.PersistentVolumeClaim
		ok    bool
	}{
		{newPVC("c", "1Gi", "lp"), true},
		{newPVC("c", "1Gi", "lp", wants(corev1.ReadWriteOncePod)), true},
		{newPVC("c", "1Gi", "lp", wants(rwx)), false},
		{newPVC("c", "1Gi", "lp", selector(map[string]string{"a": "b"})), false},
		{newPVC("c", "1Gi", "lp", blockPVC), false},
		{newPVC("c", "1Gi", "lp", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "x"}
		}), false},
	}
	for i, tt := range tests {
		if err := checkLocalPathClaim(tt.claim); (err == nil) != tt.ok {
			t.Errorf("%d: err = %v", i, err)
		}
	}
}

func TestProvisionNode(t *testing.T) {
	wffc := LocalPathStorageClass(LocalPathConfig{})
	immediate := wffc.DeepCopy()
	immediate.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	nodes := []*corev1.Node{readyNode("a", false), readyNode("b", true, cordoned), readyNode("c", true)}
	if got := provisionNode(newPVC("c", "1Gi", "lp", pvcAnn(AnnSelectedNode, "x")), wffc, nodes); got != "x" {
		t.Errorf("selected node: got %q", got)
	}
	if got := provisionNode(newPVC("c", "1Gi", "lp"), wffc, nodes); got != "" {
		t.Errorf("WaitForFirstConsumer without node: got %q", got)
	}
	if got := provisionNode(newPVC("c", "1Gi", "lp"), immediate, nodes); got != "c" {
		t.Errorf("immediate: got %q, want the only ready schedulable node", got)
	}
	if got := provisionNode(newPVC("c", "1Gi", "lp"), immediate, nodes[:2]); got != "" {
		t.Errorf("immediate without ready nodes: got %q", got)
	}
	// Deterministic, and spread over the nodes.
	many := []*corev1.Node{readyNode("n1", true), readyNode("n2", true), readyNode("n3", true)}
	seen := map[string]bool{}
	for _, uid := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10"} {
		c := newPVC("c", "1Gi", "lp")
		c.UID = types.UID(uid)
		first := provisionNode(c, immediate, many)
		if again := provisionNode(c, immediate, []*corev1.Node{many[2], many[0], many[1]}); again != first {
			t.Errorf("claim %s: %q, then %q", uid, first, again)
		}
		seen[first] = true
	}
	if len(seen) < 2 {
		t.Errorf("10 claims all went to %v", seen)
	}
}

func TestLocalPathVolume(t *testing.T) {
	c := newPVC("data", "500Mi", "local-path", wants(corev1.ReadWriteOncePod))
	class := LocalPathStorageClass(LocalPathConfig{})
	class.MountOptions = []string{"noatime"}
	dir := volumeDir("/base", c, provisionedVolumeName(c))
	if dir != "/base/ns_data_pvc-uid-data" {
		t.Fatalf("dir = %s", dir)
	}
	pv := localPathVolume(c, class, LocalPathProvisioner, "host-a", dir)
	if pv.Name != "pvc-uid-data" || pv.Annotations[AnnDynamicallyProvisioned] != LocalPathProvisioner {
		t.Errorf("meta = %+v", pv.ObjectMeta)
	}
	if pv.Spec.HostPath.Path != dir || *pv.Spec.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("source = %+v", pv.Spec.HostPath)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("500Mi")) != 0 {
		t.Errorf("capacity = %s", q.String())
	}
	if pv.Spec.ClaimRef.UID != c.UID || pv.Spec.StorageClassName != "local-path" || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Spec.AccessModes[0] != corev1.ReadWriteOncePod || pv.Spec.MountOptions[0] != "noatime" {
		t.Errorf("spec = %+v", pv.Spec)
	}
	if volumeHost(pv) != "host-a" || volumePath(pv) != dir {
		t.Errorf("host %q path %q", volumeHost(pv), volumePath(pv))
	}
	if !volumeFitsNode(pv, nodeNamed("host-a")) || volumeFitsNode(pv, nodeNamed("host-b")) {
		t.Error("node affinity does not pin the volume to host-a")
	}
}

func TestDecideDelete(t *testing.T) {
	cfg := LocalPathConfig{}.withDefaults()
	localOnly := cfg
	localOnly.LocalOnly = true
	mine := func(opts ...pvOpt) *corev1.PersistentVolume {
		return newPV("v", "1Gi", "local-path", append([]pvOpt{pvAnn(AnnDynamicallyProvisioned, LocalPathProvisioner),
			policy(corev1.PersistentVolumeReclaimDelete), phase(corev1.VolumeReleased)}, opts...)...)
	}
	tests := []struct {
		name              string
		pv                *corev1.PersistentVolume
		cfg               LocalPathConfig
		local, nodeExists bool
		want              deleteAction
	}{
		{"local", mine(), cfg, true, true, deleteDirAndVolume},
		{"remote", mine(), cfg, false, true, deleteVolumeOnly},
		{"remote, local only", mine(), localOnly, false, true, deleteNothing},
		{"remote node gone, local only", mine(), localOnly, false, false, deleteVolumeOnly},
		{"bound", mine(phase(corev1.VolumeBound)), cfg, true, true, deleteNothing},
		{"retain", mine(policy(corev1.PersistentVolumeReclaimRetain)), cfg, true, true, deleteNothing},
		{"not ours", mine(pvAnn(AnnDynamicallyProvisioned, "other")), cfg, true, true, deleteNothing},
	}
	for _, tt := range tests {
		if got := decideDelete(tt.pv, tt.cfg, tt.local, tt.nodeExists); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDirUnder(t *testing.T) {
	tests := []struct {
		dir, base string
		want      bool
	}{
		{"/base/ns_c_pvc-1", "/base", true},
		{"/base/ns_c_pvc-1/", "/base/", true},
		{"/base", "/base", false},
		{"/base/a/b", "/base", false},
		{"/base/../etc", "/base", false},
		{"/other/x", "/base", false},
		{"relative/x", "relative", false},
		{"", "/base", false},
	}
	for _, tt := range tests {
		if got := dirUnder(tt.dir, tt.base); got != tt.want {
			t.Errorf("dirUnder(%q, %q) = %v", tt.dir, tt.base, got)
		}
	}
}
