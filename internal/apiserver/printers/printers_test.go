package printers

import (
	"reflect"
	"testing"
	"time"

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
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the fixed clock of every test.
var now = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func ptr[T any](v T) *T { return &v }

// mustFor returns the printer of a resource or fails the test.
func mustFor(t *testing.T, group, resource string) Printer {
	t.Helper()
	p, ok := For(group, resource)
	if !ok {
		t.Fatalf("no printer for %q/%q", group, resource)
	}
	return p
}

func columnNames(p Printer) []string {
	names := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		names[i] = c.Name
	}
	return names
}

// wideColumns returns the names of the columns shown only with -o wide.
func wideColumns(p Printer) []string {
	var names []string
	for _, c := range p.Columns {
		if c.Priority == 1 {
			names = append(names, c.Name)
		}
	}
	return names
}

// zeroObjects lists, for every registered resource, the zero values of the types its printer takes.
var zeroObjects = map[schema.GroupResource][]runtime.Object{
	{Group: "", Resource: "pods"}:                                                        {&corev1.Pod{}},
	{Group: "", Resource: "podtemplates"}:                                                {&corev1.PodTemplate{}},
	{Group: "", Resource: "replicationcontrollers"}:                                      {&corev1.ReplicationController{}},
	{Group: "apps", Resource: "deployments"}:                                             {&appsv1.Deployment{}},
	{Group: "apps", Resource: "replicasets"}:                                             {&appsv1.ReplicaSet{}},
	{Group: "apps", Resource: "daemonsets"}:                                              {&appsv1.DaemonSet{}},
	{Group: "apps", Resource: "statefulsets"}:                                            {&appsv1.StatefulSet{}},
	{Group: "apps", Resource: "controllerrevisions"}:                                     {&appsv1.ControllerRevision{}},
	{Group: "batch", Resource: "jobs"}:                                                   {&batchv1.Job{}},
	{Group: "batch", Resource: "cronjobs"}:                                               {&batchv1.CronJob{}},
	{Group: "autoscaling", Resource: "horizontalpodautoscalers"}:                         {&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv1.HorizontalPodAutoscaler{}},
	{Group: "policy", Resource: "poddisruptionbudgets"}:                                  {&policyv1.PodDisruptionBudget{}},
	{Group: "", Resource: "services"}:                                                    {&corev1.Service{}},
	{Group: "", Resource: "endpoints"}:                                                   {&corev1.Endpoints{}},
	{Group: "discovery.k8s.io", Resource: "endpointslices"}:                              {&discoveryv1.EndpointSlice{}},
	{Group: "networking.k8s.io", Resource: "ingresses"}:                                  {&networkingv1.Ingress{}},
	{Group: "networking.k8s.io", Resource: "ingressclasses"}:                             {&networkingv1.IngressClass{}},
	{Group: "networking.k8s.io", Resource: "networkpolicies"}:                            {&networkingv1.NetworkPolicy{}},
	{Group: "networking.k8s.io", Resource: "servicecidrs"}:                               {&networkingv1.ServiceCIDR{}},
	{Group: "networking.k8s.io", Resource: "ipaddresses"}:                                {&networkingv1.IPAddress{}},
	{Group: "", Resource: "namespaces"}:                                                  {&corev1.Namespace{}},
	{Group: "", Resource: "nodes"}:                                                       {&corev1.Node{}},
	{Group: "", Resource: "componentstatuses"}:                                           {&corev1.ComponentStatus{}},
	{Group: "coordination.k8s.io", Resource: "leases"}:                                   {&coordinationv1.Lease{}},
	{Group: "scheduling.k8s.io", Resource: "priorityclasses"}:                            {&schedulingv1.PriorityClass{}},
	{Group: "node.k8s.io", Resource: "runtimeclasses"}:                                   {&nodev1.RuntimeClass{}},
	{Group: "", Resource: "configmaps"}:                                                  {&corev1.ConfigMap{}},
	{Group: "", Resource: "secrets"}:                                                     {&corev1.Secret{}},
	{Group: "", Resource: "serviceaccounts"}:                                             {&corev1.ServiceAccount{}},
	{Group: "", Resource: "resourcequotas"}:                                              {&corev1.ResourceQuota{}},
	{Group: "", Resource: "limitranges"}:                                                 {&corev1.LimitRange{}},
	{Group: "", Resource: "events"}:                                                      {&corev1.Event{}, &eventsv1.Event{}},
	{Group: "events.k8s.io", Resource: "events"}:                                         {&eventsv1.Event{}, &corev1.Event{}},
	{Group: "", Resource: "persistentvolumes"}:                                           {&corev1.PersistentVolume{}},
	{Group: "", Resource: "persistentvolumeclaims"}:                                      {&corev1.PersistentVolumeClaim{}},
	{Group: "storage.k8s.io", Resource: "storageclasses"}:                                {&storagev1.StorageClass{}},
	{Group: "storage.k8s.io", Resource: "volumeattachments"}:                             {&storagev1.VolumeAttachment{}},
	{Group: "storage.k8s.io", Resource: "csinodes"}:                                      {&storagev1.CSINode{}},
	{Group: "storage.k8s.io", Resource: "csidrivers"}:                                    {&storagev1.CSIDriver{}},
	{Group: "storage.k8s.io", Resource: "csistoragecapacities"}:                          {&storagev1.CSIStorageCapacity{}},
	{Group: "storage.k8s.io", Resource: "volumeattributesclasses"}:                       {&storagev1.VolumeAttributesClass{}},
	{Group: "rbac.authorization.k8s.io", Resource: "roles"}:                              {&rbacv1.Role{}},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}:                       {&rbacv1.ClusterRole{}},
	{Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}:                       {&rbacv1.RoleBinding{}},
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}:                {&rbacv1.ClusterRoleBinding{}},
	{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}:   {&admissionregistrationv1.MutatingWebhookConfiguration{}},
	{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}: {&admissionregistrationv1.ValidatingWebhookConfiguration{}},
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}:               {&certificatesv1.CertificateSigningRequest{}},
}

// TestEveryPrinterHandlesZeroObjects checks that each printer gives exactly one cell per column for empty
// objects of its types, for objects of a foreign type and for nil, without panicking.
func TestEveryPrinterHandlesZeroObjects(t *testing.T) {
	for gr, p := range registry {
		t.Run(gr.String(), func(t *testing.T) {
			objs, ok := zeroObjects[gr]
			if !ok {
				t.Fatalf("no zero objects listed for %s; add them to zeroObjects", gr)
			}
			foreign := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "stranger"}}
			for _, obj := range append(objs, foreign, nil) {
				cells := p.Cells(obj, now)
				if len(cells) != len(p.Columns) {
					t.Errorf("%T: %d cells for %d columns", obj, len(cells), len(p.Columns))
				}
				for i, c := range cells {
					switch c.(type) {
					case string, int64, bool:
					default:
						t.Errorf("%T: cell %d (%s) has type %T", obj, i, p.Columns[i].Name, c)
					}
				}
			}
			for i, c := range p.Columns {
				if c.Name == "" || c.Type == "" {
					t.Errorf("column %d has no name or type: %+v", i, c)
				}
				if c.Priority != 0 && c.Priority != 1 {
					t.Errorf("column %s has priority %d", c.Name, c.Priority)
				}
			}
		})
	}
	for gr := range zeroObjects {
		if _, ok := registry[gr]; !ok {
			t.Errorf("zeroObjects lists %s, which has no printer", gr)
		}
	}
}

func TestForUnknownResource(t *testing.T) {
	if _, ok := For("example.com", "widgets"); ok {
		t.Error("For found a printer for an unknown resource")
	}
	if _, ok := For("", "deployments"); ok {
		t.Error("deployments are in group apps, not core")
	}
}

func TestForReturnsACopy(t *testing.T) {
	p := mustFor(t, "", "pods")
	p.Columns[0].Name = "Changed"
	if got := mustFor(t, "", "pods").Columns[0].Name; got != "Name" {
		t.Errorf("changing a returned printer changed the registry: first column now %q", got)
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if got, want := columnNames(p), []string{"Name", "Created At"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
	if p.Columns[0].Format != "name" || p.Columns[1].Type != "date" {
		t.Errorf("unexpected column types: %+v", p.Columns)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", CreationTimestamp: ago(time.Hour)}}
	got := p.Cells(role, now)
	want := []interface{}{"reader", "2026-03-01T11:00:00Z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	// Roles, cluster roles and limit ranges use the default table, as upstream.
	for _, r := range []struct{ group, resource string }{
		{"rbac.authorization.k8s.io", "roles"}, {"rbac.authorization.k8s.io", "clusterroles"}, {"", "limitranges"},
	} {
		if got := columnNames(mustFor(t, r.group, r.resource)); !reflect.DeepEqual(got, []string{"Name", "Created At"}) {
			t.Errorf("%s columns = %v", r.resource, got)
		}
	}
}

func TestTable(t *testing.T) {
	p := mustFor(t, "", "pods")
	done := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "done"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	failed := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "failed"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "running"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}

	t.Run("with headers", func(t *testing.T) {
		table := Table(p, []runtime.Object{done, failed, running}, now, false)
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
			t.Errorf("type meta = %+v", table.TypeMeta)
		}
		if !reflect.DeepEqual(table.ColumnDefinitions, p.Columns) {
			t.Errorf("column definitions differ from the printer's")
		}
		if len(table.Rows) != 3 {
			t.Fatalf("%d rows, want 3", len(table.Rows))
		}
		for i, name := range []string{"done", "failed", "running"} {
			row := table.Rows[i]
			if row.Cells[0] != name {
				t.Errorf("row %d is %v, want %s", i, row.Cells[0], name)
			}
			if row.Object.Object != nil || row.Object.Raw != nil {
				t.Errorf("row %d has an object; Table leaves it to the caller", i)
			}
		}
		if c := table.Rows[0].Conditions; len(c) != 1 || c[0].Type != metav1.RowCompleted || c[0].Reason != "Succeeded" {
			t.Errorf("succeeded pod conditions = %+v", c)
		}
		if c := table.Rows[1].Conditions; len(c) != 1 || c[0].Reason != "Failed" {
			t.Errorf("failed pod conditions = %+v", c)
		}
		if c := table.Rows[2].Conditions; c != nil {
			t.Errorf("running pod conditions = %+v", c)
		}
	})
	t.Run("no headers", func(t *testing.T) {
		table := Table(p, []runtime.Object{running}, now, true)
		if table.ColumnDefinitions != nil {
			t.Errorf("column definitions present with noHeaders")
		}
		if len(table.Rows) != 1 || len(table.Rows[0].Cells) != len(p.Columns) {
			t.Errorf("rows = %+v", table.Rows)
		}
	})
	t.Run("empty", func(t *testing.T) {
		table := Table(p, nil, now, false)
		if table.Rows == nil || len(table.Rows) != 0 {
			t.Errorf("rows = %#v, want an empty non-nil slice", table.Rows)
		}
	})
	t.Run("zero printer", func(t *testing.T) {
		table := Table(Printer{Columns: p.Columns}, []runtime.Object{running}, now, false)
		if got := table.Rows[0].Cells; len(got) != len(p.Columns) || got[0] != "running" {
			t.Errorf("cells = %v", got)
		}
	})
}

func TestColumns(t *testing.T) {
	tests := []struct {
		group, resource string
		columns, wide   []string
	}{
		{"", "pods", []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"},
			[]string{"IP", "Node", "Nominated Node", "Readiness Gates"}},
		{"apps", "deployments", []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"},
			[]string{"Containers", "Images", "Selector"}},
		{"apps", "statefulsets", []string{"Name", "Ready", "Age", "Containers", "Images"}, []string{"Containers", "Images"}},
		{"", "services", []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}, []string{"Selector"}},
		{"", "nodes", []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"},
			[]string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{"batch", "jobs", []string{"Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"},
			[]string{"Containers", "Images", "Selector"}},
		{"", "events", []string{"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"},
			[]string{"Subobject", "Source", "First Seen", "Count", "Name"}},
		{"", "namespaces", []string{"Name", "Status", "Age"}, nil},
		{"", "secrets", []string{"Name", "Type", "Data", "Age"}, nil},
		{"", "serviceaccounts", []string{"Name", "Age"}, nil},
		{"networking.k8s.io", "ingresses", []string{"Name", "Class", "Hosts", "Address", "Ports", "Age"}, nil},
		{"coordination.k8s.io", "leases", []string{"Name", "Holder", "Age"}, nil},
		{"rbac.authorization.k8s.io", "clusterrolebindings", []string{"Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"},
			[]string{"Users", "Groups", "ServiceAccounts"}},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.resource, func(t *testing.T) {
			p := mustFor(t, tt.group, tt.resource)
			if got := columnNames(p); !reflect.DeepEqual(got, tt.columns) {
				t.Errorf("columns = %v, want %v", got, tt.columns)
			}
			if got := wideColumns(p); !reflect.DeepEqual(got, tt.wide) {
				t.Errorf("wide columns = %v, want %v", got, tt.wide)
			}
		})
	}
}
