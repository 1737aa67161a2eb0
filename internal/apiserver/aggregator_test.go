package apiserver

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
	"github.com/kijabi/kijabi/internal/auth"
)

func aggregatorServer(groups []groupInfo, apiServices ...*apiregistrationv1.APIService) *Server {
	s := &Server{log: slog.New(slog.DiscardHandler), scheme: NewScheme(), groups: groups}
	s.agg.apiServices = map[string]*apiregistrationv1.APIService{}
	s.agg.discovery = map[string]*metav1.APIResourceList{}
	for _, a := range apiServices {
		s.setAPIService(a.Name, a)
	}
	return s
}

func remoteAPIService(group, v string, groupPriority, versionPriority int32, available bool) *apiregistrationv1.APIService {
	a := &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: v + "." + group},
		Spec: apiregistrationv1.APIServiceSpec{Group: group, Version: v, GroupPriorityMinimum: groupPriority, VersionPriority: versionPriority,
			Service: &apiregistrationv1.ServiceReference{Namespace: "ext", Name: "api", Port: ptr.To[int32](443)}}}
	status := apiregistrationv1.ConditionFalse
	if available {
		status = apiregistrationv1.ConditionTrue
	}
	a.SetCondition(apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: status})
	return a
}

func groupNames(groups []groupInfo) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.name+"="+strings.Join(g.versions, ","))
	}
	return out
}

// TestDiscoveryOrder checks groups and versions are ordered as kube-apiserver orders them:
// the core group first, then groups by priority (ties by APIService name), versions by
// priority then as Kubernetes versions; CRDs at 1000, metrics (as metrics-server registers
// it) at 100.
func TestDiscoveryOrder(t *testing.T) {
	builtins := []groupInfo{
		{name: ""}, {name: "metrics.k8s.io", versions: []string{"v1beta1"}},
		{name: "autoscaling", versions: []string{"v1", "v2"}}, {name: "apps", versions: []string{"v1"}},
		{name: "apiextensions.k8s.io", versions: []string{"v1"}}, {name: "admissionregistration.k8s.io", versions: []string{"v1"}},
		{name: "apiregistration.k8s.io", versions: []string{"v1"}},
	}
	builtins[0].versions = []string{"v1"}
	s := aggregatorServer(builtins, remoteAPIService("wardle.example.com", "v1beta1", 1500, 15, true),
		remoteAPIService("wardle.example.com", "v1alpha1", 1500, 15, true), remoteAPIService("zeta.example.com", "v1", 1500, 5, true))
	groups := append(append([]groupInfo(nil), builtins...),
		groupInfo{name: "stable.example.com", versions: []string{"v1alpha1", "v1", "v2beta1", "foo1", "v10"}})
	got := groupNames(s.aggregateDiscovery(groups, map[string][]*resource{}))
	want := []string{"=v1", "apiregistration.k8s.io=v1", "apps=v1", "autoscaling=v2,v1",
		"admissionregistration.k8s.io=v1", "apiextensions.k8s.io=v1",
		// Equal priorities: by APIService name, and "v1.zeta..." sorts before "v1alpha1.wardle...".
		"zeta.example.com=v1", "wardle.example.com=v1beta1,v1alpha1",
		"stable.example.com=v10,v1,v2beta1,v1alpha1,foo1", "metrics.k8s.io=v1beta1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}

	// The APIServices' own priorities win over the built-in table.
	own := remoteAPIService("apps", "v1", 1, 1, true)
	own.Spec.Service = nil
	s.setAPIService(own.Name, own)
	got = groupNames(s.aggregateDiscovery(groups, map[string][]*resource{}))
	if got[len(got)-1] != "apps=v1" {
		t.Errorf("apps at priority 1 is not last: %v", got)
	}
}

// TestRemoteTakesOver checks a remote APIService for a group version served here replaces
// its resources in discovery with the extension server's.
func TestRemoteTakesOver(t *testing.T) {
	metrics := []groupInfo{{name: "metrics.k8s.io", versions: []string{"v1beta1"}}}
	local := &resource{resourceDef: resourceDef{group: "metrics.k8s.io", version: "v1beta1", name: "pods"}}
	s := aggregatorServer(metrics)
	byGV := map[string][]*resource{"metrics.k8s.io/v1beta1": {local}}
	if _, ok := s.remoteVersionDiscovery("metrics.k8s.io", "v1beta1"); ok {
		t.Fatal("a local group version reported as remote")
	}
	s.aggregateDiscovery(metrics, byGV)
	if len(byGV["metrics.k8s.io/v1beta1"]) != 1 {
		t.Fatal("local resources dropped without a remote APIService")
	}

	a := remoteAPIService("metrics.k8s.io", "v1beta1", 100, 100, true)
	s.setAPIService(a.Name, a)
	if r := s.remoteFor("metrics.k8s.io", "v1beta1"); r == nil || r.serverName() != "api.ext.svc" || r.port != 443 || !r.available {
		t.Fatalf("remote: %+v", r)
	}
	s.agg.discovery["metrics.k8s.io/v1beta1"] = &metav1.APIResourceList{GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{
		{Name: "nodes", SingularName: "", Kind: "NodeMetrics", Verbs: []string{"get", "list"}},
		{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}},
		{Name: "pods/status", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get"}},
		{Name: "orphans/status", Kind: "X", Verbs: []string{"get"}},
	}}
	groups := s.aggregateDiscovery(metrics, byGV)
	if _, ok := byGV["metrics.k8s.io/v1beta1"]; ok || len(groups) != 1 {
		t.Errorf("the local resources are still listed: %v %v", byGV, groups)
	}
	vd, ok := s.remoteVersionDiscovery("metrics.k8s.io", "v1beta1")
	if !ok || vd.Freshness != "Current" || len(vd.Resources) != 2 {
		t.Fatalf("remote discovery: %+v", vd)
	}
	pods := vd.Resources[1]
	if pods.Resource != "pods" || pods.Scope != "Namespaced" || pods.ResponseKind.Group != "metrics.k8s.io" || pods.ResponseKind.Kind != "PodMetrics" ||
		len(pods.Subresources) != 1 || pods.Subresources[0].Subresource != "status" {
		t.Errorf("pods: %+v", pods)
	}

	// Unavailable: listed without resources, as kube-apiserver lists it.
	s.setAPIService(a.Name, remoteAPIService("metrics.k8s.io", "v1beta1", 100, 100, false))
	if vd, _ := s.remoteVersionDiscovery("metrics.k8s.io", "v1beta1"); len(vd.Resources) != 0 || vd.Version != "v1beta1" {
		t.Errorf("unavailable: %+v", vd)
	}
	// The aggregator's own group and the core group are never proxied.
	for _, gv := range [][2]string{{"apiregistration.k8s.io", "v1"}, {"", "v1"}} {
		b := remoteAPIService(gv[0], gv[1], 100, 100, true)
		s.setAPIService(b.Name, b)
		if s.remoteFor(gv[0], gv[1]) != nil {
			t.Errorf("%v is proxied", gv)
		}
	}
	s.setAPIService(a.Name, nil)
	if s.remoteFor("metrics.k8s.io", "v1beta1") != nil {
		t.Error("a deleted APIService is still proxied")
	}
}

func TestSetAPIServiceKeepsNewest(t *testing.T) {
	s := aggregatorServer(nil)
	a := remoteAPIService("w.example.com", "v1", 100, 100, true)
	a.UID, a.ResourceVersion = "u", "20"
	s.setAPIService(a.Name, a)
	older := remoteAPIService("w.example.com", "v1", 100, 100, false)
	older.UID, older.ResourceVersion = "u", "19"
	if s.setAPIService(older.Name, older) || !s.remoteFor("w.example.com", "v1").available {
		t.Error("an older event replaced a newer status")
	}
	recreated := older.DeepCopy()
	recreated.UID = "v"
	if !s.setAPIService(recreated.Name, recreated) || s.remoteFor("w.example.com", "v1").available {
		t.Error("a recreated APIService was ignored")
	}
}

// TestAvailabilityConditions checks the reasons and messages of the Available condition.
func TestAvailabilityConditions(t *testing.T) {
	a := remoteAPIService("wardle.example.com", "v1alpha1", 1000, 15, false)
	clusterIP := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	external := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"}}
	slice := func(ready *bool, port string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To(port), Port: ptr.To[int32](8443)}}}
	}
	list := &metav1.APIResourceList{GroupVersion: "wardle.example.com/v1alpha1"}
	passes := func() (*metav1.APIResourceList, error) { return list, nil }
	fails := func() (*metav1.APIResourceList, error) {
		return nil, errors.New(`failing or missing response from https://10.0.0.1:8443/apis/wardle.example.com/v1alpha1: bad status from https://10.0.0.1:8443/apis/wardle.example.com/v1alpha1: 403`)
	}
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, "api")
	for _, tc := range []struct {
		name            string
		svc             *corev1.Service
		svcErr          error
		slices          []*discoveryv1.EndpointSlice
		slicesErr       error
		check           func() (*metav1.APIResourceList, error)
		status, reason  string
		message         string
		wantList, error bool
	}{
		{name: "no service", svcErr: notFound, status: "False", reason: "ServiceNotFound", message: `service/api in "ext" is not present`},
		{name: "service unreadable", svcErr: errors.New("etcd is down"), status: "Unknown", reason: "ServiceAccessError",
			message: `service/api in "ext" cannot be checked due to: etcd is down`},
		{name: "wrong port", svc: &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}},
			status: "False", reason: "ServicePortError", message: `service/api in "ext" is not listening on port 443`},
		{name: "no slices", svc: clusterIP, status: "False", reason: "EndpointsNotFound", message: `cannot find endpointslices for service/api in "ext"`},
		{name: "slices unreadable", svc: clusterIP, slicesErr: errors.New("boom"), status: "Unknown", reason: "EndpointsAccessError",
			message: `service/api in "ext" cannot be checked due to: boom`},
		{name: "not ready", svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(ptr.To(false), "https")},
			status: "False", reason: "MissingEndpoints", message: `endpointslices for service/api in "ext" have no addresses with port name "https"`},
		{name: "other port name", svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(nil, "http")},
			status: "False", reason: "MissingEndpoints", message: `endpointslices for service/api in "ext" have no addresses with port name "https"`},
		{name: "discovery fails", svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(nil, "https")}, check: fails,
			status: "False", reason: "FailedDiscoveryCheck", message: "failing or missing response from https://10.0.0.1:8443/apis/wardle.example.com/v1alpha1: bad status from https://10.0.0.1:8443/apis/wardle.example.com/v1alpha1: 403", error: true},
		{name: "passes", svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(ptr.To(true), "https")}, check: passes,
			status: "True", reason: "Passed", message: "all checks passed", wantList: true},
		{name: "ExternalName needs no endpoints", svc: external, check: passes, status: "True", reason: "Passed", message: "all checks passed", wantList: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := tc.check
			if check == nil {
				check = func() (*metav1.APIResourceList, error) { t.Fatal("discovery checked"); return nil, nil }
			}
			cond, got, err := decideAvailability(a, tc.svc, tc.svcErr, tc.slices, tc.slicesErr, check)
			if string(cond.Status) != tc.status || cond.Reason != tc.reason || cond.Message != tc.message || cond.Type != "Available" {
				t.Errorf("condition %+v, want %s %s %q", cond, tc.status, tc.reason, tc.message)
			}
			if (got != nil) != tc.wantList || (err != nil) != tc.error {
				t.Errorf("list %v, err %v", got, err)
			}
		})
	}
	local := a.DeepCopy()
	local.Spec.Service = nil
	if cond, _, _ := decideAvailability(local, nil, nil, nil, nil, nil); cond.Status != "True" || cond.Reason != "Local" || cond.Message != "Local APIServices are always available" {
		t.Errorf("local: %+v", cond)
	}
}

// TestSetCondition checks a condition's transition time changes with its status only.
func TestSetCondition(t *testing.T) {
	a := &apiregistrationv1.APIService{}
	t1, t2 := metav1.Unix(100, 0), metav1.Unix(200, 0)
	a.SetCondition(apiregistrationv1.APIServiceCondition{Type: "Available", Status: "False", Reason: "ServiceNotFound", LastTransitionTime: t1})
	a.SetCondition(apiregistrationv1.APIServiceCondition{Type: "Available", Status: "False", Reason: "MissingEndpoints", LastTransitionTime: t2})
	if c := a.Condition("Available"); c.Reason != "MissingEndpoints" || !c.LastTransitionTime.Equal(&t1) || len(a.Status.Conditions) != 1 {
		t.Errorf("same status: %+v", a.Status)
	}
	a.SetCondition(apiregistrationv1.APIServiceCondition{Type: "Available", Status: "True", Reason: "Passed", LastTransitionTime: t2})
	if c := a.Condition("Available"); !a.IsAvailable() || !c.LastTransitionTime.Equal(&t2) {
		t.Errorf("new status: %+v", a.Status)
	}
}

func TestFrontProxyHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", "Bearer secret")
	h.Set("Impersonate-User", "root")
	h.Set("X-Remote-User", "mallory")
	h.Add("X-Remote-Group", "system:masters")
	h.Set("X-Remote-Extra-Scopes", "all")
	h.Set("Accept", "application/json")
	setFrontProxyHeaders(h, &auth.User{Name: "alice", UID: "42", Groups: []string{"devs", "system:authenticated"},
		Extra: map[string][]string{"example.org/scopes": {"read", "write"}}})
	want := http.Header{
		"Accept":                              {"application/json"},
		"X-Remote-User":                       {"alice"},
		"X-Remote-Uid":                        {"42"},
		"X-Remote-Group":                      {"devs", "system:authenticated"},
		"X-Remote-Extra-Example.org%2fscopes": {"read", "write"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers:\n got %v\nwant %v", h, want)
	}
	if got := headerKeyEscape("a%b c/d"); got != "a%25b%20c%2Fd" {
		t.Errorf("escape: %q", got)
	}
}

func TestJSONOnly(t *testing.T) {
	for _, tc := range []struct {
		accept, contentType string
		ok                  bool
		code                int
		after               string
	}{
		{accept: "application/json", ok: true, after: "application/json"},
		{accept: "application/vnd.kubernetes.protobuf,application/json", ok: true, after: "application/json"},
		{accept: "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1, application/json;as=Table;g=meta.k8s.io;v=v1", ok: true,
			after: " application/json;as=Table;g=meta.k8s.io;v=v1"},
		{accept: "application/vnd.kubernetes.protobuf", code: http.StatusNotAcceptable},
		{accept: "application/json", contentType: "application/vnd.kubernetes.protobuf", code: http.StatusUnsupportedMediaType},
	} {
		r := httptest.NewRequest(http.MethodGet, "/apis/apiregistration.k8s.io/v1/apiservices", nil)
		r.Header.Set("Accept", tc.accept)
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		w := httptest.NewRecorder()
		ok := jsonOnly(w, r)
		if ok != tc.ok || !ok && w.Code != tc.code || ok && r.Header.Get("Accept") != tc.after {
			t.Errorf("%q: ok %v code %d accept %q", tc.accept, ok, w.Code, r.Header.Get("Accept"))
		}
	}
}

// TestAPIServiceFieldManager checks server-side apply knows APIServices: their conditions
// merge by type.
func TestAPIServiceFieldManager(t *testing.T) {
	tc, err := apiServiceTypeConverter(NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	a := remoteAPIService("wardle.example.com", "v1alpha1", 1000, 15, true)
	a.TypeMeta = metav1.TypeMeta{APIVersion: "apiregistration.k8s.io/v1", Kind: "APIService"}
	a.Spec.CABundle = []byte("pem")
	tv, err := tc.ObjectToTyped(a)
	if err != nil {
		t.Fatal(err)
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		t.Fatal(err)
	}
	if s := set.String(); !strings.Contains(s, `.status.conditions[type="Available"].status`) || !strings.Contains(s, ".spec.service.port") {
		t.Errorf("field set: %s", s)
	}
}
