package testserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/agent"
	"github.com/kijabi/kijabi/internal/server"
)

// Server is a running test control plane.
type Server struct {
	*server.Running
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client  kubernetes.Interface
	DataDir string
	// IngressAddr and IngressTLSAddr are where the agent's ingress controller listens
	// (with Options.Agent).
	IngressAddr, IngressTLSAddr string
}

// Options tune Start.
type Options struct {
	// DataDir reuses a data dir (to test restarts); by default a new temporary one.
	DataDir string
	// EtcdServers points the server at an external etcd.
	EtcdServers []string
	// Port fixes the API port (0: a free one).
	Port int
	// Controllers runs the controller manager too. Off by default, so that a test of one
	// controller can run its own copy without another one competing.
	Controllers bool
	// SimulatedNodes runs this many simulated nodes in the server.
	SimulatedNodes int
	// NodeMonitorGracePeriod shortens how long nodes may miss heartbeats (default 40s).
	NodeMonitorGracePeriod time.Duration
	// HPASyncPeriod shortens how often autoscalers are looked at again (default 15s).
	HPASyncPeriod time.Duration
	// JobPodFailureBackoff shortens the Job controller's delay before recreating a failed
	// pod (default 10s).
	JobPodFailureBackoff time.Duration
	// Agent runs a real node agent (kubelet on an embedded containerd) on 127.0.0.1,
	// with its own pod network and bridge; its pods are removed when the test ends.
	// It implies Controllers (node IPAM gives the node its podCIDR).
	Agent bool
	// InsecureRegistries are registries the agent's containerd reaches over plain HTTP.
	InsecureRegistries []string
	// DNSUpstreams are where the agent's cluster DNS forwards other names.
	DNSUpstreams []string
	// ServiceLBPool gives LoadBalancer Services addresses from this pool.
	ServiceLBPool string
}

// Start starts a control plane that stops when the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	lockMachine(t)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	level := slog.LevelWarn
	if os.Getenv("KIJABI_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// klog is process-wide: point it at the test log once, before any client runs.
	klogOnce.Do(func() { klog.SetSlogLogger(log) })
	ctx, cancel := context.WithCancel(context.Background())
	scfg := server.Config{
		DataDir: dir, BindAddress: "127.0.0.1", Port: o.Port, EtcdServers: o.EtcdServers,
		UnsafeNoFsync: true, Log: log, DisableControllers: !o.Controllers, SimulatedNodes: o.SimulatedNodes,
		NodeMonitorGracePeriod: o.NodeMonitorGracePeriod, HPASyncPeriod: o.HPASyncPeriod, JobPodFailureBackoff: o.JobPodFailureBackoff, ServiceLBPool: o.ServiceLBPool,
	}
	var ingressAddr, ingressTLSAddr string
	if o.Agent {
		ingressAddr, ingressTLSAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
		// A pod network and bridge of this test process's own, so that clusters of
		// different test packages never share addresses.
		n := os.Getpid()%100 + 120 // clear of the Service range 10.96.0.0/12
		_, scfg.ClusterCIDR, _ = net.ParseCIDR(fmt.Sprintf("10.%d.0.0/16", n))
		scfg.DisableControllers = false
		scfg.Agent = true
		scfg.Node = agent.Config{
			Bridge: fmt.Sprintf("kjb%d", n), KubeletPort: freePort(t), RemovePodsOnStop: func() bool { return true },
			NodeIP: net.ParseIP("127.0.0.1"), InsecureRegistries: o.InsecureRegistries,
			IngressHTTPAddr: ingressAddr, IngressHTTPSAddr: ingressTLSAddr,
			DNSUpstreams: o.DNSUpstreams, ProxyTable: fmt.Sprintf("kjbproxy%d", n), LBInterface: fmt.Sprintf("kjblb%d", n),
		}
	}
	running, err := server.Start(ctx, scfg)
	if err != nil {
		cancel()
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		running.Stop()
	})
	cfg, err := running.RESTConfig()
	if err != nil {
		t.Fatalf("client config: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return &Server{Running: running, Config: cfg, Client: client, DataDir: dir, IngressAddr: ingressAddr, IngressTLSAddr: ingressTLSAddr}
}

var klogOnce sync.Once

// Tool is a program built once per test process from a Go package of this module (or one of
// its tool dependencies) and removed when the process ends through Main.
type Tool struct {
	pkg, name string

	once sync.Once
	path string
	err  error
	out  []byte
}

// NewTool describes the program built from pkg, named name.
func NewTool(pkg, name string) *Tool { return &Tool{pkg: pkg, name: name} }

var (
	toolsMu  sync.Mutex
	toolDirs []string
)

// Path builds the tool on first use and returns its path.
func (tl *Tool) Path(t testing.TB) string {
	t.Helper()
	tl.once.Do(func() {
		dir, err := os.MkdirTemp("", "kijabi-test-"+tl.name)
		if err != nil {
			tl.err = err
			return
		}
		toolsMu.Lock()
		toolDirs = append(toolDirs, dir)
		toolsMu.Unlock()
		tl.path = filepath.Join(dir, tl.name)
		cmd := exec.Command("go", "build", "-ldflags=-w", "-o", tl.path, tl.pkg) // no DWARF: links faster
		cmd.Dir = moduleRoot()
		tl.out, tl.err = cmd.CombinedOutput()
	})
	if tl.err != nil {
		t.Fatalf("building %s: %v\n%s", tl.name, tl.err, tl.out)
	}
	return tl.path
}

// Main runs a package's tests and then removes every tool built for them: a package whose tests
// call Binary or a Tool has `func TestMain(m *testing.M) { testserver.Main(m) }`, so runs leave
// no 170 MB binaries behind.
func Main(m *testing.M) {
	code := m.Run()
	toolsMu.Lock()
	for _, dir := range toolDirs {
		os.RemoveAll(dir)
	}
	toolsMu.Unlock()
	os.Exit(code)
}

var kijabiTool = NewTool("./cmd/kijabi", "kijabi")

// Binary builds the kijabi binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return kijabiTool.Path(t)
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Result is the outcome of a command.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Kubectl runs `kijabi kubectl` against s with args and returns its output.
func (s *Server) Kubectl(t testing.TB, args ...string) Result {
	t.Helper()
	return s.KubectlIn(t, nil, nil, args...)
}

// KubectlIn runs kubectl with stdin and extra environment variables.
func (s *Server) KubectlIn(t testing.TB, stdin io.Reader, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), append([]string{"kubectl", "--kubeconfig", s.Kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "HOME="+s.DataDir), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	return Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// MustKubectl runs kubectl and fails the test when it fails.
func (s *Server) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	r := s.Kubectl(t, args...)
	if r.Err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}
