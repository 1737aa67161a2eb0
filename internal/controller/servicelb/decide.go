package servicelb

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Annotations and the load-balancer class of this controller.
const (
	// AnnotationLoadBalancerIPs, on a Service, asks for specific pool addresses: a
	// comma-separated list with at most one address per IP family. It takes precedence over
	// the deprecated spec.loadBalancerIP.
	AnnotationLoadBalancerIPs = "kijabi.io/load-balancer-ips"
	// AnnotationLoadBalancerNode, on a Service with pool addresses, names the node that
	// answers for them (the node agent puts them on its kijabi-lb interface). The controller
	// writes it; it is absent when no node is Ready, and in node-addresses mode.
	AnnotationLoadBalancerNode = "kijabi.io/load-balancer-node"
	// LoadBalancerClass is this controller's spec.loadBalancerClass. Services without a
	// class are served too; Services of any other class are left alone.
	LoadBalancerClass = "kijabi.io/servicelb"
)

// Reasons of the Events the controller records on Services.
const (
	// EventIPAllocated (Normal): the Service's load-balancer addresses changed.
	EventIPAllocated = "IPAllocated"
	// EventAllocationFailed (Warning): no address could be given (pool exhausted, requested
	// address outside the pool or taken, ...); the Service's ingress is cleared meanwhile.
	EventAllocationFailed = "AllocationFailed"
	// EventNodeAssigned (Normal): another node now answers for the Service's pool addresses.
	EventNodeAssigned = "NodeAssigned"
	// EventNoReadyNode (Warning): the Service holds pool addresses but no Ready node answers.
	EventNoReadyNode = "NoReadyNode"
)

// ours reports whether svc is a LoadBalancer Service this controller serves.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		(svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass == LoadBalancerClass)
}

// serviceFamilies are the Service's IP families, in order: spec.ipFamilies, else the family
// of its cluster IP, else IPv4.
func serviceFamilies(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies
	}
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && ip.Unmap().Is6() {
		return []corev1.IPFamily{corev1.IPv6Protocol}
	}
	return []corev1.IPFamily{corev1.IPv4Protocol}
}

func requireDualStack(svc *corev1.Service) bool {
	return ptr.Deref(svc.Spec.IPFamilyPolicy, "") == corev1.IPFamilyPolicyRequireDualStack
}

// requestedAddrs are the addresses the Service asks for: those of the annotation, else
// spec.loadBalancerIP, else none.
func requestedAddrs(svc *corev1.Service) ([]netip.Addr, error) {
	list, ok := svc.Annotations[AnnotationLoadBalancerIPs]
	what := AnnotationLoadBalancerIPs
	if !ok || strings.TrimSpace(list) == "" {
		list, what = svc.Spec.LoadBalancerIP, "spec.loadBalancerIP"
	}
	var out []netip.Addr
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("invalid address %q in %s", s, what)
		}
		out = append(out, ip.Unmap())
	}
	return out, nil
}

// nodeReady reports whether the node is Ready and not being deleted.
func nodeReady(n *corev1.Node) bool {
	if n.DeletionTimestamp != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// electNode picks the node that answers for pool addresses: the first Ready node by name,
// "" when there is none.
func electNode(nodes []*corev1.Node) string {
	best := ""
	for _, n := range nodes {
		if nodeReady(n) && (best == "" || n.Name < best) {
			best = n.Name
		}
	}
	return best
}

// internalIPs are the parsed InternalIP addresses of a node.
func internalIPs(n *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// nodeAddrs are, in node-addresses mode, a Service's load-balancer addresses: the
// InternalIPs of the Ready nodes of the Service's families, ordered by family (as in
// families) and then by address, without duplicates.
func nodeAddrs(nodes []*corev1.Node, families []corev1.IPFamily) []netip.Addr {
	var out []netip.Addr
	for _, fam := range families {
		var these []netip.Addr
		for _, n := range nodes {
			if !nodeReady(n) {
				continue
			}
			for _, ip := range internalIPs(n) {
				if ip.Is6() == is6(fam) {
					these = append(these, ip)
				}
			}
		}
		slices.SortFunc(these, netip.Addr.Compare)
		out = append(out, slices.Compact(these)...)
	}
	return out
}

// ingressFor is the status.loadBalancer.ingress that publishes addrs.
func ingressFor(addrs []netip.Addr) []corev1.LoadBalancerIngress {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]corev1.LoadBalancerIngress, len(addrs))
	for i, ip := range addrs {
		out[i] = corev1.LoadBalancerIngress{IP: ip.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}
	}
	return out
}

// ingressAddrs are the addresses a Service's status shows.
func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// sameIngress reports whether the Service's status already shows want (an unset ipMode
// counts as VIP, as the API server defaults it).
func sameIngress(have, want []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(have, want, func(a, b corev1.LoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0 && len(b.Ports) == 0 &&
			ptr.Deref(a.IPMode, corev1.LoadBalancerIPModeVIP) == ptr.Deref(b.IPMode, corev1.LoadBalancerIPModeVIP)
	})
}

// addrStrings formats addrs for events and logs.
func addrStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, ip := range addrs {
		out[i] = ip.String()
	}
	return out
}
