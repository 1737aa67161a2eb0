package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

func TestHTTPProbe(t *testing.T) {
	var lastReq *http.Request
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		lastReq = r
		fmt.Fprint(w, "fine")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "secret body")
	})
	mux.HandleFunc("/notfound", http.NotFound)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	mux.HandleFunc("/redirect-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/ok", port), http.StatusFound)
	})
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	_, tlsPort := hostPort(t, tlsSrv.URL)

	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	get := func(path string, p intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: p}}}
	}
	for _, tc := range []struct {
		name    string
		probe   *corev1.Probe
		want    Result
		out     string
		err     string
		checkUA bool
	}{
		{name: "200", probe: get("/ok", intstr.FromInt32(int32(port))), want: Success, out: "fine", checkUA: true},
		{name: "named port", probe: get("/ok", intstr.FromString("http")), want: Success, out: "fine"},
		{name: "port number as string", probe: get("/ok", intstr.FromString(strconv.Itoa(port))), want: Success, out: "fine"},
		{name: "500", probe: get("/fail", intstr.FromInt32(int32(port))), want: Failure, out: "HTTP probe failed with statuscode: 500"},
		{name: "404", probe: get("/notfound", intstr.FromInt32(int32(port))), want: Failure, out: "HTTP probe failed with statuscode: 404"},
		{name: "same-host redirect followed", probe: get("/redirect-local", intstr.FromInt32(int32(port))), want: Success, out: "fine"},
		{name: "other-host redirect not followed", probe: get("/redirect-other", intstr.FromInt32(int32(port))), want: Warning, out: "Probe terminated redirects, Response body: "},
		{name: "timeout", probe: &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}}},
			want: Failure, out: "Client.Timeout exceeded"},
		{name: "https without verification", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS}}}, want: Success, out: "fine"},
		{name: "unknown named port", probe: get("/ok", intstr.FromString("nope")), want: Unknown, err: "port nope not found"},
		{name: "port out of range", probe: get("/ok", intstr.FromInt32(70000)), want: Unknown, err: "invalid port number: 70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lastReq = nil
			res, out, err := Do(context.Background(), tc.probe, Target{PodIP: host, Container: c})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || !strings.Contains(out, tc.out) {
				t.Errorf("Do = %v, %q; want %v, %q", res, out, tc.want, tc.out)
			}
			if tc.want == Failure && strings.Contains(out, "secret body") {
				t.Errorf("body leaked into message")
			}
			if tc.checkUA {
				if ua := lastReq.Header.Get("User-Agent"); ua != "kube-probe/1.37" {
					t.Errorf("User-Agent = %q", ua)
				}
				if a := lastReq.Header.Get("Accept"); a != "*/*" {
					t.Errorf("Accept = %q", a)
				}
			}
		})
	}

	// Custom headers, including Host and User-Agent overrides.
	p := get("/ok", intstr.FromInt32(int32(port)))
	p.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "x-custom", Value: "1"}, {Name: "Host", Value: "example.com"}, {Name: "user-agent", Value: "mine"}}
	if res, _, err := Do(context.Background(), p, Target{PodIP: host, Container: c}); err != nil || res != Success {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if lastReq.Header.Get("X-Custom") != "1" || lastReq.Host != "example.com" || lastReq.Header.Get("User-Agent") != "mine" {
		t.Errorf("headers = %v host %q", lastReq.Header, lastReq.Host)
	}
	// Explicit host.
	p = get("/ok", intstr.FromInt32(int32(port)))
	p.HTTPGet.Host = "127.0.0.1"
	if res, _, err := Do(context.Background(), p, Target{PodIP: "192.0.2.1", Container: c}); err != nil || res != Success {
		t.Errorf("Do with host = %v, %v", res, err)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "svc", ContainerPort: int32(port)}}}
	tcp := func(p intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: p}}}
	}
	if res, _, err := Do(context.Background(), tcp(intstr.FromInt32(int32(port))), Target{PodIP: "127.0.0.1", Container: c}); err != nil || res != Success {
		t.Errorf("open port = %v, %v", res, err)
	}
	if res, _, err := Do(context.Background(), tcp(intstr.FromString("svc")), Target{PodIP: "127.0.0.1", Container: c}); err != nil || res != Success {
		t.Errorf("named port = %v, %v", res, err)
	}
	ln.Close()
	res, out, err := Do(context.Background(), tcp(intstr.FromInt32(int32(port))), Target{PodIP: "127.0.0.1", Container: c})
	if err != nil || res != Failure || !strings.Contains(out, "connection refused") {
		t.Errorf("closed port = %v, %q, %v", res, out, err)
	}
}

type fakeExec struct {
	stdout, stderr string
	code           int
	err            error
	gotCmd         []string
	gotTimeout     time.Duration
	calls          int
}

func (f *fakeExec) exec(_ context.Context, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	f.calls++
	f.gotCmd, f.gotTimeout = cmd, timeout
	return []byte(f.stdout), []byte(f.stderr), f.code, f.err
}

func TestExecProbe(t *testing.T) {
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: "FILE", Value: "/tmp/ready"}, {Name: "FROM", ValueFrom: &corev1.EnvVarSource{}}}}
	p := &corev1.Probe{TimeoutSeconds: 5, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "$(FILE)", "$(FROM)", "$(NOPE)"}}}}
	for _, tc := range []struct {
		name  string
		fake  fakeExec
		want  Result
		out   string
		err   string
		calls int
	}{
		{name: "exit 0", fake: fakeExec{stdout: "ok\n"}, want: Success, out: "ok\n", calls: 1},
		{name: "exit 1", fake: fakeExec{stdout: "out ", stderr: "err", code: 1}, want: Failure, out: "out err", calls: 1},
		{name: "timeout", fake: fakeExec{err: fmt.Errorf("exec: %w", context.DeadlineExceeded)}, want: Failure, out: `command "cat /tmp/ready  $(NOPE)" timed out`, calls: 1},
		{name: "grpc timeout", fake: fakeExec{err: status.Error(codes.DeadlineExceeded, "deadline")}, want: Failure, out: "timed out", calls: 1},
		{name: "error retried", fake: fakeExec{err: errors.New("container not running")}, want: Unknown, err: "container not running", calls: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fake
			res, out, err := Do(context.Background(), p, Target{Container: c, Exec: f.exec})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || out != tc.out && !strings.Contains(out, tc.out) {
				t.Errorf("Do = %v, %q; want %v, %q", res, out, tc.want, tc.out)
			}
			if f.calls != tc.calls {
				t.Errorf("calls = %d, want %d", f.calls, tc.calls)
			}
			if strings.Join(f.gotCmd, "|") != "cat|/tmp/ready||$(NOPE)" || f.gotTimeout != 5*time.Second {
				t.Errorf("cmd = %q timeout %v", f.gotCmd, f.gotTimeout)
			}
		})
	}
	big := fakeExec{stdout: strings.Repeat("x", 20000)}
	if _, out, _ := Do(context.Background(), p, Target{Container: c, Exec: big.exec}); len(out) != 10240 {
		t.Errorf("output not limited: %d", len(out))
	}
	if _, _, err := Do(context.Background(), p, Target{Container: c}); err == nil {
		t.Errorf("exec without Exec: no error")
	}
	if _, _, err := Do(context.Background(), &corev1.Probe{}, Target{Container: c}); err == nil || !strings.Contains(err.Error(), "missing probe handler") {
		t.Errorf("no handler: %v", err)
	}
}

func TestGRPCProbe(t *testing.T) {
	start := func(t *testing.T, withHealth bool) (int, *health.Server) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		hs := health.NewServer()
		if withHealth {
			healthpb.RegisterHealthServer(s, hs)
		}
		go s.Serve(ln) //nolint:errcheck // ends with Stop
		t.Cleanup(s.Stop)
		return ln.Addr().(*net.TCPAddr).Port, hs
	}
	port, hs := start(t, true)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	bare, _ := start(t, false)
	probe := func(port int, service *string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(port), Service: service}}}
	}
	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, tc := range []struct {
		name  string
		probe *corev1.Probe
		want  Result
		out   string
	}{
		{"serving", probe(port, nil), Success, "service is serving"},
		{"not serving", probe(port, ptr.To("db")), Failure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", probe(port, ptr.To("nope")), Failure, "error: health rpc probe failed: rpc error: code = NotFound"},
		{"no health service", probe(bare, nil), Failure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"nothing listening", probe(closed, nil), Failure, fmt.Sprintf("timeout: failed to connect service \"127.0.0.1:%d\" within 1s: context deadline exceeded", closed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out, err := Do(context.Background(), tc.probe, Target{PodIP: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || !strings.HasPrefix(out, tc.out) {
				t.Errorf("Do = %v, %q; want %v, %q", res, out, tc.want, tc.out)
			}
		})
	}
}

func TestEventMessage(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		res    Result
		out    string
		err    error
		reason string
		msg    string
	}{
		{Liveness, Failure, "HTTP probe failed with statuscode: 500", nil, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"},
		{Readiness, Warning, "Probe terminated redirects, Response body: x", nil, "ProbeWarning", "Readiness probe warning: Probe terminated redirects, Response body: x"},
		{Startup, Unknown, "", errors.New("boom"), "Unhealthy", "Startup probe errored and resulted in unknown state: boom"},
		{Liveness, Success, "ok", nil, "", ""},
		{Liveness, Unknown, "", nil, "", ""},
	} {
		reason, msg, ok := EventMessage(tc.kind, tc.res, tc.out, tc.err)
		if reason != tc.reason || msg != tc.msg || ok != (tc.reason != "") {
			t.Errorf("EventMessage(%v, %v) = %q, %q, %v", tc.kind, tc.res, reason, msg, ok)
		}
	}
}
