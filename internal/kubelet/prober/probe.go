package prober

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kijabi/kijabi/internal/kubelet/envvars"
)

// UserAgent is what probes identify as, like a v1.37 kubelet.
const UserAgent = "kube-probe/1.37"

const (
	maxRetries    = 3
	maxReadLength = 10 * 1 << 10 // of exec output and HTTP bodies
)

// Result is the outcome of one probe.
type Result int

const (
	// Unknown: the probe could not decide (also the startup verdict of a new container).
	Unknown Result = iota
	// Success: the check passed.
	Success
	// Warning: passed, with something worth an event (an HTTP redirect not followed).
	Warning
	// Failure: the check failed.
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// ExecFunc runs cmd in the target container and waits at most timeout, as CRI ExecSync.
// err is for a command that could not be run or did not finish; a command that ran
// returns its exit code and nil. A timeout must be reported as an error that is
// context.DeadlineExceeded or a gRPC DeadlineExceeded status (what ExecSync returns).
type ExecFunc func(ctx context.Context, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error)

// Target is what a probe is run against.
type Target struct {
	// PodIP is the default host of httpGet, tcpSocket and grpc probes.
	PodIP string
	// Pod is the probed pod (for messages).
	Pod *corev1.Pod
	// Container is the probed container: named ports and, for exec, the env vars its
	// command is expanded against (literal values only, like the kubelet).
	Container *corev1.Container
	// Exec runs exec probes; required for them.
	Exec ExecFunc
}

// Do runs probe p against t with the kubelet's semantics, retrying up to three times
// while it errors. It returns the result, the output the kubelet puts into events (exec
// output, HTTP body or failure reason) and an error when the probe could not be run.
// timeoutSeconds defaults to 1.
func Do(ctx context.Context, p *corev1.Probe, t Target) (Result, string, error) {
	var (
		res Result
		out string
		err error
	)
	for range maxRetries {
		if res, out, err = run(ctx, p, t); err == nil {
			return res, out, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return res, out, err
}

func run(ctx context.Context, p *corev1.Probe, t Target) (Result, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if p.TimeoutSeconds <= 0 {
		timeout = time.Second
	}
	c := t.Container
	if c == nil {
		c = &corev1.Container{}
	}
	switch {
	case p.Exec != nil:
		if t.Exec == nil {
			return Unknown, "", errors.New("exec probe: no exec function configured")
		}
		cmd := envvars.ExpandAll(p.Exec.Command, envvars.StaticMap(c.Env))
		return execProbe(ctx, t.Exec, cmd, timeout)
	case p.HTTPGet != nil:
		req, err := newHTTPRequest(ctx, p.HTTPGet, c, t.PodIP)
		if err != nil {
			return Unknown, "", err
		}
		return httpProbe(req, timeout)
	case p.TCPSocket != nil:
		port, err := ResolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return Unknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		return tcpProbe(ctx, net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return grpcProbe(ctx, t.PodIP, service, int(p.GRPC.Port), timeout)
	}
	name := ""
	if t.Pod != nil {
		name = t.Pod.Name + "_" + t.Pod.Namespace + "(" + string(t.Pod.UID) + ")"
	}
	return Unknown, "", fmt.Errorf("missing probe handler for %s:%s", name, c.Name)
}

func execProbe(ctx context.Context, exec ExecFunc, cmd []string, timeout time.Duration) (Result, string, error) {
	stdout, stderr, code, err := exec(ctx, cmd, timeout)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return Unknown, "", fmt.Errorf("exec probe %q: %w", strings.Join(cmd, " "), err)
	}
	out := append(bytes.Clone(stdout), stderr...)
	if len(out) > maxReadLength {
		out = out[:maxReadLength]
	}
	if code != 0 {
		return Failure, string(out), nil
	}
	return Success, string(out), nil
}

// resolvePort is the kubelet's ResolveContainerPort.
func ResolvePort(param intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch param.Type {
	case intstr.Int:
		port = param.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == param.StrVal {
				port, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			// Last ditch: maybe an int stored as a string.
			n, err := strconv.Atoi(param.StrVal)
			if err != nil {
				return -1, fmt.Errorf("port %s not found: %w", param.StrVal, err)
			}
			port = n
		}
	default:
		return port, fmt.Errorf("intOrString had no kind: %+v", param)
	}
	if port > 0 && port < 65536 {
		return port, nil
	}
	return port, fmt.Errorf("invalid port number: %v", port)
}

// newHTTPRequest is the kubelet's NewRequestForHTTPGetAction.
func newHTTPRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		// Too late to reject a bad path; pass it along as the kubelet does.
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build HTTP probe request: %w", err)
	}
	headers := http.Header{}
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", UserAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

func httpProbe(req *http.Request, timeout time.Duration) (Result, string, error) {
	transport := &http.Transport{
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet: probes do not verify certificates
		DisableKeepAlives:  true,
		Proxy:              http.ProxyURL(nil),
		DisableCompression: true,
		DialContext:        probeDialer().DialContext,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: timeout, Transport: transport, CheckRedirect: redirectChecker}
	res, err := client.Do(req)
	if err != nil {
		// Errors, timeouts included, are failures.
		return Failure, err.Error(), nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxReadLength))
	if err != nil {
		return Failure, "", fmt.Errorf("read HTTP probe response: %w", err)
	}
	body := string(b)
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return Warning, "Probe terminated redirects, Response body: " + body, nil
		}
		return Success, body, nil
	}
	// The kubelet keeps the body out of the user-facing message (issue 99425).
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// redirectChecker follows redirects only to the same host, at most 10.
func redirectChecker(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func tcpProbe(ctx context.Context, addr string, timeout time.Duration) (Result, string, error) {
	d := probeDialer()
	d.Timeout = timeout
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failure, err.Error(), nil
	}
	_ = conn.Close()
	return Success, "", nil
}

// grpcProbe is the kubelet's gRPC health-checking probe.
func grpcProbe(ctx context.Context, host, service string, port int, timeout time.Duration) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithUserAgent(UserAgent),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return probeDialer().DialContext(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return Failure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
	}
	defer conn.Close()
	// Block until connected, as the kubelet's grpc.WithBlock dial does.
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			return Failure, fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, context.DeadlineExceeded), nil
		}
	}
	resp, err := healthpb.NewHealthClient(conn).Check(metadata.NewOutgoingContext(ctx, metadata.MD{}), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return Failure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " + st.Message(), nil
			case codes.DeadlineExceeded:
				return Failure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
			}
		}
		return Failure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return Success, "service is serving", nil
}

// EventMessage is the text of the event the kubelet records for a probe of kind that
// ended with res, out and err; reason is "Unhealthy" or "ProbeWarning", and ok is false
// when the kubelet records no event (success, or unknown without an error).
func EventMessage(kind Kind, res Result, out string, err error) (reason, msg string, ok bool) {
	switch {
	case err != nil:
		return "Unhealthy", fmt.Sprintf("%s probe errored and resulted in %s state: %s", kind, res, err), true
	case res == Failure:
		return "Unhealthy", fmt.Sprintf("%s probe failed: %s", kind, out), true
	case res == Warning:
		return "ProbeWarning", fmt.Sprintf("%s probe warning: %s", kind, out), true
	}
	return "", "", false
}
