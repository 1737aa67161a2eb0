package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/network/dns"
	"github.com/kijabi/kijabi/internal/network/ingress"
	"github.com/kijabi/kijabi/internal/network/lbannounce"
	"github.com/kijabi/kijabi/internal/network/netpol"
	"github.com/kijabi/kijabi/internal/network/proxy"
)

// addons runs the node's network components: those that need nothing start with the
// agent; cluster DNS starts once the pod network exists, on the bridge's gateway address
// (reachable from every pod, and never taken by a resolver of the host).
type addons struct {
	cfg    Config
	client kubernetes.Interface
	// informers is shared with the kubelet (the ingress controller, which watches more,
	// has its own).
	informers informers.SharedInformerFactory
	log       *slog.Logger
	// base is log without its component, for the add-ons that name themselves.
	base *slog.Logger
	wg   sync.WaitGroup
	once sync.Once
}

func (a *addons) goRun(ctx context.Context, what string, run func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error(what+" stopped", "err", err)
		}
	}()
}

// start runs what does not wait for the pod network.
func (a *addons) start(ctx context.Context) {
	if a.cfg.DisableNetworkAddons {
		return
	}
	px, err := proxy.New(proxy.Config{
		Client: a.client, Informers: a.informers, NodeName: a.cfg.NodeName, NodeIPs: []net.IP{a.cfg.NodeIP},
		ClusterCIDR: a.cfg.ClusterCIDR, TableName: a.cfg.ProxyTable, Log: a.base,
	})
	if err != nil {
		a.log.Error("service proxy", "err", err)
	} else {
		a.goRun(ctx, "service proxy", px.Run)
	}
	if !a.cfg.DisableNetworkPolicy {
		np, err := netpol.New(netpol.Config{
			Client: a.client, Informers: a.informers, NodeName: a.cfg.NodeName, TableName: netpolTable(a.cfg),
			Log: a.base.With("component", "netpol"),
		})
		if err != nil {
			a.log.Error("network policy controller", "err", err)
		} else {
			a.goRun(ctx, "network policy controller", np.Run)
		}
	}
	nodeIP := a.cfg.NodeIP.String()
	ing, err := ingress.New(ingress.Config{
		Client: a.client, HTTPAddr: a.cfg.IngressHTTPAddr, HTTPSAddr: a.cfg.IngressHTTPSAddr,
		StatusAddresses: func() []string { return []string{nodeIP} },
		Log:             a.base.With("component", "ingress"),
	})
	if err != nil {
		a.log.Error("ingress controller", "err", err)
	} else {
		a.goRun(ctx, "ingress controller", ing.Run)
	}
	iface := a.cfg.LBInterface
	a.goRun(ctx, "load-balancer announcer", func(ctx context.Context) error {
		return lbannounce.Run(ctx, lbannounce.Config{Client: a.client, Informers: a.informers, NodeName: a.cfg.NodeName, Interface: iface, Log: a.base.With("component", "lbannounce")})
	})
}

// networkReady runs what needs the pod network, given the bridge's gateway address.
func (a *addons) networkReady(ctx context.Context, gateway net.IP) {
	if a.cfg.DisableNetworkAddons || a.cfg.ServiceCIDR == nil {
		return
	}
	a.once.Do(func() {
		dnsIP := nthAddress(a.cfg.ServiceCIDR, 10)
		listen := net.JoinHostPort(gateway.String(), "53")
		reverse := []*net.IPNet{a.cfg.ServiceCIDR}
		if a.cfg.ClusterCIDR != nil {
			reverse = append(reverse, a.cfg.ClusterCIDR)
		}
		srv, err := dns.New(dns.Config{
			Client: a.client, Informers: a.informers, Domain: a.cfg.ClusterDomain, Listen: []string{listen},
			Upstreams: a.cfg.DNSUpstreams, ReverseCIDRs: reverse, Log: a.base,
		})
		if err != nil {
			a.log.Error("cluster DNS", "err", err)
			return
		}
		a.goRun(ctx, "cluster DNS", srv.Run)
		a.goRun(ctx, "kube-dns service", func(ctx context.Context) error {
			select {
			case <-srv.Ready():
			case <-ctx.Done():
				return nil
			}
			if err := dns.EnsureService(ctx, a.client, dnsIP, []net.IP{gateway}, 53); err != nil {
				return fmt.Errorf("publishing the kube-dns Service: %w", err)
			}
			a.log.Info("cluster DNS ready", "service", dnsIP, "listen", listen)
			return nil
		})
	})
}

func (a *addons) wait() { a.wg.Wait() }

// nthAddress is the n-th address of a network (the kube-dns Service takes the 10th).
func nthAddress(n *net.IPNet, i int) net.IP {
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	for j := len(ip) - 1; j >= 0 && i > 0; j-- {
		sum := int(ip[j]) + i
		ip[j] = byte(sum)
		i = sum >> 8
	}
	return ip
}

// ensureBridge creates the pod network's bridge with its gateway address before the
// first pod does (the CNI bridge plugin then finds it ready), so node services can listen
// on the gateway from the start.
func ensureBridge(name string, gateway *net.IPNet) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("creating bridge %s: %w", name, err)
		}
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("reading %s's addresses: %w", name, err)
	}
	have := false
	for _, a := range addrs {
		have = have || a.IPNet.String() == gateway.String()
	}
	if !have {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: gateway}); err != nil && !os.IsExist(err) {
			return fmt.Errorf("adding %s to %s: %w", gateway, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// bridgeGateway is the first address of the node's pod CIDR, with its mask: the bridge
// plugin's gateway.
func bridgeGateway(podCIDR string) (*net.IPNet, error) {
	_, n, err := net.ParseCIDR(podCIDR)
	if err != nil {
		return nil, err
	}
	return &net.IPNet{IP: nthAddress(n, 1), Mask: n.Mask}, nil
}

// enableBridgeNetfilter makes bridged pod-to-pod traffic pass the IP hooks, which the
// Service proxy's NAT needs when a pod reaches a Service backed by a pod on the same
// bridge.
func enableBridgeNetfilter() error {
	const p = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("br_netfilter is not loaded (modprobe br_netfilter): %w", err)
	}
	return os.WriteFile(p, []byte("1"), 0o644)
}
