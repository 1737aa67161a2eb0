package netpol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Defaults for Config.
const (
	DefaultMinSyncInterval  = 100 * time.Millisecond
	DefaultFullSyncInterval = time.Hour
)

const bridgeNFSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// Config configures a Controller.
type Config struct {
	// Client reads pods, namespaces and NetworkPolicies (through informers).
	Client kubernetes.Interface
	// Informers, when set, is an informer factory shared with the node's other
	// components: namespaces and NetworkPolicies come from it. Pods are always watched
	// through a factory of the controller's own, which keeps only what policies read of
	// them. Its owner shuts it down.
	Informers informers.SharedInformerFactory
	// NodeName says which pods are this node's to protect.
	NodeName string
	// TableName is the nftables table (family ip) to own; default "kijabi-netpol".
	TableName string
	// NetNS is the path of a network namespace file (e.g. /run/netns/NAME) to program
	// instead of the current one; tests use it.
	NetNS string
	// MinSyncInterval is the shortest time between two syncs: changes arriving in
	// between are applied together. Default 100ms.
	MinSyncInterval time.Duration
	// FullSyncInterval is how often the whole table is rewritten. Default 1h.
	FullSyncInterval time.Duration
	// Log receives the controller's logs; default slog.Default().
	Log *slog.Logger
}

// Controller keeps the node's nftables network policy rules in line with the API.
type Controller struct {
	cfg Config
	log *slog.Logger

	pods, namespaces, policies cache.Indexer

	mu       sync.Mutex
	needFull bool
	kick     chan struct{}
	synced   chan struct{} // closed after the first successful sync
}

// New checks the configuration and returns a Controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("netpol: Client is required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("netpol: NodeName is required")
	}
	if cfg.TableName == "" {
		cfg.TableName = DefaultTableName
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = DefaultMinSyncInterval
	}
	if cfg.FullSyncInterval <= 0 {
		cfg.FullSyncInterval = DefaultFullSyncInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Controller{
		cfg:      cfg,
		log:      cfg.Log.With("table", cfg.TableName),
		needFull: true,
		kick:     make(chan struct{}, 1),
		synced:   make(chan struct{}),
	}, nil
}

// Synced is closed once the rules were first written.
func (c *Controller) Synced() <-chan struct{} { return c.synced }

func (c *Controller) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// slimPod is the pod informer's transform: it keeps only what policies read (labels,
// node, addresses, phase, named ports), so that watching every pod of the cluster
// costs little memory.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil
	}
	out := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec:   v1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status: v1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}
	for _, c := range p.Spec.Containers {
		if len(c.Ports) > 0 {
			out.Spec.Containers = append(out.Spec.Containers, v1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	for _, c := range p.Spec.InitContainers {
		if len(c.Ports) > 0 && c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			out.Spec.InitContainers = append(out.Spec.InitContainers, v1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
		}
	}
	return out, nil
}

// podChanged says whether an update can change the rules: most pod updates are
// status changes policies do not read.
func podChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*v1.Pod)
	n, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return !maps.Equal(o.Labels, n.Labels) || o.Spec.NodeName != n.Spec.NodeName ||
		o.Spec.HostNetwork != n.Spec.HostNetwork || o.Status.Phase != n.Status.Phase ||
		o.Status.PodIP != n.Status.PodIP || !equality.Semantic.DeepEqual(o.Status.PodIPs, n.Status.PodIPs) ||
		!equality.Semantic.DeepEqual(o.Spec.Containers, n.Spec.Containers) ||
		!equality.Semantic.DeepEqual(o.Spec.InitContainers, n.Spec.InitContainers)
}

func namespaceChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*v1.Namespace)
	n, ok2 := newObj.(*v1.Namespace)
	return !ok1 || !ok2 || !maps.Equal(o.Labels, n.Labels)
}

func policyChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*networkingv1.NetworkPolicy)
	n, ok2 := newObj.(*networkingv1.NetworkPolicy)
	return !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.Spec, n.Spec)
}

func (c *Controller) handler(changed func(o, n any) bool) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.poke() },
		UpdateFunc: func(o, n any) {
			if changed(o, n) {
				c.poke()
			}
		},
		DeleteFunc: func(any) { c.poke() },
	}
}

// Run watches the API and keeps the rules in sync until ctx ends; then it removes its
// table and returns. It returns an error if it cannot start.
func (c *Controller) Run(ctx context.Context) error {
	nsFD := -1
	if c.cfg.NetNS != "" {
		fd, err := unix.Open(c.cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("netpol: open network namespace %s: %w", c.cfg.NetNS, err)
		}
		nsFD = fd
		defer func() { _ = unix.Close(fd) }()
	}
	// Pods on one bridge talk through it without being routed: only with br_netfilter
	// calling the IP hooks does the forward chain see their packets.
	if err := inNetNS(nsFD, func() error { return os.WriteFile(bridgeNFSysctl, []byte("1"), 0o644) }); err != nil {
		c.log.Warn("br_netfilter is not loaded (modprobe br_netfilter): traffic between pods of this node is not filtered", "err", err)
	}
	prog, err := newProgrammer(c.cfg.TableName, nsFD)
	if err != nil {
		return fmt.Errorf("netpol: %w", err)
	}
	defer func() { _ = prog.close() }()

	informerCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	podFactory := informers.NewSharedInformerFactoryWithOptions(c.cfg.Client, 0, informers.WithTransform(slimPod))
	defer podFactory.Shutdown()
	factory := c.cfg.Informers
	if factory == nil {
		factory = podFactory
	}
	podInf := podFactory.Core().V1().Pods().Informer()
	nsInf := factory.Core().V1().Namespaces().Informer()
	npInf := factory.Networking().V1().NetworkPolicies().Informer()
	var regs []cache.ResourceEventHandlerRegistration
	defer func() {
		for i, inf := range []cache.SharedIndexInformer{podInf, nsInf, npInf}[:len(regs)] {
			_ = inf.RemoveEventHandler(regs[i])
		}
	}()
	for _, h := range []struct {
		inf     cache.SharedIndexInformer
		changed func(o, n any) bool
	}{{podInf, podChanged}, {nsInf, namespaceChanged}, {npInf, policyChanged}} {
		reg, err := h.inf.AddEventHandler(c.handler(h.changed))
		if err != nil {
			return fmt.Errorf("netpol: event handler: %w", err)
		}
		regs = append(regs, reg)
	}
	c.pods, c.namespaces, c.policies = podInf.GetIndexer(), nsInf.GetIndexer(), npInf.GetIndexer()
	podFactory.Start(informerCtx.Done())
	if factory != podFactory {
		factory.Start(ctx.Done()) // shared: they outlive the controller
	}
	if !cache.WaitForCacheSync(ctx.Done(), regs[0].HasSynced, regs[1].HasSynced, regs[2].HasSynced) {
		return ctx.Err()
	}
	c.log.Info("network policy controller started", "node", c.cfg.NodeName)

	prog = c.loop(ctx, prog)

	stopInformers()
	if err := prog.deleteTable(); err != nil {
		c.log.Error("cannot remove nftables table", "err", err)
		return fmt.Errorf("netpol: shutdown: %w", err)
	}
	c.log.Info("network policy controller stopped; table removed")
	return nil
}

// loop syncs on every change, at most once per MinSyncInterval, until ctx ends; it
// returns the programmer in use (a failed one is replaced).
func (c *Controller) loop(ctx context.Context, prog *programmer) *programmer {
	fullTimer := time.NewTimer(c.cfg.FullSyncInterval)
	defer fullTimer.Stop()
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	first := true
	var last time.Time
	backoff := c.cfg.MinSyncInterval
	c.poke()
	for {
		select {
		case <-ctx.Done():
			return prog
		case <-c.kick:
		case <-fullTimer.C:
			c.mu.Lock()
			c.needFull = true
			c.mu.Unlock()
		}
		if wait := time.Until(last.Add(c.cfg.MinSyncInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return prog
			case <-t.C:
			}
		}
		c.mu.Lock()
		full := c.needFull
		c.needFull = false
		c.mu.Unlock()
		start := time.Now()
		rs := Build(c.cfg.TableName, c.model())
		err := prog.apply(rs, full)
		last = time.Now()
		if err != nil {
			c.log.Error("sync failed; retrying with a full sync", "err", err, "in", backoff)
			c.mu.Lock()
			c.needFull = true
			c.mu.Unlock()
			// The connection may hold part of the failed batch: start a new one.
			if fresh, perr := newProgrammer(c.cfg.TableName, prog.netnsFD()); perr == nil {
				_ = prog.close()
				prog = fresh
			}
			retry = time.AfterFunc(backoff, c.poke)
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = c.cfg.MinSyncInterval
		if full {
			fullTimer.Reset(c.cfg.FullSyncInterval)
		}
		c.log.Debug("synced", "full", full, "chains", len(rs.Chains), "sets", len(rs.Sets), "took", time.Since(start))
		if first {
			first = false
			close(c.synced)
		}
	}
}

// model computes the policy model from the informers' caches.
func (c *Controller) model() *Model {
	policies := listOf[*networkingv1.NetworkPolicy](c.policies)
	if len(policies) == 0 {
		return &Model{}
	}
	return Compute(c.cfg.NodeName, listOf[*v1.Pod](c.pods), listOf[*v1.Namespace](c.namespaces), policies)
}

func listOf[T any](idx cache.Indexer) []T {
	objs := idx.List()
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// inNetNS runs fn on a thread in the network namespace nsFD (the current one when
// nsFD < 0): /proc/sys/net shows the namespace of the thread that opens it.
func inNetNS(nsFD int, fn func() error) error {
	if nsFD < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer func() { _ = unix.Close(orig) }()
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // otherwise the thread ends with the goroutine
		}
		errc <- ferr
	}()
	return <-errc
}
