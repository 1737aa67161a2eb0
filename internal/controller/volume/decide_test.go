package volume

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var (
	rwo = corev1.ReadWriteOnce
	rox = corev1.ReadOnlyMany
	rwx = corev1.ReadWriteMany
)

type pvOpt func(*corev1.PersistentVolume)

func newPV(name, size, class string, opts ...pvOpt) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{rwo},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(pv)
	}
	return pv
}

func modes(m ...corev1.PersistentVolumeAccessMode) pvOpt {
	return func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = m }
}
func phase(p corev1.PersistentVolumePhase) pvOpt {
	return func(pv *corev1.PersistentVolume) { pv.Status.Phase = p }
}
func boundTo(c *corev1.PersistentVolumeClaim) pvOpt {
	return func(pv *corev1.PersistentVolume) { pv.Spec.ClaimRef = claimRefFor(c) }
}
func preboundTo(ns, name string) pvOpt {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: ns, Name: name}
	}
}
func pvLabels(l map[string]string) pvOpt {
	return func(pv *corev1.PersistentVolume) { pv.Labels = l }
}
func pvAnn(k, v string) pvOpt {
	return func(pv *corev1.PersistentVolume) { metav1.SetMetaDataAnnotation(&pv.ObjectMeta, k, v) }
}
func policy(p corev1.PersistentVolumeReclaimPolicy) pvOpt {
	return func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = p }
}
func onNode(n string) pvOpt {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n}}},
		}}}}
	}
}
func blockPV(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }
func deletingPV(pv *corev1.PersistentVolume) {
	pv.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
}

type pvcOpt func(*corev1.PersistentVolumeClaim)

func newPVC(name, size, class string, opts ...pvcOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{rwo},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func wants(m ...corev1.PersistentVolumeAccessMode) pvcOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = m }
}
func volumeName(n string) pvcOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = n }
}
func pvcAnn(k, v string) pvcOpt {
	return func(c *corev1.PersistentVolumeClaim) { metav1.SetMetaDataAnnotation(&c.ObjectMeta, k, v) }
}
func selector(l map[string]string) pvcOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{MatchLabels: l} }
}
func blockPVC(c *corev1.PersistentVolumeClaim) {
	c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
}

func nodeNamed(n string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelHostname: n}}}
}

func TestFindMatchingVolume(t *testing.T) {
	c := newPVC("c", "500Mi", "gold")
	other := newPVC("other", "1Gi", "gold")
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		node    *corev1.Node
		delay   bool
		want    string
	}{
		{name: "smallest fitting", claim: c, volumes: []*corev1.PersistentVolume{
			newPV("big", "10Gi", "gold"), newPV("fit", "1Gi", "gold"), newPV("tiny", "100Mi", "gold"), newPV("exact", "500Mi", "gold")}, want: "exact"},
		{name: "class must match", claim: c, volumes: []*corev1.PersistentVolume{newPV("silver", "1Gi", "silver"), newPV("none", "1Gi", "")}},
		{name: "no class matches no class", claim: newPVC("c", "1Gi", ""), volumes: []*corev1.PersistentVolume{newPV("gold", "1Gi", "gold"), newPV("none", "1Gi", "")}, want: "none"},
		{name: "beta class annotation wins", claim: newPVC("c", "1Gi", "", pvcAnn(AnnBetaStorageClass, "gold")), volumes: []*corev1.PersistentVolume{newPV("gold", "1Gi", "gold"), newPV("none", "1Gi", "")}, want: "gold"},
		{name: "access modes must be a subset", claim: newPVC("c", "1Gi", "gold", wants(rwo, rox)), volumes: []*corev1.PersistentVolume{
			newPV("rwo", "1Gi", "gold"), newPV("both", "5Gi", "gold", modes(rwo, rox))}, want: "both"},
		{name: "fewer modes beat smaller size", claim: c, volumes: []*corev1.PersistentVolume{
			newPV("many", "1Gi", "gold", modes(rwo, rox, rwx)), newPV("one", "2Gi", "gold")}, want: "one"},
		{name: "only Available volumes", claim: c, volumes: []*corev1.PersistentVolume{
			newPV("pending", "1Gi", "gold", phase(corev1.VolumePending)), newPV("released", "1Gi", "gold", phase(corev1.VolumeReleased)), newPV("ok", "2Gi", "gold")}, want: "ok"},
		{name: "bound to others skipped", claim: c, volumes: []*corev1.PersistentVolume{newPV("taken", "1Gi", "gold", boundTo(other))}},
		{name: "pre-bound wins over a better fit", claim: c, volumes: []*corev1.PersistentVolume{
			newPV("fit", "500Mi", "gold"), newPV("mine", "5Gi", "gold", preboundTo("ns", "c"), phase(corev1.VolumePending))}, want: "mine"},
		{name: "provisioned for the claim, even of another class", claim: c, volumes: []*corev1.PersistentVolume{newPV("pvc-x", "500Mi", "other", boundTo(c), phase(corev1.VolumePending))}, want: "pvc-x"},
		{name: "pre-bound too small is skipped", claim: c, volumes: []*corev1.PersistentVolume{newPV("mine", "100Mi", "gold", preboundTo("ns", "c"))}},
		{name: "volume mode", claim: newPVC("c", "1Gi", "gold", blockPVC), volumes: []*corev1.PersistentVolume{newPV("fs", "1Gi", "gold"), newPV("blk", "2Gi", "gold", blockPV)}, want: "blk"},
		{name: "filesystem claim skips block", claim: c, volumes: []*corev1.PersistentVolume{newPV("blk", "2Gi", "gold", blockPV)}},
		{name: "selector", claim: newPVC("c", "1Gi", "gold", selector(map[string]string{"tier": "fast"})), volumes: []*corev1.PersistentVolume{
			newPV("slow", "1Gi", "gold", pvLabels(map[string]string{"tier": "slow"})), newPV("fast", "3Gi", "gold", pvLabels(map[string]string{"tier": "fast"}))}, want: "fast"},
		{name: "being deleted", claim: c, volumes: []*corev1.PersistentVolume{newPV("gone", "1Gi", "gold", deletingPV)}},
		{name: "delay binding binds only pre-bound", claim: c, delay: true, volumes: []*corev1.PersistentVolume{newPV("fit", "1Gi", "gold")}},
		{name: "delay binding with pre-bound", claim: c, delay: true, volumes: []*corev1.PersistentVolume{newPV("fit", "1Gi", "gold"), newPV("mine", "1Gi", "gold", preboundTo("ns", "c"))}, want: "mine"},
		{name: "node affinity", claim: c, node: nodeNamed("a"), delay: true, volumes: []*corev1.PersistentVolume{
			newPV("on-b", "500Mi", "gold", onNode("b")), newPV("on-a", "1Gi", "gold", onNode("a")), newPV("anywhere", "2Gi", "gold")}, want: "on-a"},
		{name: "pre-bound on another node", claim: c, node: nodeNamed("a"), volumes: []*corev1.PersistentVolume{
			newPV("mine", "1Gi", "gold", preboundTo("ns", "c"), onNode("b")), newPV("on-a", "1Gi", "gold", onNode("a"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findMatchingVolume(tt.claim, tt.volumes, tt.node, tt.delay)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("got %q, want %q", name, tt.want)
			}
		})
	}
}

func TestCheckVolumeSatisfyClaim(t *testing.T) {
	c := newPVC("c", "1Gi", "gold", wants(rwo))
	tests := []struct {
		pv   *corev1.PersistentVolume
		want string
	}{
		{newPV("ok", "1Gi", "gold"), ""},
		{newPV("small", "500Mi", "gold"), "requested PV is too small"},
		{newPV("class", "1Gi", "silver"), "storageClassName does not match"},
		{newPV("mode", "1Gi", "gold", blockPV), "incompatible volumeMode"},
		{newPV("access", "1Gi", "gold", modes(rox)), "incompatible accessMode"},
		{newPV("del", "1Gi", "gold", deletingPV), `the volume is marked for deletion "del"`},
	}
	for _, tt := range tests {
		err := checkVolumeSatisfyClaim(tt.pv, c)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.pv.Name, got, tt.want)
		}
	}
}

func TestDecideClaim(t *testing.T) {
	wffc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "p",
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	immediate := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, Provisioner: "p"}
	static := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "static"}, Provisioner: NotSupportedProvisioner}
	c := newPVC("c", "1Gi", "gold")
	bound := newPVC("c", "1Gi", "gold", volumeName("v"), pvcAnn(AnnBindCompleted, "yes"), pvcAnn(AnnBoundByController, "yes"))
	tests := []struct {
		name   string
		claim  *corev1.PersistentVolumeClaim
		in     claimInput
		action claimAction
		reason string
		volume string
	}{
		{name: "binds a match", claim: c, in: claimInput{class: immediate, volumes: []*corev1.PersistentVolume{newPV("v", "1Gi", "gold")}}, action: claimBind, volume: "v"},
		{name: "no class", claim: newPVC("c", "1Gi", ""), action: claimPending, reason: reasonFailedBinding},
		{name: "missing class", claim: c, action: claimPending, reason: reasonProvisioningFailed},
		{name: "provision", claim: c, in: claimInput{class: immediate}, action: claimProvision, reason: reasonExternalProvisioning},
		{name: "no-provisioner class", claim: newPVC("c", "1Gi", "static"), in: claimInput{class: static}, action: claimPending, reason: reasonFailedBinding},
		{name: "wait for consumer", claim: newPVC("c", "1Gi", "local"), in: claimInput{class: wffc, volumes: []*corev1.PersistentVolume{newPV("v", "1Gi", "local")}},
			action: claimPending, reason: reasonWaitForFirstConsumer},
		{name: "wait for pod scheduled", claim: newPVC("c", "1Gi", "local"), in: claimInput{class: wffc, unscheduledConsumer: "web"},
			action: claimPending, reason: reasonWaitForPodScheduled},
		{name: "selected node binds a volume there", claim: newPVC("c", "1Gi", "local", pvcAnn(AnnSelectedNode, "a")),
			in:     claimInput{class: wffc, node: nodeNamed("a"), volumes: []*corev1.PersistentVolume{newPV("v-b", "1Gi", "local", onNode("b")), newPV("v-a", "1Gi", "local", onNode("a"))}},
			action: claimBind, volume: "v-a"},
		{name: "selected node provisions", claim: newPVC("c", "1Gi", "local", pvcAnn(AnnSelectedNode, "a")),
			in:     claimInput{class: wffc, node: nodeNamed("a"), volumes: []*corev1.PersistentVolume{newPV("v-b", "1Gi", "local", onNode("b"))}},
			action: claimProvision, reason: reasonExternalProvisioning},
		{name: "pre-bound claim, volume missing", claim: newPVC("c", "1Gi", "gold", volumeName("v")), action: claimPending},
		{name: "pre-bound claim, volume fits", claim: newPVC("c", "1Gi", "gold", volumeName("v")), in: claimInput{volume: newPV("v", "1Gi", "gold")}, action: claimBind, volume: "v"},
		{name: "pre-bound claim, volume too small", claim: newPVC("c", "1Gi", "gold", volumeName("v")), in: claimInput{volume: newPV("v", "1Mi", "gold")}, action: claimPending, reason: reasonVolumeMismatch},
		{name: "pre-bound claim, volume taken", claim: newPVC("c", "1Gi", "gold", volumeName("v")), in: claimInput{volume: newPV("v", "1Gi", "gold", boundTo(newPVC("x", "1Gi", "gold")))}, action: claimPending, reason: reasonFailedBinding},
		{name: "pre-bound claim, volume pre-bound to it", claim: newPVC("c", "1Gi", "gold", volumeName("v")), in: claimInput{volume: newPV("v", "1Gi", "gold", preboundTo("ns", "c"))}, action: claimBind, volume: "v"},
		{name: "bound, all well", claim: bound, in: claimInput{volume: newPV("v", "1Gi", "gold", boundTo(bound))}, action: claimBind, volume: "v"},
		{name: "bound, volume unbound", claim: bound, in: claimInput{volume: newPV("v", "1Gi", "gold")}, action: claimBind, volume: "v"},
		{name: "bound, volume gone", claim: bound, action: claimLost, reason: reasonClaimLost},
		{name: "bound, lost reference", claim: newPVC("c", "1Gi", "gold", pvcAnn(AnnBindCompleted, "yes")), action: claimLost, reason: reasonClaimLost},
		{name: "bound, volume bound elsewhere", claim: bound, in: claimInput{volume: newPV("v", "1Gi", "gold", boundTo(newPVC("x", "1Gi", "gold")))}, action: claimLost, reason: reasonClaimMisbound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideClaim(tt.claim, tt.in)
			if d.action != tt.action || d.reason != tt.reason {
				t.Fatalf("got action %d reason %q (%s), want %d %q", d.action, d.reason, d.message, tt.action, tt.reason)
			}
			if tt.volume != "" && (d.volume == nil || d.volume.Name != tt.volume) {
				t.Errorf("volume = %v, want %s", d.volume, tt.volume)
			}
			if tt.action == claimProvision && d.provisioner != "p" {
				t.Errorf("provisioner = %q", d.provisioner)
			}
		})
	}
}

func TestDecideVolume(t *testing.T) {
	c := newPVC("c", "1Gi", "gold", volumeName("v"))
	unbound := newPVC("c", "1Gi", "gold")
	elsewhere := newPVC("c", "1Gi", "gold", volumeName("w"))
	recreated := newPVC("c", "1Gi", "gold", volumeName("v"))
	recreated.UID = "new"
	tests := []struct {
		name  string
		pv    *corev1.PersistentVolume
		claim *corev1.PersistentVolumeClaim
		want  volumeAction
	}{
		{"unused", newPV("v", "1Gi", "gold", phase(corev1.VolumePending)), nil, volumeAvailable},
		{"pre-bound by name", newPV("v", "1Gi", "gold", preboundTo("ns", "c")), nil, volumeAvailable},
		{"bound and consistent", newPV("v", "1Gi", "gold", boundTo(c)), c, volumeBound},
		{"claim deleted", newPV("v", "1Gi", "gold", boundTo(c)), nil, volumeRelease},
		{"claim recreated", newPV("v", "1Gi", "gold", boundTo(c)), recreated, volumeRelease},
		{"claim not bound yet", newPV("v", "1Gi", "gold", boundTo(unbound)), unbound, volumeSyncClaim},
		{"claim not bound yet, mode mismatch", newPV("v", "1Gi", "gold", boundTo(unbound), blockPV), unbound, volumeModeMismatchEvent},
		{"claim bound elsewhere, controller bound", newPV("v", "1Gi", "gold", boundTo(elsewhere), pvAnn(AnnBoundByController, "yes")), elsewhere, volumeUnbind},
		{"claim bound elsewhere, provisioned", newPV("v", "1Gi", "gold", boundTo(elsewhere), pvAnn(AnnDynamicallyProvisioned, "p"), policy(corev1.PersistentVolumeReclaimDelete)), elsewhere, volumeRelease},
	}
	for _, tt := range tests {
		if got := decideVolume(tt.pv, tt.claim); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDecideReclaim(t *testing.T) {
	tests := []struct {
		name string
		pv   *corev1.PersistentVolume
		want reclaimAction
	}{
		{"retain", newPV("v", "1Gi", "", policy(corev1.PersistentVolumeReclaimRetain)), reclaimRetain},
		{"delete static", newPV("v", "1Gi", "", policy(corev1.PersistentVolumeReclaimDelete)), reclaimDelete},
		{"delete provisioned", newPV("v", "1Gi", "", policy(corev1.PersistentVolumeReclaimDelete), pvAnn(AnnDynamicallyProvisioned, "p")), reclaimExternal},
		{"recycle", newPV("v", "1Gi", "", policy(corev1.PersistentVolumeReclaimRecycle)), reclaimFail},
		{"unknown", newPV("v", "1Gi", "", policy("Shred")), reclaimFail},
	}
	for _, tt := range tests {
		if got, _, _ := decideReclaim(tt.pv); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestBindVolumeAndClaim(t *testing.T) {
	c := newPVC("c", "1Gi", "gold")
	// Controller binding: claimRef and annotation.
	pv, changed := bindVolume(newPV("v", "1Gi", "gold"), c)
	if !changed || pv.Spec.ClaimRef.UID != c.UID || pv.Annotations[AnnBoundByController] != "yes" {
		t.Fatalf("controller binding: changed=%v %+v %v", changed, pv.Spec.ClaimRef, pv.Annotations)
	}
	if _, changed := bindVolume(pv, c); changed {
		t.Error("binding again changed the volume")
	}
	// User pre-binding: UID filled in, no annotation.
	pv, changed = bindVolume(newPV("v", "1Gi", "gold", preboundTo("ns", "c")), c)
	if !changed || pv.Spec.ClaimRef.UID != c.UID || pv.Annotations[AnnBoundByController] != "" {
		t.Fatalf("pre-bound: changed=%v %+v %v", changed, pv.Spec.ClaimRef, pv.Annotations)
	}

	got, changed := bindClaim(c, pv)
	if !changed || got.Spec.VolumeName != "v" || got.Annotations[AnnBoundByController] != "yes" || got.Annotations[AnnBindCompleted] != "yes" {
		t.Fatalf("claim binding: %v %+v", changed, got.ObjectMeta.Annotations)
	}
	if _, changed := bindClaim(got, pv); changed {
		t.Error("binding the claim again changed it")
	}
	user, _ := bindClaim(newPVC("c", "1Gi", "gold", volumeName("v")), pv)
	if user.Annotations[AnnBoundByController] != "" || user.Annotations[AnnBindCompleted] != "yes" {
		t.Errorf("user-bound claim annotations: %v", user.Annotations)
	}

	if un := unbindVolume(newPV("v", "1Gi", "gold", boundTo(c), pvAnn(AnnBoundByController, "yes"))); un.Spec.ClaimRef != nil || un.Annotations != nil {
		t.Errorf("unbinding a controller binding: %+v %v", un.Spec.ClaimRef, un.Annotations)
	}
	if un := unbindVolume(newPV("v", "1Gi", "gold", boundTo(c))); un.Spec.ClaimRef == nil || un.Spec.ClaimRef.UID != "" || un.Spec.ClaimRef.Name != "c" {
		t.Errorf("unbinding a user binding: %+v", un.Spec.ClaimRef)
	}
}

func TestClaimStatus(t *testing.T) {
	c := newPVC("c", "500Mi", "gold")
	pv := newPV("v", "1Gi", "gold", modes(rwo, rox))
	st := claimStatus(c, corev1.ClaimBound, pv)
	if st.Phase != corev1.ClaimBound || len(st.AccessModes) != 2 || st.Capacity.Storage().Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("bound status = %+v", st)
	}
	c.Status = st
	if !claimStatusEqual(claimStatus(c, corev1.ClaimBound, pv), c.Status) {
		t.Error("status not stable")
	}
	lost := claimStatus(c, corev1.ClaimLost, nil)
	if lost.Phase != corev1.ClaimLost || lost.AccessModes != nil || lost.Capacity != nil {
		t.Errorf("lost status = %+v", lost)
	}
}

func TestSelectedNodeFor(t *testing.T) {
	c := newPVC("data", "1Gi", "local")
	pod := func(name, node string, vol corev1.VolumeSource, opts ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: corev1.PodSpec{NodeName: node, Volumes: []corev1.Volume{{Name: "v", VolumeSource: vol}}}}
		for _, o := range opts {
			o(p)
		}
		return p
	}
	uses := corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}
	other := corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "x"}}
	eph := corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}
	failed := func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }
	tests := []struct {
		name              string
		claim             *corev1.PersistentVolumeClaim
		pods              []*corev1.Pod
		node, unscheduled string
	}{
		{"none", c, []*corev1.Pod{pod("a", "n1", other)}, "", ""},
		{"unscheduled", c, []*corev1.Pod{pod("a", "", uses)}, "", "a"},
		{"scheduled", c, []*corev1.Pod{pod("b", "n2", uses), pod("a", "", uses), pod("c", "n3", uses)}, "n2", "a"},
		{"terminated ignored", c, []*corev1.Pod{pod("a", "n1", uses, failed)}, "", ""},
		{"ephemeral", newPVC("web-v", "1Gi", "local"), []*corev1.Pod{pod("web", "n1", eph)}, "n1", ""},
	}
	for _, tt := range tests {
		node, unscheduled := selectedNodeFor(tt.claim, tt.pods)
		if node != tt.node || unscheduled != tt.unscheduled {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tt.name, node, unscheduled, tt.node, tt.unscheduled)
		}
	}
}
