package defaults

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestOtherGroupDefaults(t *testing.T) {
	tcp := ptr.To(corev1.ProtocolTCP)
	udp := ptr.To(corev1.ProtocolUDP)
	maxPolicy := ptr.To(autoscalingv2.MaxChangePolicySelect)
	cpu80 := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)},
		},
	}}
	scaleUp := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](0),
		SelectPolicy:               maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
	empty := &metav1.LabelSelector{}
	allScopes := ptr.To(admissionregistrationv1.AllScopes)
	rule := func(scope *admissionregistrationv1.ScopeType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: scope},
		}}
	}
	svcRef := func(port *int32) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "wh", Port: port}}
	}
	none := ptr.To(admissionregistrationv1.SideEffectClassNone)

	runDefaultCases(t, []defaultCase{
		{
			name: "NetworkPolicy ingress only",
			in: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(80))}, {Protocol: udp}},
			}}}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(80)), Protocol: tcp}, {Protocol: udp}},
				}},
			}},
		},
		{
			name: "NetworkPolicy with egress",
			in: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{}},
			}}}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp}}}},
			}},
		},
		{
			name: "IngressClass parameters scope",
			in: &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{
				Parameters: &networkingv1.IngressClassParametersReference{Kind: "Params", Name: "p"},
			}},
			want: &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{
				Parameters: &networkingv1.IngressClassParametersReference{Kind: "Params", Name: "p", Scope: ptr.To("Cluster")},
			}},
		},
		{name: "Ingress has no defaults", in: &networkingv1.Ingress{}, want: &networkingv1.Ingress{}},
		{
			name: "EndpointSlice ports",
			in:   &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}},
			want: &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80), Name: ptr.To(""), Protocol: tcp}}},
		},
		{
			name: "RoleBinding",
			in: &rbacv1.RoleBinding{
				RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "alice"},
					{Kind: rbacv1.GroupKind, Name: "devs"},
					{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns"},
				},
			},
			want: &rbacv1.RoleBinding{
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "alice", APIGroup: "rbac.authorization.k8s.io"},
					{Kind: rbacv1.GroupKind, Name: "devs", APIGroup: "rbac.authorization.k8s.io"},
					{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns"},
				},
			},
		},
		{
			name: "ClusterRoleBinding",
			in:   &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob"}}},
			want: &rbacv1.ClusterRoleBinding{
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob", APIGroup: rbacv1.GroupName}},
			},
		},
		{
			name: "StorageClass",
			in:   &storagev1.StorageClass{Provisioner: "example.com/csi"},
			want: &storagev1.StorageClass{
				Provisioner:       "example.com/csi",
				ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
				VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
			},
		},
		{
			name: "CSIDriver",
			in:   &storagev1.CSIDriver{},
			want: &storagev1.CSIDriver{Spec: storagev1.CSIDriverSpec{
				AttachRequired:       ptr.To(true),
				PodInfoOnMount:       ptr.To(false),
				StorageCapacity:      ptr.To(false),
				FSGroupPolicy:        ptr.To(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
				VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent},
				RequiresRepublish:    ptr.To(false),
				SELinuxMount:         ptr.To(false),
			}},
		},
		{
			name: "PriorityClass",
			in:   &schedulingv1.PriorityClass{Value: 1000},
			want: &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority)},
		},
		{
			// The implied CPU target (v1 to internal conversion upstream) shows on v1 reads.
			name: "HPA v1",
			in:   &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
			want: &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: ptr.To[int32](1),
				TargetCPUUtilizationPercentage: ptr.To[int32](80)}},
		},
		{
			name: "HPA v1 with other metrics in its annotation",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"autoscaling.alpha.kubernetes.io/metrics": `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]`}},
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
			want: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"autoscaling.alpha.kubernetes.io/metrics": `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]`}},
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: ptr.To[int32](1)}},
		},
		{
			name: "HPA v2 without metrics or behavior",
			in:   &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
			want: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5, MinReplicas: ptr.To[int32](1), Metrics: cpu80,
			}},
		},
		{
			name: "HPA v2 with partial behavior",
			in: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5,
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)},
				},
			}},
			want: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5, MinReplicas: ptr.To[int32](1), Metrics: cpu80,
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: scaleUp,
					ScaleDown: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: ptr.To[int32](60),
						SelectPolicy:               maxPolicy,
						Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
					},
				},
			}},
		},
		{name: "PodDisruptionBudget has no defaults", in: &policyv1.PodDisruptionBudget{}, want: &policyv1.PodDisruptionBudget{}},
		{
			name: "ValidatingWebhookConfiguration",
			in: &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "v.example.com", Rules: rule(nil), ClientConfig: svcRef(nil), SideEffects: none,
				AdmissionReviewVersions: []string{"v1"},
			}}},
			want: &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "v.example.com", Rules: rule(allScopes), ClientConfig: svcRef(ptr.To[int32](443)), SideEffects: none,
				AdmissionReviewVersions: []string{"v1"},
				FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
				MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
				NamespaceSelector:       empty, ObjectSelector: empty,
				TimeoutSeconds: ptr.To[int32](10),
			}}},
		},
		{
			name: "MutatingWebhookConfiguration",
			in: &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "m.example.com", Rules: rule(nil), ClientConfig: svcRef(ptr.To[int32](8443)), SideEffects: none,
				AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](5),
			}}},
			want: &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "m.example.com", Rules: rule(allScopes), ClientConfig: svcRef(ptr.To[int32](8443)), SideEffects: none,
				AdmissionReviewVersions: []string{"v1"},
				FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
				MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
				NamespaceSelector:       empty, ObjectSelector: empty,
				TimeoutSeconds:     ptr.To[int32](5),
				ReinvocationPolicy: ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			}}},
		},
		{
			name: "ValidatingAdmissionPolicy",
			in: &admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule(nil)[0]}},
				},
			}},
			want: &admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules:     []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule(allScopes)[0]}},
					MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
					NamespaceSelector: empty, ObjectSelector: empty,
				},
			}},
		},
	})
}
