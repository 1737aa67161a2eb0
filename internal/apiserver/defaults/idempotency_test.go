package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// TestDefaultingIsIdempotent checks that defaulting an already defaulted
// object changes nothing. (runDefaultCases checks the same for every
// table-driven case.)
func TestDefaultingIsIdempotent(t *testing.T) {
	s := newScheme(t)
	podWithEverything := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true,
		Resources:   &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
		Containers: []corev1.Container{{
			Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Resources:     corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0015")}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 1}}},
		}},
		Volumes: []corev1.Volume{{Name: "v"}, {Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}},
	}}
	objects := map[string]runtime.Object{
		"Pod":         podWithEverything,
		"Service":     &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP, Ports: []corev1.ServicePort{{Port: 80}}}},
		"Deployment":  &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: simpleTemplate()}},
		"StatefulSet": &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: simpleTemplate(), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}},
		"DaemonSet":   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: simpleTemplate()}},
		"Job":         &batchv1.Job{Spec: batchv1.JobSpec{Template: simpleTemplate(), BackoffLimitPerIndex: ptr.To[int32](2)}},
		"CronJob":     &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: simpleTemplate()}}}},
		"LimitRange":  &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
		"Node":        &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
		"PodList":     &corev1.PodList{Items: []corev1.Pod{*podWithEverything.DeepCopy()}},
	}
	for name, obj := range objects {
		t.Run(name, func(t *testing.T) {
			once := obj.DeepCopyObject()
			s.Default(once)
			twice := once.DeepCopyObject()
			s.Default(twice)
			if diff := cmp.Diff(once, twice, quantityCmp); diff != "" {
				t.Errorf("second defaulting changed the object (-once +twice):\n%s", diff)
			}
		})
	}
}
