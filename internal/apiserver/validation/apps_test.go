package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var appLabels = map[string]string{"app": "web"}

func validDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: meta("web", "default"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: validTemplate(appLabels),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%")),
			}},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func TestDeploymentCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}},
		{name: "selector required", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want: []wantErr{{"spec.selector", field.ErrorTypeRequired, ""}}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			want: []wantErr{{"spec.selector", field.ErrorTypeInvalid, "empty selector"}}},
		{name: "selector mismatch", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			want: []wantErr{{"spec.template.metadata.labels", field.ErrorTypeInvalid, "`selector` does not match template `labels`"}}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) },
			want: []wantErr{{"spec.replicas", field.ErrorTypeInvalid, ""}}},
		{name: "template container image", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			want: []wantErr{{"spec.template.spec.containers[0].image", field.ErrorTypeRequired, ""}}},
		{name: "restartPolicy must be Always", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []wantErr{{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported, ""}}},
		{name: "bad strategy type", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			want: []wantErr{{"spec.strategy.type", field.ErrorTypeNotSupported, ""}}},
		{name: "recreate with rollingUpdate", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want: []wantErr{{"spec.strategy.rollingUpdate", field.ErrorTypeForbidden, ""}}},
		{name: "both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("0%"))
		}, want: []wantErr{{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid, "may not be 0 when `maxSurge` is 0"}}},
		{name: "bad percent", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("abc")) },
			want: []wantErr{{"spec.strategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid, ""}}},
		{name: "over 100 percent", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		},
			want: []wantErr{{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid, "100%"}}},
		{name: "negative revisionHistoryLimit", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			want: []wantErr{{"spec.revisionHistoryLimit", field.ErrorTypeInvalid, ""}}},
		{name: "progress deadline not above minReady", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			want: []wantErr{{"spec.progressDeadlineSeconds", field.ErrorTypeInvalid, "must be greater than minReadySeconds"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			checkErrs(t, ValidateCreate(d), tc.want...)
		})
	}
}

func TestDeploymentUpdateSelectorImmutable(t *testing.T) {
	old := validDeployment()
	d := old.DeepCopy()
	d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	checkErrs(t, ValidateUpdate(d, old))

	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
	d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "x"}
	checkErrs(t, ValidateUpdate(d, old), wantErr{"spec.selector", field.ErrorTypeInvalid, "field is immutable"})
}

func TestDeploymentStatusUpdate(t *testing.T) {
	old := validDeployment()
	d := old.DeepCopy()
	d.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 3, AvailableReplicas: -1}
	checkErrs(t, ValidateStatusUpdate(d, old),
		wantErr{"status.readyReplicas", field.ErrorTypeInvalid, "cannot be greater than status.replicas"},
		wantErr{"status.availableReplicas", field.ErrorTypeInvalid, ""},
	)
}

func TestReplicaSetAndDaemonSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("web-1", "default"), Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: validTemplate(appLabels)}}
	checkErrs(t, ValidateCreate(rs))
	bad := rs.DeepCopy()
	bad.Spec.Template.Labels = nil
	checkErrs(t, ValidateCreate(bad), wantErr{"spec.template.metadata.labels", field.ErrorTypeInvalid, "does not match"})
	moved := rs.DeepCopy()
	moved.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}
	checkErrs(t, ValidateUpdate(moved, rs), wantErr{"spec.selector", field.ErrorTypeInvalid, "field is immutable"})

	ds := &appsv1.DaemonSet{ObjectMeta: meta("agent", "kube-system"), Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: validTemplate(appLabels),
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}}
	checkErrs(t, ValidateCreate(ds))
	badDS := ds.DeepCopy()
	badDS.Spec.UpdateStrategy.Type = "Sometimes"
	badDS.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	checkErrs(t, ValidateCreate(badDS),
		wantErr{"spec.updateStrategy.type", field.ErrorTypeNotSupported, ""},
		wantErr{"spec.template.spec.activeDeadlineSeconds", field.ErrorTypeForbidden, ""},
	)
}

func validStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: meta("db", "default"), Spec: appsv1.StatefulSetSpec{
		Replicas: ptr.To[int32](3), ServiceName: "db",
		Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: validTemplate(appLabels),
		PodManagementPolicy: appsv1.OrderedReadyPodManagement,
		UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}},
	}}
}

func TestStatefulSet(t *testing.T) {
	checkErrs(t, ValidateCreate(validStatefulSet()))

	bad := validStatefulSet()
	bad.Spec.PodManagementPolicy = "Random"
	bad.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
	checkErrs(t, ValidateCreate(bad),
		wantErr{"spec.podManagementPolicy", field.ErrorTypeNotSupported, ""},
		wantErr{"spec.volumeClaimTemplates[0].spec.accessModes", field.ErrorTypeRequired, ""},
	)

	old := validStatefulSet()
	ok := old.DeepCopy()
	ok.Spec.Replicas = ptr.To[int32](5)
	ok.Spec.Template.Spec.Containers[0].Image = "postgres:17"
	checkErrs(t, ValidateUpdate(ok, old))

	forbidden := old.DeepCopy()
	forbidden.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("5Gi")
	checkErrs(t, ValidateUpdate(forbidden, old), wantErr{"spec", field.ErrorTypeForbidden, "updates to statefulset spec for fields other than"})

	noTemplates := old.DeepCopy()
	noTemplates.Spec.VolumeClaimTemplates = nil
	checkErrs(t, ValidateUpdate(noTemplates, old), wantErr{"spec", field.ErrorTypeForbidden, "updates to statefulset spec"})
}

func TestControllerRevision(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: meta("web-abc", "default"), Revision: 1}
	checkErrs(t, ValidateCreate(cr), wantErr{"data", field.ErrorTypeRequired, ""})
	cr.Data.Raw = []byte(`{}`)
	checkErrs(t, ValidateCreate(cr))
	upd := cr.DeepCopy()
	upd.Revision = 5
	checkErrs(t, ValidateUpdate(upd, cr))
	upd.Data.Raw = []byte(`{"a":1}`)
	checkErrs(t, ValidateUpdate(upd, cr), wantErr{"data", field.ErrorTypeInvalid, "immutable"})
}

func TestStatefulSetMountsClaimTemplate(t *testing.T) {
	ss := validStatefulSet()
	ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: ss.Spec.VolumeClaimTemplates[0].Name, MountPath: "/data"}}
	if errs := ValidateCreate(ss); len(errs) > 0 {
		t.Fatalf("a mount of a claim template's volume is valid: %v", errs)
	}
	ss.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "nothing"
	if errs := ValidateCreate(ss); len(errs) == 0 {
		t.Fatal("a mount of an unknown volume must be refused")
	}
}
