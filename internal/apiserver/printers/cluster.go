package printers

import (
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

const (
	// nodeRolePrefix labels give a node a role: node-role.kubernetes.io/<role>.
	nodeRolePrefix = "node-role.kubernetes.io/"
	// nodeRoleLabel is the older way of naming a node's role: kubernetes.io/role=<role>.
	nodeRoleLabel = "kubernetes.io/role"
)

func namespacePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "The status of the namespace"),
		ageColumn(),
	}, func(ns *corev1.Namespace, now time.Time) []interface{} {
		return []interface{}{ns.Name, string(ns.Status.Phase), since(ns.CreationTimestamp, now)}
	})
}

func nodePrinter() Printer {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addresses := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "The status of the node"),
		column("Roles", "string", "The roles of the node"),
		ageColumn(),
		column("Version", "string", info["kubeletVersion"]),
		wideColumn("Internal-IP", "string", addresses),
		wideColumn("External-IP", "string", addresses),
		wideColumn("OS-Image", "string", info["osImage"]),
		wideColumn("Kernel-Version", "string", info["kernelVersion"]),
		wideColumn("Container-Runtime", "string", info["containerRuntimeVersion"]),
	}, func(n *corev1.Node, now time.Time) []interface{} {
		orUnknown := func(s string) string {
			if s == "" {
				return unknown
			}
			return s
		}
		roles := nodeRoles(n)
		return []interface{}{
			n.Name,
			nodeStatus(n),
			orNone(strings.Join(roles, ",")),
			since(n.CreationTimestamp, now),
			n.Status.NodeInfo.KubeletVersion,
			nodeAddress(n, corev1.NodeInternalIP),
			nodeAddress(n, corev1.NodeExternalIP),
			orUnknown(n.Status.NodeInfo.OSImage),
			orUnknown(n.Status.NodeInfo.KernelVersion),
			orUnknown(n.Status.NodeInfo.ContainerRuntimeVersion),
		}
	})
}

// nodeStatus is "Ready", "NotReady" or "Unknown" (no Ready condition), with ",SchedulingDisabled"
// appended for a cordoned node.
func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	// The last Ready condition wins, should there be several.
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = string(corev1.NodeReady)
		} else {
			status = "Not" + string(corev1.NodeReady)
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles returns the node's roles, sorted, from its node-role.kubernetes.io/<role> and
// kubernetes.io/role=<role> labels.
func nodeRoles(n *corev1.Node) []string {
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix):
			if role := strings.TrimPrefix(k, nodeRolePrefix); role != "" {
				roles = append(roles, role)
			}
		case k == nodeRoleLabel && v != "":
			roles = append(roles, v)
		}
	}
	return sortedUnique(roles)
}

// nodeAddress is the node's first address of type t, or "<none>".
func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return none
}

func componentStatusPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "Status of the component conditions"),
		column("Message", "string", "Message of the component conditions"),
		column("Error", "string", "Error of the component conditions"),
	}, func(cs *corev1.ComponentStatus, _ time.Time) []interface{} {
		status, message, errText := "Unknown", "", ""
		for _, c := range cs.Conditions {
			if c.Type != corev1.ComponentHealthy {
				continue
			}
			status = "Unhealthy"
			if c.Status == corev1.ConditionTrue {
				status = "Healthy"
			}
			message, errText = c.Message, c.Error
			break
		}
		return []interface{}{cs.Name, status, message, errText}
	})
}

func leasePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
		ageColumn(),
	}, func(l *coordinationv1.Lease, now time.Time) []interface{} {
		return []interface{}{l.Name, derefString(l.Spec.HolderIdentity, ""), since(l.CreationTimestamp, now)}
	})
}

func priorityClassPrinter() Printer {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Value", "integer", doc["value"]),
		column("Global-Default", "boolean", doc["globalDefault"]),
		ageColumn(),
		column("PreemptionPolicy", "string", doc["preemptionPolicy"]),
	}, func(pc *schedulingv1.PriorityClass, now time.Time) []interface{} {
		policy := ""
		if pc.PreemptionPolicy != nil {
			policy = string(*pc.PreemptionPolicy)
		}
		return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, since(pc.CreationTimestamp, now), policy}
	})
}

func runtimeClassPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Handler", "string", objectMetaDoc("handler")),
		ageColumn(),
	}, func(rc *nodev1.RuntimeClass, now time.Time) []interface{} {
		return []interface{}{rc.Name, rc.Handler, since(rc.CreationTimestamp, now)}
	})
}

// roleBindingPrinter prints role bindings and cluster role bindings; kind ("roleBinding" or
// "clusterRoleBinding") only changes the column descriptions.
func roleBindingPrinter(kind string) Printer {
	roleRef := rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"]
	if kind == "clusterRoleBinding" {
		roleRef = rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]
	}
	columns := []metav1.TableColumnDefinition{
		nameColumn(),
		column("Role", "string", roleRef),
		ageColumn(),
		wideColumn("Users", "string", "Users in the "+kind),
		wideColumn("Groups", "string", "Groups in the "+kind),
		wideColumn("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
	return Printer{
		Columns: columns,
		Cells: func(obj runtime.Object, now time.Time) []interface{} {
			switch b := obj.(type) {
			case *rbacv1.RoleBinding:
				if b != nil {
					return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
				}
			case *rbacv1.ClusterRoleBinding:
				if b != nil {
					return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
				}
			}
			return fallbackCells(obj, len(columns))
		},
	}
}

func bindingCells(m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []interface{}{
		m.Name,
		ref.Kind + "/" + ref.Name,
		since(m.CreationTimestamp, now),
		strings.Join(users, ", "),
		strings.Join(groups, ", "),
		strings.Join(sas, ", "),
	}
}

// webhookConfigurationPrinter prints both mutating and validating webhook configurations.
func webhookConfigurationPrinter() Printer {
	columns := []metav1.TableColumnDefinition{
		nameColumn(),
		column("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
		ageColumn(),
	}
	return Printer{
		Columns: columns,
		Cells: func(obj runtime.Object, now time.Time) []interface{} {
			switch w := obj.(type) {
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				if w != nil {
					return []interface{}{w.Name, int64(len(w.Webhooks)), since(w.CreationTimestamp, now)}
				}
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				if w != nil {
					return []interface{}{w.Name, int64(len(w.Webhooks)), since(w.CreationTimestamp, now)}
				}
			}
			return fallbackCells(obj, len(columns))
		},
	}
}

func csrPrinter() Printer {
	spec := certificatesv1beta1.CertificateSigningRequestSpec{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		ageColumn(),
		column("SignerName", "string", spec["signerName"]),
		column("Requestor", "string", spec["request"]),
		column("RequestedDuration", "string", spec["expirationSeconds"]),
		column("Condition", "string", certificatesv1beta1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]),
	}, func(csr *certificatesv1.CertificateSigningRequest, now time.Time) []interface{} {
		requested := none
		if s := csr.Spec.ExpirationSeconds; s != nil {
			requested = duration.HumanDuration(time.Duration(*s) * time.Second)
		}
		return []interface{}{csr.Name, since(csr.CreationTimestamp, now), orNone(csr.Spec.SignerName), csr.Spec.Username, requested, csrCondition(csr)}
	})
}

// csrCondition summarises a request: Denied, Approved or Pending, then ",Failed" and ",Issued" as they apply.
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	status := "Pending"
	switch {
	case denied:
		status = "Denied"
	case approved:
		status = "Approved"
	}
	if failed {
		status += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		status += ",Issued"
	}
	return status
}
