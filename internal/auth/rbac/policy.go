package rbac

import (
	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations of the default policy, as Kubernetes sets them.
const (
	// BootstrapLabel marks the default roles and bindings.
	BootstrapLabel = "kubernetes.io/bootstrapping"
	// AutoupdateAnnotation, "true" on a default object, lets the API server add missing
	// permissions and subjects to it at start; users set it to "false" to keep their edits.
	AutoupdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"
	// Aggregation labels: a ClusterRole labelled AggregateToAdmin: "true" adds its rules to
	// admin, and likewise for edit and view.
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

var (
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "delete", "deletecollection", "patch", "update"}
	readWrite = []string{"get", "list", "watch", "create", "delete", "deletecollection", "patch", "update"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

// signers grants verb ("approve" or "sign") on the named signers of certificates.k8s.io.
func signers(verb string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{certificatesv1.GroupName}, Resources: []string{"signers"}, ResourceNames: names}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func meta(name string, labels map[string]string) metav1.ObjectMeta {
	l := map[string]string{BootstrapLabel: "rbac-defaults"}
	for k, v := range labels {
		l[k] = v
	}
	return metav1.ObjectMeta{Name: name, Labels: l, Annotations: map[string]string{AutoupdateAnnotation: "true"}}
}

func aggregation(label string) *rbacv1.AggregationRule {
	return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}
}

// ClusterRoles are the cluster roles every cluster starts with. admin, edit and view are
// aggregated: their rules are the union of the roles labelled to aggregate to them, which the
// controller manager's clusterrole-aggregation controller fills in and keeps up to date.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		{ObjectMeta: meta("cluster-admin", nil), Rules: []rbacv1.PolicyRule{
			rule([]string{"*"}, "*", "*"), urls([]string{"*"}, "*")}},
		{ObjectMeta: meta("admin", nil), AggregationRule: aggregation(AggregateToAdmin)},
		{ObjectMeta: meta("edit", map[string]string{AggregateToAdmin: "true"}), AggregationRule: aggregation(AggregateToEdit)},
		{ObjectMeta: meta("view", map[string]string{AggregateToEdit: "true"}), AggregationRule: aggregation(AggregateToView)},
		{ObjectMeta: meta("system:aggregate-to-admin", map[string]string{AggregateToAdmin: "true"}), Rules: []rbacv1.PolicyRule{
			rule(readWrite, "rbac.authorization.k8s.io", "rolebindings", "roles"),
			rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
			rule(write, "", "resourcequotas"),
		}},
		{ObjectMeta: meta("system:aggregate-to-edit", map[string]string{AggregateToAdmin: "true", AggregateToEdit: "true"}), Rules: []rbacv1.PolicyRule{
			rule(readWrite, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
			rule([]string{"create"}, "", "pods/eviction"),
			rule(readWrite, "", "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers",
				"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
			rule([]string{"create"}, "", "serviceaccounts/token"),
			rule([]string{"impersonate"}, "", "serviceaccounts"),
			rule(readWrite, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
				"replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
			rule(readWrite, "autoscaling", "horizontalpodautoscalers"),
			rule(readWrite, "batch", "cronjobs", "jobs"),
			rule(readWrite, "networking.k8s.io", "ingresses", "networkpolicies"),
			rule(readWrite, "policy", "poddisruptionbudgets"),
			rule(readWrite, "discovery.k8s.io", "endpointslices"),
			rule(readWrite, "coordination.k8s.io", "leases"),
			rule(write, "resource.k8s.io", "resourceclaims", "resourceclaimtemplates"),
		}},
		{ObjectMeta: meta("system:aggregate-to-view", map[string]string{AggregateToAdmin: "true", AggregateToEdit: "true", AggregateToView: "true"}), Rules: []rbacv1.PolicyRule{
			rule(read, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
				"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status",
				"bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
				"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
			rule(read, "", "namespaces"),
			rule(read, "discovery.k8s.io", "endpointslices"),
			rule(read, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
				"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
				"statefulsets/scale", "statefulsets/status"),
			rule(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
			rule(read, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
			rule(read, "events.k8s.io", "events"),
			rule(read, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
			rule(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
			rule(read, "resource.k8s.io", "resourceclaims", "resourceclaims/status", "resourceclaimtemplates"),
		}},
		// metrics-server's role: whoever may view may read resource metrics (kubectl top).
		{ObjectMeta: meta("system:aggregated-metrics-reader", map[string]string{AggregateToAdmin: "true", AggregateToEdit: "true", AggregateToView: "true"}), Rules: []rbacv1.PolicyRule{
			rule(read, "metrics.k8s.io", "pods", "nodes"),
		}},
		{ObjectMeta: meta("system:discovery", nil), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
				"/readyz", "/version", "/version/"),
		}},
		{ObjectMeta: meta("system:public-info-viewer", nil), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/"),
		}},
		{ObjectMeta: meta("system:basic-user", nil), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews"),
		}},
		{ObjectMeta: meta("system:service-account-issuer-discovery", nil), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"),
		}},
		{ObjectMeta: meta("system:auth-delegator", nil), Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
		}},
		// For an aggregator run apart from the API server (kijabi's reads Services itself).
		{ObjectMeta: meta("system:kube-aggregator", nil), Rules: []rbacv1.PolicyRule{
			rule(read, "", "endpoints", "services")}},
		{ObjectMeta: meta("system:monitoring", nil), Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"),
		}},
		// The controller manager runs every controller under one identity, including the
		// garbage collector and namespace deletion, which act on every resource, and the
		// signer of the kubernetes.io signers.
		{ObjectMeta: meta("system:kube-controller-manager", nil), Rules: []rbacv1.PolicyRule{
			rule(append(readWrite[:len(readWrite):len(readWrite)], "escalate", "bind"), "*", "*"),
			signers("sign", certificatesv1.KubeAPIServerClientSignerName, certificatesv1.KubeAPIServerClientKubeletSignerName,
				certificatesv1.KubeletServingSignerName),
		}},
		// Roles to bind to those who may approve requests for a kubernetes.io signer
		// (kubectl certificate approve); none is bound by default.
		{ObjectMeta: meta("system:certificates.k8s.io:kube-apiserver-client-approver", nil), Rules: []rbacv1.PolicyRule{
			signers("approve", certificatesv1.KubeAPIServerClientSignerName)}},
		{ObjectMeta: meta("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver", nil), Rules: []rbacv1.PolicyRule{
			signers("approve", certificatesv1.KubeAPIServerClientKubeletSignerName)}},
		{ObjectMeta: meta("system:certificates.k8s.io:kubelet-serving-approver", nil), Rules: []rbacv1.PolicyRule{
			signers("approve", certificatesv1.KubeletServingSignerName)}},
		// What a kubelet bootstrapping its client certificate needs.
		{ObjectMeta: meta("system:node-bootstrapper", nil), Rules: []rbacv1.PolicyRule{
			rule([]string{"create", "get", "list", "watch"}, certificatesv1.GroupName, "certificatesigningrequests")}},
		{ObjectMeta: meta("system:kube-scheduler", nil), Rules: []rbacv1.PolicyRule{
			rule([]string{"create", "patch", "update"}, "", "events"),
			rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
			rule([]string{"create", "get", "list", "watch", "update", "patch"}, "coordination.k8s.io", "leases"),
			rule(read, "", "nodes", "namespaces", "persistentvolumeclaims", "persistentvolumes", "replicationcontrollers", "services"),
			rule([]string{"get", "list", "watch", "delete", "patch", "update"}, "", "pods"),
			rule([]string{"create"}, "", "bindings", "pods/binding"),
			rule([]string{"patch", "update"}, "", "pods/status"),
			rule(read, "apps", "replicasets", "statefulsets"),
			rule(read, "policy", "poddisruptionbudgets"),
			rule(read, "scheduling.k8s.io", "priorityclasses"),
			rule(read, "storage.k8s.io", "storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"),
			// Dynamic resource allocation: the scheduler allocates claims from the slices.
			rule(read, "resource.k8s.io", "resourceclaims", "deviceclasses", "resourceslices"),
			rule([]string{"get", "list", "watch", "update", "patch"}, "resource.k8s.io", "resourceclaims/status"),
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
		}},
		// system:node is what a kijabi agent needs: the kubelet's own rights plus those of the
		// service proxy, network policy controller, cluster DNS and ingress controller it runs.
		{ObjectMeta: meta("system:node", nil), Rules: []rbacv1.PolicyRule{
			rule(readWrite, "", "nodes", "nodes/status"),
			rule(readWrite, "", "pods", "pods/status"),
			rule([]string{"create"}, "", "pods/eviction", "serviceaccounts/token"),
			rule([]string{"create", "patch", "update"}, "", "events"),
			rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
			rule(read, "", "configmaps", "secrets", "serviceaccounts", "namespaces", "endpoints", "persistentvolumes"),
			rule([]string{"get", "list", "watch", "patch", "update"}, "", "persistentvolumeclaims", "persistentvolumeclaims/status"),
			// The node's DNS server publishes the kube-dns Service and its EndpointSlice (and
			// replaces them when they are not as it needs them).
			rule([]string{"get", "list", "watch", "create", "patch", "update", "delete"}, "", "services", "services/status"),
			rule([]string{"get", "list", "watch", "create", "patch", "update", "delete"}, "discovery.k8s.io", "endpointslices"),
			rule(readWrite, "coordination.k8s.io", "leases"),
			rule(read, "storage.k8s.io", "storageclasses", "csidrivers", "volumeattachments"),
			rule(read, "node.k8s.io", "runtimeclasses"),
			// Kubelets prepare the claims of their pods; DRA drivers publish their slices.
			rule([]string{"get"}, "resource.k8s.io", "resourceclaims"),
			rule(readWrite, "resource.k8s.io", "resourceslices"),
			rule(read, "networking.k8s.io", "ingresses", "networkpolicies"),
			rule([]string{"patch", "update"}, "networking.k8s.io", "ingresses/status"),
			rule([]string{"get", "list", "watch", "create", "patch", "update"}, "networking.k8s.io", "ingressclasses"),
			rule([]string{"create", "get", "list", "watch"}, certificatesv1.GroupName, "certificatesigningrequests"),
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
		}},
		{ObjectMeta: meta("system:node-proxier", nil), Rules: []rbacv1.PolicyRule{
			rule(read, "", "endpoints", "services", "nodes"),
			rule(read, "discovery.k8s.io", "endpointslices"),
			rule([]string{"create", "patch", "update"}, "", "events"),
			rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
		}},
	}
	return roles
}

func subjects(kind string, names ...string) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, n := range names {
		s := rbacv1.Subject{Kind: kind, Name: n}
		if kind != rbacv1.ServiceAccountKind {
			s.APIGroup = rbacv1.GroupName
		}
		out = append(out, s)
	}
	return out
}

func binding(name, role string, subs []rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{ObjectMeta: meta(name, nil), Subjects: subs,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
}

// ClusterRoleBindings are the cluster role bindings every cluster starts with.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		binding("cluster-admin", "cluster-admin", subjects(rbacv1.GroupKind, "system:masters")),
		binding("system:discovery", "system:discovery", subjects(rbacv1.GroupKind, "system:authenticated")),
		binding("system:basic-user", "system:basic-user", subjects(rbacv1.GroupKind, "system:authenticated")),
		binding("system:public-info-viewer", "system:public-info-viewer", subjects(rbacv1.GroupKind, "system:authenticated", "system:unauthenticated")),
		binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", subjects(rbacv1.GroupKind, "system:serviceaccounts")),
		binding("system:monitoring", "system:monitoring", subjects(rbacv1.GroupKind, "system:monitoring")),
		binding("system:kube-controller-manager", "system:kube-controller-manager", subjects(rbacv1.UserKind, "system:kube-controller-manager")),
		binding("system:kube-scheduler", "system:kube-scheduler", subjects(rbacv1.UserKind, "system:kube-scheduler")),
		binding("system:node", "system:node", subjects(rbacv1.GroupKind, "system:nodes")),
		binding("system:node-proxier", "system:node-proxier", subjects(rbacv1.UserKind, "system:kube-proxy")),
	}
}
