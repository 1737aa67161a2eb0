package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printer renders objects of one resource as table rows.
type Printer struct {
	Columns []metav1.TableColumnDefinition
	// Cells returns one row's cells, one per column, for obj (a pointer to a k8s.io/api type).
	Cells func(obj runtime.Object, now time.Time) []interface{}
	// Sort, when set, puts a list's objects in the order upstream prints them, in place.
	Sort func(objs []runtime.Object)
}

// registry maps every resource that has a printer of its own to it. It is built once and never
// written afterwards; For hands out copies of the column slices so callers cannot change it.
var registry = newRegistry()

// newRegistry builds the resource → printer map. Each group's file contributes its printers.
func newRegistry() map[schema.GroupResource]Printer {
	r := map[schema.GroupResource]Printer{}
	add := func(group, resource string, p Printer) {
		r[schema.GroupResource{Group: group, Resource: resource}] = p
	}

	// Core workloads and their templates.
	add("", "pods", podPrinter())
	add("", "podtemplates", podTemplatePrinter())
	add("", "replicationcontrollers", replicationControllerPrinter())

	// apps
	add("apps", "deployments", deploymentPrinter())
	add("apps", "replicasets", replicaSetPrinter())
	add("apps", "daemonsets", daemonSetPrinter())
	add("apps", "statefulsets", statefulSetPrinter())
	add("apps", "controllerrevisions", controllerRevisionPrinter())

	// batch
	add("batch", "jobs", jobPrinter())
	add("batch", "cronjobs", cronJobPrinter())

	// autoscaling and policy
	add("autoscaling", "horizontalpodautoscalers", hpaPrinter())
	add("policy", "poddisruptionbudgets", podDisruptionBudgetPrinter())

	// Service networking.
	add("", "services", servicePrinter())
	add("", "endpoints", endpointsPrinter())
	add("discovery.k8s.io", "endpointslices", endpointSlicePrinter())
	add("networking.k8s.io", "ingresses", ingressPrinter())
	add("networking.k8s.io", "ingressclasses", ingressClassPrinter())
	add("networking.k8s.io", "networkpolicies", networkPolicyPrinter())
	add("networking.k8s.io", "servicecidrs", serviceCIDRPrinter())
	add("networking.k8s.io", "ipaddresses", ipAddressPrinter())

	// Cluster objects.
	add("", "namespaces", namespacePrinter())
	add("", "nodes", nodePrinter())
	add("", "componentstatuses", componentStatusPrinter())
	add("coordination.k8s.io", "leases", leasePrinter())
	add("scheduling.k8s.io", "priorityclasses", priorityClassPrinter())
	add("node.k8s.io", "runtimeclasses", runtimeClassPrinter())

	// Configuration.
	add("", "configmaps", configMapPrinter())
	add("", "secrets", secretPrinter())
	add("", "serviceaccounts", serviceAccountPrinter())
	add("", "resourcequotas", resourceQuotaPrinter())

	// Events: events.k8s.io serves the same objects as core, with the same table.
	add("", "events", eventPrinter())
	add("events.k8s.io", "events", eventPrinter())

	// Storage.
	add("", "persistentvolumes", persistentVolumePrinter())
	add("", "persistentvolumeclaims", persistentVolumeClaimPrinter())
	add("storage.k8s.io", "storageclasses", storageClassPrinter())
	add("storage.k8s.io", "volumeattachments", volumeAttachmentPrinter())
	add("storage.k8s.io", "csinodes", csiNodePrinter())
	add("storage.k8s.io", "csidrivers", csiDriverPrinter())
	add("storage.k8s.io", "csistoragecapacities", csiStorageCapacityPrinter())
	add("storage.k8s.io", "volumeattributesclasses", volumeAttributesClassPrinter())

	// RBAC. Roles and cluster roles have no printer upstream and use the default table.
	add("rbac.authorization.k8s.io", "rolebindings", roleBindingPrinter("roleBinding"))
	add("rbac.authorization.k8s.io", "clusterrolebindings", roleBindingPrinter("clusterRoleBinding"))
	add("rbac.authorization.k8s.io", "roles", Default())
	add("rbac.authorization.k8s.io", "clusterroles", Default())
	add("", "limitranges", Default())

	// Admission and certificates.
	add("admissionregistration.k8s.io", "mutatingwebhookconfigurations", webhookConfigurationPrinter())
	add("admissionregistration.k8s.io", "validatingwebhookconfigurations", webhookConfigurationPrinter())
	add("admissionregistration.k8s.io", "validatingadmissionpolicies", validatingAdmissionPolicyPrinter())
	add("admissionregistration.k8s.io", "validatingadmissionpolicybindings", validatingAdmissionPolicyBindingPrinter())
	add("admissionregistration.k8s.io", "mutatingadmissionpolicies", mutatingAdmissionPolicyPrinter())
	add("admissionregistration.k8s.io", "mutatingadmissionpolicybindings", mutatingAdmissionPolicyBindingPrinter())
	add("certificates.k8s.io", "certificatesigningrequests", csrPrinter())

	// API Priority and Fairness, dynamic resource allocation.
	add("flowcontrol.apiserver.k8s.io", "flowschemas", flowSchemaPrinter())
	add("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", priorityLevelPrinter())
	add("resource.k8s.io", "deviceclasses", deviceClassPrinter())
	add("resource.k8s.io", "resourceclaims", resourceClaimPrinter())
	add("resource.k8s.io", "resourceclaimtemplates", resourceClaimTemplatePrinter())
	add("resource.k8s.io", "resourceslices", resourceSlicePrinter())
	add("apiregistration.k8s.io", "apiservices", apiServicePrinter())

	return r
}

// For returns the printer of a resource (group "" for core), and false when there is none; callers then
// use Default.
func For(group, resource string) (Printer, bool) {
	p, ok := registry[schema.GroupResource{Group: group, Resource: resource}]
	if !ok {
		return Printer{}, false
	}
	p.Columns = append([]metav1.TableColumnDefinition(nil), p.Columns...)
	return p, true
}

// Default is the printer for resources without their own. It is Kubernetes' default table: the name
// and the creation time as an RFC 3339 UTC date ("Created At"), which kubectl shows as NAME and
// CREATED AT.
func Default() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			{Name: "Created At", Type: "date", Description: objectMetaDoc("creationTimestamp")},
		},
		Cells: func(obj runtime.Object, _ time.Time) []interface{} {
			m := metaOf(obj)
			if m == nil {
				return []interface{}{"", ""}
			}
			created := m.GetCreationTimestamp()
			return []interface{}{m.GetName(), created.UTC().Format(time.RFC3339)}
		},
	}
}

// Table builds a metav1.Table for objs with p, in their order (which p.Sort, when set, changes
// first: objs is reordered in place, so that the caller's rows and objects still match). It sets each row's Cells and
// leaves Row.Object for the caller to fill (the API server sets PartialObjectMetadata or the full object
// depending on includeObject). Column definitions are included unless noHeaders.
func Table(p Printer, objs []runtime.Object, now time.Time, noHeaders bool) *metav1.Table {
	if p.Sort != nil && len(objs) > 1 {
		p.Sort(objs)
	}
	cells := p.Cells
	if cells == nil {
		n := len(p.Columns)
		cells = func(obj runtime.Object, _ time.Time) []interface{} { return fallbackCells(obj, n) }
	}
	t := &metav1.Table{
		TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: metav1.SchemeGroupVersion.String()},
		Rows:     make([]metav1.TableRow, 0, len(objs)),
	}
	if !noHeaders {
		t.ColumnDefinitions = append([]metav1.TableColumnDefinition{}, p.Columns...)
	}
	for _, obj := range objs {
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells:      cells(obj, now),
			Conditions: rowConditions(obj),
		})
	}
	return t
}

// rowConditions returns the conditions upstream attaches to a row: pods that have run to completion
// (succeeded or failed) are marked Completed so clients can tell them apart.
func rowConditions(obj runtime.Object) []metav1.TableRowCondition {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod == nil {
		return nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
			Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	case corev1.PodFailed:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
			Reason: string(corev1.PodFailed), Message: "The pod failed."}}
	}
	return nil
}
