package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
)

// TestWriteTypeConverterTracksAsUpstream runs the same writes through field managers built
// on upstream's type converter and on writeTypeConverter: the managedFields must agree.
func TestWriteTypeConverterTracksAsUpstream(t *testing.T) {
	scheme := NewScheme()
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	upstream := applyconfigurations.NewTypeConverter(scheme)
	managers := map[string]*managedfields.FieldManager{}
	for name, tc := range map[string]managedfields.TypeConverter{"upstream": upstream, "ours": &writeTypeConverter{TypeConverter: upstream}} {
		fm, err := managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, gvk, gvk.GroupVersion(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		managers[name] = fm
	}
	replicas := func(n int32) *int32 { return &n }
	v1 := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: replicas(2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "a", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
					Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "duplicate"}}}}}}},
	}
	v2 := v1.DeepCopy()
	v2.Spec.Replicas = replicas(5)
	v2.Spec.Template.Spec.Containers[0].Image = "b"
	v2.Spec.Template.Spec.Containers = append(v2.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "s"})
	v3 := v2.DeepCopy()
	v3.Labels["tier"] = "front"
	v3.Spec.Template.Spec.Containers = v3.Spec.Template.Spec.Containers[1:]

	results := map[string]runtime.Object{}
	for name, fm := range managers {
		var live runtime.Object = &appsv1.Deployment{TypeMeta: v1.TypeMeta}
		for i, step := range []struct {
			obj     *appsv1.Deployment
			manager string
		}{{v1, "kubectl-create"}, {v2, "kubectl-edit"}, {v3, "controller"}, {v3, "kubectl-edit"}} {
			next := step.obj.DeepCopy()
			// The new object carries the live object's managedFields, as an update does.
			next.ManagedFields = live.(metav1.Object).GetManagedFields()
			out, err := fm.Update(live, next, step.manager)
			if err != nil {
				t.Fatalf("%s: step %d: %v", name, i, err)
			}
			live = out
		}
		results[name] = live
	}
	got, want := results["ours"].(*appsv1.Deployment), results["upstream"].(*appsv1.Deployment)
	for i := range got.ManagedFields {
		// Times differ between the runs (and so may the order they give); the rest must not.
		got.ManagedFields[i].Time, want.ManagedFields[i].Time = nil, nil
	}
	sortEntries(got.ManagedFields)
	sortEntries(want.ManagedFields)
	if !apiequality.Semantic.DeepEqual(got.ManagedFields, want.ManagedFields) {
		t.Fatalf("managedFields differ:\nours     %+v\nupstream %+v", got.ManagedFields, want.ManagedFields)
	}
	if len(got.ManagedFields) != 3 {
		t.Fatalf("want 3 managers, got %+v", got.ManagedFields)
	}
}
