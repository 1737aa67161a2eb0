package apiserver

import (
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

// resourceDef declares one served resource. The server completes it into a *resource.
type resourceDef struct {
	group, version, name, kind string
	namespaced                 bool
	shortNames, categories     []string
	// subresources served besides the object itself.
	status, scale bool
	extraSubs     []string
	newObj        func() runtime.Object
	newList       func() runtime.Object
	// fields returns the type's selectable fields beyond metadata.name and metadata.namespace.
	fields func(obj runtime.Object) fields.Set
	// storagePrefix overrides the etcd key prefix; by default "<group>/<name>" ("<name>" for core).
	storagePrefix string
	// review makes this a create-only resource that is computed, never stored (access and
	// identity reviews): it answers a request's object from the requesting user.
	review reviewFunc
	// view makes this a read-only resource computed per request (resource metrics): get
	// and list answer from it, nothing is stored.
	view viewFunc
}

func all(s ...string) []string { return s }

// resourceDefs lists every resource the API server serves.
func resourceDefs() []resourceDef {
	workload := all("all")
	return append([]resourceDef{
		{group: "", version: "v1", name: "namespaces", kind: "Namespace", shortNames: all("ns"), status: true, extraSubs: all("finalize"),
			newObj: func() runtime.Object { return &corev1.Namespace{} }, newList: func() runtime.Object { return &corev1.NamespaceList{} },
			fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
			}},
		{group: "", version: "v1", name: "pods", kind: "Pod", namespaced: true, shortNames: all("po"), categories: workload, status: true,
			extraSubs: all("binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "resize"),
			newObj:    func() runtime.Object { return &corev1.Pod{} }, newList: func() runtime.Object { return &corev1.PodList{} },
			fields: podFields},
		{group: "", version: "v1", name: "services", kind: "Service", namespaced: true, shortNames: all("svc"), categories: workload, status: true, extraSubs: all("proxy"),
			newObj: func() runtime.Object { return &corev1.Service{} }, newList: func() runtime.Object { return &corev1.ServiceList{} },
			fields: func(o runtime.Object) fields.Set {
				s := o.(*corev1.Service)
				return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
			}},
		{group: "", version: "v1", name: "endpoints", kind: "Endpoints", namespaced: true, shortNames: all("ep"),
			newObj: func() runtime.Object { return &corev1.Endpoints{} }, newList: func() runtime.Object { return &corev1.EndpointsList{} }},
		{group: "", version: "v1", name: "nodes", kind: "Node", shortNames: all("no"), status: true, extraSubs: all("proxy"),
			newObj: func() runtime.Object { return &corev1.Node{} }, newList: func() runtime.Object { return &corev1.NodeList{} },
			fields: func(o runtime.Object) fields.Set {
				return fields.Set{"spec.unschedulable": strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)}
			}},
		{group: "", version: "v1", name: "configmaps", kind: "ConfigMap", namespaced: true, shortNames: all("cm"),
			newObj: func() runtime.Object { return &corev1.ConfigMap{} }, newList: func() runtime.Object { return &corev1.ConfigMapList{} }},
		{group: "", version: "v1", name: "secrets", kind: "Secret", namespaced: true,
			newObj: func() runtime.Object { return &corev1.Secret{} }, newList: func() runtime.Object { return &corev1.SecretList{} },
			fields: func(o runtime.Object) fields.Set { return fields.Set{"type": string(o.(*corev1.Secret).Type)} }},
		{group: "", version: "v1", name: "serviceaccounts", kind: "ServiceAccount", namespaced: true, shortNames: all("sa"), extraSubs: all("token"),
			newObj: func() runtime.Object { return &corev1.ServiceAccount{} }, newList: func() runtime.Object { return &corev1.ServiceAccountList{} }},
		{group: "", version: "v1", name: "events", kind: "Event", namespaced: true, shortNames: all("ev"),
			newObj: func() runtime.Object { return &corev1.Event{} }, newList: func() runtime.Object { return &corev1.EventList{} },
			fields: eventFields},
		{group: "", version: "v1", name: "persistentvolumes", kind: "PersistentVolume", shortNames: all("pv"), status: true,
			newObj: func() runtime.Object { return &corev1.PersistentVolume{} }, newList: func() runtime.Object { return &corev1.PersistentVolumeList{} }},
		{group: "", version: "v1", name: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true, shortNames: all("pvc"), status: true,
			newObj: func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, newList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} }},
		{group: "", version: "v1", name: "replicationcontrollers", kind: "ReplicationController", namespaced: true, shortNames: all("rc"), categories: workload, status: true, scale: true,
			newObj: func() runtime.Object { return &corev1.ReplicationController{} }, newList: func() runtime.Object { return &corev1.ReplicationControllerList{} }},
		{group: "", version: "v1", name: "podtemplates", kind: "PodTemplate", namespaced: true,
			newObj: func() runtime.Object { return &corev1.PodTemplate{} }, newList: func() runtime.Object { return &corev1.PodTemplateList{} }},
		{group: "", version: "v1", name: "limitranges", kind: "LimitRange", namespaced: true, shortNames: all("limits"),
			newObj: func() runtime.Object { return &corev1.LimitRange{} }, newList: func() runtime.Object { return &corev1.LimitRangeList{} }},
		{group: "", version: "v1", name: "resourcequotas", kind: "ResourceQuota", namespaced: true, shortNames: all("quota"), status: true,
			newObj: func() runtime.Object { return &corev1.ResourceQuota{} }, newList: func() runtime.Object { return &corev1.ResourceQuotaList{} }},

		{group: "apps", version: "v1", name: "deployments", kind: "Deployment", namespaced: true, shortNames: all("deploy"), categories: workload, status: true, scale: true,
			newObj: func() runtime.Object { return &appsv1.Deployment{} }, newList: func() runtime.Object { return &appsv1.DeploymentList{} }},
		{group: "apps", version: "v1", name: "replicasets", kind: "ReplicaSet", namespaced: true, shortNames: all("rs"), categories: workload, status: true, scale: true,
			newObj: func() runtime.Object { return &appsv1.ReplicaSet{} }, newList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
			fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.Replicas))}
			}},
		{group: "apps", version: "v1", name: "daemonsets", kind: "DaemonSet", namespaced: true, shortNames: all("ds"), categories: workload, status: true,
			newObj: func() runtime.Object { return &appsv1.DaemonSet{} }, newList: func() runtime.Object { return &appsv1.DaemonSetList{} }},
		{group: "apps", version: "v1", name: "statefulsets", kind: "StatefulSet", namespaced: true, shortNames: all("sts"), categories: workload, status: true, scale: true,
			newObj: func() runtime.Object { return &appsv1.StatefulSet{} }, newList: func() runtime.Object { return &appsv1.StatefulSetList{} }},
		{group: "apps", version: "v1", name: "controllerrevisions", kind: "ControllerRevision", namespaced: true,
			newObj: func() runtime.Object { return &appsv1.ControllerRevision{} }, newList: func() runtime.Object { return &appsv1.ControllerRevisionList{} }},

		{group: "batch", version: "v1", name: "jobs", kind: "Job", namespaced: true, categories: workload, status: true,
			newObj: func() runtime.Object { return &batchv1.Job{} }, newList: func() runtime.Object { return &batchv1.JobList{} },
			fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.successful": strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))}
			}},
		{group: "batch", version: "v1", name: "cronjobs", kind: "CronJob", namespaced: true, shortNames: all("cj"), categories: workload, status: true,
			newObj: func() runtime.Object { return &batchv1.CronJob{} }, newList: func() runtime.Object { return &batchv1.CronJobList{} }},

		{group: "autoscaling", version: "v2", name: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true, shortNames: all("hpa"), categories: workload, status: true,
			newObj: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, newList: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }},

		{group: "networking.k8s.io", version: "v1", name: "ingresses", kind: "Ingress", namespaced: true, shortNames: all("ing"), status: true,
			newObj: func() runtime.Object { return &networkingv1.Ingress{} }, newList: func() runtime.Object { return &networkingv1.IngressList{} }},
		{group: "networking.k8s.io", version: "v1", name: "ingressclasses", kind: "IngressClass",
			newObj: func() runtime.Object { return &networkingv1.IngressClass{} }, newList: func() runtime.Object { return &networkingv1.IngressClassList{} }},
		{group: "networking.k8s.io", version: "v1", name: "networkpolicies", kind: "NetworkPolicy", namespaced: true, shortNames: all("netpol"),
			newObj: func() runtime.Object { return &networkingv1.NetworkPolicy{} }, newList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} }},

		{group: "discovery.k8s.io", version: "v1", name: "endpointslices", kind: "EndpointSlice", namespaced: true,
			newObj: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, newList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} }},
		{group: "coordination.k8s.io", version: "v1", name: "leases", kind: "Lease", namespaced: true,
			newObj: func() runtime.Object { return &coordinationv1.Lease{} }, newList: func() runtime.Object { return &coordinationv1.LeaseList{} }},
		{group: "events.k8s.io", version: "v1", name: "events", kind: "Event", namespaced: true, shortNames: all("ev"), storagePrefix: "events",
			newObj: func() runtime.Object { return &eventsv1.Event{} }, newList: func() runtime.Object { return &eventsv1.EventList{} }},

		{group: "rbac.authorization.k8s.io", version: "v1", name: "roles", kind: "Role", namespaced: true,
			newObj: func() runtime.Object { return &rbacv1.Role{} }, newList: func() runtime.Object { return &rbacv1.RoleList{} }},
		{group: "rbac.authorization.k8s.io", version: "v1", name: "rolebindings", kind: "RoleBinding", namespaced: true,
			newObj: func() runtime.Object { return &rbacv1.RoleBinding{} }, newList: func() runtime.Object { return &rbacv1.RoleBindingList{} }},
		{group: "rbac.authorization.k8s.io", version: "v1", name: "clusterroles", kind: "ClusterRole",
			newObj: func() runtime.Object { return &rbacv1.ClusterRole{} }, newList: func() runtime.Object { return &rbacv1.ClusterRoleList{} }},
		{group: "rbac.authorization.k8s.io", version: "v1", name: "clusterrolebindings", kind: "ClusterRoleBinding",
			newObj: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, newList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }},

		{group: "storage.k8s.io", version: "v1", name: "storageclasses", kind: "StorageClass", shortNames: all("sc"),
			newObj: func() runtime.Object { return &storagev1.StorageClass{} }, newList: func() runtime.Object { return &storagev1.StorageClassList{} }},
		{group: "storage.k8s.io", version: "v1", name: "csidrivers", kind: "CSIDriver",
			newObj: func() runtime.Object { return &storagev1.CSIDriver{} }, newList: func() runtime.Object { return &storagev1.CSIDriverList{} }},
		{group: "storage.k8s.io", version: "v1", name: "csinodes", kind: "CSINode",
			newObj: func() runtime.Object { return &storagev1.CSINode{} }, newList: func() runtime.Object { return &storagev1.CSINodeList{} }},
		{group: "storage.k8s.io", version: "v1", name: "volumeattachments", kind: "VolumeAttachment", status: true,
			newObj: func() runtime.Object { return &storagev1.VolumeAttachment{} }, newList: func() runtime.Object { return &storagev1.VolumeAttachmentList{} }},
		{group: "scheduling.k8s.io", version: "v1", name: "priorityclasses", kind: "PriorityClass", shortNames: all("pc"),
			newObj: func() runtime.Object { return &schedulingv1.PriorityClass{} }, newList: func() runtime.Object { return &schedulingv1.PriorityClassList{} }},
		{group: "authentication.k8s.io", version: "v1", name: "selfsubjectreviews", kind: "SelfSubjectReview",
			newObj: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }, review: reviewSelfSubject},
		{group: "authentication.k8s.io", version: "v1", name: "tokenreviews", kind: "TokenReview",
			newObj: func() runtime.Object { return &authenticationv1.TokenReview{} }, review: reviewToken},
		{group: "authorization.k8s.io", version: "v1", name: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview",
			newObj: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }, review: reviewSelfSubjectAccess},
		{group: "authorization.k8s.io", version: "v1", name: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview",
			newObj: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }, review: reviewSelfSubjectRules},
		{group: "authorization.k8s.io", version: "v1", name: "subjectaccessreviews", kind: "SubjectAccessReview",
			newObj: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }, review: reviewSubjectAccess},
		{group: "", version: "v1", name: "componentstatuses", kind: "ComponentStatus", shortNames: all("cs"),
			newObj: func() runtime.Object { return &corev1.ComponentStatus{} }, newList: func() runtime.Object { return &corev1.ComponentStatusList{} },
			view: viewComponentStatuses},
		{group: "metrics.k8s.io", version: "v1beta1", name: "nodes", kind: "NodeMetrics",
			newObj: func() runtime.Object { return &metricsv1beta1.NodeMetrics{} }, newList: func() runtime.Object { return &metricsv1beta1.NodeMetricsList{} },
			view: viewNodeMetrics},
		{group: "metrics.k8s.io", version: "v1beta1", name: "pods", kind: "PodMetrics", namespaced: true,
			newObj: func() runtime.Object { return &metricsv1beta1.PodMetrics{} }, newList: func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
			view: viewPodMetrics},
		{group: "authorization.k8s.io", version: "v1", name: "localsubjectaccessreviews", kind: "LocalSubjectAccessReview", namespaced: true,
			newObj: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }, review: reviewLocalSubjectAccess},
		{group: "apiextensions.k8s.io", version: "v1", name: "customresourcedefinitions", kind: "CustomResourceDefinition", shortNames: all("crd", "crds"),
			categories: all("api-extensions"), status: true,
			newObj: func() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} }, newList: func() runtime.Object { return &apiextensionsv1.CustomResourceDefinitionList{} }},
		// The aggregation layer (aggregator.go): APIServices name who serves each group version.
		{group: "apiregistration.k8s.io", version: "v1", name: "apiservices", kind: "APIService", categories: all("api-extensions"), status: true,
			newObj: func() runtime.Object { return &apiregistrationv1.APIService{} }, newList: func() runtime.Object { return &apiregistrationv1.APIServiceList{} }},
		{group: "certificates.k8s.io", version: "v1", name: "certificatesigningrequests", kind: "CertificateSigningRequest", shortNames: all("csr"),
			status: true, extraSubs: all("approval"),
			newObj: func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} }, newList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
			fields: func(o runtime.Object) fields.Set {
				return fields.Set{"spec.signerName": o.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
			}},
		{group: "policy", version: "v1", name: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true, shortNames: all("pdb"), status: true,
			newObj: func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, newList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }},

		// Dynamic admission (webhook.go); policies and bindings are stored, not enforced.
		{group: "admissionregistration.k8s.io", version: "v1", name: "mutatingwebhookconfigurations", kind: "MutatingWebhookConfiguration", categories: all("api-extensions"),
			newObj: func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} }},
		{group: "admissionregistration.k8s.io", version: "v1", name: "validatingwebhookconfigurations", kind: "ValidatingWebhookConfiguration", categories: all("api-extensions"),
			newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} }},
		{group: "admissionregistration.k8s.io", version: "v1", name: "validatingadmissionpolicies", kind: "ValidatingAdmissionPolicy", categories: all("api-extensions"), status: true,
			newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} }},
		{group: "admissionregistration.k8s.io", version: "v1", name: "validatingadmissionpolicybindings", kind: "ValidatingAdmissionPolicyBinding", categories: all("api-extensions"),
			newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} }},
		{group: "admissionregistration.k8s.io", version: "v1", name: "mutatingadmissionpolicies", kind: "MutatingAdmissionPolicy", categories: all("api-extensions"),
			newObj: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicy{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyList{} }},
		{group: "admissionregistration.k8s.io", version: "v1", name: "mutatingadmissionpolicybindings", kind: "MutatingAdmissionPolicyBinding", categories: all("api-extensions"),
			newObj: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBinding{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} }},
	}, moreResourceDefs()...)
}

func podFields(o runtime.Object) fields.Set {
	p := o.(*corev1.Pod)
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

func eventFields(o runtime.Object) fields.Set {
	e := o.(*corev1.Event)
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}
