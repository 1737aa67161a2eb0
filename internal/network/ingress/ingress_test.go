package ingress_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/network/ingress"
	"github.com/kijabi/kijabi/internal/testserver"
)

const ns = "default"

// The API server refuses loopback addresses in EndpointSlices, as Kubernetes does. The
// slices of the tests name endpointIP (TEST-NET-1, never dialed) and the controller's dialer
// maps it to 127.0.0.1 with the same port.
const endpointIP = "192.0.2.1"

func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host != endpointIP {
		return nil, fmt.Errorf("test dialer: %s is not a test endpoint", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

// syncBuffer is a log sink shared by the controller's goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runIngress runs a controller with cfg until the test ends; it listens on loopback ports
// and dials test endpoints (endpointIP) on loopback unless cfg says otherwise.
func runIngress(t *testing.T, cfg ingress.Config) *ingress.Controller {
	t.Helper()
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	if cfg.DialContext == nil {
		cfg.DialContext = loopbackDial
	}
	c, err := ingress.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ingress controller not ready")
	}
	return c
}

// startIngress runs a controller as the tests' cluster would, logging (access log included)
// into the returned buffer, which is shown if the test fails.
func startIngress(t *testing.T, client kubernetes.Interface) (*ingress.Controller, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller log:\n%s", logs.String())
		}
	})
	c := runIngress(t, ingress.Config{
		Client:          client,
		StatusAddresses: func() []string { return []string{"127.0.0.1", "node.example"} },
		Log:             slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Debounce:        20 * time.Millisecond,
	})
	return c, logs
}

// tlsSecret stores a self-signed certificate for host as the TLS Secret name and returns
// the pool that trusts it.
func tlsSecret(t *testing.T, client kubernetes.Interface, name, host string) *x509.CertPool {
	t.Helper()
	certPEM, keyPEM, roots := selfSigned(t, host)
	if _, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return roots
}

// exposeEndpoints makes a selector-less Service (port 80 named http) whose EndpointSlice
// lists the given loopback ports (as endpointIP).
func exposeEndpoints(t *testing.T, client kubernetes.Interface, name string, ports ...int) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating service %s: %v", name, err)
	}
	// One slice per port: EndpointSlice ports apply to all endpoints of a slice.
	for i, port := range ports {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%d", name, i), Namespace: ns,
				Labels: map[string]string{discoveryv1.LabelServiceName: name},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{endpointIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		}
		if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating endpointslice: %v", err)
		}
	}
}

// backend starts an HTTP server on 127.0.0.1 exposed as Service name.
func backend(t *testing.T, client kubernetes.Interface, name string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	exposeEndpoints(t, client, name, srv.Listener.Addr().(*net.TCPAddr).Port)
	return srv
}

// echo answers with its name and what the proxy told it in headers.
func echo(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Forwarded-Host", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("X-Seen-Forwarded-Proto", r.Header.Get("X-Forwarded-Proto"))
		fmt.Fprint(w, name)
	}
}

// clientTo returns an HTTP client that sends every request to addr, whatever the URL's host.
func clientTo(addr net.Addr, roots *x509.CertPool) *http.Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr.String())
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true},
		Timeout:   20 * time.Second,
	}
}

type result struct {
	status  int
	body    string
	backend string
	header  http.Header
}

func get(c *http.Client, url string) (result, error) {
	resp, err := c.Get(url)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{status: resp.StatusCode, body: string(b), backend: resp.Header.Get("X-Backend"), header: resp.Header}, nil
}

// eventually polls get until check accepts its result.
func eventually(t *testing.T, c *http.Client, url string, check func(result) bool) result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := get(c, url)
		if err == nil && check(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: last result %+v, err %v", url, r, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

func prefix(path, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{
		Path: path, PathType: ptr.To(networkingv1.PathTypePrefix),
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
	}
}

func rule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

// streamRelease ends the streaming responses of the "a" backend.
type streamer struct {
	release chan struct{}
}

func (s *streamer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/stream":
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.release:
				fmt.Fprint(w, "done\n")
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
				fmt.Fprint(w, "tick\n")
				w.(http.Flusher).Flush()
			}
		}
	case "/ws":
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	default:
		echo("a")(w, r)
	}
}

func TestIngress(t *testing.T) {
	s := testserver.Start(t)
	client := s.Client
	ctx := context.Background()

	stream := &streamer{release: make(chan struct{})}
	backend(t, client, "svc-a", stream)
	backend(t, client, "svc-b", echo("b"))
	backend(t, client, "svc-default", echo("default"))
	// Connection refused on one endpoint of two: the idempotent requests are retried.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	live := httptest.NewServer(echo("retry"))
	t.Cleanup(live.Close)
	exposeEndpoints(t, client, "svc-retry", deadPort, live.Listener.Addr().(*net.TCPAddr).Port)

	roots := tlsSecret(t, client, "a-tls", "a.example")
	c, logs := startIngress(t, client)
	httpAddr, httpsAddr := c.Addrs()
	plain, secure := clientTo(httpAddr, nil), clientTo(httpsAddr, roots)

	class, err := client.NetworkingV1().IngressClasses().Get(ctx, "kijabi", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("IngressClass kijabi: %v", err)
	}
	if class.Spec.Controller != ingress.ControllerName || class.Annotations[ingress.DefaultClassAnnotation] != "true" {
		t.Errorf("IngressClass kijabi: controller %q, annotations %v", class.Spec.Controller, class.Annotations)
	}

	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("kijabi"),
			DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "svc-default", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "a-tls"}},
			Rules: []networkingv1.IngressRule{
				rule("a.example", prefix("/", "svc-a")),
				rule("b.example", prefix("/api", "svc-b")),
				rule("missing.example", prefix("/", "svc-missing")),
				rule("retry.example", prefix("/", "svc-retry")),
			},
		},
	}
	if _, err := client.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An Ingress without a class is ours too, since our class is the default.
	noClass := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "noclass", Namespace: ns},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("n.example", prefix("/", "svc-b"))}},
	}
	if _, err := client.NetworkingV1().Ingresses(ns).Create(ctx, noClass, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("http", func(t *testing.T) {
		r := eventually(t, plain, "http://a.example/hello", func(r result) bool { return r.backend == "a" })
		if got := r.header.Get("X-Seen-Host"); got != "a.example" {
			t.Errorf("backend saw Host %q, want a.example", got)
		}
		if got := r.header.Get("X-Seen-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if got := r.header.Get("X-Seen-Forwarded-Host"); got != "a.example" {
			t.Errorf("X-Forwarded-Host %q", got)
		}
		if got := r.header.Get("X-Seen-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q", got)
		}
		for url, want := range map[string]string{
			"http://b.example/api":        "b",
			"http://b.example/api/x":      "b",
			"http://b.example/apix":       "default",
			"http://b.example/":           "default",
			"http://unknown.example/x":    "default",
			"http://n.example/":           "b",
			"http://retry.example/":       "retry",
			"http://A.EXAMPLE:8080/hello": "a",
		} {
			// The two Ingresses reach the controller one after the other: poll until
			// the route settles (eventually fails the test if it never does).
			eventually(t, plain, url, func(r result) bool { return r.status == 200 && r.backend == want })
		}
		r = eventually(t, plain, "http://missing.example/", func(r result) bool { return r.status != 200 })
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("GET missing.example: %d, want 503", r.status)
		}
		// Both endpoints of svc-retry get requests in turn; the refused one is retried.
		for i := range 6 {
			if r, err := get(plain, "http://retry.example/"); err != nil || r.status != 200 || r.backend != "retry" {
				t.Errorf("retry request %d: %+v %v", i, r, err)
			}
		}
		// The line of a request is written once its response is complete: poll.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "upstream="+endpointIP+":") || !strings.Contains(logs.String(), "host=b.example path=/api/x status=200") {
			if time.Now().After(deadline) {
				t.Fatalf("no access log lines:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	})

	t.Run("tls", func(t *testing.T) {
		r := eventually(t, secure, "https://a.example/", func(r result) bool { return r.backend == "a" })
		if got := r.header.Get("X-Seen-Forwarded-Proto"); got != "https" {
			t.Errorf("X-Forwarded-Proto %q, want https", got)
		}
		// Unknown names get the self-signed fallback certificate.
		conn, err := tls.Dial("tcp", httpsAddr.String(), &tls.Config{ServerName: "other.example", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn == "a.example" {
			t.Errorf("other.example got the certificate of a.example")
		}
		// Verification of the fallback fails for a client that trusts the Secret's CA.
		if _, err := get(secure, "https://b.example/api"); err == nil {
			t.Errorf("b.example verified with a.example's certificate")
		}
	})

	t.Run("websocket", func(t *testing.T) {
		d := websocket.Dialer{
			NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", httpAddr.String())
			},
			HandshakeTimeout: 10 * time.Second,
		}
		conn, resp, err := d.Dial("ws://a.example/ws", nil)
		if err != nil {
			t.Fatalf("websocket dial: %v (%v)", err, resp)
		}
		defer conn.Close()
		for i := range 3 {
			msg := "hello " + strconv.Itoa(i)
			if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, got, err := conn.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "echo: "+msg {
				t.Errorf("got %q", got)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := client.NetworkingV1().Ingresses(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lb := got.Status.LoadBalancer.Ingress
			if len(lb) == 2 && lb[0].IP == "127.0.0.1" && lb[1].Hostname == "node.example" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status.loadBalancer.ingress = %+v", lb)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	})

	t.Run("update-keeps-streams", func(t *testing.T) {
		resp, err := plain.Get("http://a.example/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
			t.Fatalf("first streamed line %q, %v", line, err)
		}
		// Route a.example to svc-b now, while the stream goes on.
		cur, err := client.NetworkingV1().Ingresses(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.Rules[0] = rule("a.example", prefix("/", "svc-b"))
		if _, err := client.NetworkingV1().Ingresses(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, plain, "http://a.example/", func(r result) bool { return r.backend == "b" })
		close(stream.release)
		rest, err := io.ReadAll(br)
		if err != nil {
			t.Fatalf("stream broken by the update: %v", err)
		}
		if !strings.HasSuffix(string(rest), "done\n") {
			t.Errorf("stream ended without done: %q", rest)
		}
	})
}

// A user's changes to the IngressClass stay: a restarted controller does not make its class
// the default again.
func TestIngressClassKeepsUserEdits(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	if _, err := s.Client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Annotations: map[string]string{ingress.DefaultClassAnnotation: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startIngress(t, s.Client)
	class, err := s.Client.NetworkingV1().IngressClasses().Get(ctx, "kijabi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := class.Annotations[ingress.DefaultClassAnnotation]; ok {
		t.Errorf("kijabi made default although nginx is: %v", class.Annotations)
	}
	class.Annotations = map[string]string{ingress.DefaultClassAnnotation: "false", "team": "web"}
	if _, err := s.Client.NetworkingV1().IngressClasses().Update(ctx, class, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	startIngress(t, s.Client)
	class, err = s.Client.NetworkingV1().IngressClasses().Get(ctx, "kijabi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if class.Annotations[ingress.DefaultClassAnnotation] != "false" || class.Annotations["team"] != "web" {
		t.Errorf("user edits overwritten: %v", class.Annotations)
	}
}
