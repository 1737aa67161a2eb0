package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/kijabi/kijabi/internal/testserver"
)

// backendConverter is an HTTPS conversion webhook for backends.conv.example.com: v1 has
// spec.host, spec.port and spec.count, v2 spec.url ("host:port") and spec.replicas. With broken set it refuses every
// conversion.
type backendConverter struct {
	*httptest.Server
	caBundle []byte
	broken   atomic.Bool
	mu       sync.Mutex
	reviews  []apiextensionsv1.ConversionReview
}

func newBackendConverter(t *testing.T) *backendConverter {
	t.Helper()
	c := &backendConverter{}
	cert, ca := webhookCertificate(t)
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review apiextensionsv1.ConversionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, fmt.Sprintf("bad review: %v", err), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.reviews = append(c.reviews, review)
		c.mu.Unlock()
		resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
		if c.broken.Load() {
			resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: "the backend converter is out of order"}
		} else {
			for _, raw := range review.Request.Objects {
				u := &unstructured.Unstructured{}
				if err := u.UnmarshalJSON(raw.Raw); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				spec, _, _ := unstructured.NestedMap(u.Object, "spec")
				if spec == nil {
					spec = map[string]any{}
				}
				switch review.Request.DesiredAPIVersion {
				case "conv.example.com/v2":
					spec["url"] = fmt.Sprintf("%v:%v", spec["host"], spec["port"])
					delete(spec, "host")
					delete(spec, "port")
					if n, ok := spec["count"]; ok {
						spec["replicas"] = n
						delete(spec, "count")
					}
				case "conv.example.com/v1":
					host, port, _ := strings.Cut(fmt.Sprint(spec["url"]), ":")
					n, _ := strconv.ParseInt(port, 10, 64)
					spec["host"], spec["port"] = host, n
					delete(spec, "url")
					if n, ok := spec["replicas"]; ok {
						spec["count"] = n
						delete(spec, "replicas")
					}
				}
				u.Object["spec"] = spec
				u.SetAPIVersion(review.Request.DesiredAPIVersion)
				data, _ := u.MarshalJSON()
				resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&apiextensionsv1.ConversionReview{TypeMeta: review.TypeMeta, Response: resp})
	}))
	c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	c.Config.ErrorLog = log.New(io.Discard, "", 0)
	c.StartTLS()
	t.Cleanup(c.Close)
	c.caBundle = ca
	return c
}

// calls returns the reviews received so far.
func (c *backendConverter) calls() []apiextensionsv1.ConversionReview {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]apiextensionsv1.ConversionReview(nil), c.reviews...)
}

// reviewed tells whether one of reviews converted exactly the objects names into version
// desired. (The garbage collector's informers, which watch the preferred version v2, make
// their own reviews: tests look for theirs rather than count.)
func reviewed(reviews []apiextensionsv1.ConversionReview, desired string, names ...string) bool {
	for _, r := range reviews {
		if r.Request.DesiredAPIVersion != desired || len(r.Request.Objects) != len(names) {
			continue
		}
		match := true
		for i, raw := range r.Request.Objects {
			var m metav1.PartialObjectMetadata
			match = match && json.Unmarshal(raw.Raw, &m) == nil && m.Name == names[i]
		}
		if match {
			return true
		}
	}
	return false
}

func backendCRD(url, caBundle string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backends.conv.example.com
spec:
  group: conv.example.com
  scope: Namespaced
  names: {plural: backends, singular: backend, kind: Backend, listKind: BackendList}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: %s/convert
        caBundle: %s
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}, scale: {specReplicasPath: .spec.count, statusReplicasPath: .status.count}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              host: {type: string}
              port: {type: integer}
              count: {type: integer}
          status:
            type: object
            properties:
              ready: {type: boolean}
  - name: v2
    served: true
    storage: false
    subresources: {status: {}, scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
    additionalPrinterColumns:
    - {name: URL, type: string, jsonPath: .spec.url}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              url: {type: string}
              replicas: {type: integer}
          status:
            type: object
            properties:
              ready: {type: boolean}
`, url, caBundle)
}

func TestCRDConversionWebhook(t *testing.T) {
	etcd := testserver.StartEtcd(t)
	s := testserver.Start(t, testserver.Options{EtcdServers: []string{etcd}})
	ctx := context.Background()
	conv := newBackendConverter(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	v1 := schema.GroupVersionResource{Group: "conv.example.com", Version: "v1", Resource: "backends"}
	v2 := schema.GroupVersionResource{Group: "conv.example.com", Version: "v2", Resource: "backends"}
	stored := func(name string) map[string]any {
		t.Helper()
		resp, err := cli.Get(ctx, "/registry/conv.example.com/backends/conv/"+name)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading %s from etcd: %v", name, err)
		}
		var m map[string]any
		if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	// Validation as upstream: a webhook needs review versions the server speaks.
	bad := strings.Replace(backendCRD(conv.URL, "Cg=="), `conversionReviewVersions: ["v1"]`, `conversionReviewVersions: ["v7"]`, 1)
	if r := applyStdin(t, s, bad); r.Err == nil || !strings.Contains(r.Stderr, `spec.conversion.conversionReviewVersions: Invalid value: ["v7"]: must include at least one of v1, v1beta1`) {
		t.Fatalf("unknown review versions: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if r := applyStdin(t, s, backendCRD(conv.URL, base64.StdEncoding.EncodeToString(conv.caBundle))); r.Err != nil {
		t.Fatalf("applying the CRD: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	s.MustKubectl(t, "wait", "--for=condition=Established", "crd/backends.conv.example.com", "--timeout=20s")
	s.MustKubectl(t, "create", "namespace", "conv")
	pollUntil(t, "backends to be served", 20*time.Second, func() (bool, error) {
		_, err := dyn.Resource(v2).Namespace("conv").List(ctx, metav1.ListOptions{})
		return err == nil, err
	})

	// Created in v1 (the storage version): no conversion; read in v2 with kubectl.
	if r := applyStdin(t, s, "apiVersion: conv.example.com/v1\nkind: Backend\nmetadata: {name: alpha, namespace: conv}\nspec: {host: alpha.example, port: 80}\n"); r.Err != nil {
		t.Fatalf("creating alpha: %v\n%s", r.Err, r.Stderr)
	}
	for _, r := range conv.calls() {
		if r.Request.DesiredAPIVersion == "conv.example.com/v1" {
			t.Errorf("a conversion into the storage version for an object written in it: %+v", r.Request)
		}
	}
	out := s.MustKubectl(t, "get", "backends.v2.conv.example.com", "alpha", "-n", "conv", "-o", "yaml")
	if !strings.Contains(out, "apiVersion: conv.example.com/v2") || !strings.Contains(out, "url: alpha.example:80") || strings.Contains(out, "host:") {
		t.Fatalf("alpha in v2:\n%s", out)
	}
	if !reviewed(conv.calls(), "conv.example.com/v2", "alpha") {
		t.Fatalf("no review of alpha into v2: %+v", conv.calls())
	}

	// Created in v2: stored in v1.
	if r := applyStdin(t, s, "apiVersion: conv.example.com/v2\nkind: Backend\nmetadata: {name: beta, namespace: conv}\nspec: {url: \"beta.example:8080\"}\n"); r.Err != nil {
		t.Fatalf("creating beta: %v\n%s", r.Err, r.Stderr)
	}
	if m := stored("beta"); m["apiVersion"] != "conv.example.com/v1" || m["spec"].(map[string]any)["host"] != "beta.example" || m["spec"].(map[string]any)["port"] != float64(8080) {
		t.Fatalf("beta as stored: %v", m)
	}
	wantMatch(t, "v1 get", s.MustKubectl(t, "get", "backends.v1.conv.example.com", "beta", "-n", "conv", "-o", "jsonpath={.spec.host}:{.spec.port}"), `^beta.example:8080$`)

	// Dry runs answer in the request's version too.
	r := s.KubectlIn(t, strings.NewReader("apiVersion: conv.example.com/v2\nkind: Backend\nmetadata: {name: dry, namespace: conv}\nspec: {url: \"dry.example:1\"}\n"),
		nil, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.apiVersion} {.spec.url}")
	if r.Err != nil || r.Stdout != "conv.example.com/v2 dry.example:1" {
		t.Fatalf("dry-run create: %v %q\n%s", r.Err, r.Stdout, r.Stderr)
	}
	wantMatch(t, "dry-run patch", s.MustKubectl(t, "patch", "backends.v2.conv.example.com", "beta", "-n", "conv", "--dry-run=server", "--type=merge",
		"-p", `{"spec":{"url":"beta.example:7"}}`, "-o", "jsonpath={.spec.url}"), `^beta.example:7$`)

	// A list in v2 converts its items in one review.
	out = s.MustKubectl(t, "get", "backends.v2.conv.example.com", "-n", "conv")
	wantMatch(t, "v2 list", out, `^NAME\s+URL$`, `^alpha\s+alpha.example:80$`, `^beta\s+beta.example:8080$`)
	if !reviewed(conv.calls(), "conv.example.com/v2", "alpha", "beta") {
		t.Fatalf("the list was not converted in one review")
	}

	// Patches and server-side apply in v2 change the v1 object.
	s.MustKubectl(t, "patch", "backends.v2.conv.example.com", "alpha", "-n", "conv", "--type=merge", "-p", `{"spec":{"url":"alpha.example:81"}}`)
	if m := stored("alpha"); m["spec"].(map[string]any)["port"] != float64(81) {
		t.Fatalf("alpha after the v2 patch: %v", m)
	}
	if r := s.KubectlIn(t, strings.NewReader("apiVersion: conv.example.com/v2\nkind: Backend\nmetadata: {name: gamma, namespace: conv}\nspec: {url: \"gamma.example:9090\"}\n"),
		nil, "apply", "--server-side", "-f", "-"); r.Err != nil {
		t.Fatalf("server-side apply: %v\n%s", r.Err, r.Stderr)
	}
	if m := stored("gamma"); m["apiVersion"] != "conv.example.com/v1" || m["spec"].(map[string]any)["host"] != "gamma.example" {
		t.Fatalf("gamma as stored: %v", m)
	}
	if r := s.KubectlIn(t, strings.NewReader("apiVersion: conv.example.com/v2\nkind: Backend\nmetadata: {name: gamma, namespace: conv}\nspec: {url: \"gamma.example:9091\"}\n"),
		nil, "apply", "--server-side", "-f", "-"); r.Err != nil {
		t.Fatalf("server-side apply (update): %v\n%s", r.Err, r.Stderr)
	}
	if m := stored("gamma"); m["spec"].(map[string]any)["port"] != float64(9091) {
		t.Fatalf("gamma after the second apply: %v", m)
	}
	// The status subresource in v2.
	s.MustKubectl(t, "patch", "backends.v2.conv.example.com", "gamma", "-n", "conv", "--subresource=status", "--type=merge", "-p", `{"status":{"ready":true}}`)
	if m := stored("gamma"); m["status"].(map[string]any)["ready"] != true || m["spec"].(map[string]any)["port"] != float64(9091) {
		t.Fatalf("gamma after the status patch: %v", m)
	}

	// The scale subresource reads and writes the paths of the request's version.
	s.MustKubectl(t, "scale", "backends.v2.conv.example.com", "alpha", "-n", "conv", "--replicas=3")
	if m := stored("alpha"); m["spec"].(map[string]any)["count"] != float64(3) {
		t.Fatalf("alpha after kubectl scale in v2: %v", m)
	}
	wantMatch(t, "v2 scale", s.MustKubectl(t, "get", "backends.v2.conv.example.com", "alpha", "-n", "conv", "--subresource=scale", "-o", "jsonpath={.spec.replicas}"), `^3$`)

	// A watch in v2 sees v1 writes in v2, its initial list too.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := dyn.Resource(v2).Namespace("conv").Watch(wctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.MustKubectl(t, "patch", "backends.v1.conv.example.com", "beta", "-n", "conv", "--type=merge", "-p", `{"spec":{"port":8081}}`)
	seen := map[string]string{}
	for seen["beta"] != "beta.example:8081" {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed; seen %v", seen)
			}
			u, isObj := ev.Object.(*unstructured.Unstructured)
			if !isObj || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				t.Fatalf("watch event %s %T", ev.Type, ev.Object)
			}
			if u.GetAPIVersion() != "conv.example.com/v2" {
				t.Fatalf("watch event in %s", u.GetAPIVersion())
			}
			seen[u.GetName()], _, _ = unstructured.NestedString(u.Object, "spec", "url")
		case <-wctx.Done():
			t.Fatalf("no v2 watch event for the v1 change; seen %v", seen)
		}
	}
	if seen["alpha"] != "alpha.example:81" || seen["gamma"] != "gamma.example:9091" {
		t.Errorf("initial watch events: %v", seen)
	}
	if !reviewed(conv.calls(), "conv.example.com/v2", "alpha", "beta", "gamma") {
		t.Errorf("the initial watch events were not converted in one review")
	}

	// A webhook failing is reported to kubectl; reads in the storage version need no webhook.
	conv.broken.Store(true)
	r = s.Kubectl(t, "get", "backends.v2.conv.example.com", "alpha", "-n", "conv", "-o", "yaml")
	if r.Err == nil || !strings.Contains(r.Stderr, "conversion webhook for conv.example.com/v1, Kind=Backend failed: the backend converter is out of order") {
		t.Fatalf("broken webhook: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	r = s.KubectlIn(t, strings.NewReader("apiVersion: conv.example.com/v2\nkind: Backend\nmetadata: {name: delta, namespace: conv}\nspec: {url: \"delta.example:1\"}\n"), nil, "create", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "conversion webhook for conv.example.com/v2, Kind=Backend failed: the backend converter is out of order") {
		t.Fatalf("create with a broken webhook: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	wantMatch(t, "v1 get with a broken webhook", s.MustKubectl(t, "get", "backends.v1.conv.example.com", "alpha", "-n", "conv", "-o", "jsonpath={.spec.port}"), `^81$`)
	if _, err := dyn.Resource(v1).Namespace("conv").Get(ctx, "delta", metav1.GetOptions{}); err == nil {
		t.Errorf("delta was stored despite the failed conversion")
	}
}
