package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	binder   *Binder
	lp       *LocalPath
	recorder *record.FakeRecorder
}

// newFixture builds a binder and a local-path provisioner (on node-a, baseDir) on a fake
// clientset holding objs, with informer indexers pre-filled with the same objects.
func newFixture(t *testing.T, baseDir string, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	core := factory.Core().V1()
	classes := factory.Storage().V1().StorageClasses()
	rec := record.NewFakeRecorder(100)
	opts := []Option{WithClock(clocktesting.NewFakeClock(t0)), WithEventRecorder(rec), WithResyncPeriod(0)}
	b := NewBinder(client, core.PersistentVolumes(), core.PersistentVolumeClaims(), classes, core.Pods(), opts...)
	lp := NewLocalPath(client, core.PersistentVolumes(), core.PersistentVolumeClaims(), classes, core.Nodes(),
		LocalPathConfig{BaseDir: baseDir, NodeName: "node-a"}, opts...)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			err = core.PersistentVolumes().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = core.PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = core.Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = core.Nodes().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = classes.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{t: t, client: client, binder: b, lp: lp, recorder: rec}
}

func (f *fixture) pv(name string) *corev1.PersistentVolume {
	f.t.Helper()
	pv, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return pv
}

func (f *fixture) pvc(name string) *corev1.PersistentVolumeClaim {
	f.t.Helper()
	c, err := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// events drains the recorded events.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestBinderBindsClaim(t *testing.T) {
	f := newFixture(t, "", newPV("big", "2Gi", "gold"), newPV("fit", "1Gi", "gold"), newPVC("c", "500Mi", "gold"))
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	pv, c := f.pv("fit"), f.pvc("c")
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID || pv.Annotations[AnnBoundByController] != "yes" {
		t.Errorf("volume = %+v %v", pv.Spec.ClaimRef, pv.Annotations)
	}
	if pv.Status.Phase != corev1.VolumeBound || pv.Status.LastPhaseTransitionTime == nil || !pv.Status.LastPhaseTransitionTime.Time.Equal(t0) {
		t.Errorf("volume status = %+v", pv.Status)
	}
	if c.Spec.VolumeName != "fit" || c.Annotations[AnnBindCompleted] != "yes" || c.Status.Phase != corev1.ClaimBound ||
		c.Status.Capacity.Storage().String() != "1Gi" {
		t.Errorf("claim = %+v %+v", c.Spec, c.Status)
	}
	if f.pv("big").Spec.ClaimRef != nil {
		t.Error("bound the bigger volume too")
	}
	// Syncing again, with informers that have seen the new state, changes nothing.
	fresh := newFixture(t, "", pv, c, f.pv("big"))
	if err := fresh.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	if err := fresh.binder.syncVolume(context.Background(), "fit"); err != nil {
		t.Fatal(err)
	}
	if a := fresh.client.Actions(); len(a) != 0 {
		t.Errorf("resync of a bound pair wrote: %v", a)
	}
}

func TestBinderNoClassEvent(t *testing.T) {
	f := newFixture(t, "", newPVC("c", "1Gi", ""))
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	if ev := f.events(); !hasEvent(ev, "Normal FailedBinding no persistent volumes available for this claim and no storage class is set") {
		t.Errorf("events = %v", ev)
	}
}

func TestBinderHandsClaimToProvisioner(t *testing.T) {
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, Provisioner: "example.com/p"}
	f := newFixture(t, "", class, newPVC("c", "1Gi", "gold"))
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	c := f.pvc("c")
	if c.Annotations[AnnStorageProvisioner] != "example.com/p" || c.Annotations[AnnBetaStorageProvisioner] != "example.com/p" {
		t.Errorf("annotations = %v", c.Annotations)
	}
	if ev := f.events(); !hasEvent(ev, "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'example.com/p'") {
		t.Errorf("events = %v", ev)
	}
}

func TestBinderSelectsNodeForFirstConsumer(t *testing.T) {
	class := LocalPathStorageClass(LocalPathConfig{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}},
	}}
	claim := newPVC("c", "1Gi", "local-path")

	// Not scheduled yet: wait.
	f := newFixture(t, "", class, claim, pod, newPV("v", "1Gi", "local-path"))
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	if ev := f.events(); !hasEvent(ev, "Normal WaitForPodScheduled waiting for pod web to be scheduled") {
		t.Errorf("events = %v", ev)
	}
	if f.pvc("c").Annotations[AnnSelectedNode] != "" || f.pv("v").Spec.ClaimRef != nil {
		t.Fatal("acted before the consumer was scheduled")
	}

	// Scheduled: the node is recorded.
	scheduled := pod.DeepCopy()
	scheduled.Spec.NodeName = "node-a"
	f = newFixture(t, "", class, claim, scheduled)
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	c := f.pvc("c")
	if c.Annotations[AnnSelectedNode] != "node-a" {
		t.Fatalf("selected node = %q", c.Annotations[AnnSelectedNode])
	}

	// With the node selected: a volume on another node is not used; the claim is handed to
	// the provisioner.
	f = newFixture(t, "", class, c, scheduled, newPV("elsewhere", "1Gi", "local-path", onNode("node-b")))
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	if got := f.pvc("c"); got.Spec.VolumeName != "" || got.Annotations[AnnStorageProvisioner] != LocalPathProvisioner {
		t.Errorf("claim = %+v %v", got.Spec, got.Annotations)
	}
}

func TestBinderReleasesVolume(t *testing.T) {
	gone := newPVC("c", "1Gi", "gold", volumeName("v"))
	tests := []struct {
		name    string
		pv      *corev1.PersistentVolume
		deleted bool
		phase   corev1.PersistentVolumePhase
		event   string
	}{
		{name: "retain", pv: newPV("v", "1Gi", "gold", boundTo(gone), phase(corev1.VolumeBound)), phase: corev1.VolumeReleased},
		{name: "delete", pv: newPV("v", "1Gi", "gold", boundTo(gone), phase(corev1.VolumeBound), policy(corev1.PersistentVolumeReclaimDelete)), deleted: true},
		{name: "provisioned: left to the provisioner", pv: newPV("v", "1Gi", "gold", boundTo(gone), phase(corev1.VolumeBound),
			policy(corev1.PersistentVolumeReclaimDelete), pvAnn(AnnDynamicallyProvisioned, "example.com/p")), phase: corev1.VolumeReleased},
		{name: "recycle", pv: newPV("v", "1Gi", "gold", boundTo(gone), phase(corev1.VolumeBound), policy(corev1.PersistentVolumeReclaimRecycle)),
			phase: corev1.VolumeFailed, event: "Warning VolumeFailedRecycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "", tt.pv)
			if err := f.binder.syncVolume(context.Background(), "v"); err != nil {
				t.Fatal(err)
			}
			_, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), "v", metav1.GetOptions{})
			if tt.deleted {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("volume not deleted: %v", err)
				}
				return
			}
			if got := f.pv("v").Status.Phase; got != tt.phase {
				t.Errorf("phase = %s, want %s", got, tt.phase)
			}
			if tt.event != "" && !hasEvent(f.events(), tt.event) {
				t.Errorf("no %s event", tt.event)
			}
		})
	}
}

func TestBinderDoesNotReleaseOnStaleCache(t *testing.T) {
	c := newPVC("c", "1Gi", "gold", volumeName("v"))
	pv := newPV("v", "1Gi", "gold", boundTo(c), phase(corev1.VolumeBound), policy(corev1.PersistentVolumeReclaimDelete))
	f := newFixture(t, "", pv)
	// The claim exists on the server but not (yet) in the informer.
	if _, err := f.client.CoreV1().PersistentVolumeClaims("ns").Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.binder.syncVolume(context.Background(), "v"); err != nil {
		t.Fatal(err)
	}
	if got := f.pv("v").Status.Phase; got != corev1.VolumeBound {
		t.Errorf("phase = %s", got)
	}
}

func TestBinderClaimLost(t *testing.T) {
	c := newPVC("c", "1Gi", "gold", volumeName("v"), pvcAnn(AnnBindCompleted, "yes"), func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimBound })
	f := newFixture(t, "", c)
	if err := f.binder.syncClaim(context.Background(), "ns/c"); err != nil {
		t.Fatal(err)
	}
	if got := f.pvc("c").Status.Phase; got != corev1.ClaimLost {
		t.Errorf("phase = %s", got)
	}
	if !hasEvent(f.events(), "Warning ClaimLost Bound claim has lost its PersistentVolume") {
		t.Error("no ClaimLost event")
	}
}

func localClaim(node string) *corev1.PersistentVolumeClaim {
	return newPVC("data", "500Mi", "local-path", pvcAnn(AnnSelectedNode, node), pvcAnn(AnnStorageProvisioner, LocalPathProvisioner))
}

func TestLocalPathProvisionsOnThisNode(t *testing.T) {
	base := t.TempDir()
	f := newFixture(t, base, LocalPathStorageClass(LocalPathConfig{}), localClaim("node-a"), readyNode("node-a", true))
	if err := f.lp.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	pv := f.pv("pvc-uid-data")
	dir := filepath.Join(base, "ns_data_pvc-uid-data")
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || volumeHost(pv) != "node-a" {
		t.Fatalf("volume = %+v", pv.Spec)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("directory: %v %v", fi, err)
	}
	if ev := f.events(); !hasEvent(ev, "Normal ProvisioningSucceeded Successfully provisioned volume pvc-uid-data") {
		t.Errorf("events = %v", ev)
	}

	// Released: the directory goes, then the volume.
	pv.Status.Phase = corev1.VolumeReleased
	f = newFixture(t, base, pv, readyNode("node-a", true))
	if err := f.lp.syncVolume(context.Background(), pv.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory still there: %v", err)
	}
	if _, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), pv.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("volume not deleted: %v", err)
	}
}

func TestLocalPathProvisionsOnOtherNode(t *testing.T) {
	base := t.TempDir()
	f := newFixture(t, base, LocalPathStorageClass(LocalPathConfig{}), localClaim("node-b"), readyNode("node-b", true))
	if err := f.lp.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	pv := f.pv("pvc-uid-data")
	if volumeHost(pv) != "node-b" {
		t.Errorf("host = %q", volumeHost(pv))
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("created a directory for another node: %v", entries)
	}
}

func TestLocalPathWaits(t *testing.T) {
	class := LocalPathStorageClass(LocalPathConfig{})
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
	}{
		{"no selected node", newPVC("data", "1Gi", "local-path", pvcAnn(AnnStorageProvisioner, LocalPathProvisioner))},
		{"not handed over by the binder", newPVC("data", "1Gi", "local-path", pvcAnn(AnnSelectedNode, "node-a"))},
		{"bound", newPVC("data", "1Gi", "local-path", pvcAnn(AnnSelectedNode, "node-a"), pvcAnn(AnnStorageProvisioner, LocalPathProvisioner), volumeName("v"))},
	}
	for _, tt := range tests {
		f := newFixture(t, t.TempDir(), class, tt.claim, readyNode("node-a", true))
		if err := f.lp.syncClaim(context.Background(), "ns/data"); err != nil {
			t.Fatal(err)
		}
		if a := f.client.Actions(); len(a) != 0 {
			t.Errorf("%s: acted: %v", tt.name, a)
		}
	}
}

func TestLocalPathImmediatePicksReadyNode(t *testing.T) {
	class := LocalPathStorageClass(LocalPathConfig{})
	class.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	claim := newPVC("data", "1Gi", "local-path", pvcAnn(AnnStorageProvisioner, LocalPathProvisioner))
	f := newFixture(t, t.TempDir(), class, claim, readyNode("node-a", true), readyNode("node-b", false))
	if err := f.lp.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if h := volumeHost(f.pv("pvc-uid-data")); h != "node-a" {
		t.Errorf("host = %q", h)
	}
}
