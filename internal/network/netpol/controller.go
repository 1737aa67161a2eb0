package netpol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/network/nft"
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

	loop *nft.SyncLoop
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
	log := cfg.Log.With("table", cfg.TableName)
	return &Controller{
		cfg:  cfg,
		log:  log,
		loop: nft.NewSyncLoop(cfg.MinSyncInterval, cfg.FullSyncInterval, log),
	}, nil
}

// Synced is closed once the rules were first written.
func (c *Controller) Synced() <-chan struct{} { return c.loop.Synced() }

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
		AddFunc: func(any) { c.loop.Poke() },
		UpdateFunc: func(o, n any) {
			if changed(o, n) {
				c.loop.Poke()
			}
		},
		DeleteFunc: func(any) { c.loop.Poke() },
	}
}

// Run watches the API and keeps the rules in sync until ctx ends; then it removes its
// table and returns. It returns an error if it cannot start.
func (c *Controller) Run(ctx context.Context) error {
	nsFD, closeNS, err := nft.OpenNetNS(c.cfg.NetNS)
	if err != nil {
		return fmt.Errorf("netpol: %w", err)
	}
	defer closeNS()
	// Pods on one bridge talk through it without being routed: only with br_netfilter
	// calling the IP hooks does the forward chain see their packets.
	if err := nft.WriteSysctl(nsFD, bridgeNFSysctl, "1"); err != nil {
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

	c.loop.Run(ctx, func(full, _ bool) error {
		var err error
		prog, err = c.sync(prog, full)
		return err
	})

	stopInformers()
	if err := prog.deleteTable(); err != nil {
		c.log.Error("cannot remove nftables table", "err", err)
		return fmt.Errorf("netpol: shutdown: %w", err)
	}
	c.log.Info("network policy controller stopped; table removed")
	return nil
}

// sync writes the rules the caches call for; it returns the programmer to use next (a
// failed one is replaced, as its connection may hold part of the failed batch).
func (c *Controller) sync(prog *programmer, full bool) (*programmer, error) {
	start := time.Now()
	rs := Build(c.cfg.TableName, c.model())
	if err := prog.apply(rs, full); err != nil {
		if fresh, perr := newProgrammer(c.cfg.TableName, prog.netnsFD()); perr == nil {
			_ = prog.close()
			prog = fresh
		}
		return prog, err
	}
	c.log.Debug("synced", "full", full, "chains", len(rs.Chains), "sets", len(rs.Sets), "took", time.Since(start))
	return prog, nil
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
