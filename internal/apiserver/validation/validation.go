package validation

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

// ValidateCreate validates a new object (metadata included). It is called after defaulting.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		return validatePodCreate(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.ReplicationController:
		return validateReplicationController(o)
	case *corev1.PodTemplate:
		return validatePodTemplate(o)
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Event:
		return validateCoreEvent(o)
	case *corev1.PersistentVolume:
		return validatePersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaim(o)
	case *corev1.LimitRange:
		return validateLimitRange(o)
	case *corev1.ResourceQuota:
		return validateResourceQuota(o)
	// apps/v1
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	case *appsv1.StatefulSet:
		return validateStatefulSet(o)
	case *appsv1.ControllerRevision:
		return validateControllerRevision(o)
	// batch/v1
	case *batchv1.Job:
		return validateJob(o)
	case *batchv1.CronJob:
		return validateCronJob(o)
	// others
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	case *eventsv1.Event:
		return validateEventsEvent(o)
	case *storagev1.StorageClass:
		return validateStorageClass(o)
	case *networkingv1.Ingress:
		return validateIngress(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	case *networkingv1.NetworkPolicy:
		return validateNetworkPolicy(o)
	case *coordinationv1.Lease:
		return validateLease(o)
	case *schedulingv1.PriorityClass:
		return validatePriorityClass(o)
	case *rbacv1.Role:
		return validateRole(o)
	case *rbacv1.ClusterRole:
		return validateClusterRole(o)
	case *rbacv1.RoleBinding:
		return validateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBinding(o)
	case *policyv1.PodDisruptionBudget:
		return validatePodDisruptionBudget(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPAv2(o)
	case *autoscalingv1.HorizontalPodAutoscaler:
		return validateHPAv1(o)
	case *certificatesv1.CertificateSigningRequest:
		return validateCertificateSigningRequest(o)
	case *nodev1.RuntimeClass:
		return validateRuntimeClass(o)
	case *networkingv1.ServiceCIDR:
		return validateServiceCIDR(o)
	case *networkingv1.IPAddress:
		return validateIPAddress(o)
	case *flowcontrolv1.FlowSchema:
		return validateFlowSchema(o)
	case *flowcontrolv1.PriorityLevelConfiguration:
		return validatePriorityLevelConfiguration(o)
	case *resourcev1.DeviceClass:
		return validateDeviceClass(o)
	case *resourcev1.ResourceClaim:
		return validateResourceClaim(o)
	case *resourcev1.ResourceClaimTemplate:
		return validateResourceClaimTemplate(o)
	case *resourcev1.ResourceSlice:
		return validateResourceSlice(o)
	case *storagev1.CSIStorageCapacity:
		return validateCSIStorageCapacity(o)
	case *storagev1.VolumeAttributesClass:
		return validateVolumeAttributesClass(o)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return validateValidatingWebhookConfiguration(o)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return validateMutatingWebhookConfiguration(o)
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return validateValidatingAdmissionPolicy(o)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return validateValidatingAdmissionPolicyBinding(o)
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return validateMutatingAdmissionPolicy(o)
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return validateMutatingAdmissionPolicyBinding(o)
	case *apiregistrationv1.APIService:
		return ValidateAPIService(o)
	}
	return nil
}

// ValidateUpdate validates obj replacing old (metadata included: immutable
// name/namespace/uid/creationTimestamp are checked by the API server itself,
// this checks type-specific immutability), after defaulting.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Pod:
		return withOld(o, old, validatePodUpdate)
	case *corev1.Service:
		return withOld(o, old, validateServiceUpdate)
	case *corev1.ReplicationController:
		return withOld(o, old, validateReplicationControllerUpdate)
	case *corev1.PodTemplate:
		return withOld(o, old, validatePodTemplateUpdate)
	case *corev1.Namespace:
		return withOld(o, old, validateNamespaceUpdate)
	case *corev1.ConfigMap:
		return withOld(o, old, validateConfigMapUpdate)
	case *corev1.Secret:
		return withOld(o, old, validateSecretUpdate)
	case *corev1.ServiceAccount:
		return withOld(o, old, validateServiceAccountUpdate)
	case *corev1.Endpoints:
		return withOld(o, old, validateEndpointsUpdate)
	case *corev1.Node:
		return withOld(o, old, validateNodeUpdate)
	case *corev1.Event:
		return withOld(o, old, validateCoreEventUpdate)
	case *corev1.PersistentVolume:
		return withOld(o, old, validatePersistentVolumeUpdate)
	case *corev1.PersistentVolumeClaim:
		return withOld(o, old, validatePersistentVolumeClaimUpdate)
	case *corev1.LimitRange:
		return withOld(o, old, validateLimitRangeUpdate)
	case *corev1.ResourceQuota:
		return withOld(o, old, validateResourceQuotaUpdate)
	case *appsv1.Deployment:
		return withOld(o, old, validateDeploymentUpdate)
	case *appsv1.ReplicaSet:
		return withOld(o, old, validateReplicaSetUpdate)
	case *appsv1.DaemonSet:
		return withOld(o, old, validateDaemonSetUpdate)
	case *appsv1.StatefulSet:
		return withOld(o, old, validateStatefulSetUpdate)
	case *appsv1.ControllerRevision:
		return withOld(o, old, validateControllerRevisionUpdate)
	case *batchv1.Job:
		return withOld(o, old, validateJobUpdate)
	case *batchv1.CronJob:
		return withOld(o, old, validateCronJobUpdate)
	case *discoveryv1.EndpointSlice:
		return withOld(o, old, validateEndpointSliceUpdate)
	case *eventsv1.Event:
		return withOld(o, old, validateEventsEventUpdate)
	case *storagev1.StorageClass:
		return withOld(o, old, validateStorageClassUpdate)
	case *networkingv1.Ingress:
		return withOld(o, old, validateIngressUpdate)
	case *networkingv1.IngressClass:
		return withOld(o, old, validateIngressClassUpdate)
	case *networkingv1.NetworkPolicy:
		return withOld(o, old, validateNetworkPolicyUpdate)
	case *coordinationv1.Lease:
		return withOld(o, old, validateLeaseUpdate)
	case *schedulingv1.PriorityClass:
		return withOld(o, old, validatePriorityClassUpdate)
	case *rbacv1.Role:
		return withOld(o, old, validateRoleUpdate)
	case *rbacv1.ClusterRole:
		return withOld(o, old, validateClusterRoleUpdate)
	case *rbacv1.RoleBinding:
		return withOld(o, old, validateRoleBindingUpdate)
	case *rbacv1.ClusterRoleBinding:
		return withOld(o, old, validateClusterRoleBindingUpdate)
	case *policyv1.PodDisruptionBudget:
		return withOld(o, old, validatePodDisruptionBudgetUpdate)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return withOld(o, old, validateHPAv2Update)
	case *autoscalingv1.HorizontalPodAutoscaler:
		return withOld(o, old, validateHPAv1Update)
	case *certificatesv1.CertificateSigningRequest:
		return withOld(o, old, validateCertificateSigningRequestUpdate)
	case *nodev1.RuntimeClass:
		return withOld(o, old, func(rc, old *nodev1.RuntimeClass) field.ErrorList {
			return append(validateRuntimeClass(rc), validateRuntimeClassUpdate(rc, old)...)
		})
	case *networkingv1.ServiceCIDR:
		return withOld(o, old, validateServiceCIDRUpdate)
	case *networkingv1.IPAddress:
		return withOld(o, old, validateIPAddressUpdate)
	case *flowcontrolv1.FlowSchema:
		return withOld(o, old, validateFlowSchemaUpdate)
	case *flowcontrolv1.PriorityLevelConfiguration:
		return withOld(o, old, validatePriorityLevelConfigurationUpdate)
	case *resourcev1.DeviceClass:
		return withOld(o, old, validateDeviceClassUpdate)
	case *resourcev1.ResourceClaim:
		return withOld(o, old, validateResourceClaimUpdate)
	case *resourcev1.ResourceClaimTemplate:
		return withOld(o, old, validateResourceClaimTemplateUpdate)
	case *resourcev1.ResourceSlice:
		return withOld(o, old, validateResourceSliceUpdate)
	case *storagev1.CSIStorageCapacity:
		return withOld(o, old, validateCSIStorageCapacityUpdate)
	case *storagev1.VolumeAttributesClass:
		return withOld(o, old, validateVolumeAttributesClassUpdate)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return withOld(o, old, validateValidatingWebhookConfigurationUpdate)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return withOld(o, old, validateMutatingWebhookConfigurationUpdate)
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return withOld(o, old, validateValidatingAdmissionPolicyUpdate)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return withOld(o, old, validateValidatingAdmissionPolicyBindingUpdate)
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return withOld(o, old, validateMutatingAdmissionPolicyUpdate)
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return withOld(o, old, validateMutatingAdmissionPolicyBindingUpdate)
	case *apiregistrationv1.APIService:
		return withOld(o, old, ValidateAPIServiceUpdate)
	}
	return nil
}

// ValidateStatusUpdate validates a write to the status subresource.
//
// Types whose status carries no invariants beyond metadata get only the
// metadata update checks; the API server is expected to have reset spec from
// old before calling this, as upstream status strategies do.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Pod:
		return withOld(o, old, validatePodStatusUpdate)
	case *corev1.Service:
		return withOld(o, old, validateServiceStatusUpdate)
	case *corev1.ReplicationController:
		return withOld(o, old, validateReplicationControllerStatusUpdate)
	case *corev1.Namespace:
		return withOld(o, old, validateNamespaceStatusUpdate)
	case *corev1.Node:
		return withOld(o, old, validateNodeStatusUpdate)
	case *corev1.PersistentVolume:
		return withOld(o, old, validatePersistentVolumeStatusUpdate)
	case *corev1.PersistentVolumeClaim:
		return withOld(o, old, validatePersistentVolumeClaimStatusUpdate)
	case *corev1.ResourceQuota:
		return withOld(o, old, validateResourceQuotaStatusUpdate)
	case *appsv1.Deployment:
		return withOld(o, old, validateDeploymentStatusUpdate)
	case *appsv1.ReplicaSet:
		return withOld(o, old, validateReplicaSetStatusUpdate)
	case *appsv1.DaemonSet:
		return withOld(o, old, validateDaemonSetStatusUpdate)
	case *appsv1.StatefulSet:
		return withOld(o, old, validateStatefulSetStatusUpdate)
	case *batchv1.Job:
		return withOld(o, old, validateJobStatusUpdate)
	case *batchv1.CronJob:
		return withOld(o, old, metaOnlyUpdate[*batchv1.CronJob])
	case *networkingv1.Ingress:
		return withOld(o, old, validateIngressStatusUpdate)
	case *policyv1.PodDisruptionBudget:
		return withOld(o, old, validatePodDisruptionBudgetStatusUpdate)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return withOld(o, old, validateHPAv2StatusUpdate)
	case *autoscalingv1.HorizontalPodAutoscaler:
		return withOld(o, old, validateHPAv1StatusUpdate)
	case *certificatesv1.CertificateSigningRequest:
		return withOld(o, old, validateCertificateSigningRequestStatusUpdate)
	case *networkingv1.ServiceCIDR:
		return withOld(o, old, validateServiceCIDRStatusUpdate)
	case *flowcontrolv1.FlowSchema:
		return withOld(o, old, validateFlowSchemaStatusUpdate)
	case *flowcontrolv1.PriorityLevelConfiguration:
		return withOld(o, old, validatePriorityLevelConfigurationStatusUpdate)
	case *resourcev1.ResourceClaim:
		return withOld(o, old, validateResourceClaimStatusUpdate)
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return withOld(o, old, validateValidatingAdmissionPolicyStatusUpdate)
	case *corev1.PodTemplate, *corev1.ConfigMap, *corev1.Secret, *corev1.ServiceAccount, *corev1.Endpoints,
		*corev1.Event, *corev1.LimitRange, *appsv1.ControllerRevision, *discoveryv1.EndpointSlice, *eventsv1.Event,
		*storagev1.StorageClass, *networkingv1.IngressClass, *networkingv1.NetworkPolicy, *coordinationv1.Lease,
		*schedulingv1.PriorityClass, *rbacv1.Role, *rbacv1.ClusterRole, *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
		// Known kinds without a meaningful status still get the metadata
		// update rules on the status path.
		m, ok1 := obj.(metav1.Object)
		om, ok2 := old.(metav1.Object)
		if !ok1 || !ok2 || fmt.Sprintf("%T", obj) != fmt.Sprintf("%T", old) {
			return field.ErrorList{field.InternalError(nil, fmt.Errorf("old object has type %T, expected %T", old, obj))}
		}
		return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, om, metaPath)
	case *apiregistrationv1.APIService:
		return withOld(o, old, ValidateAPIServiceStatusUpdate)
	}
	return nil
}

// withOld type-asserts old to the type of obj before calling fn, so a caller
// mixing up kinds gets an error instead of a panic.
func withOld[T runtime.Object](obj T, old runtime.Object, fn func(obj, old T) field.ErrorList) field.ErrorList {
	o, ok := old.(T)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("old object has type %T, expected %T", old, obj))}
	}
	return fn(obj, o)
}
