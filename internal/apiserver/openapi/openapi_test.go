package openapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	protomodels "k8s.io/kube-openapi/pkg/util/proto"
	protovalidation "k8s.io/kube-openapi/pkg/util/proto/validation"
	"k8s.io/kube-openapi/pkg/validation/spec"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
)

func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func testResources() []Resource {
	crud := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	ns := func(group, version, kind, resource string, subs ...string) Resource {
		return Resource{Group: group, Version: version, Kind: kind, Resource: resource, Namespaced: true, Verbs: crud, Subresources: subs}
	}
	cluster := func(group, version, kind, resource string, subs ...string) Resource {
		r := ns(group, version, kind, resource, subs...)
		r.Namespaced = false
		return r
	}
	return []Resource{
		ns("", "v1", "Pod", "pods", "status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers"),
		ns("", "v1", "Service", "services", "status", "proxy"),
		ns("", "v1", "ConfigMap", "configmaps"),
		ns("", "v1", "Secret", "secrets"),
		ns("", "v1", "ServiceAccount", "serviceaccounts", "token"),
		ns("", "v1", "Event", "events"),
		ns("", "v1", "Endpoints", "endpoints"),
		ns("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "status"),
		ns("", "v1", "ReplicationController", "replicationcontrollers", "status", "scale"),
		cluster("", "v1", "Node", "nodes", "status", "proxy"),
		cluster("", "v1", "Namespace", "namespaces", "status", "finalize"),
		cluster("", "v1", "PersistentVolume", "persistentvolumes", "status"),
		ns("apps", "v1", "Deployment", "deployments", "status", "scale"),
		ns("apps", "v1", "ReplicaSet", "replicasets", "status", "scale"),
		ns("apps", "v1", "StatefulSet", "statefulsets", "status", "scale"),
		ns("apps", "v1", "DaemonSet", "daemonsets", "status"),
		ns("apps", "v1", "ControllerRevision", "controllerrevisions"),
		ns("batch", "v1", "Job", "jobs", "status"),
		ns("batch", "v1", "CronJob", "cronjobs", "status"),
	}
}

func buildTest(t testing.TB) *Documents {
	t.Helper()
	d, err := Build(testScheme(t), testResources())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return d
}

// serve exposes the documents the way the API server will, so that the real
// client-go clients can be pointed at them.
func serve(t testing.TB, d *Documents) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/openapi/v2":
			if strings.Contains(r.Header.Get("Accept"), "protobuf") {
				w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
				_, _ = w.Write(d.V2Proto())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(d.V2JSON())
		case r.URL.Path == "/openapi/v3":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(d.V3Root())
		case strings.HasPrefix(r.URL.Path, "/openapi/v3/"):
			doc, hash, ok := d.V3(strings.TrimPrefix(r.URL.Path, "/openapi/v3/"))
			if !ok {
				http.NotFound(w, r)
				return
			}
			if h := r.URL.Query().Get("hash"); h != "" && h != hash {
				t.Errorf("client asked for hash %s, have %s", h, hash)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func discoveryClient(t testing.TB, srv *httptest.Server) *discovery.DiscoveryClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func v3Spec(t testing.TB, d *Documents, path string) *spec3.OpenAPI {
	t.Helper()
	raw, _, ok := d.V3(path)
	if !ok {
		t.Fatalf("no v3 document for %s", path)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("unmarshal %s: %v", path, err)
	}
	return &doc
}

// resolve follows an allOf/$ref wrapper to the referenced definition.
func resolve(t testing.TB, doc *spec3.OpenAPI, s *spec.Schema) *spec.Schema {
	t.Helper()
	if len(s.AllOf) > 0 {
		s = &s.AllOf[0]
	}
	if ref := s.Ref.String(); ref != "" {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		def, ok := doc.Components.Schemas[name]
		if !ok {
			t.Fatalf("dangling reference %s", ref)
		}
		return def
	}
	return s
}

func TestDeterministic(t *testing.T) {
	a, b := buildTest(t), buildTest(t)
	if !bytes.Equal(a.V2JSON(), b.V2JSON()) || !bytes.Equal(a.V3Root(), b.V3Root()) || !bytes.Equal(a.V2Proto(), b.V2Proto()) {
		t.Fatal("two builds differ")
	}
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(a.V3Root(), &root); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1"} {
		_, hash, ok := a.V3(p)
		if !ok {
			t.Fatalf("missing %s", p)
		}
		if len(hash) != 128 || strings.ToUpper(hash) != hash {
			t.Errorf("%s: hash %q is not upper-case hex SHA-512", p, hash)
		}
		if got, want := root.Paths[p].ServerRelativeURL, "/openapi/v3/"+p+"?hash="+hash; got != want {
			t.Errorf("root entry for %s = %q, want %q", p, got, want)
		}
	}
	if len(root.Paths) != 3 {
		t.Errorf("root has %d paths, want 3", len(root.Paths))
	}
	if _, _, ok := a.V3("apis/nope/v1"); ok {
		t.Error("unknown path reported as known")
	}
}

// TestPodContainersMergeKey parses the v3 document with kube-openapi's spec3
// types and checks the strategic-merge metadata kubectl relies on.
func TestPodContainersMergeKey(t *testing.T) {
	doc := v3Spec(t, buildTest(t), "api/v1")
	if doc.Version != "3.0.0" {
		t.Errorf("openapi = %q", doc.Version)
	}
	pod := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]
	if pod == nil {
		t.Fatal("no Pod schema")
	}
	podSpec := resolve(t, doc, ptr(pod.Properties["spec"]))
	containers := podSpec.Properties["containers"]
	if got := containers.Extensions["x-kubernetes-patch-merge-key"]; got != "name" {
		t.Errorf("containers patch-merge-key = %v", got)
	}
	if got := containers.Extensions["x-kubernetes-patch-strategy"]; got != "merge" {
		t.Errorf("containers patch-strategy = %v", got)
	}
	if !contains(podSpec.Required, "containers") {
		t.Errorf("PodSpec.required = %v", podSpec.Required)
	}
	container := resolve(t, doc, containers.Items.Schema)
	ports := container.Properties["ports"]
	if got := ports.Extensions["x-kubernetes-list-type"]; got != "map" {
		t.Errorf("ports list-type = %v", got)
	}
	if got, _ := json.Marshal(ports.Extensions["x-kubernetes-list-map-keys"]); string(got) != `["containerPort","protocol"]` {
		t.Errorf("ports list-map-keys = %s", got)
	}
	if got := ports.Extensions["x-kubernetes-patch-merge-key"]; got != "containerPort" {
		t.Errorf("ports patch-merge-key = %v", got)
	}
	if !contains(container.Required, "name") || contains(container.Required, "image") {
		t.Errorf("Container.required = %v", container.Required)
	}
	if got := podSpec.Properties["volumes"].Extensions["x-kubernetes-patch-strategy"]; got != "merge,retainKeys" {
		t.Errorf("volumes patch-strategy = %v", got)
	}
	if got := podSpec.Properties["nodeSelector"].Extensions["x-kubernetes-map-type"]; got != "atomic" {
		t.Errorf("nodeSelector map-type = %v", got)
	}
	port := resolve(t, doc, ports.Items.Schema)
	if got := port.Properties["protocol"].Default; got != "TCP" {
		t.Errorf("ContainerPort.protocol default = %v", got)
	}

	// Special types, as kube-apiserver publishes them.
	q := doc.Components.Schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
	if q == nil || len(q.OneOf) != 2 || q.OneOf[0].Type[0] != "string" || q.OneOf[1].Type[0] != "number" {
		t.Errorf("Quantity = %+v", q)
	}
	ios := doc.Components.Schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
	if ios == nil || ios.Format != "int-or-string" || len(ios.OneOf) != 2 {
		t.Errorf("IntOrString = %+v", ios)
	}
	tm := doc.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
	if tm == nil || tm.Type[0] != "string" || tm.Format != "date-time" {
		t.Errorf("Time = %+v", tm)
	}
	for _, name := range []string{"Status", "DeleteOptions", "WatchEvent", "Patch", "ObjectMeta", "APIResourceList"} {
		if doc.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1."+name] == nil {
			t.Errorf("missing meta type %s", name)
		}
	}
	secret := doc.Components.Schemas["io.k8s.api.core.v1.Secret"]
	if data := secret.Properties["data"]; data.AdditionalProperties == nil || data.AdditionalProperties.Schema.Format != "byte" {
		t.Errorf("Secret.data = %+v", data)
	}
	var gvks []map[string]string
	if err := secret.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil || len(gvks) != 1 || gvks[0]["kind"] != "Secret" {
		t.Errorf("Secret GVK = %v (%v)", gvks, err)
	}
	if pod.Description == "" || podSpec.Properties["containers"].Description == "" {
		t.Error("descriptions from SwaggerDoc are missing")
	}
}

func ptr[T any](v T) *T { return &v }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestNoDanglingRefs checks that every reference in every v3 document
// resolves within that document, and likewise for v2.
func TestNoDanglingRefs(t *testing.T) {
	d := buildTest(t)
	check := func(name string, raw []byte, prefix string, defsOf func(map[string]any) map[string]any) {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		defs := defsOf(doc)
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if ref, ok := x["$ref"].(string); ok {
					if _, ok := defs[strings.TrimPrefix(ref, prefix)]; !ok || !strings.HasPrefix(ref, prefix) {
						t.Errorf("%s: dangling %s", name, ref)
					}
				}
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(doc)
	}
	for _, p := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1"} {
		raw, _, _ := d.V3(p)
		check(p, raw, "#/components/schemas/", func(m map[string]any) map[string]any {
			return m["components"].(map[string]any)["schemas"].(map[string]any)
		})
	}
	check("v2", d.V2JSON(), "#/definitions/", func(m map[string]any) map[string]any {
		return m["definitions"].(map[string]any)
	})
}

// TestFieldValidationDetected replays cli-runtime's queryParamVerifierV3
// (k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go) against the
// document as client-go's openapi3.Root loads it from a server.
func TestFieldValidationDetected(t *testing.T) {
	srv := serve(t, buildTest(t))
	root := openapi3.NewRoot(discoveryClient(t, srv).OpenAPIV3())
	cases := []struct {
		gvk  schema.GroupVersionKind
		want bool
	}{
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, true},
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}, true},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Nope"}, false},
	}
	for _, c := range cases {
		doc, err := root.GVSpec(c.gvk.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec(%v): %v", c.gvk, err)
		}
		if got := supportsQueryParamV3(doc, c.gvk, "fieldValidation"); got != c.want {
			t.Errorf("%v: fieldValidation supported = %v, want %v", c.gvk, got, c.want)
		}
	}
}

// supportsQueryParamV3 mirrors cli-runtime: find the PATCH operation whose
// x-kubernetes-group-version-kind is gvk and look for the query parameter.
func supportsQueryParamV3(doc *spec3.OpenAPI, gvk schema.GroupVersionKind, param string) bool {
	if doc == nil || doc.Paths == nil {
		return false
	}
	for _, path := range doc.Paths.Paths {
		if path == nil || path.Patch == nil {
			continue
		}
		var got map[string]string
		if err := path.Patch.Extensions.GetObject("x-kubernetes-group-version-kind", &got); err != nil {
			continue
		}
		if got["group"] != gvk.Group || got["version"] != gvk.Version || got["kind"] != gvk.Kind {
			continue
		}
		for _, p := range path.Patch.Parameters {
			if p.Name == param && p.In == "query" {
				return true
			}
		}
		return false
	}
	return false
}

// TestKubectlApplyPatchFromV3 computes a three-way strategic merge patch the
// way kubectl apply does from the v3 schema and compares it with the patch
// computed from the Go struct tags.
func TestKubectlApplyPatchFromV3(t *testing.T) {
	srv := serve(t, buildTest(t))
	root := openapi3.NewRoot(discoveryClient(t, srv).OpenAPIV3())
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	// kubectl's gvkSupportsPatchOpenAPIV3: the PATCH op must accept SMP.
	smp := false
	for _, p := range doc.Paths.Paths {
		if p.Patch != nil && p.Patch.RequestBody != nil {
			if _, ok := p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; ok {
				smp = true
			}
		}
	}
	if !smp {
		t.Fatal("no PATCH operation accepts application/strategic-merge-patch+json")
	}
	var deploy *spec.Schema
	for _, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks) == nil {
			for _, g := range gvks {
				if g["group"] == "apps" && g["kind"] == "Deployment" && g["version"] == "v1" {
					deploy = s
				}
			}
		}
	}
	if deploy == nil {
		t.Fatal("Deployment schema not found by GVK")
	}
	original := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","finalizers":["a"]},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1","env":[{"name":"X","value":"1"}],"ports":[{"containerPort":80}]},{"name":"b","image":"b:1"}],"volumes":[{"name":"v","emptyDir":{}}]}}}}`)
	modified := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","finalizers":["a","b"]},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:2","env":[{"name":"Y","value":"2"}],"ports":[{"containerPort":80},{"containerPort":443}]}],"volumes":[{"name":"v","configMap":{"name":"c"}}]}}}}`)
	current := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","finalizers":["a"]},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"a","image":"a:1","env":[{"name":"X","value":"1"}],"ports":[{"containerPort":80}]},{"name":"b","image":"b:1"},{"name":"sidecar","image":"s"}],"volumes":[{"name":"v","emptyDir":{}}]}}}}`)

	fromV3, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current,
		strategicpatch.PatchMetaFromOpenAPIV3{Schema: deploy, SchemaList: doc.Components.Schemas}, false)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(&appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	fromStruct, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, fromV3, fromStruct) {
		t.Errorf("patch from v3 schema:\n%s\npatch from struct tags:\n%s", fromV3, fromStruct)
	}
	if !bytes.Contains(fromV3, []byte(`"$setElementOrder/containers"`)) {
		t.Errorf("patch does not merge containers by name: %s", fromV3)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// TestKubectlExplain renders with kubectl explain's own template through the
// real client-go openapi client.
func TestKubectlExplain(t *testing.T) {
	srv := serve(t, buildTest(t))
	client := discoveryClient(t, srv).OpenAPIV3()
	cases := []struct {
		gvr    schema.GroupVersionResource
		fields []string
		want   []string
	}{
		{appsv1.SchemeGroupVersion.WithResource("deployments"), []string{"spec", "template"},
			[]string{"GROUP:      apps", "KIND:       Deployment", "FIELD: template <PodTemplateSpec>", "spec\t<PodSpec>", "metadata\t<ObjectMeta>"}},
		{corev1.SchemeGroupVersion.WithResource("pods"), []string{"spec", "containers"},
			[]string{"KIND:       Pod", "FIELD: containers <[]Container>", "name\t<string> -required-", "ports\t<[]ContainerPort>"}},
		{corev1.SchemeGroupVersion.WithResource("nodes"), nil,
			[]string{"KIND:       Node", "Node is a worker node in Kubernetes.", "spec\t<NodeSpec>"}},
		{batchv1.SchemeGroupVersion.WithResource("cronjobs"), []string{"spec", "jobTemplate", "spec", "template", "spec", "restartPolicy"},
			[]string{"KIND:       CronJob", "FIELD: restartPolicy <string>"}},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription(c.fields, &out, client, c.gvr, false, 0, "plaintext"); err != nil {
			t.Fatalf("explain %v %v: %v", c.gvr, c.fields, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("explain %v %v: output lacks %q:\n%s", c.gvr, c.fields, w, out.String())
			}
		}
	}
	var out bytes.Buffer
	if err := explainv2.PrintModelDescription([]string{"spec", "nope"}, &out, client, appsv1.SchemeGroupVersion.WithResource("deployments"), false, 0, "plaintext"); err == nil {
		t.Error("explain of a missing field succeeded")
	}
}

// TestV2Proto checks the protobuf form round-trips through gnostic and is
// what client-go's discovery OpenAPISchema() fetches, and that kube-openapi's
// proto models (used by kubectl's and Helm's client-side validation) accept it.
func TestV2Proto(t *testing.T) {
	d := buildTest(t)
	var fromProto openapiv2.Document
	if err := proto.Unmarshal(d.V2Proto(), &fromProto); err != nil {
		t.Fatal(err)
	}
	fromJSON, err := openapiv2.ParseDocument(d.V2JSON())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&fromProto, fromJSON) {
		t.Fatal("protobuf and JSON v2 documents differ")
	}
	if fromProto.Swagger != "2.0" || len(fromProto.Definitions.AdditionalProperties) == 0 || len(fromProto.Paths.Path) == 0 {
		t.Fatalf("unexpected document: swagger=%q", fromProto.Swagger)
	}

	srv := serve(t, d)
	doc, err := discoveryClient(t, srv).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	models, err := protomodels.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	model := models.LookupModel("io.k8s.api.apps.v1.Deployment")
	if model == nil {
		t.Fatal("Deployment model missing")
	}
	good := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"},
		"spec": map[string]any{"replicas": int64(2), "selector": map[string]any{"matchLabels": map[string]any{"a": "b"}},
			"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i",
				"resources": map[string]any{"limits": map[string]any{"cpu": "1"}}, "ports": []any{map[string]any{"containerPort": int64(80)}}}}}}},
	}
	if errs := protovalidation.ValidateModel(good, model, "Deployment"); len(errs) != 0 {
		t.Errorf("valid Deployment rejected: %v", errs)
	}
	bad := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{"replicas": "two", "bogus": true}}
	if errs := protovalidation.ValidateModel(bad, model, "Deployment"); len(errs) < 2 {
		t.Errorf("invalid Deployment accepted: %v", errs)
	}
}

func TestPaths(t *testing.T) {
	d := buildTest(t)
	doc := v3Spec(t, d, "api/v1")
	for path, methods := range map[string][]string{
		"/api/v1/namespaces/{namespace}/pods":        {"get", "post", "delete"},
		"/api/v1/namespaces/{namespace}/pods/{name}": {"get", "put", "patch", "delete"},
		"/api/v1/pods": {"get"},
		"/api/v1/namespaces/{namespace}/pods/{name}/status":       {"get", "put", "patch"},
		"/api/v1/namespaces/{namespace}/pods/{name}/log":          {"get"},
		"/api/v1/namespaces/{namespace}/pods/{name}/exec":         {"get", "post"},
		"/api/v1/namespaces/{namespace}/pods/{name}/eviction":     {"post"},
		"/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}": {"get", "delete"},
		"/api/v1/nodes":                             {"get", "post", "delete"},
		"/api/v1/nodes/{name}":                      {"get", "put", "patch", "delete"},
		"/api/v1/watch/namespaces/{namespace}/pods": {"get"},
		"/api/v1/":                                  {"get"},
	} {
		item := doc.Paths.Paths[path]
		if item == nil {
			t.Errorf("missing path %s", path)
			continue
		}
		for _, m := range methods {
			var op *spec3.Operation
			switch m {
			case "get":
				op = item.Get
			case "post":
				op = item.Post
			case "put":
				op = item.Put
			case "patch":
				op = item.Patch
			case "delete":
				op = item.Delete
			}
			if op == nil {
				t.Errorf("%s: no %s", path, m)
				continue
			}
			if op.OperationId == "" || (path != "/api/v1/" && op.Extensions["x-kubernetes-action"] == nil) {
				t.Errorf("%s %s: missing operationId or action", path, m)
			}
		}
	}
	patch := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Patch
	for _, ct := range []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"} {
		if _, ok := patch.RequestBody.Content[ct]; !ok {
			t.Errorf("PATCH body lacks %s", ct)
		}
	}
	list := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods"].Get
	for _, want := range []string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"} {
		found := false
		for _, p := range list.Parameters {
			found = found || (p.Name == want && p.In == "query")
		}
		if !found {
			t.Errorf("list pods lacks query parameter %s", want)
		}
	}
	var gvk map[string]string
	if err := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"].Post.Extensions.GetObject("x-kubernetes-group-version-kind", &gvk); err != nil || gvk["group"] != "policy" {
		t.Errorf("eviction GVK = %v", gvk)
	}
	apps := v3Spec(t, d, "apis/apps/v1")
	scale := apps.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
	if scale == nil || scale.Put == nil || apps.Components.Schemas["io.k8s.api.autoscaling.v1.Scale"] == nil {
		t.Error("deployments/scale missing")
	}
	if apps.Components.Schemas["io.k8s.api.core.v1.Node"] != nil {
		t.Error("apps/v1 document carries unreachable core definitions")
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Paths {
		for _, op := range []*spec3.Operation{item.Get, item.Put, item.Post, item.Patch, item.Delete, item.Head, item.Options} {
			if op == nil {
				continue
			}
			if other, dup := ids[op.OperationId]; dup {
				t.Errorf("operationId %s used by %s and %s", op.OperationId, other, path)
			}
			ids[op.OperationId] = path
		}
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(testScheme(t), []Resource{{Version: "v1", Kind: "Nope", Resource: "nopes", Verbs: []string{"get"}}}); err == nil {
		t.Error("unregistered kind accepted")
	}
	if _, err := Build(testScheme(t), []Resource{{Kind: "Pod", Resource: "pods"}}); err == nil {
		t.Error("resource without version accepted")
	}
	if _, err := Build(nil, nil); err == nil {
		t.Error("nil scheme accepted")
	}
}

func BenchmarkBuild(b *testing.B) {
	s := testScheme(b)
	rs := testResources()
	var d *Documents
	for b.Loop() {
		var err error
		if d, err = Build(s, rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(d.V2JSON())), "v2json-bytes")
	b.ReportMetric(float64(len(d.V2Proto())), "v2proto-bytes")
	for _, p := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1"} {
		raw, _, _ := d.V3(p)
		b.ReportMetric(float64(len(raw)), strings.ReplaceAll(p, "/", "_")+"-bytes")
	}
}
