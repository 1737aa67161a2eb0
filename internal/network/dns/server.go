package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// DefaultTTL is the TTL of cluster answers, CoreDNS's kubernetes plugin default.
const DefaultTTL = 5

// SchemaVersion is the version of the Kubernetes DNS specification served in the
// dns-version TXT record.
const SchemaVersion = "1.1.0"

// Config configures a Server.
type Config struct {
	// Client reads Services and EndpointSlices (through informers).
	Client kubernetes.Interface
	// Informers, when set, is an informer factory shared with the node's other
	// components: the server takes its Services and EndpointSlices from it instead of
	// watching them itself. Its owner shuts it down.
	Informers informers.SharedInformerFactory
	// Domain is the cluster domain; default cluster.local.
	Domain string
	// Listen lists host:port addresses, each served over UDP and TCP. With port 0 both
	// protocols get the same free port; Addrs tells which.
	Listen []string
	// Upstreams are the resolvers (ip or ip:port) queries outside the cluster domain go
	// to; by default the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstreams when Upstreams is empty; default /etc/resolv.conf.
	ResolvConf string
	// ReverseCIDRs are address ranges (the service and pod CIDRs) whose reverse names are
	// answered here only: an address of them that is no ClusterIP or endpoint is NXDOMAIN
	// rather than forwarded.
	ReverseCIDRs []*net.IPNet
	// TTL of cluster answers in seconds; default DefaultTTL.
	TTL uint32
	// UpstreamTimeout bounds one exchange with one upstream; default 2s.
	UpstreamTimeout time.Duration
	// Log receives the server's logs; default slog.Default().
	Log *slog.Logger
}

// Server is the cluster DNS server.
type Server struct {
	client       kubernetes.Interface
	informers    informers.SharedInformerFactory // nil: Run makes its own
	domain       string                          // lower case, with the trailing dot
	listen       []string
	ttl          uint32
	reverseCIDRs []netip.Prefix
	log          *slog.Logger
	fwd          *forwarder
	idx          *index

	ready   chan struct{}
	running atomic.Bool
	baseCtx atomic.Pointer[context.Context]

	mu    sync.Mutex
	addrs []string

	// informer indexers, set by Run before any event handler runs
	services cache.Indexer
	slices   cache.Indexer
}

// New checks cfg and returns a server to Run.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: no Kubernetes client")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("dns: no listen address")
	}
	for _, l := range cfg.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return nil, fmt.Errorf("dns: listen address %q: %w", l, err)
		}
	}
	domain := strings.ToLower(strings.Trim(cfg.Domain, "."))
	if domain == "" {
		domain = "cluster.local"
	}
	if _, ok := dns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns: invalid domain %q", cfg.Domain)
	}
	domain = dns.Fqdn(domain)
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "dns")
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	ups := cfg.Upstreams
	if len(ups) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		switch {
		case err != nil && cfg.ResolvConf != "":
			return nil, fmt.Errorf("dns: reading upstreams: %w", err)
		case err != nil:
			log.Warn("no upstream resolvers: queries outside the cluster domain will fail", "err", err)
		default:
			for _, s := range cc.Servers {
				ups = append(ups, net.JoinHostPort(s, cc.Port))
			}
		}
	}
	var upstreams []string
	for _, u := range ups {
		addr, err := upstreamAddr(u)
		if err != nil {
			return nil, fmt.Errorf("dns: upstream %q: %w", u, err)
		}
		if loops(addr, cfg.Listen) {
			log.Warn("ignoring upstream that is this server", "upstream", addr)
			continue
		}
		upstreams = append(upstreams, addr)
	}
	timeout := cfg.UpstreamTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	s := &Server{
		client: cfg.Client, informers: cfg.Informers, domain: domain, listen: cfg.Listen, ttl: ttl, log: log,
		fwd:   newForwarder(upstreams, timeout, log),
		idx:   newIndex(domain, time.Now),
		ready: make(chan struct{}),
	}
	for _, n := range cfg.ReverseCIDRs {
		if n == nil {
			continue
		}
		p, ok := netipPrefix(n)
		if !ok {
			return nil, fmt.Errorf("dns: invalid reverse CIDR %v", n)
		}
		s.reverseCIDRs = append(s.reverseCIDRs, p)
	}
	return s, nil
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	if a.Is4() && ones > 32 {
		ones -= 96
	}
	p, err := a.Prefix(ones)
	return p, err == nil
}

// upstreamAddr returns ip or host:port as host:port, port 53 by default.
func upstreamAddr(u string) (string, error) {
	if a, err := netip.ParseAddr(u); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil {
		return "", err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("invalid port: %w", err)
	}
	return net.JoinHostPort(host, port), nil
}

// loops tells whether upstream is one of the listen addresses.
func loops(upstream string, listen []string) bool {
	uh, up, _ := net.SplitHostPort(upstream)
	ua, err := netip.ParseAddr(uh)
	if err != nil {
		return false
	}
	for _, l := range listen {
		lh, lp, _ := net.SplitHostPort(l)
		if lp != up || lp == "0" {
			continue
		}
		la, err := netip.ParseAddr(lh)
		if lh == "" || (err == nil && la.IsUnspecified()) {
			if ua.IsLoopback() || ua.IsUnspecified() {
				return true
			}
			continue
		}
		if err == nil && la.Unmap() == ua.Unmap() {
			return true
		}
	}
	return false
}

// Ready is closed once the server listens on all its addresses and its caches have
// synced.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the host:port addresses the server listens on (UDP and TCP each), in the
// order of Config.Listen; empty before Run has bound them.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// sliceServiceIndex indexes EndpointSlices by their Service; the name is the server's
// own, as the informer may be shared.
const sliceServiceIndex = "dns-service"

// Run serves until ctx ends. It returns an error when it cannot listen or a listener fails.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dns: server already ran")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.baseCtx.Store(&ctx)

	type pair struct {
		pc net.PacketConn
		l  net.Listener
	}
	var pairs []pair
	closeAll := func() {
		for _, p := range pairs {
			p.pc.Close()
			p.l.Close()
		}
	}
	var addrs []string
	for _, a := range s.listen {
		pc, l, err := listenPair(a)
		if err != nil {
			closeAll()
			return fmt.Errorf("dns: listening on %s: %w", a, err)
		}
		pairs = append(pairs, pair{pc, l})
		addrs = append(addrs, l.Addr().String())
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()

	factory := s.informers
	if factory == nil {
		factory = informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(stripManagedFields))
		defer factory.Shutdown()
	}
	svcInf := factory.Core().V1().Services().Informer()
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{sliceServiceIndex: sliceServiceKey}); err != nil {
		closeAll()
		return fmt.Errorf("dns: endpointslice index: %w", err)
	}
	s.services, s.slices = svcInf.GetIndexer(), sliceInf.GetIndexer()
	svcReg, err := svcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onService,
		UpdateFunc: func(_, n any) { s.onService(n) },
		DeleteFunc: s.onService,
	})
	if err != nil {
		closeAll()
		return fmt.Errorf("dns: service handler: %w", err)
	}
	defer func() { _ = svcInf.RemoveEventHandler(svcReg) }()
	sliceReg, err := sliceInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.onSlice,
		UpdateFunc: func(o, n any) {
			os, _ := o.(*discoveryv1.EndpointSlice)
			ns, _ := n.(*discoveryv1.EndpointSlice)
			if os != nil && ns != nil && os.Labels[discoveryv1.LabelServiceName] != ns.Labels[discoveryv1.LabelServiceName] {
				s.onSlice(o)
			}
			s.onSlice(n)
		},
		DeleteFunc: s.onSlice,
	})
	if err != nil {
		closeAll()
		return fmt.Errorf("dns: endpointslice handler: %w", err)
	}
	defer func() { _ = sliceInf.RemoveEventHandler(sliceReg) }()
	factory.Start(ctx.Done())

	handler := dns.HandlerFunc(s.ServeDNS)
	servers := make([]*dns.Server, 0, 2*len(pairs))
	for _, p := range pairs {
		servers = append(servers,
			&dns.Server{PacketConn: p.pc, Handler: handler, UDPSize: dns.MaxMsgSize},
			&dns.Server{Listener: p.l, Handler: handler, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	s.log.Info("serving cluster DNS", "addrs", addrs, "domain", s.domain, "upstreams", s.fwd.upstreams)

	go func() {
		if cache.WaitForCacheSync(ctx.Done(), svcReg.HasSynced, sliceReg.HasSynced) {
			s.idx.mu.Lock()
			s.idx.synced = true
			s.idx.mu.Unlock()
			close(s.ready)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("dns: server stopped: %w", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	for _, srv := range servers {
		if err := srv.ShutdownContext(sctx); err != nil && !strings.Contains(err.Error(), "not started") {
			s.log.Debug("shutting down listener", "err", err)
		}
	}
	closeAll()
	return runErr
}

// listenPair listens on addr over UDP and TCP, with the same port when addr's is 0.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	if p != "0" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			l.Close()
			return nil, nil, err
		}
		return pc, l, nil
	}
	var lastErr error
	for range 32 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return pc, l, nil
		}
		l.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", lastErr)
}

// stripManagedFields is an informer transform that drops objects' managedFields, which
// the server never reads.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func (s *Server) onService(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if svc, ok := obj.(*corev1.Service); ok {
		s.syncService(svc.Namespace, svc.Name)
	}
}

func (s *Server) onSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	sl, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if name := sl.Labels[discoveryv1.LabelServiceName]; name != "" {
		s.syncService(sl.Namespace, name)
	}
}

// syncService recomputes the index entry of one Service from the informer caches.
func (s *Server) syncService(namespace, name string) {
	key := namespace + "/" + name
	s.idx.update(namespace, name, func() *service {
		obj, exists, err := s.services.GetByKey(key)
		if err != nil || !exists {
			return nil
		}
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return nil
		}
		objs, err := s.slices.ByIndex(sliceServiceIndex, key)
		if err != nil {
			s.log.Warn("listing endpointslices", "service", key, "err", err)
		}
		sl := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			if e, ok := o.(*discoveryv1.EndpointSlice); ok {
				sl = append(sl, e)
			}
		}
		return buildService(s.domain, svc, sl)
	})
}

// context returns the context of the running server, for forwarding.
func (s *Server) context() context.Context {
	if p := s.baseCtx.Load(); p != nil {
		return *p
	}
	return context.Background()
}
