package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// Defaults for Config.
const (
	DefaultMinSyncInterval  = 250 * time.Millisecond
	DefaultFullSyncInterval = time.Hour
)

const routeLocalnetSysctl = "/proc/sys/net/ipv4/conf/all/route_localnet"

// Config configures a Proxier.
type Config struct {
	// Client reads Services and EndpointSlices (through informers).
	Client kubernetes.Interface
	// Informers, when set, is an informer factory shared with the node's other
	// components: the proxy takes its Services and EndpointSlices from it instead of
	// watching them itself. Its owner shuts it down.
	Informers informers.SharedInformerFactory
	// NodeName identifies this node's endpoints (Local traffic policies).
	NodeName string
	// NodeIPs, when set, are the addresses that accept NodePort traffic, besides
	// 127.0.0.1. When empty, every local address of the node does.
	NodeIPs []net.IP
	// ClusterCIDR is the pod network. Traffic to a ClusterIP from outside it is
	// masqueraded. Optional.
	ClusterCIDR *net.IPNet
	// TableName is the nftables table (family ip) to own; default "kijabi-proxy".
	TableName string
	// NetNS is the path of a network namespace file (e.g. /run/netns/NAME) to program
	// instead of the current one; tests use it.
	NetNS string
	// MinSyncInterval is the shortest time between two syncs: changes arriving in
	// between are applied together. Default 250ms.
	MinSyncInterval time.Duration
	// FullSyncInterval is how often the whole table is rewritten. Default 1h.
	FullSyncInterval time.Duration
	// Log receives the proxy's logs; default slog.Default().
	Log *slog.Logger
}

// Proxier keeps the node's nftables service rules in line with the API.
type Proxier struct {
	cfg  Config
	node Node
	log  *slog.Logger

	services cache.Indexer
	slices   cache.Indexer

	loop  *nft.SyncLoop
	mu    sync.Mutex
	dirty map[types.NamespacedName]bool // Services to sync
}

// New checks the configuration and returns a Proxier; Run starts it.
func New(cfg Config) (*Proxier, error) {
	if cfg.Client == nil {
		return nil, errors.New("proxy: Client is required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("proxy: NodeName is required")
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
	node := Node{Name: cfg.NodeName}
	for _, ip := range cfg.NodeIPs {
		if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().Is4() {
			node.IPs = append(node.IPs, a.Unmap())
		}
	}
	if cfg.ClusterCIDR != nil {
		a, ok := netip.AddrFromSlice(cfg.ClusterCIDR.IP)
		ones, bits := cfg.ClusterCIDR.Mask.Size()
		if !ok || !a.Unmap().Is4() || bits != 32 {
			return nil, fmt.Errorf("proxy: ClusterCIDR %s is not an IPv4 network", cfg.ClusterCIDR)
		}
		node.ClusterCIDR = netip.PrefixFrom(a.Unmap(), ones).Masked()
	}
	log := cfg.Log.With("component", "proxy", "table", cfg.TableName)
	return &Proxier{
		cfg:   cfg,
		node:  node,
		log:   log,
		loop:  nft.NewSyncLoop(cfg.MinSyncInterval, cfg.FullSyncInterval, log),
		dirty: map[types.NamespacedName]bool{},
	}, nil
}

// Synced is closed once the rules were first written.
func (p *Proxier) Synced() <-chan struct{} { return p.loop.Synced() }

// serviceIndex indexes EndpointSlices by their Service; the name is the proxy's own, as
// the informer may be shared.
const serviceIndex = "proxy-service"

// stripManagedFields is an informer transform that drops objects' managedFields, which
// the proxy never reads.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

func sliceServiceIndex(obj any) ([]string, error) {
	s, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return nil, nil
	}
	if n, ok := sliceService(s); ok {
		return []string{n.String()}, nil
	}
	return nil, nil
}

func (p *Proxier) markDirty(n types.NamespacedName) {
	p.mu.Lock()
	p.dirty[n] = true
	p.mu.Unlock()
	p.loop.Poke()
}

func objectOf(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

func (p *Proxier) onService(obj any) {
	if s, ok := objectOf(obj).(*v1.Service); ok {
		p.markDirty(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	}
}

func (p *Proxier) onSlice(obj any) {
	if s, ok := objectOf(obj).(*discovery.EndpointSlice); ok {
		if n, ok := sliceService(s); ok {
			p.markDirty(n)
		}
	}
}

func (p *Proxier) onSliceUpdate(oldObj, newObj any) {
	p.onSlice(oldObj) // the service-name label may have changed
	p.onSlice(newObj)
}

// Run watches the API and keeps the rules in sync until ctx ends; then it removes
// its table and returns. It returns an error if it cannot start.
func (p *Proxier) Run(ctx context.Context) error {
	nsFD, closeNS, err := nft.OpenNetNS(p.cfg.NetNS)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer closeNS()
	if err := nft.WriteSysctl(nsFD, routeLocalnetSysctl, "1"); err != nil {
		p.log.Warn("cannot enable route_localnet; localhost NodePorts will not work", "err", err)
	}
	prog, err := newProgrammer(p.cfg.TableName, nsFD)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer func() { _ = prog.close() }()

	factory := p.cfg.Informers
	informerCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	if factory == nil {
		factory = informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, 0, informers.WithTransform(stripManagedFields))
		defer factory.Shutdown()
	} else {
		informerCtx = ctx // shared: they outlive the proxy
	}
	svcInf := factory.Core().V1().Services().Informer()
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{serviceIndex: sliceServiceIndex}); err != nil {
		return fmt.Errorf("proxy: endpointslice index: %w", err)
	}
	svcReg, err := svcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.onService, UpdateFunc: func(_, n any) { p.onService(n) }, DeleteFunc: p.onService,
	})
	if err != nil {
		return fmt.Errorf("proxy: service handler: %w", err)
	}
	defer func() { _ = svcInf.RemoveEventHandler(svcReg) }()
	sliceReg, err := sliceInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.onSlice, UpdateFunc: p.onSliceUpdate, DeleteFunc: p.onSlice,
	})
	if err != nil {
		return fmt.Errorf("proxy: endpointslice handler: %w", err)
	}
	defer func() { _ = sliceInf.RemoveEventHandler(sliceReg) }()
	p.services, p.slices = svcInf.GetIndexer(), sliceInf.GetIndexer()
	factory.Start(informerCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), svcReg.HasSynced, sliceReg.HasSynced) {
		return ctx.Err()
	}
	p.log.Info("service proxy started", "node", p.cfg.NodeName, "minSyncInterval", p.cfg.MinSyncInterval)

	p.loop.Run(ctx, func(full, first bool) error { return p.syncOnce(prog, full, first) })

	stopInformers()
	_ = svcInf.RemoveEventHandler(svcReg)
	_ = sliceInf.RemoveEventHandler(sliceReg)
	if err := prog.deleteTable(); err != nil {
		p.log.Error("cannot remove nftables table", "err", err)
		return fmt.Errorf("proxy: shutdown: %w", err)
	}
	p.log.Info("service proxy stopped; table removed")
	return nil
}

// syncOnce applies what changed, or everything when full; the first sync rewrites the
// table from nothing.
func (p *Proxier) syncOnce(prog *programmer, full, first bool) error {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[types.NamespacedName]bool{}
	p.mu.Unlock()
	start := time.Now()
	if full {
		m := p.buildAll()
		if err := prog.sync(m, first); err != nil {
			return err
		}
		p.log.Debug("full sync", "services", len(m.Services), "took", time.Since(start))
		return nil
	}
	if len(dirty) == 0 {
		return nil
	}
	changes := make(map[types.NamespacedName]*ServiceRules, len(dirty))
	for n := range dirty {
		changes[n] = p.buildOne(n)
	}
	if err := prog.update(changes); err != nil {
		return err
	}
	p.log.Debug("partial sync", "services", len(changes), "took", time.Since(start))
	return nil
}

func (p *Proxier) buildAll() *Model {
	var svcs []*v1.Service
	for _, o := range p.services.List() {
		if s, ok := o.(*v1.Service); ok {
			svcs = append(svcs, s)
		}
	}
	var sl []*discovery.EndpointSlice
	for _, o := range p.slices.List() {
		if s, ok := o.(*discovery.EndpointSlice); ok {
			sl = append(sl, s)
		}
	}
	return Build(p.cfg.TableName, p.node, svcs, sl)
}

func (p *Proxier) buildOne(n types.NamespacedName) *ServiceRules {
	o, exists, err := p.services.GetByKey(n.String())
	if err != nil || !exists {
		return nil
	}
	svc, ok := o.(*v1.Service)
	if !ok {
		return nil
	}
	objs, err := p.slices.ByIndex(serviceIndex, n.String())
	if err != nil {
		return nil
	}
	sl := make([]*discovery.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discovery.EndpointSlice); ok {
			sl = append(sl, s)
		}
	}
	return BuildService(p.node, svc, sl)
}
