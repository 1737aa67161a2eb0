package volume_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/volume"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

const thisNode = "node-a"

// startControllers runs the binder and a local-path provisioner on node-a with baseDir
// against a real API server until the test ends.
func startControllers(t *testing.T, baseDir string) kubernetes.Interface {
	t.Helper()
	s := testserver.Start(t)
	client := s.Client
	factory := informers.NewSharedInformerFactory(client, 0)
	core := factory.Core().V1()
	classes := factory.Storage().V1().StorageClasses()
	b := volume.NewBinder(client, core.PersistentVolumes(), core.PersistentVolumeClaims(), classes, core.Pods(), volume.WithResyncPeriod(time.Second))
	lp := volume.NewLocalPath(client, core.PersistentVolumes(), core.PersistentVolumeClaims(), classes, core.Nodes(),
		volume.LocalPathConfig{BaseDir: baseDir, NodeName: thisNode}, volume.WithResyncPeriod(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Go(func() { b.Run(ctx, 2) })
	wg.Go(func() { lp.Run(ctx, 2) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	return client
}

func hostPathPV(name, class, size string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
	}
}

func claim(name, class, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func waitClaimBound(t *testing.T, client kubernetes.Interface, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var c *corev1.PersistentVolumeClaim
	testutil.Poll(t, 30*time.Second, "claim "+name+" Bound", func() (bool, error) {
		var err error
		c, err = client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, err
	})
	return c
}

func waitVolumePhase(t *testing.T, client kubernetes.Interface, name string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	testutil.Poll(t, 30*time.Second, "volume "+name+" "+string(phase), func() (bool, error) {
		var err error
		pv, err = client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == phase, err
	})
	return pv
}

func waitVolumeGone(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	testutil.Poll(t, 30*time.Second, "volume "+name+" deleted", func() (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	out, err := create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func deleteClaim(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestIntegration(t *testing.T) {
	baseDir := t.TempDir()
	client := startControllers(t, baseDir)
	ctx := context.Background()
	pvs, pvcs := client.CoreV1().PersistentVolumes(), client.CoreV1().PersistentVolumeClaims("default")

	t.Run("static volume, Retain", func(t *testing.T) {
		mustCreate(t, pvs.Create, hostPathPV("retain-big", "manual", "2Gi", corev1.PersistentVolumeReclaimRetain))
		mustCreate(t, pvs.Create, hostPathPV("retain-1g", "manual", "1Gi", corev1.PersistentVolumeReclaimRetain))
		mustCreate(t, pvs.Create, hostPathPV("retain-small", "manual", "100Mi", corev1.PersistentVolumeReclaimRetain))
		waitVolumePhase(t, client, "retain-big", corev1.VolumeAvailable)
		c := mustCreate(t, pvcs.Create, claim("data", "manual", "500Mi"))

		c = waitClaimBound(t, client, "data")
		if c.Spec.VolumeName != "retain-1g" {
			t.Fatalf("claim bound to %q, want the smallest fitting volume retain-1g", c.Spec.VolumeName)
		}
		if q := c.Status.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("claim capacity = %s, want 1Gi", q.String())
		}
		if len(c.Status.AccessModes) != 1 || c.Status.AccessModes[0] != corev1.ReadWriteOnce {
			t.Errorf("claim access modes = %v", c.Status.AccessModes)
		}
		for _, a := range []string{volume.AnnBindCompleted, volume.AnnBoundByController} {
			if c.Annotations[a] != "yes" {
				t.Errorf("claim annotation %s = %q, want yes", a, c.Annotations[a])
			}
		}
		pv := waitVolumePhase(t, client, "retain-1g", corev1.VolumeBound)
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "data" || ref.UID != c.UID {
			t.Fatalf("volume claimRef = %+v", ref)
		}
		if pv.Annotations[volume.AnnBoundByController] != "yes" {
			t.Errorf("volume lacks %s", volume.AnnBoundByController)
		}

		deleteClaim(t, client, "data")
		waitVolumePhase(t, client, "retain-1g", corev1.VolumeReleased)
		if big, _ := pvs.Get(ctx, "retain-big", metav1.GetOptions{}); big.Status.Phase != corev1.VolumeAvailable {
			t.Errorf("untouched volume phase = %s", big.Status.Phase)
		}
	})

	t.Run("static volume, Delete", func(t *testing.T) {
		mustCreate(t, pvs.Create, hostPathPV("delete-1g", "manual-delete", "1Gi", corev1.PersistentVolumeReclaimDelete))
		mustCreate(t, pvcs.Create, claim("scratch", "manual-delete", "500Mi"))
		c := waitClaimBound(t, client, "scratch")
		if c.Spec.VolumeName != "delete-1g" {
			t.Fatalf("claim bound to %q", c.Spec.VolumeName)
		}
		waitVolumePhase(t, client, "delete-1g", corev1.VolumeBound)
		deleteClaim(t, client, "scratch")
		waitVolumeGone(t, client, "delete-1g")
	})

	t.Run("no class, no volume", func(t *testing.T) {
		mustCreate(t, pvcs.Create, claim("orphan", "", "1Gi"))
		testutil.Poll(t, 30*time.Second, "FailedBinding event", func() (bool, error) {
			evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "orphan").String()})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Reason == "FailedBinding" && e.Message == "no persistent volumes available for this claim and no storage class is set" {
					return true, nil
				}
			}
			return false, nil
		})
		if c, _ := pvcs.Get(ctx, "orphan", metav1.GetOptions{}); c.Status.Phase != corev1.ClaimPending {
			t.Errorf("phase = %s, want Pending", c.Status.Phase)
		}
	})

	t.Run("local-path", func(t *testing.T) {
		testutil.Poll(t, 30*time.Second, "local-path StorageClass", func() (bool, error) {
			sc, err := client.StorageV1().StorageClasses().Get(ctx, volume.LocalPathClass, metav1.GetOptions{})
			return err == nil && sc.Provisioner == volume.LocalPathProvisioner &&
				sc.Annotations[volume.AnnDefaultStorageClass] == "true", err
		})
		for _, n := range []string{thisNode, "node-b"} {
			mustCreate(t, client.CoreV1().Nodes().Create, &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelHostname: n}},
				Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
			})
		}
		mustCreate(t, pvcs.Create, claim("local", volume.LocalPathClass, "500Mi"))
		mustCreate(t, pvcs.Create, claim("remote", volume.LocalPathClass, "300Mi"))
		// Nothing happens before a consumer is scheduled.
		testutil.Poll(t, 30*time.Second, "WaitForFirstConsumer event", func() (bool, error) {
			evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "local").String()})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Reason == "WaitForFirstConsumer" {
					return true, nil
				}
			}
			return false, nil
		})
		l, err := pvs.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range l.Items {
			if pv.Spec.StorageClassName == volume.LocalPathClass {
				t.Fatalf("volume %s provisioned before a consumer was scheduled", pv.Name)
			}
		}

		for _, p := range []struct{ pod, claim, node string }{{"app", "local", thisNode}, {"other", "remote", "node-b"}} {
			mustCreate(t, client.CoreV1().Pods("default").Create, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: p.pod, Namespace: "default"},
				Spec: corev1.PodSpec{
					NodeName:   p.node,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: p.claim},
					}}},
				},
			})
		}

		c := waitClaimBound(t, client, "local")
		if c.Annotations[volume.AnnSelectedNode] != thisNode {
			t.Errorf("selected node = %q", c.Annotations[volume.AnnSelectedNode])
		}
		if c.Annotations[volume.AnnStorageProvisioner] != volume.LocalPathProvisioner {
			t.Errorf("storage provisioner = %q", c.Annotations[volume.AnnStorageProvisioner])
		}
		pv := waitVolumePhase(t, client, c.Spec.VolumeName, corev1.VolumeBound)
		wantDir := filepath.Join(baseDir, "default_local_"+pv.Name)
		if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != wantDir {
			t.Fatalf("volume source = %+v, want hostPath %s", pv.Spec.PersistentVolumeSource, wantDir)
		}
		if pv.Annotations[volume.AnnDynamicallyProvisioned] != volume.LocalPathProvisioner {
			t.Errorf("provisioned-by = %q", pv.Annotations[volume.AnnDynamicallyProvisioned])
		}
		if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("500Mi")) != 0 {
			t.Errorf("capacity = %s", q.String())
		}
		if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			t.Errorf("reclaim policy = %s", pv.Spec.PersistentVolumeReclaimPolicy)
		}
		terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchExpressions[0].Key != corev1.LabelHostname || terms[0].MatchExpressions[0].Values[0] != thisNode {
			t.Errorf("node affinity = %+v", terms)
		}
		if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != c.UID {
			t.Errorf("claimRef = %+v", ref)
		}
		if fi, err := os.Stat(wantDir); err != nil || !fi.IsDir() {
			t.Fatalf("volume directory: %v", err)
		}

		r := waitClaimBound(t, client, "remote")
		rpv := waitVolumePhase(t, client, r.Spec.VolumeName, corev1.VolumeBound)
		if !strings.HasPrefix(rpv.Spec.HostPath.Path, baseDir+"/default_remote_") {
			t.Errorf("remote volume path = %s", rpv.Spec.HostPath.Path)
		}
		if _, err := os.Stat(rpv.Spec.HostPath.Path); !os.IsNotExist(err) {
			t.Errorf("directory of a volume on another node was created here: %v", err)
		}

		deleteClaim(t, client, "local")
		waitVolumeGone(t, client, pv.Name)
		if _, err := os.Stat(wantDir); !os.IsNotExist(err) {
			t.Errorf("volume directory still there: %v", err)
		}
		deleteClaim(t, client, "remote")
		waitVolumeGone(t, client, rpv.Name)
	})
}
