package apiserver

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/auth"
)

var (
	podGVK      = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podGVR      = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	podResource = &resource{resourceDef: resourceDef{version: "v1", name: "pods", kind: "Pod", namespaced: true, status: true},
		gr: schema.GroupResource{Resource: "pods"}, gvk: podGVK}
)

func rule(ops []admissionregistrationv1.OperationType, groups, versions, resources []string, scope admissionregistrationv1.ScopeType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
		APIGroups: groups, APIVersions: versions, Resources: resources, Scope: ptr.To(scope)}}
}

func ops(o ...admissionregistrationv1.OperationType) []admissionregistrationv1.OperationType {
	return o
}

func TestWebhookRuleMatching(t *testing.T) {
	create, update, all := admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.OperationAll
	podCreate := &admissionAttributes{operation: admissionv1.Create, kind: podGVK, resource: podGVR, namespace: "default", name: "p"}
	podStatus := &admissionAttributes{operation: admissionv1.Update, kind: podGVK, resource: podGVR, subresource: "status", namespace: "default", name: "p"}
	deployScale := &admissionAttributes{operation: admissionv1.Update, kind: scaleGVKv1, subresource: "scale", namespace: "default", name: "d",
		resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}}
	nsUpdate := &admissionAttributes{operation: admissionv1.Update, kind: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"},
		resource: namespaceGVR, namespace: "team", name: "team"}
	node := &admissionAttributes{operation: admissionv1.Create, kind: schema.GroupVersionKind{Version: "v1", Kind: "Node"},
		resource: schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, name: "n1"}
	for _, tc := range []struct {
		name string
		rule admissionregistrationv1.RuleWithOperations
		a    *admissionAttributes
		want bool
	}{
		{"exact", rule(ops(create), all1(""), all1("v1"), all1("pods"), "*"), podCreate, true},
		{"other operation", rule(ops(update), all1(""), all1("v1"), all1("pods"), "*"), podCreate, false},
		{"any operation", rule(ops(all), all1(""), all1("v1"), all1("pods"), "*"), podCreate, true},
		{"other group", rule(ops(create), all1("apps"), all1("v1"), all1("pods"), "*"), podCreate, false},
		{"any group and version", rule(ops(create), all1("*"), all1("*"), all1("pods"), "*"), podCreate, true},
		{"other version", rule(ops(create), all1(""), all1("v2"), all1("pods"), "*"), podCreate, false},
		{"star is main resources only", rule(ops(all), all1("*"), all1("*"), all1("*"), "*"), podStatus, false},
		{"star matches the object", rule(ops(all), all1("*"), all1("*"), all1("*"), "*"), podCreate, true},
		{"star star", rule(ops(all), all1("*"), all1("*"), all1("*/*"), "*"), podStatus, true},
		{"pods/status", rule(ops(update), all1(""), all1("v1"), all1("pods/status"), "*"), podStatus, true},
		{"pods is not pods/status", rule(ops(update), all1(""), all1("v1"), all1("pods"), "*"), podStatus, false},
		{"pods/*", rule(ops(update), all1(""), all1("v1"), all1("pods/*"), "*"), podStatus, true},
		{"*/scale", rule(ops(update), all1("*"), all1("*"), all1("*/scale"), "*"), deployScale, true},
		{"*/scale is not status", rule(ops(update), all1("*"), all1("*"), all1("*/scale"), "*"), podStatus, false},
		{"namespaced scope", rule(ops(create), all1("*"), all1("*"), all1("*"), admissionregistrationv1.NamespacedScope), podCreate, true},
		{"cluster scope excludes pods", rule(ops(create), all1("*"), all1("*"), all1("*"), admissionregistrationv1.ClusterScope), podCreate, false},
		{"cluster scope includes nodes", rule(ops(create), all1("*"), all1("*"), all1("*"), admissionregistrationv1.ClusterScope), node, true},
		{"namespaced scope excludes nodes", rule(ops(create), all1("*"), all1("*"), all1("*"), admissionregistrationv1.NamespacedScope), node, false},
		// A Namespace's requests carry its name as namespace, yet it is cluster-scoped.
		{"namespace is cluster-scoped", rule(ops(update), all1(""), all1("v1"), all1("namespaces"), admissionregistrationv1.ClusterScope), nsUpdate, true},
		{"namespace is not namespaced", rule(ops(update), all1(""), all1("v1"), all1("namespaces"), admissionregistrationv1.NamespacedScope), nsUpdate, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newWebhookHook("c", "uid", 0, false, "w.example.com", []admissionregistrationv1.RuleWithOperations{tc.rule},
				nil, ptr.To(admissionregistrationv1.Exact), nil, nil, nil, nil, nil, admissionregistrationv1.WebhookClientConfig{}, nil)
			if got := h.matchRules(tc.a) != nil; got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func all1(s string) []string { return []string{s} }

func TestWebhookEquivalentVersions(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "stable.example.com", Version: "v2", Kind: "CronTab"}
	a := &admissionAttributes{operation: admissionv1.Create, kind: gvk, namespace: "default", name: "c",
		resource: schema.GroupVersionResource{Group: "stable.example.com", Version: "v2", Resource: "crontabs"}, equivalentVersions: []string{"v1"}}
	rules := []admissionregistrationv1.RuleWithOperations{rule(ops(admissionregistrationv1.Create), all1("stable.example.com"), all1("v1"), all1("crontabs"), "*")}
	equivalent := newWebhookHook("c", "uid", 0, false, "w.example.com", rules, nil, nil, nil, nil, nil, nil, nil, admissionregistrationv1.WebhookClientConfig{}, nil)
	inv := equivalent.matchRules(a)
	if inv == nil || inv.resource.Version != "v1" || inv.kind.Version != "v1" || inv.kind.Kind != "CronTab" {
		t.Fatalf("Equivalent: %+v", inv)
	}
	exact := newWebhookHook("c", "uid", 0, false, "w.example.com", rules, nil, ptr.To(admissionregistrationv1.Exact), nil, nil, nil, nil, nil, admissionregistrationv1.WebhookClientConfig{}, nil)
	if inv := exact.matchRules(a); inv != nil {
		t.Fatalf("Exact matched another version: %+v", inv)
	}
	// The object goes to the webhook in the version its rule names.
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "c"}, "spec": map[string]any{"x": int64(1)}}}
	data, err := encodeForWebhook(u, inv.kind)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"apiVersion":"stable.example.com/v1"`) || !strings.Contains(string(data), `"kind":"CronTab"`) {
		t.Errorf("encoded: %s", data)
	}
	if _, ok := u.Object["apiVersion"]; ok {
		t.Error("encoding changed the object")
	}
}

func TestWebhookSelectors(t *testing.T) {
	labelsOf := map[string]map[string]string{"prod": {"env": "prod"}, "dev": {"env": "dev"}}
	lookups := 0
	nsLabels := cachedNamespaceLabels(func(_ context.Context, name string) (map[string]string, error) {
		lookups++
		l, ok := labelsOf[name]
		if !ok {
			return nil, apierrors.NewNotFound(namespacesGR, name)
		}
		return l, nil
	})
	hook := func(ns, obj *metav1.LabelSelector) *webhookHook {
		return newWebhookHook("c", "uid", 0, false, "w.example.com",
			[]admissionregistrationv1.RuleWithOperations{rule(ops(admissionregistrationv1.OperationAll), all1("*"), all1("*"), all1("*"), "*")},
			nil, nil, ns, obj, nil, nil, nil, admissionregistrationv1.WebhookClientConfig{}, nil)
	}
	prodOnly := hook(&metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, &metav1.LabelSelector{})
	podIn := func(ns string, labels map[string]string) *admissionAttributes {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: labels}}
		return &admissionAttributes{operation: admissionv1.Create, kind: podGVK, resource: podGVR, namespace: ns, name: "p", object: pod}
	}
	ctx := context.Background()
	call := func(h *webhookHook, a *admissionAttributes) (bool, error) {
		inv, err := h.shouldCall(ctx, a, nsLabels)
		return inv != nil, err
	}
	if ok, err := call(prodOnly, podIn("prod", nil)); !ok || err != nil {
		t.Errorf("pod in prod: %v %v", ok, err)
	}
	if ok, err := call(prodOnly, podIn("dev", nil)); ok || err != nil {
		t.Errorf("pod in dev: %v %v", ok, err)
	}
	if _, err := call(prodOnly, podIn("gone", nil)); !apierrors.IsNotFound(err) {
		t.Errorf("pod in a missing namespace: %v", err)
	}
	if ok, _ := call(prodOnly, podIn("prod", nil)); !ok || lookups != 3 {
		t.Errorf("namespace labels looked up %d times, want them remembered", lookups)
	}
	// A Namespace being created or updated is matched by its own labels; a cluster-scoped
	// object that is not a Namespace always is.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new", Labels: map[string]string{"env": "prod"}}}
	nsCreate := &admissionAttributes{operation: admissionv1.Create, kind: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"},
		resource: namespaceGVR, name: "new", object: ns}
	if ok, err := call(prodOnly, nsCreate); !ok || err != nil {
		t.Errorf("namespace create: %v %v", ok, err)
	}
	node := &admissionAttributes{operation: admissionv1.Create, kind: schema.GroupVersionKind{Version: "v1", Kind: "Node"},
		resource: schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, name: "n", object: &corev1.Node{}}
	if ok, err := call(prodOnly, node); !ok || err != nil {
		t.Errorf("node: %v %v", ok, err)
	}

	// The object selector matches the new or the old object.
	labelled := hook(&metav1.LabelSelector{}, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "webhook", Operator: metav1.LabelSelectorOpIn, Values: []string{"on"}}}})
	if ok, _ := call(labelled, podIn("dev", map[string]string{"webhook": "on"})); !ok {
		t.Error("labelled pod not selected")
	}
	if ok, _ := call(labelled, podIn("dev", nil)); ok {
		t.Error("unlabelled pod selected")
	}
	upd := podIn("dev", nil)
	upd.operation, upd.oldObject = admissionv1.Update, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"webhook": "on"}}}
	if ok, _ := call(labelled, upd); !ok {
		t.Error("update of a labelled pod not selected by its old labels")
	}
	del := &admissionAttributes{operation: admissionv1.Delete, kind: podGVK, resource: podGVR, namespace: "dev", name: "p", oldObject: upd.oldObject}
	if ok, _ := call(labelled, del); !ok {
		t.Error("delete of a labelled pod not selected")
	}
}

// reviewServer is an HTTPS webhook answering with respond; it records the reviews.
type reviewServer struct {
	*httptest.Server
	caBundle []byte
	mu       sync.Mutex
	reviews  []*admissionv1.AdmissionReview
	queries  []string
}

func newReviewServer(t *testing.T, respond func(req *admissionv1.AdmissionRequest) any) *reviewServer {
	t.Helper()
	rs := &reviewServer{}
	rs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rs.mu.Lock()
		rs.reviews = append(rs.reviews, &review)
		rs.queries = append(rs.queries, r.URL.RawQuery)
		rs.mu.Unlock()
		out := respond(review.Request)
		if resp, ok := out.(*admissionv1.AdmissionResponse); ok {
			if resp.UID == "" {
				resp.UID = review.Request.UID
			}
			out = &admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	rs.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes refused by tests of unknown authorities
	rs.StartTLS()
	t.Cleanup(rs.Close)
	rs.caBundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rs.Certificate().Raw})
	return rs
}

func (rs *reviewServer) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.reviews)
}

func (rs *reviewServer) last() *admissionv1.AdmissionReview {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.reviews[len(rs.reviews)-1]
}

type hookOpts struct {
	failure      admissionregistrationv1.FailurePolicyType
	sideEffects  admissionregistrationv1.SideEffectClass
	reinvoke     bool
	timeout      int32
	versions     []string
	caBundle     []byte
	objectLabels map[string]string
}

func testHook(name, url string, caBundle []byte, mutating bool, o hookOpts) *webhookHook {
	if o.sideEffects == "" {
		o.sideEffects = admissionregistrationv1.SideEffectClassNone
	}
	if o.versions == nil {
		o.versions = []string{"v1"}
	}
	if o.caBundle != nil {
		caBundle = o.caBundle
	}
	var failure *admissionregistrationv1.FailurePolicyType
	if o.failure != "" {
		failure = &o.failure
	}
	var timeout *int32
	if o.timeout != 0 {
		timeout = &o.timeout
	}
	var objSel *metav1.LabelSelector
	if o.objectLabels != nil {
		objSel = &metav1.LabelSelector{MatchLabels: o.objectLabels}
	}
	h := newWebhookHook("config-"+name, "uid-"+name, 0, mutating, name,
		[]admissionregistrationv1.RuleWithOperations{rule(ops(admissionregistrationv1.OperationAll), all1(""), all1("v1"), all1("pods"), "*")},
		failure, nil, nil, objSel, &o.sideEffects, timeout, o.versions,
		admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url + "/admit"), CABundle: caBundle}, nil)
	h.reinvoke = o.reinvoke
	return h
}

func testServer() *Server {
	return &Server{log: slog.New(slog.DiscardHandler), scheme: NewScheme()}
}

func noNamespaces(context.Context, string) (map[string]string, error) { return nil, nil }

// podCreate is a create of a pod in default by alice, its warnings collected.
func podCreate(s *Server, labels map[string]string) (*admissionAttributes, *corev1.Pod, *[]string) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: labels, UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	var warnings []string
	a := &admissionAttributes{operation: admissionv1.Create, kind: podGVK, resource: podGVR, namespace: "default", name: "p",
		object: pod, user: &auth.User{Name: "alice", UID: "42", Groups: []string{"devs"}, Extra: map[string][]string{"k": {"v"}}},
		options: &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}, FieldManager: "kubectl"},
		warn:    func(m string) { warnings = append(warnings, m) }}
	a.apply = s.patchInto(podResource, "", pod, nil)
	return a, pod, &warnings
}

func TestValidatingWebhookDenies(t *testing.T) {
	s := testServer()
	rs := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		var pod corev1.Pod
		json.Unmarshal(req.Object.Raw, &pod)
		switch pod.Labels["verdict"] {
		case "deny":
			return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Message: "pods labelled verdict=deny are not allowed"}}
		case "forbid":
			return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Code: 403, Reason: "Forbidden"}, Warnings: []string{"careful"}}
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{"looked at " + pod.Name}}
	})
	hooks := []*webhookHook{testHook("deny.example.com", rs.URL, rs.caBundle, false, hookOpts{})}

	a, _, warnings := podCreate(s, nil)
	if err := s.validateWith(context.Background(), hooks, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if strings.Join(*warnings, ";") != "looked at p" {
		t.Errorf("warnings: %v", *warnings)
	}
	req := rs.last().Request
	if rs.last().APIVersion != "admission.k8s.io/v1" || req.Kind.Kind != "Pod" || req.Resource.Resource != "pods" || req.RequestKind == nil ||
		req.RequestResource == nil || req.Operation != admissionv1.Create || req.Name != "p" || req.Namespace != "default" ||
		req.UserInfo.Username != "alice" || req.UserInfo.UID != "42" || len(req.UserInfo.Extra["k"]) != 1 || req.DryRun == nil || *req.DryRun {
		t.Errorf("request: %+v", req)
	}
	if len(req.OldObject.Raw) != 0 || !strings.Contains(string(req.Options.Raw), `"kind":"CreateOptions"`) ||
		!strings.Contains(string(req.Object.Raw), `"kind":"Pod"`) {
		t.Errorf("objects: %s / %s / %s", req.Object.Raw, req.OldObject.Raw, req.Options.Raw)
	}
	if q := rs.queries[0]; q != "timeout=10s" {
		t.Errorf("query %q", q)
	}

	a, _, _ = podCreate(s, map[string]string{"verdict": "deny"})
	err := s.validateWith(context.Background(), hooks, a, noNamespaces)
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusBadRequest ||
		err.Error() != `admission webhook "deny.example.com" denied the request: pods labelled verdict=deny are not allowed` {
		t.Errorf("denied: %v", err)
	}
	a, _, warnings = podCreate(s, map[string]string{"verdict": "forbid"})
	err = s.validateWith(context.Background(), hooks, a, noNamespaces)
	if !apierrors.IsForbidden(err) || err.Error() != `admission webhook "deny.example.com" denied the request: Forbidden` {
		t.Errorf("forbidden: %v", err)
	}
	if strings.Join(*warnings, ";") != "careful" {
		t.Errorf("warnings of a denial: %v", *warnings)
	}
}

func TestMutatingWebhookPatches(t *testing.T) {
	s := testServer()
	patch := func(ops string) any {
		return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(ops), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	}
	rs := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		return patch(`[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}},{"op":"replace","path":"/metadata/uid","value":"forged"},` +
			`{"op":"add","path":"/spec/containers/-","value":{"name":"sidecar","image":"busybox"}},{"op":"add","path":"/status/phase","value":"Running"}]`)
	})
	hooks := []*webhookHook{testHook("label.example.com", rs.URL, rs.caBundle, true, hookOpts{})}
	a, pod, _ := podCreate(s, nil)
	if err := s.mutateWith(context.Background(), hooks, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if pod.Labels["mutated"] != "yes" || len(pod.Spec.Containers) != 2 {
		t.Fatalf("not patched: %+v", pod)
	}
	if pod.UID != "uid-1" || pod.Status.Phase != "" || pod.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("a webhook changed what the server owns: uid %q, status %+v", pod.UID, pod.Status)
	}
	if pod.Spec.Containers[1].TerminationMessagePath != corev1.TerminationMessagePathDefault {
		t.Errorf("patched object not defaulted: %+v", pod.Spec.Containers[1])
	}
	if pod.Kind != "" || pod.APIVersion != "" {
		t.Errorf("type meta left on the object: %v", pod.TypeMeta)
	}

	// A delete has no object to patch.
	del := &admissionAttributes{operation: admissionv1.Delete, kind: podGVK, resource: podGVR, namespace: "default", name: "p",
		oldObject: pod, warn: func(string) {}}
	err := s.mutateWith(context.Background(), hooks, del, noNamespaces)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `admission webhook "label.example.com" attempted to modify the object, which is not supported for this operation`) {
		t.Errorf("patching a delete: %v", err)
	}
	if req := rs.last().Request; len(req.Object.Raw) != 0 || !strings.Contains(string(req.OldObject.Raw), `"name":"p"`) {
		t.Errorf("delete review: %s / %s", req.Object.Raw, req.OldObject.Raw)
	}
}

func TestMutatingWebhookReinvocation(t *testing.T) {
	s := testServer()
	var firstCalls, secondCalls atomic.Int32
	// first adds a=1 when missing; second adds b=1 when missing. first is reinvoked once
	// after second changed the object, and then sees b.
	first := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		firstCalls.Add(1)
		if strings.Contains(string(req.Object.Raw), `"a":"1"`) {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add","path":"/metadata/labels/a","value":"1"}]`), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	})
	second := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		secondCalls.Add(1)
		if strings.Contains(string(req.Object.Raw), `"b":"1"`) {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add","path":"/metadata/labels/b","value":"1"}]`), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	})
	hooks := []*webhookHook{
		testHook("first.example.com", first.URL, first.caBundle, true, hookOpts{reinvoke: true}),
		testHook("second.example.com", second.URL, second.caBundle, true, hookOpts{}),
	}
	a, pod, _ := podCreate(s, map[string]string{"app": "x"})
	if err := s.mutateWith(context.Background(), hooks, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if pod.Labels["a"] != "1" || pod.Labels["b"] != "1" {
		t.Errorf("labels %v", pod.Labels)
	}
	if firstCalls.Load() != 2 || secondCalls.Load() != 1 {
		t.Errorf("calls: first %d, second %d; want 2 and 1", firstCalls.Load(), secondCalls.Load())
	}
	if !strings.Contains(string(first.last().Request.Object.Raw), `"b":"1"`) {
		t.Error("the reinvocation did not see the second webhook's change")
	}

	// Without IfNeeded, no second round.
	firstCalls.Store(0)
	hooks[0].reinvoke = false
	a, _, _ = podCreate(s, map[string]string{"app": "x"})
	if err := s.mutateWith(context.Background(), hooks, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if firstCalls.Load() != 1 {
		t.Errorf("first called %d times with reinvocationPolicy Never", firstCalls.Load())
	}
}

func TestWebhookFailurePolicy(t *testing.T) {
	s := testServer()
	rs := newReviewServer(t, func(*admissionv1.AdmissionRequest) any { return &admissionv1.AdmissionResponse{Allowed: true} })
	url := rs.URL
	rs.Close() // nothing listens any more
	ctx := context.Background()
	for _, mutating := range []bool{false, true} {
		run := s.validateWith
		if mutating {
			run = s.mutateWith
		}
		ignore := []*webhookHook{testHook("ignore.example.com", url, rs.caBundle, mutating, hookOpts{failure: admissionregistrationv1.Ignore})}
		a, _, _ := podCreate(s, nil)
		if err := run(ctx, ignore, a, noNamespaces); err != nil {
			t.Errorf("mutating=%v, Ignore: %v", mutating, err)
		}
		fail := []*webhookHook{testHook("fail.example.com", url, rs.caBundle, mutating, hookOpts{failure: admissionregistrationv1.Fail})}
		err := run(ctx, fail, a, noNamespaces)
		want := `Internal error occurred: failed calling webhook "fail.example.com": failed to call webhook: Post "` + url + `/admit?timeout=10s": dial tcp`
		if !apierrors.IsInternalError(err) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("mutating=%v, Fail: %v\nwant prefix %s", mutating, err, want)
		}
	}
}

func TestWebhookTimeout(t *testing.T) {
	s := testServer()
	// The webhook answers only once the API server has given up on it (or the test ends).
	release := make(chan struct{})
	rs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer rs.Close()
	defer close(release)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rs.Certificate().Raw})
	a, _, _ := podCreate(s, nil)
	slow := []*webhookHook{testHook("slow.example.com", rs.URL, ca, false, hookOpts{timeout: 1})}
	err := s.validateWith(context.Background(), slow, a, noNamespaces)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "?timeout=1s") || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("timeout: %v", err)
	}
	slow[0].failurePolicy = admissionregistrationv1.Ignore
	if err := s.validateWith(context.Background(), slow, a, noNamespaces); err != nil {
		t.Errorf("timeout ignored: %v", err)
	}
}

func TestWebhookDryRun(t *testing.T) {
	s := testServer()
	rs := newReviewServer(t, func(*admissionv1.AdmissionRequest) any { return &admissionv1.AdmissionResponse{Allowed: true} })
	a, _, _ := podCreate(s, nil)
	a.dryRun = true
	unknown := []*webhookHook{testHook("unknown.example.com", rs.URL, rs.caBundle, false, hookOpts{sideEffects: admissionregistrationv1.SideEffectClassUnknown, failure: admissionregistrationv1.Ignore})}
	err := s.validateWith(context.Background(), unknown, a, noNamespaces)
	if !apierrors.IsBadRequest(err) || err.Error() != `admission webhook "unknown.example.com" does not support dry run` {
		t.Errorf("dry run with side effects: %v", err)
	}
	if rs.count() != 0 {
		t.Error("the webhook was called for a dry run it cannot take part in")
	}
	onDryRun := []*webhookHook{testHook("ok.example.com", rs.URL, rs.caBundle, true, hookOpts{sideEffects: admissionregistrationv1.SideEffectClassNoneOnDryRun})}
	if err := s.mutateWith(context.Background(), onDryRun, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if req := rs.last().Request; req.DryRun == nil || !*req.DryRun {
		t.Errorf("dryRun not sent: %+v", req.DryRun)
	}
}

func TestWebhookInvalidResponses(t *testing.T) {
	s := testServer()
	for _, tc := range []struct {
		name     string
		mutating bool
		versions []string
		respond  func(req *admissionv1.AdmissionRequest) any
		want     string
	}{
		{"absent", false, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}}
		}, "received invalid webhook response: webhook response was absent"},
		{"uid", false, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{UID: "other", Allowed: true}
		}, `received invalid webhook response: expected response.uid=`},
		{"kind", false, nil, func(req *admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}}
		}, "received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got /, Kind="},
		{"validating patch", false, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[]`), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
		}, "validating webhook may not return response.patch"},
		{"patch without type", true, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[]`)}
		}, "webhook returned response.patch but not response.patchType"},
		{"bad patch", true, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`{}`), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
		}, "received undecodable patch in webhook response"},
		{"other patch type", true, nil, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add","path":"/x","value":1}]`), PatchType: ptr.To(admissionv1.PatchType("Merge"))}
		}, `unsupported patch type "Merge"`},
		{"unknown review versions", false, []string{"v2"}, func(*admissionv1.AdmissionRequest) any {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}, "webhook does not accept known AdmissionReview versions (v1, v1beta1)"},
		{"server error", false, nil, func(*admissionv1.AdmissionRequest) any { return json.RawMessage(`"oops"`) }, "failed to call webhook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReviewServer(t, tc.respond)
			h := testHook("bad.example.com", rs.URL, rs.caBundle, tc.mutating, hookOpts{versions: tc.versions})
			a, _, _ := podCreate(s, nil)
			run := s.validateWith
			if tc.mutating {
				run = s.mutateWith
			}
			err := run(context.Background(), []*webhookHook{h}, a, noNamespaces)
			if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `failed calling webhook "bad.example.com": `) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			h.failurePolicy = admissionregistrationv1.Ignore
			if err := run(context.Background(), []*webhookHook{h}, a, noNamespaces); err != nil {
				t.Errorf("with Ignore: %v", err)
			}
		})
	}
}

func TestWebhookV1beta1AndCABundle(t *testing.T) {
	s := testServer()
	rs := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		// v1beta1 answers were not checked for kind or uid.
		return &admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{Allowed: true,
			Patch: []byte(`[{"op":"add","path":"/metadata/labels","value":{"beta":"yes"}}]`)}}
	})
	h := testHook("beta.example.com", rs.URL, rs.caBundle, true, hookOpts{versions: []string{"v2", "v1beta1", "v1"}})
	a, pod, _ := podCreate(s, nil)
	if err := s.mutateWith(context.Background(), []*webhookHook{h}, a, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if rs.last().APIVersion != "admission.k8s.io/v1beta1" || pod.Labels["beta"] != "yes" {
		t.Errorf("v1beta1: sent %s, labels %v", rs.last().APIVersion, pod.Labels)
	}

	// Without the CA bundle the system roots do not know the test server's certificate.
	h = testHook("noca.example.com", rs.URL, nil, false, hookOpts{})
	err := s.validateWith(context.Background(), []*webhookHook{h}, a, noNamespaces)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown authority: %v", err)
	}
	h = testHook("badca.example.com", rs.URL, nil, false, hookOpts{caBundle: []byte("not a certificate")})
	err = s.validateWith(context.Background(), []*webhookHook{h}, a, noNamespaces)
	if !strings.Contains(err.Error(), "could not get REST client: unable to load root certificates") {
		t.Errorf("bad CA bundle: %v", err)
	}
}

func TestWebhookCustomResourcePatch(t *testing.T) {
	s := testServer()
	crd := &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{
		Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true}}}}
	schemaProps := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"metadata": {Type: "object"},
		"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"replicas": {Type: "integer", Default: &apiextensionsv1.JSON{Raw: []byte("1")}},
			"image":    {Type: "string"},
		}},
	}}
	res := &resource{resourceDef: resourceDef{group: "stable.example.com", version: "v1", name: "crontabs", kind: "CronTab", namespaced: true},
		gr: schema.GroupResource{Group: "stable.example.com", Resource: "crontabs"}, gvk: schema.GroupVersionKind{Group: "stable.example.com", Version: "v1", Kind: "CronTab"},
		cr: &crInfo{crd: crd, version: &crd.Spec.Versions[0], schema: schemaProps}}
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "c", "namespace": "default"}, "spec": map[string]any{"replicas": int64(3)}}}
	u.SetGroupVersionKind(schema.GroupVersionKind{})
	changed, err := s.patchInto(res, "", u, nil)([]byte(`{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c","namespace":"default"},` +
		`"spec":{"image":"busybox","unknown":true}}`))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	spec := u.Object["spec"].(map[string]any)
	if spec["image"] != "busybox" || spec["replicas"] != int64(1) || spec["unknown"] != nil {
		t.Errorf("spec not pruned and defaulted: %v", spec)
	}
	if u.GetAPIVersion() != "" || u.GetKind() != "" {
		t.Errorf("type meta left: %v %v", u.GetAPIVersion(), u.GetKind())
	}
}

func TestWebhookRequestAttributes(t *testing.T) {
	s := testServer()
	// No request in the context: the server's own writes call no webhook.
	if a, _ := s.requestAttributes(context.Background(), podResource, "create"); a != nil {
		t.Error("attributes without a request")
	}
	// connectOptions decodes exec options from the query as kube-apiserver does.
	q := map[string][]string{"command": {"sh", "-c", "id"}, "stdin": {"true"}, "container": {"app"}}
	opts := connectOptions(podResource, &requestInfo{subresource: "exec"}, q)
	exec, ok := opts.(*corev1.PodExecOptions)
	if !ok || !exec.Stdin || exec.Stdout || exec.Container != "app" || strings.Join(exec.Command, " ") != "sh -c id" {
		t.Errorf("exec options: %+v", opts)
	}
	if connectOptions(podResource, &requestInfo{subresource: "log"}, nil) != nil {
		t.Error("logs are not a connection")
	}
	kinds, _, err := s.scheme.ObjectKinds(exec)
	if err != nil || kinds[0].Kind != "PodExecOptions" {
		t.Errorf("kind of exec options: %v %v", kinds, err)
	}
}

func TestWebhookDenialStatus(t *testing.T) {
	for _, tc := range []struct {
		in   *metav1.Status
		code int32
		msg  string
	}{
		{nil, 400, `admission webhook "w" denied the request without explanation`},
		{&metav1.Status{Message: "no"}, 400, `admission webhook "w" denied the request: no`},
		{&metav1.Status{Reason: "Forbidden", Code: 403}, 403, `admission webhook "w" denied the request: Forbidden`},
		{&metav1.Status{Status: metav1.StatusSuccess, Code: 200, Message: "odd"}, 400, `admission webhook "w" denied the request: odd`},
		{&metav1.Status{Code: 422, Message: "bad"}, 422, `admission webhook "w" denied the request: bad`},
	} {
		err := webhookDenied("w", tc.in)
		if err.ErrStatus.Code != tc.code || err.ErrStatus.Message != tc.msg || err.ErrStatus.Status != metav1.StatusFailure {
			t.Errorf("%+v: got %+v", tc.in, err.ErrStatus)
		}
	}
}

func TestWebhookServiceTarget(t *testing.T) {
	u, err := webhookTarget(admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: "ingress", Name: "admission", Path: ptr.To("/validate")}})
	if err != nil || u.String() != "https://admission.ingress.svc:443/validate" {
		t.Errorf("service target %v %v", u, err)
	}
	u, _ = webhookTarget(admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: "ns", Name: "svc", Port: ptr.To[int32](8443)}})
	if u.String() != "https://svc.ns.svc:8443/" {
		t.Errorf("service target %v", u)
	}

	ready, notReady := true, false
	https := "https"
	sp := &corev1.ServicePort{Name: "https", Port: 443}
	slices := []*discoveryv1.EndpointSlice{{
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To[int32](9090)}, {Name: &https, Port: ptr.To[int32](8443)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			{Addresses: []string{"10.0.0.3"}},
		},
	}}
	if got := strings.Join(endpointAddresses(slices, nil, sp), ","); got != "10.0.0.1:8443,10.0.0.3:8443" {
		t.Errorf("slice addresses: %s", got)
	}
	eps := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.1.1"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.1.2"}},
		Ports: []corev1.EndpointPort{{Name: "https", Port: 9443}},
	}}}
	if got := strings.Join(endpointAddresses(nil, eps, sp), ","); got != "10.0.1.1:9443" {
		t.Errorf("endpoints addresses: %s", got)
	}
	if got := endpointAddresses(nil, nil, sp); len(got) != 0 {
		t.Errorf("no endpoints: %v", got)
	}
}
