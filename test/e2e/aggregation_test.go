package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// wardle is a tiny extension API server run by the test on 127.0.0.1, serving
// wardle.example.com/v1alpha1 flunders (list, get, watch) as a real one would behind the
// aggregator: it takes requests only from a client certificate of the front-proxy CA with
// an allowed name (both read from the extension-apiserver-authentication ConfigMap), and
// the user from the X-Remote-* headers. Its serving certificate names api.wardle.svc.
type wardle struct {
	*httptest.Server
	caBundle []byte
	port     int
	allowed  []string
	done     chan struct{}

	mu       sync.Mutex
	requests []wardleRequest
}

type wardleRequest struct {
	path, user, uid string
	groups          []string
	extra           http.Header
	authorization   string
}

func newWardle(t *testing.T, frontProxyCA []byte, allowed []string) *wardle {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(frontProxyCA) {
		t.Fatal("no front-proxy CA in extension-apiserver-authentication")
	}
	w := &wardle{allowed: allowed, done: make(chan struct{})}
	w.Server = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	cert, ca := webhookCertificate(t, "api.wardle.svc")
	w.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	w.Config.ErrorLog = log.New(io.Discard, "", 0)
	w.StartTLS()
	t.Cleanup(w.Close)
	t.Cleanup(func() { close(w.done) }) // runs first: ends open watches
	w.caBundle = ca
	_, port, _ := net.SplitHostPort(w.Listener.Addr().String())
	w.port, _ = strconv.Atoi(port)
	return w
}

func (w *wardle) seen() []wardleRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wardleRequest(nil), w.requests...)
}

func (w *wardle) last(path string) (wardleRequest, bool) {
	reqs := w.seen()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].path == path {
			return reqs[i], true
		}
	}
	return wardleRequest{}, false
}

func flunder(ns, name string) map[string]any {
	return map[string]any{"apiVersion": "wardle.example.com/v1alpha1", "kind": "Flunder",
		"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": "7", "creationTimestamp": "2024-01-01T00:00:00Z"},
		"spec":     map[string]any{"reference": "fischer"}}
}

func (w *wardle) serve(rw http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(w.allowed, r.TLS.PeerCertificates[0].Subject.CommonName) {
		http.Error(rw, "not the front proxy", http.StatusUnauthorized)
		return
	}
	extra := http.Header{}
	for k, v := range r.Header {
		if strings.HasPrefix(k, "X-Remote-Extra-") {
			extra[k] = v
		}
	}
	w.mu.Lock()
	w.requests = append(w.requests, wardleRequest{path: r.URL.Path, user: r.Header.Get("X-Remote-User"), uid: r.Header.Get("X-Remote-Uid"),
		groups: r.Header.Values("X-Remote-Group"), extra: extra, authorization: r.Header.Get("Authorization")})
	w.mu.Unlock()
	if r.Header.Get("X-Remote-User") == "" {
		http.Error(rw, "no user", http.StatusUnauthorized)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	write := func(code int, v any) {
		rw.WriteHeader(code)
		json.NewEncoder(rw).Encode(v)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/apis/wardle.example.com/v1alpha1":
		write(http.StatusOK, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "wardle.example.com/v1alpha1", APIResources: []metav1.APIResource{
				{Name: "flunders", SingularName: "flunder", Namespaced: true, Kind: "Flunder", Verbs: []string{"get", "list", "watch"}, ShortNames: []string{"fl"}},
				{Name: "flunders/status", Namespaced: true, Kind: "Flunder", Verbs: []string{"get"}},
			}})
	case r.URL.Path == "/apis/metrics.k8s.io/v1beta1":
		write(http.StatusOK, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{
				{Name: "nodes", SingularName: "", Kind: "NodeMetrics", Verbs: []string{"get", "list"}},
			}})
	case r.URL.Path == "/apis/metrics.k8s.io/v1beta1/nodes":
		write(http.StatusOK, map[string]any{"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetricsList", "metadata": map[string]any{},
			"items": []any{map[string]any{"metadata": map[string]any{"name": "from-wardle"}, "timestamp": "2024-01-01T00:00:00Z", "window": "10s",
				"usage": map[string]any{"cpu": "1m", "memory": "1Mi"}}}})
	case len(parts) == 8 && parts[7] == "echo" && r.Header.Get("Upgrade") == "echo":
		// An upgraded connection that answers each line with "echo: " and the line.
		conn, brw, err := http.NewResponseController(rw).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err == nil {
			brw.WriteString("echo: " + line)
			brw.Flush()
		}
	case len(parts) == 6 && parts[3] == "namespaces" && parts[5] == "flunders" && r.URL.Query().Get("watch") == "true":
		write(http.StatusOK, map[string]any{"type": "ADDED", "object": flunder(parts[4], "one")})
		http.NewResponseController(rw).Flush()
		select {
		case <-r.Context().Done():
		case <-w.done:
		}
	case len(parts) == 6 && parts[3] == "namespaces" && parts[5] == "flunders":
		write(http.StatusOK, map[string]any{"apiVersion": "wardle.example.com/v1alpha1", "kind": "FlunderList",
			"metadata": map[string]any{"resourceVersion": "7"}, "items": []any{flunder(parts[4], "one")}})
	case len(parts) == 7 && parts[3] == "namespaces" && parts[5] == "flunders" && parts[6] == "one":
		write(http.StatusOK, flunder(parts[4], "one"))
	default:
		write(http.StatusNotFound, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound, Message: "the server could not find the requested resource"})
	}
}

func TestAggregatedAPIServer(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()

	// What an extension server reads to trust the aggregator.
	cm, err := s.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-uid-headers":          `["X-Remote-Uid"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
		"requestheader-allowed-names":        `["front-proxy-client"]`,
	} {
		if cm.Data[key] != want {
			t.Errorf("extension-apiserver-authentication %s = %q, want %q", key, cm.Data[key], want)
		}
	}
	if !strings.Contains(cm.Data["client-ca-file"], "BEGIN CERTIFICATE") || !strings.Contains(cm.Data["requestheader-client-ca-file"], "BEGIN CERTIFICATE") ||
		cm.Data["client-ca-file"] == cm.Data["requestheader-client-ca-file"] {
		t.Fatalf("extension-apiserver-authentication CAs: %v", cm.Data)
	}
	var allowed []string
	json.Unmarshal([]byte(cm.Data["requestheader-allowed-names"]), &allowed)
	backend := newWardle(t, []byte(cm.Data["requestheader-client-ca-file"]), allowed)

	t.Run("local APIServices", func(t *testing.T) {
		out := s.MustKubectl(t, "get", "apiservices")
		for _, want := range [][]string{
			{"NAME", "SERVICE", "AVAILABLE", "AGE"},
			{"v1.", "Local", "True"},
			{"v1.apps", "Local", "True"},
			{"v1.admissionregistration.k8s.io", "Local", "True"},
			{"v1.apiregistration.k8s.io", "Local", "True"},
			{"v1beta1.metrics.k8s.io", "Local", "True"},
		} {
			if !hasRow(out, want...) {
				t.Errorf("kubectl get apiservices lacks %v:\n%s", want, out)
			}
		}
		if got := s.MustKubectl(t, "get", "apiservice", "v1.apps", "-o", "jsonpath={.metadata.labels.kube-aggregator\\.kubernetes\\.io/automanaged} {.spec.service} {.spec.groupPriorityMinimum}/{.spec.versionPriority} {.status.conditions[0].reason}"); got != "onstart null 17800/15 Local" {
			t.Errorf("v1.apps: %q", got)
		}
	})

	t.Run("custom resources get APIServices", func(t *testing.T) {
		crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object}}
`
		if r := applyStdin(t, s, crd); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		label := "{.metadata.labels.kube-aggregator\\.kubernetes\\.io/automanaged} {.spec.groupPriorityMinimum}/{.spec.versionPriority}"
		poll(t, 30*time.Second, "the CRD's APIService", func() (bool, error) {
			r := s.Kubectl(t, "get", "apiservice", "v1.stable.example.com", "-o", "jsonpath="+label)
			return r.Err == nil && r.Stdout == "true 1000/100", nil
		})
		s.MustKubectl(t, "delete", "apiservice", "v1.stable.example.com")
		poll(t, 30*time.Second, "the deleted automanaged APIService to come back", func() (bool, error) {
			r := s.Kubectl(t, "get", "apiservice", "v1.stable.example.com", "-o", "jsonpath="+label)
			return r.Err == nil && r.Stdout == "true 1000/100", nil
		})
		s.MustKubectl(t, "delete", "crd", "gadgets.stable.example.com")
		poll(t, 30*time.Second, "the APIService to go with its CRD", func() (bool, error) {
			r := s.Kubectl(t, "get", "apiservice", "v1.stable.example.com")
			return r.Err != nil && strings.Contains(r.Stderr, "NotFound"), nil
		})
	})

	t.Run("validation", func(t *testing.T) {
		bad := `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.wrong.example.com
spec:
  group: other.example.com
  version: v1
  groupPriorityMinimum: 0
  versionPriority: 15
`
		r := applyStdin(t, s, bad)
		for _, want := range []string{`metadata.name: Invalid value: "v1.wrong.example.com": must be ` + "`" + `spec.version+"."+spec.group` + "`" + `: "v1.other.example.com"`,
			"spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000"} {
			if r.Err == nil || !strings.Contains(r.Stderr, want) {
				t.Errorf("a bad APIService: want %q, got %v\n%s", want, r.Err, r.Stderr)
			}
		}
	})

	// The extension server: a Service without selector whose EndpointSlice points at the
	// test's server (by name: loopback addresses are refused in IP slices, as upstream).
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "wardle"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "wardle"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(int32(backend.port))}}}}
	if _, err := s.Client.CoreV1().Services("wardle").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "api-local", Namespace: "wardle",
		Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"localhost"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(backend.port)), Protocol: ptr.To(corev1.ProtocolTCP)}}}
	if _, err := s.Client.DiscoveryV1().EndpointSlices("wardle").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiService := fmt.Sprintf(`apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.wardle.example.com
spec:
  group: wardle.example.com
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: %s
  service:
    namespace: wardle
    name: api
`, base64.StdEncoding.EncodeToString(backend.caBundle))
	if r := applyStdin(t, s, apiService); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}

	t.Run("available", func(t *testing.T) {
		poll(t, 30*time.Second, "v1alpha1.wardle.example.com to be available", func() (bool, error) {
			return hasRow(s.MustKubectl(t, "get", "apiservices"), "v1alpha1.wardle.example.com", "wardle/api", "True"), nil
		})
		out := s.MustKubectl(t, "get", "apiservice", "v1alpha1.wardle.example.com", "-o", "jsonpath={.spec.service.port} {.status.conditions[0].reason} {.status.conditions[0].message}")
		if out != "443 Passed all checks passed" {
			t.Errorf("status: %q", out)
		}
		// The availability check asks as the aggregator.
		if req, ok := backend.last("/apis/wardle.example.com/v1alpha1"); !ok || req.user != "system:kube-aggregator" || !slices.Contains(req.groups, "system:masters") {
			t.Errorf("discovery check: %+v", req)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		poll(t, 30*time.Second, "kubectl api-resources to list flunders", func() (bool, error) {
			return hasRow(s.MustKubectl(t, "api-resources", "--api-group=wardle.example.com"), "flunders", "fl", "wardle.example.com/v1alpha1", "true", "Flunder"), nil
		})
		if out := s.MustKubectl(t, "api-versions"); !strings.Contains(out, "wardle.example.com/v1alpha1\n") {
			t.Errorf("api-versions: %s", out)
		}
		raw := s.MustKubectl(t, "get", "--raw", "/apis/wardle.example.com")
		if !strings.Contains(raw, `"preferredVersion":{"groupVersion":"wardle.example.com/v1alpha1"`) {
			t.Errorf("/apis/wardle.example.com: %s", raw)
		}
		// Groups are ordered by priority: wardle (1000) after the built-ins, before metrics (100).
		var groups metav1.APIGroupList
		if err := json.Unmarshal([]byte(s.MustKubectl(t, "get", "--raw", "/apis")), &groups); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range groups.Groups {
			names = append(names, g.Name)
		}
		iw, im, ia := slices.Index(names, "wardle.example.com"), slices.Index(names, "metrics.k8s.io"), slices.Index(names, "apps")
		if names[0] != "apiregistration.k8s.io" || ia != 1 || iw < 0 || im != iw+1 {
			t.Errorf("/apis groups out of order: %v", names)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		out := s.MustKubectl(t, "get", "flunders", "-n", "wardle")
		if !hasRow(out, "one") {
			t.Errorf("kubectl get flunders:\n%s", out)
		}
		req, ok := backend.last("/apis/wardle.example.com/v1alpha1/namespaces/wardle/flunders")
		if !ok || req.user != "system:admin" || !slices.Contains(req.groups, "system:masters") || !slices.Contains(req.groups, "system:authenticated") || req.authorization != "" {
			t.Errorf("the list reached the server as %+v", req)
		}
		if got := s.MustKubectl(t, "get", "fl", "one", "-n", "wardle", "-o", "jsonpath={.spec.reference}"); got != "fischer" {
			t.Errorf("kubectl get fl one: %q", got)
		}
		// A watch streams through the proxy.
		dyn, err := dynamic.NewForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		gvr := schema.GroupVersionResource{Group: "wardle.example.com", Version: "v1alpha1", Resource: "flunders"}
		watcher, err := dyn.Resource(gvr).Namespace("wardle").Watch(wctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-watcher.ResultChan():
			if ev.Type != "ADDED" {
				t.Errorf("watch event: %+v", ev)
			}
		case <-wctx.Done():
			t.Error("no watch event through the proxy")
		}
		watcher.Stop()
	})

	t.Run("upgrades", func(t *testing.T) {
		tlsConfig, err := rest.TLSConfigFor(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		tlsConfig.NextProtos = []string{"http/1.1"}
		// No client timeout: its body would not be writable. The request's context bounds it.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
		defer client.CloseIdleConnections()
		uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(uctx, http.MethodGet, s.URL+"/apis/wardle.example.com/v1alpha1/namespaces/wardle/flunders/one/echo", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		conn, ok := resp.Body.(io.ReadWriter)
		if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			t.Fatalf("upgrade: %s %s", resp.Status, body)
		}
		if _, err := conn.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || got != "echo: hello\n" {
			t.Errorf("through the upgraded connection: %q %v", got, err)
		}
	})

	t.Run("authorization and impersonation", func(t *testing.T) {
		// The aggregator authorizes before it proxies (kube-apiserver does too).
		before := len(backend.seen())
		r := s.Kubectl(t, "get", "flunders", "-n", "wardle", "--as=alice")
		if r.Err == nil || !strings.Contains(r.Stderr, `flunders.wardle.example.com is forbidden: User "alice" cannot list resource "flunders" in API group "wardle.example.com" in the namespace "wardle"`) {
			t.Errorf("alice without rights: %v\n%s", r.Err, r.Stderr)
		}
		if len(backend.seen()) != before {
			t.Error("a forbidden request reached the extension server")
		}
		s.MustKubectl(t, "create", "clusterrole", "flunder-reader", "--verb=get,list,watch", "--resource=flunders.wardle.example.com")
		s.MustKubectl(t, "create", "rolebinding", "alice-flunders", "-n", "wardle", "--clusterrole=flunder-reader", "--user=alice")
		poll(t, 30*time.Second, "alice to read flunders", func() (bool, error) {
			return s.Kubectl(t, "get", "flunders", "-n", "wardle", "--as=alice", "--as-group=wardlers", "--as-uid=alice-1").Err == nil, nil
		})
		req, _ := backend.last("/apis/wardle.example.com/v1alpha1/namespaces/wardle/flunders")
		if req.user != "alice" || req.uid != "alice-1" || !slices.Contains(req.groups, "wardlers") || !slices.Contains(req.groups, "system:authenticated") {
			t.Errorf("alice's request reached the server as %+v", req)
		}
	})

	t.Run("missing service", func(t *testing.T) {
		missing := `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.missing.example.com
spec:
  group: missing.example.com
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  insecureSkipTLSVerify: true
  service:
    namespace: wardle
    name: nothere
`
		if r := applyStdin(t, s, missing); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "v1alpha1.missing.example.com to be unavailable", func() (bool, error) {
			return hasRow(s.MustKubectl(t, "get", "apiservices"), "v1alpha1.missing.example.com", "wardle/nothere", "False", "(ServiceNotFound)"), nil
		})
		msg := s.MustKubectl(t, "get", "apiservice", "v1alpha1.missing.example.com", "-o", "jsonpath={.status.conditions[0].message}")
		if msg != `service/nothere in "wardle" is not present` {
			t.Errorf("message: %q", msg)
		}
		r := s.Kubectl(t, "get", "--raw", "/apis/missing.example.com/v1alpha1/namespaces/wardle/things")
		if r.Err == nil || !strings.Contains(r.Stderr, "the server is currently unable to handle the request") {
			t.Errorf("a request for the unavailable group: %v\n%s", r.Err, r.Stderr)
		}
		// Discovery lists the group version, without resources, as kube-apiserver does.
		if out := s.MustKubectl(t, "api-versions"); !strings.Contains(out, "missing.example.com/v1alpha1\n") {
			t.Errorf("api-versions: %s", out)
		}
		if out := s.MustKubectl(t, "api-resources"); !hasRow(out, "flunders") {
			t.Errorf("api-resources with an unavailable group:\n%s", out)
		}
		s.MustKubectl(t, "delete", "apiservice", "v1alpha1.missing.example.com")
	})

	t.Run("a remote APIService takes over a group served here", func(t *testing.T) {
		takeover := fmt.Sprintf(`apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: %s
  service:
    namespace: wardle
    name: api
`, base64.StdEncoding.EncodeToString(backend.caBundle))
		if r := applyStdin(t, s, takeover); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "metrics.k8s.io to be served by the extension server", func() (bool, error) {
			r := s.Kubectl(t, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
			return r.Err == nil && strings.Contains(r.Stdout, "from-wardle"), nil
		})
		if out := s.MustKubectl(t, "get", "apiservices"); !hasRow(out, "v1beta1.metrics.k8s.io", "wardle/api", "True") {
			t.Errorf("get apiservices:\n%s", out)
		}
		// Discovery lists the extension server's resources only (it serves no pods).
		if out := s.MustKubectl(t, "api-resources", "--api-group=metrics.k8s.io"); !hasRow(out, "nodes") || hasRow(out, "pods") {
			t.Errorf("api-resources --api-group=metrics.k8s.io:\n%s", out)
		}
		s.MustKubectl(t, "delete", "apiservice", "v1beta1.metrics.k8s.io")
	})

	t.Run("endpoints go away", func(t *testing.T) {
		if err := s.Client.DiscoveryV1().EndpointSlices("wardle").Delete(ctx, "api-local", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "v1alpha1.wardle.example.com to lose its endpoints", func() (bool, error) {
			return hasRow(s.MustKubectl(t, "get", "apiservices"), "v1alpha1.wardle.example.com", "wardle/api", "False", "(EndpointsNotFound)"), nil
		})
		r := s.Kubectl(t, "get", "flunders", "-n", "wardle")
		if r.Err == nil || !strings.Contains(r.Stderr, "the server is currently unable to handle the request") {
			t.Errorf("get flunders without endpoints: %v\n%s", r.Err, r.Stderr)
		}
	})
}

// hasRow reports whether a line of a kubectl table has all the cells.
func hasRow(table string, cells ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		ok := len(fields) > 0
		for _, c := range cells {
			ok = ok && slices.Contains(fields, c)
		}
		if ok {
			return true
		}
	}
	return false
}
