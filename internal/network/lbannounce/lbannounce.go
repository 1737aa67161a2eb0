package lbannounce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/controller/servicelb"
)

// Defaults of Config.
const (
	DefaultInterface    = "kijabi-lb"
	DefaultResyncPeriod = 30 * time.Second
)

// retryDelay is how soon a failed reconcile is tried again.
const retryDelay = time.Second

// Config configures Run.
type Config struct {
	// Client reads Services.
	Client kubernetes.Interface
	// Informers, when set, is an informer factory shared with the node's other
	// components: Services come from it instead of a watch of Run's own. Its owner shuts
	// it down.
	Informers informers.SharedInformerFactory
	// NodeName is this node's name, as in the Services' node annotation.
	NodeName string
	// Interface is the dummy link the addresses go on (default DefaultInterface), created when
	// missing (as an empty bridge where the kernel has no dummy driver). An existing link of
	// that name of another type is an error. Run owns it: it is deleted when Run returns.
	Interface string
	// NetNS, when not zero, is the network namespace to work in (tests); zero means the
	// process's own.
	NetNS netns.NsHandle
	// ResyncPeriod is how often the interface is checked without Service events (default
	// DefaultResyncPeriod).
	ResyncPeriod time.Duration
	Log          *slog.Logger
}

// Run keeps the addresses this node answers for on the interface until ctx ends, then deletes
// the interface. It returns an error only when it cannot start or cannot clean up.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.NodeName == "" {
		return errors.New("lbannounce: Client and NodeName are required")
	}
	if cfg.Interface == "" {
		cfg.Interface = DefaultInterface
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	log := cfg.Log.With("interface", cfg.Interface)
	var h *netlink.Handle
	var err error
	if cfg.NetNS != 0 {
		h, err = netlink.NewHandleAt(cfg.NetNS)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("lbannounce: netlink: %w", err)
	}
	defer h.Close()
	a := &announcer{h: h, name: cfg.Interface, node: cfg.NodeName, log: log}

	factory := cfg.Informers
	if factory == nil {
		factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(stripManagedFields))
		defer factory.Shutdown()
	}
	svcInformer := factory.Core().V1().Services()
	a.services = svcInformer.Lister()
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	reg, err := svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, cur any) { poke(cur) }, DeleteFunc: poke,
	})
	if err != nil {
		return fmt.Errorf("lbannounce: adding event handler: %w", err)
	}
	defer func() { _ = svcInformer.Informer().RemoveEventHandler(reg) }()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil
	}
	log.Info("Announcing load-balancer addresses", "node", cfg.NodeName)

	resync := time.NewTicker(cfg.ResyncPeriod)
	defer resync.Stop()
	retry := time.NewTimer(0) // the first reconcile
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := a.cleanup(); err != nil {
				return fmt.Errorf("lbannounce: %w", err)
			}
			log.Info("Stopped announcing load-balancer addresses")
			return nil
		case <-kick:
		case <-resync.C:
		case <-retry.C:
		}
		if err := a.reconcile(); err != nil {
			log.Error("Updating load-balancer addresses failed", "err", err)
			retry.Reset(retryDelay)
		}
	}
}

type announcer struct {
	h        *netlink.Handle
	name     string
	node     string
	services corelisters.ServiceLister
	log      *slog.Logger
}

// desired are the addresses this node answers for: the ingress IPs of the LoadBalancer
// Services whose node annotation names it.
func desired(svcs []*corev1.Service, node string) []netip.Addr {
	var out []netip.Addr
	for _, s := range svcs {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer || s.Annotations[servicelb.AnnotationLoadBalancerNode] != node {
			continue
		}
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(ing.IP); err == nil && ip.Zone() == "" {
				out = append(out, ip.Unmap())
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// reconcile makes the interface hold exactly the desired addresses.
func (a *announcer) reconcile() error {
	svcs, err := a.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	want := desired(svcs, a.node)
	link, err := a.ensureLink()
	if err != nil {
		return err
	}
	have, err := a.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", a.name, err)
	}
	var errs []error
	present := map[netip.Addr]bool{}
	for _, ad := range have {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLinkLocalUnicast() {
			continue // the kernel's own IPv6 link-local address
		}
		ones, bits := ad.Mask.Size()
		if slices.Contains(want, ip) && ones == bits {
			present[ip] = true
			continue
		}
		if err := a.h.AddrDel(link, &ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", ad.IPNet, a.name, err))
			continue
		}
		a.log.Info("Stopped announcing load-balancer address", "address", ad.IPNet.String())
	}
	for _, ip := range want {
		if present[ip] {
			continue
		}
		if err := a.h.AddrAdd(link, hostAddr(ip)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("adding %s to %s: %w", ip, a.name, err))
			continue
		}
		a.log.Info("Announcing load-balancer address", "address", ip.String())
	}
	return errors.Join(errs...)
}

// hostAddr is ip as a host address (/32 or /128); IPv6 ones skip duplicate address detection.
func hostAddr(ip netip.Addr) *netlink.Addr {
	bits := ip.BitLen()
	ad := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(bits, bits)}}
	if ip.Is6() {
		ad.Flags = unix.IFA_F_NODAD
	}
	return ad
}

// ensureLink returns the interface, created and up: a dummy, or where the kernel has no dummy
// driver an empty bridge (which, without ports, is as local-only as a dummy).
func (a *announcer) ensureLink() (netlink.Link, error) {
	link, err := a.h.LinkByName(a.name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		attrs := netlink.LinkAttrs{Name: a.name}
		err := a.h.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
		if errors.Is(err, unix.EOPNOTSUPP) {
			a.log.Warn("The kernel has no dummy interfaces; using an empty bridge instead")
			err = a.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating interface %s: %w", a.name, err)
		}
		if link, err = a.h.LinkByName(a.name); err != nil {
			return nil, fmt.Errorf("looking up %s: %w", a.name, err)
		}
		a.log.Info("Created load-balancer interface", "type", link.Type())
	case err != nil:
		return nil, fmt.Errorf("looking up %s: %w", a.name, err)
	}
	if !ourLinkType(link) {
		return nil, fmt.Errorf("%s is a %s interface, not a dummy", a.name, link.Type())
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := a.h.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("setting %s up: %w", a.name, err)
		}
	}
	return link, nil
}

// ourLinkType reports whether link is of a type Run creates.
func ourLinkType(link netlink.Link) bool {
	return link.Type() == "dummy" || link.Type() == "bridge"
}

// cleanup deletes the interface and with it every address on it.
func (a *announcer) cleanup() error {
	link, err := a.h.LinkByName(a.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up %s: %w", a.name, err)
	}
	if !ourLinkType(link) {
		return nil // not ours: nothing was added to it
	}
	if err := a.h.LinkDel(link); err != nil {
		return fmt.Errorf("deleting %s: %w", a.name, err)
	}
	return nil
}

// stripManagedFields is an informer transform that drops objects' managedFields, which
// the announcer never reads.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}
