package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestAppsDefaults(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	num := func(i int32) *intstr.IntOrString { return ptr.To(intstr.FromInt32(i)) }
	retain := &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	claim := corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}
	wantClaim := *claim.DeepCopy()
	wantClaim.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	wantClaim.Status.Phase = corev1.ClaimPending

	runDefaultCases(t, []defaultCase{
		{
			name: "Deployment",
			in:   &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: simpleTemplate()}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Template: wantSimpleTemplate(),
				Strategy: appsv1.DeploymentStrategy{
					Type:          appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("25%"), MaxSurge: pct("25%")},
				},
				RevisionHistoryLimit:    ptr.To[int32](10),
				ProgressDeadlineSeconds: ptr.To[int32](600),
			}},
		},
		{
			name: "Deployment Recreate gets no rollingUpdate",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Template: simpleTemplate(),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Template: wantSimpleTemplate(),
				Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600),
			}},
		},
		{
			name: "Deployment partial rollingUpdate",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Template: simpleTemplate(),
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: num(0)}},
			}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1), Template: wantSimpleTemplate(),
				Strategy: appsv1.DeploymentStrategy{
					Type:          appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("25%"), MaxSurge: num(0)},
				},
				RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600),
			}},
		},
		{
			name: "ReplicaSet",
			in:   &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: simpleTemplate()}},
			want: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Template: wantSimpleTemplate()}},
		},
		{
			name: "DaemonSet",
			in:   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: simpleTemplate()}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				Template: wantSimpleTemplate(),
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
					Type:          appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: num(1), MaxSurge: num(0)},
				},
				RevisionHistoryLimit: ptr.To[int32](10),
			}},
		},
		{
			name: "DaemonSet OnDelete",
			in: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				Template: simpleTemplate(), UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				Template: wantSimpleTemplate(), UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: ptr.To[int32](10),
			}},
		},
		{
			name: "StatefulSet",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Template: simpleTemplate(), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:            ptr.To[int32](1),
				Template:            wantSimpleTemplate(),
				PodManagementPolicy: appsv1.OrderedReadyPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type:          appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: num(1)},
				},
				RevisionHistoryLimit:                 ptr.To[int32](10),
				PersistentVolumeClaimRetentionPolicy: retain,
				VolumeClaimTemplates:                 []corev1.PersistentVolumeClaim{wantClaim},
			}},
		},
		{
			name: "StatefulSet explicit RollingUpdate type without block",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Template:       simpleTemplate(),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				},
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:             ptr.To[int32](1),
				Template:             wantSimpleTemplate(),
				PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				RevisionHistoryLimit: ptr.To[int32](10),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
			}},
		},
		{
			name: "DeploymentList defaults every item",
			in:   &appsv1.DeploymentList{Items: []appsv1.Deployment{{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}}}},
			want: &appsv1.DeploymentList{Items: []appsv1.Deployment{{Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Template: corev1.PodTemplateSpec{Spec: wantTemplateSpec(corev1.PodSpec{})},
				Strategy: appsv1.DeploymentStrategy{
					Type:          appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("25%"), MaxSurge: pct("25%")},
				},
				RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600),
			}}}},
		},
	})
}
