package apiserver

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"github.com/kijabi/kijabi/internal/storage"
)

// BenchmarkFieldTracking measures the managedFields tracking of the writes of a pod's life
// alone (no storage, no HTTP): the create, the node's status update and an update of the
// labels.
//
//	go test ./internal/apiserver -run XXX -bench FieldTracking -benchmem
func BenchmarkFieldTracking(b *testing.B) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		b.Fatal(err)
	}
	// The OpenAPI documents are built in the background: not while measuring.
	s.openapi.mu.Lock()
	ready := s.openapi.ready
	s.openapi.mu.Unlock()
	<-ready
	res := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	// The managers as they were built before fieldtrack.go, for comparison.
	before := map[string]*managedfields.FieldManager{}
	tc := &writeTypeConverter{TypeConverter: applyconfigurations.NewTypeConverter(s.scheme)}
	for _, sub := range []string{"", "status"} {
		if before[sub], err = managedfields.NewDefaultFieldManager(tc, s.scheme, s.scheme, s.scheme, res.gvk, res.gvk.GroupVersion(), sub, nil); err != nil {
			b.Fatal(err)
		}
	}
	pod := benchPod("web-1")
	pod.TypeMeta = metav1.TypeMeta{}
	pod.Namespace, pod.UID = "default", "0c5f3a2e-6f1b-4c43-9d54-5f1b8e2a7c11"
	s.scheme.Default(pod)
	created, err := res.trackCreate(pod.DeepCopy(), "kube-controller-manager")
	if err != nil {
		b.Fatal(err)
	}
	live := created.(*corev1.Pod)
	live.Spec.NodeName = "node-1"
	withStatus := live.DeepCopy()
	withStatus.Status = benchRunningStatus(live)
	relabelled := live.DeepCopy()
	relabelled.Labels["tier"] = "front"

	// A pod as the service account admission leaves it: with a token volume of a random
	// name (made unique per iteration below), so that no two are alike.
	tokenPod := pod.DeepCopy()
	tokenPod.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
	tokenPod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
	tokenPod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}

	for _, c := range []struct {
		name        string
		subresource string
		live, obj   runtime.Object
	}{
		{"Create", "", nil, pod},
		{"CreateWithToken", "", nil, tokenPod},
		{"Status", "status", live, withStatus},
		{"Update", "", live, relabelled},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				obj := c.obj.DeepCopyObject()
				if c.subresource == "status" {
					// As prepareUpdate leaves it: the spec is the live object's.
					obj.(*corev1.Pod).Spec = c.live.(*corev1.Pod).Spec
				}
				unique(obj, i)
				var err error
				if c.live == nil {
					_, err = res.trackCreate(obj, "kube-controller-manager")
				} else {
					_, err = res.trackUpdate(c.subresource, c.live, obj, "kubelet")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"Before", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			live := c.live
			if live == nil {
				live = &corev1.Pod{}
			}
			for i := 0; i < b.N; i++ {
				obj := c.obj.DeepCopyObject()
				if c.subresource == "status" {
					obj.(*corev1.Pod).Spec = c.live.(*corev1.Pod).Spec
				}
				unique(obj, i)
				if _, err := before[c.subresource].Update(live, obj, "kubelet"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// unique names a pod's token volume, if it has one, after i.
func unique(obj runtime.Object, i int) {
	p := obj.(*corev1.Pod)
	if len(p.Spec.Volumes) == 1 {
		name := fmt.Sprintf("kube-api-access-%05d", i%100000)
		p.Spec.Volumes[0].Name, p.Spec.Containers[0].VolumeMounts[0].Name = name, name
	}
}
