package server

import (
	"cmp"
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/agent"
	"github.com/kijabi/kijabi/internal/apiserver"
	"github.com/kijabi/kijabi/internal/auth"
	"github.com/kijabi/kijabi/internal/auth/rbac"
	"github.com/kijabi/kijabi/internal/controller/servicelb"
	"github.com/kijabi/kijabi/internal/controllermanager"
	"github.com/kijabi/kijabi/internal/pki"
	"github.com/kijabi/kijabi/internal/simnode"
	"github.com/kijabi/kijabi/internal/storage"
)

// Config configures a control plane.
// DefaultEtcdCompactionInterval is how often the server compacts etcd, keeping one to two
// intervals of history: enough for watchers that reconnect (the watch cache itself keeps
// 75 s of events; older resumes get 410 Gone and relist, as after any compaction), and
// short enough that etcd's database, whose pages the server maps, does not grow with every
// write of a busy minute. kube-apiserver's default is 5 minutes.
const DefaultEtcdCompactionInterval = time.Minute

type Config struct {
	// DataDir holds etcd's data (unless EtcdServers is set), the certificates and the admin
	// kubeconfig.
	DataDir string
	// BindAddress and Port are where the API server listens (port 0 picks a free one).
	BindAddress string
	Port        int
	// AdvertiseAddress is the address other nodes and pods use to reach the API server;
	// by default the first non-loopback address of this host.
	AdvertiseAddress net.IP
	// EtcdServers, when set, are the client URLs of an external etcd cluster.
	EtcdServers []string
	// EtcdCompactionInterval is how often etcd's history is compacted, keeping at least
	// that much of it (default DefaultEtcdCompactionInterval; negative: never).
	EtcdCompactionInterval time.Duration
	// EtcdClientPort and EtcdPeerPort are the embedded etcd's loopback ports (0: free ones).
	EtcdClientPort, EtcdPeerPort int
	// ServiceCIDR is the ClusterIP range.
	ServiceCIDR *net.IPNet
	// NodePortRange is "min-max".
	NodePortRange string
	// Kubeconfig is where the admin kubeconfig is written (default DataDir/kubeconfig.yaml).
	Kubeconfig string
	// UnsafeNoFsync speeds up embedded etcd at the cost of durability (tests only).
	UnsafeNoFsync bool
	// AuthorizationMode is "RBAC" (the default) or "AlwaysAllow" (every authenticated
	// request is allowed).
	AuthorizationMode string
	// DisableControllers runs the API server without the controller manager and the
	// scheduler.
	DisableControllers bool
	// DisableScheduler and DisableControllerManager leave one of the two out (to run it as
	// its own process, or another scheduler in its place).
	DisableScheduler, DisableControllerManager bool
	// SimulatedNodes runs this many simulated nodes (internal/simnode) in the process.
	SimulatedNodes int
	// ClusterCIDR is the pod network, cut into one /24 per node (default 10.244.0.0/16).
	ClusterCIDR *net.IPNet
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before it is marked
	// unreachable (default 40s).
	NodeMonitorGracePeriod time.Duration
	// HPASyncPeriod is how often every HorizontalPodAutoscaler is looked at again (default
	// 15s).
	HPASyncPeriod time.Duration
	// JobPodFailureBackoff is how long the Job controller waits before recreating a failed
	// pod (default 10s, doubling per further failure).
	JobPodFailureBackoff time.Duration
	// ServiceLBPool is where LoadBalancer Services get addresses from (prefixes, ranges
	// "a-b" or addresses, comma-separated); empty: the nodes' addresses.
	ServiceLBPool string
	// Agent runs a node agent (the kubelet, on an embedded containerd unless
	// Node.ContainerRuntimeEndpoint is set) in the process.
	Agent bool
	// Node configures that agent; DataDir, NodeIP and credentials are filled in.
	Node agent.Config
	Log  *slog.Logger
}

// Running is a started control plane.
type Running struct {
	// URL is the API server's address, e.g. https://127.0.0.1:6443.
	URL string
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	backend    *storage.Backend
	http       *http.Server
	cancel     context.CancelFunc
	done       chan struct{}
	stopOnce   sync.Once
	err        error
	// components are the in-process clients of the API (controllers, scheduler...).
	components     sync.WaitGroup
	stopComponents context.CancelFunc
	// agent is the in-process node agent, when there is one.
	agent *agentRunner
	// informers are the ones the in-process components share, when they run.
	informers *sharedInformers
}

// RESTConfig returns an admin client configuration.
func (r *Running) RESTConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", r.Kubeconfig)
}

// Stop shuts the control plane down and waits for it.
func (r *Running) Stop() error {
	r.stopOnce.Do(func() {
		// Components first, while the API still answers (they release their leases).
		r.stopComponents()
		r.components.Wait()
		if r.informers != nil {
			r.informers.wait()
		}
		r.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.http.Shutdown(ctx); err != nil {
			r.http.Close()
		}
		<-r.done
		if err := r.backend.Close(); err != nil && r.err == nil {
			r.err = err
		}
	})
	return r.err
}

// Done is closed when the API server stops serving.
func (r *Running) Done() <-chan struct{} { return r.done }

// Start starts etcd and the API server and returns once the server accepts requests.
func Start(ctx context.Context, cfg Config) (*Running, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, errors.New("server: a data dir is required")
	}
	switch cfg.AuthorizationMode {
	case "", AuthorizationRBAC, AuthorizationAlwaysAllow:
	default:
		return nil, fmt.Errorf("server: unknown authorization mode %q (want %s or %s)", cfg.AuthorizationMode, AuthorizationRBAC, AuthorizationAlwaysAllow)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: creating data dir: %w", err)
	}
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir, "ca", "kijabi-ca")
	if err != nil {
		return nil, err
	}
	advertise := cfg.AdvertiseAddress
	if advertise == nil {
		advertise = HostAddress()
	}
	bind := cfg.BindAddress
	if bind == "" {
		bind = "0.0.0.0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("server: listening for the API: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	serviceCIDR := cfg.ServiceCIDR
	if serviceCIDR == nil {
		_, serviceCIDR, _ = net.ParseCIDR("10.96.0.0/12")
	}
	hostname, _ := os.Hostname()
	hosts := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		hosts = append(hosts, hostname)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), firstIP(serviceCIDR)}
	if advertise != nil {
		ips = append(ips, advertise)
	}
	certFile, keyFile, err := ca.ServingCert(tlsDir, "apiserver", "kube-apiserver", hosts, ips)
	if err != nil {
		ln.Close()
		return nil, err
	}
	adminCert, adminKey, err := ca.ClientCert(tlsDir, "admin", "system:admin", []string{auth.GroupMasters})
	if err != nil {
		ln.Close()
		return nil, err
	}
	kubeletClientCert, kubeletClientKey, err := ca.ClientCert(tlsDir, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{auth.GroupMasters})
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The front proxy (the aggregator) has a CA of its own, as with kubeadm: extension API
	// servers trust the user it names only from a certificate of that CA, which the API
	// server itself does not take as a client certificate.
	frontProxyCA, err := pki.LoadOrCreateCA(tlsDir, "front-proxy-ca", "front-proxy-ca")
	if err != nil {
		ln.Close()
		return nil, err
	}
	proxyClientCert, proxyClientKey, err := frontProxyCA.ClientCert(tlsDir, "front-proxy-client", FrontProxyClientName, nil)
	if err != nil {
		ln.Close()
		return nil, err
	}
	saKey, err := pki.LoadOrCreateServiceAccountKey(tlsDir)
	if err != nil {
		ln.Close()
		return nil, err
	}
	saIssuer, err := auth.NewTokenIssuer(auth.DefaultServiceAccountIssuer, saKey)
	if err != nil {
		ln.Close()
		return nil, err
	}
	audiences := []string{auth.DefaultServiceAccountIssuer}
	// Objects is set once the API server exists, before it serves.
	saTokens := &auth.ServiceAccountTokens{Issuer: saIssuer.Issuer(), Keys: []crypto.PublicKey{saKey.Public()},
		Audiences: audiences, Legacy: true}

	var backend *storage.Backend
	if len(cfg.EtcdServers) > 0 {
		backend, err = storage.OpenExternal(ctx, cfg.EtcdServers)
	} else {
		backend, err = storage.OpenEmbedded(ctx, storage.EmbeddedConfig{
			Dir: filepath.Join(cfg.DataDir, "etcd"), ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort,
			UnsafeNoFsync: cfg.UnsafeNoFsync,
		}, log)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	lbPool, err := servicelb.ParsePool(cfg.ServiceLBPool)
	if err != nil {
		ln.Close()
		backend.Close()
		return nil, fmt.Errorf("server: --service-lb-pool: %w", err)
	}
	portMin, portMax, err := parsePortRange(cfg.NodePortRange)
	if err != nil {
		ln.Close()
		backend.Close()
		return nil, err
	}
	api, err := apiserver.New(apiserver.Config{
		Storage: backend, ServiceCIDR: serviceCIDR, NodePortMin: portMin, NodePortMax: portMax,
		AdvertiseAddress: advertise, Port: port,
		Authenticator:         auth.Union{auth.ClientCert{}, saTokens},
		Authorizer:            authorizer(cfg.AuthorizationMode),
		KubeletClientCertFile: kubeletClientCert, KubeletClientKeyFile: kubeletClientKey,
		ServiceAccountIssuer: saIssuer, APIAudiences: audiences, RootCA: ca.CertPEM,
		ClientCA: ca.CertPEM, RequestHeaderCA: frontProxyCA.CertPEM, RequestHeaderAllowedNames: []string{FrontProxyClientName},
		ProxyClientCertFile: proxyClientCert, ProxyClientKeyFile: proxyClientKey,
		CompactionInterval: cmp.Or(cfg.EtcdCompactionInterval, DefaultEtcdCompactionInterval),
		Log:                log,
	})
	if err != nil {
		ln.Close()
		backend.Close()
		return nil, err
	}
	saTokens.Objects = api.ServiceAccountObjects()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := api.Start(runCtx); err != nil {
		cancel()
		ln.Close()
		backend.Close()
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		cancel()
		ln.Close()
		backend.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    ca.Pool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
	}
	url := "https://" + net.JoinHostPort(urlHost(bind), strconv.Itoa(port))
	kubeconfig := cfg.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = filepath.Join(cfg.DataDir, "kubeconfig.yaml")
	}
	if err := pki.WriteKubeconfig(kubeconfig, url, ca.CertPEM, adminCert, adminKey, "kijabi", "admin"); err != nil {
		cancel()
		ln.Close()
		backend.Close()
		return nil, err
	}
	r := &Running{URL: url, Kubeconfig: kubeconfig, backend: backend, http: srv, cancel: cancel, done: make(chan struct{}), stopComponents: func() {}}
	go func() {
		defer close(r.done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.err = err
			log.Error("API server stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			r.Stop()
		case <-r.done:
		}
	}()
	log.Info("API server ready", "url", url, "kubeconfig", kubeconfig)
	componentCtx, stopComponents := context.WithCancel(runCtx)
	r.stopComponents = stopComponents
	if !cfg.DisableControllers && !(cfg.DisableScheduler && cfg.DisableControllerManager) {
		cmConfig, err := componentConfig(ca, tlsDir, url, "controller-manager", "system:kube-controller-manager", nil)
		if err != nil {
			r.Stop()
			return nil, err
		}
		// The controllers and the scheduler read pods, nodes and namespaces from one set of
		// informers (as the controller manager, whose role may list and watch everything).
		shared, err := newProcessInformers(cmConfig, componentCtx.Done())
		if err != nil {
			r.Stop()
			return nil, err
		}
		r.informers = shared
		if !cfg.DisableControllerManager {
			r.components.Add(1)
			go func() {
				defer r.components.Done()
				err := controllermanager.Run(componentCtx, controllermanager.Config{REST: cmConfig, LeaderElection: true,
					ClusterCIDR: cfg.ClusterCIDR, NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod, HPASyncPeriod: cfg.HPASyncPeriod, JobPodFailureBackoff: cfg.JobPodFailureBackoff, ServiceLBPool: lbPool,
					LocalPathDir: filepath.Join(cfg.DataDir, "storage"), NodeName: hostname,
					ClusterSigningCertFile: filepath.Join(tlsDir, "ca.crt"), ClusterSigningKeyFile: filepath.Join(tlsDir, "ca.key"),
					Informers: shared.session(), Log: log.With("component", "controller-manager")})
				if err != nil && componentCtx.Err() == nil {
					log.Error("controller manager stopped", "err", err)
				}
			}()
		}
		if !cfg.DisableScheduler {
			schedConfig, err := componentConfig(ca, tlsDir, url, "scheduler", "system:kube-scheduler", nil)
			if err != nil {
				r.Stop()
				return nil, err
			}
			r.components.Add(1)
			go func() {
				defer r.components.Done()
				if err := runScheduler(componentCtx, schedConfig, "", true, shared.session(), log.With("component", "scheduler")); err != nil && componentCtx.Err() == nil {
					log.Error("scheduler stopped", "err", err)
				}
			}()
		}
	}
	if cfg.Agent {
		if err := r.startAgent(componentCtx, cfg, ca, tlsDir, url, advertise, serviceCIDR, log); err != nil {
			r.Stop()
			return nil, err
		}
	}
	if cfg.SimulatedNodes > 0 {
		if err := r.startSimnodes(componentCtx, ca, tlsDir, url, cfg.SimulatedNodes, log); err != nil {
			r.Stop()
			return nil, err
		}
	}
	return r, nil
}

// authorizer returns the authorizer of a mode (Start has checked it).
func authorizer(mode string) auth.Authorizer {
	if mode == AuthorizationAlwaysAllow {
		return auth.AllowAll{}
	}
	return rbac.New()
}

// FrontProxyClientName is the common name of the front-proxy client certificate.
const FrontProxyClientName = "front-proxy-client"

// Authorization modes.
const (
	AuthorizationRBAC        = "RBAC"
	AuthorizationAlwaysAllow = "AlwaysAllow"
)

// DefaultClusterCIDR is the pod network when none is configured.
const DefaultClusterCIDR = "10.244.0.0/16"

// componentConfig returns a client configuration with its own client certificate.
func componentConfig(ca *pki.CA, tlsDir, url, name, user string, groups []string) (*rest.Config, error) {
	cert, key, err := ca.ClientCert(tlsDir, name, user, groups)
	if err != nil {
		return nil, err
	}
	return &rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertFile: cert, KeyFile: key}}, nil
}

func (r *Running) startSimnodes(ctx context.Context, ca *pki.CA, tlsDir, url string, n int, log *slog.Logger) error {
	rc, err := componentConfig(ca, tlsDir, url, "simnode", "system:node:simulated", []string{"system:nodes"})
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 1000, 2000
	rc.UserAgent = "kijabi-simnode"
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeProtobuf, protobufOrJSON
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	c, err := simnode.New(simnode.Config{Client: client, Nodes: n, Log: log.With("component", "simnode")})
	if err != nil {
		return err
	}
	r.components.Add(1)
	go func() {
		defer r.components.Done()
		if err := c.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("simulated nodes stopped", "err", err)
		}
	}()
	return nil
}

func urlHost(bind string) string {
	if bind == "0.0.0.0" || bind == "::" || bind == "" {
		return "127.0.0.1"
	}
	return bind
}

func parsePortRange(s string) (int, int, error) {
	if s == "" {
		return 30000, 32767, nil
	}
	var lo, hi int
	if _, err := fmt.Sscanf(s, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo || hi > 65535 {
		return 0, 0, fmt.Errorf("server: invalid node port range %q (want MIN-MAX)", s)
	}
	return lo, hi, nil
}

func firstIP(cidr *net.IPNet) net.IP {
	ip := make(net.IP, len(cidr.IP))
	copy(ip, cidr.IP)
	ip[len(ip)-1]++
	return ip
}

// HostAddress is the first global unicast IPv4 address of this host, or nil.
func HostAddress() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.To4()
		}
	}
	return nil
}

// Compact compacts etcd's history up to now, as the periodic compactor eventually does.
func (r *Running) Compact(ctx context.Context) error {
	return storage.CompactNow(ctx, r.backend.Client)
}
