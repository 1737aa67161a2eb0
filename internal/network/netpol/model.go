package netpol

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	netutils "k8s.io/utils/net"

	"github.com/kijabi/kijabi/internal/network/nft"
)

func protoOf(p *v1.Protocol) (nft.Proto, bool) {
	if p == nil {
		return nft.ProtoTCP, true // the API's default
	}
	switch *p {
	case v1.ProtocolTCP:
		return nft.ProtoTCP, true
	case v1.ProtocolUDP:
		return nft.ProtoUDP, true
	case v1.ProtocolSCTP:
		return nft.ProtoSCTP, true
	}
	return 0, false
}

// PortRange is a protocol and a range of destination ports; First == 0 means every
// port of the protocol.
type PortRange struct {
	Proto       nft.Proto
	First, Last uint16
}

func (r PortRange) matches(proto nft.Proto, port uint16) bool {
	return r.Proto == proto && (r.First == 0 || (port >= r.First && port <= r.Last))
}

// IPBlock is a peer's ipBlock: CIDR without the Except ranges.
type IPBlock struct {
	CIDR   netip.Prefix
	Except []netip.Prefix
}

// Contains reports whether a is in the block.
func (b IPBlock) Contains(a netip.Addr) bool {
	if !b.CIDR.Contains(a) {
		return false
	}
	for _, e := range b.Except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}

// Dest is a destination pod's address and port: an egress rule's named port resolved
// on one of the pods it may reach.
type Dest struct {
	Addr  netip.Addr
	Proto nft.Proto
	Port  uint16
}

func compareDest(a, b Dest) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// NamedPorts are the destinations an egress rule's named port stands for, under a key
// that names the set holding them.
type NamedPorts struct {
	Key   string
	Dests []Dest // sorted
}

// PolicyRule is one ingress or egress rule of a policy as it applies to one pod: traffic is
// allowed when its peer (the source for ingress, the destination for egress) and its
// port match, or, for egress, when its destination is in Named.
type PolicyRule struct {
	// Key identifies the rule: "namespace/policy/ingress|egress/index".
	Key string
	// AnyPeer: the rule has no from/to, every peer matches. Otherwise Pods (the
	// addresses of the pods its pod and namespace selectors pick; PodPeers says
	// whether it has such selectors) and Blocks.
	AnyPeer  bool
	PodPeers bool
	Pods     []netip.Addr // sorted
	Blocks   []IPBlock
	// AnyPort: the rule has no ports. Otherwise Ports (numeric ports, and ingress
	// named ports resolved on the target pod) and Named.
	AnyPort bool
	Ports   []PortRange
	Named   []NamedPorts
}

func (r *PolicyRule) peerMatches(a netip.Addr) bool {
	if r.AnyPeer {
		return true
	}
	if _, ok := slices.BinarySearchFunc(r.Pods, a, netip.Addr.Compare); ok {
		return true
	}
	for _, b := range r.Blocks {
		if b.Contains(a) {
			return true
		}
	}
	return false
}

// matches reports whether a connection with the given peer, protocol and destination
// port (and, for egress, destination address) is allowed by the rule.
func (r *PolicyRule) matches(peer netip.Addr, proto nft.Proto, port uint16) bool {
	if r.peerMatches(peer) {
		if r.AnyPort {
			return true
		}
		for _, p := range r.Ports {
			if p.matches(proto, port) {
				return true
			}
		}
	}
	want := Dest{Addr: peer, Proto: proto, Port: port}
	for _, n := range r.Named {
		if _, ok := slices.BinarySearchFunc(n.Dests, want, compareDest); ok {
			return true
		}
	}
	return false
}

// Direction is a pod's isolation in one direction: the policies that isolate it and
// the union of their rules. A pod isolated by policies without rules accepts nothing.
type Direction struct {
	Policies []string // names of the policies, sorted
	Rules    []PolicyRule
}

func (d *Direction) allows(peer netip.Addr, proto nft.Proto, port uint16) bool {
	for i := range d.Rules {
		if d.Rules[i].matches(peer, proto, port) {
			return true
		}
	}
	return false
}

// PodRules is what applies to one pod of this node that some policy isolates.
type PodRules struct {
	Namespace, Name string
	IP              netip.Addr
	// Ingress and Egress are nil when the pod is not isolated in that direction.
	Ingress, Egress *Direction
}

// Model is the desired network policy state of a node: its isolated pods with their
// rules, sorted by namespace and name.
type Model struct {
	Pods []*PodRules
}

// Pod returns the rules of a pod, or nil when it is not isolated.
func (m *Model) Pod(namespace, name string) *PodRules {
	for _, p := range m.Pods {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// Allowed reports whether a new connection from src to dst, forwarded by the node, is
// allowed: the egress rules of src and the ingress rules of dst must both allow it when
// they are this node's isolated pods. A pod may always reach itself (through a Service).
// Traffic the node itself sends or receives is not forwarded, and always allowed.
func (m *Model) Allowed(src, dst netip.Addr, proto nft.Proto, port uint16) bool {
	if src == dst {
		return true
	}
	for _, p := range m.Pods {
		if p.IP == src && p.Egress != nil && !p.Egress.allows(dst, proto, port) {
			return false
		}
		if p.IP == dst && p.Ingress != nil && !p.Ingress.allows(src, proto, port) {
			return false
		}
	}
	return true
}

// podIPv4 is a pod's IPv4 address (only IPv4 is filtered).
func podIPv4(p *v1.Pod) (netip.Addr, bool) {
	ips := []string{p.Status.PodIP}
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap().Is4() {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// podEntry is a pod that policies may select: it has its own IPv4 address (not the
// node's: host-network pods are neither selected nor peers) and has not finished (a
// finished pod's address may be given to another).
type podEntry struct {
	pod *v1.Pod
	ip  netip.Addr
}

func usable(p *v1.Pod) (podEntry, bool) {
	if p.Spec.HostNetwork || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return podEntry{}, false
	}
	ip, ok := podIPv4(p)
	return podEntry{pod: p, ip: ip}, ok
}

// namedPort resolves a named port on a pod: the container port of that name and
// protocol (names are unique within a pod).
func namedPort(p *v1.Pod, name string, proto nft.Proto) (uint16, bool) {
	find := func(cs []v1.Container) (uint16, bool) {
		for _, c := range cs {
			for _, cp := range c.Ports {
				pr, ok := nft.ProtoTCP, true // the API's default
				if cp.Protocol != "" {
					pr, ok = protoOf(&cp.Protocol)
				}
				if cp.Name == name && ok && pr == proto && cp.ContainerPort > 0 && cp.ContainerPort < 65536 {
					return uint16(cp.ContainerPort), true
				}
			}
		}
		return 0, false
	}
	if port, ok := find(p.Spec.Containers); ok {
		return port, true
	}
	// Sidecars (restartable init containers) run alongside and may serve.
	var sidecars []v1.Container
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sidecars = append(sidecars, c)
		}
	}
	return find(sidecars)
}

func selector(s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing() // validation refuses these
	}
	return sel
}

// parsePrefix parses an ipBlock CIDR as the API does (leading zeros accepted) and
// returns it masked; ok is false for anything but IPv4.
func parsePrefix(s string) (netip.Prefix, bool) {
	_, n, err := netutils.ParseCIDRSloppy(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || !a.Unmap().Is4() || (bits != 32 && bits != 128) {
		return netip.Prefix{}, false
	}
	if bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// policyTypes says what a policy isolates, defaulting as the API does.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

type namedSpec struct {
	proto nft.Proto
	name  string
	index int // in the rule's ports
}

// compiledRule is a policy rule with its peers resolved: the same for every pod the
// policy selects, but for ingress named ports, resolved on each target pod.
type compiledRule struct {
	PolicyRule
	named []namedSpec // ingress: resolved per target pod
}

type compiler struct {
	pods   []podEntry // every usable pod of the cluster
	nsSel  map[string]labels.Set
	byNS   map[string][]podEntry
	cached map[string]*compiledRule
}

// peerPods returns the addresses of the pods the selector peers of a rule pick.
func (c *compiler) peerPods(policyNS string, peers []networkingv1.NetworkPolicyPeer) (ips []netip.Addr, selects bool) {
	for _, peer := range peers {
		if peer.PodSelector == nil && peer.NamespaceSelector == nil {
			continue
		}
		selects = true
		podSel := labels.Everything()
		if peer.PodSelector != nil {
			podSel = selector(peer.PodSelector)
		}
		if peer.NamespaceSelector == nil {
			for _, e := range c.byNS[policyNS] {
				if podSel.Matches(labels.Set(e.pod.Labels)) {
					ips = append(ips, e.ip)
				}
			}
			continue
		}
		nsSel := selector(peer.NamespaceSelector)
		for ns, nsLabels := range c.nsSel {
			if !nsSel.Matches(nsLabels) {
				continue
			}
			for _, e := range c.byNS[ns] {
				if podSel.Matches(labels.Set(e.pod.Labels)) {
					ips = append(ips, e.ip)
				}
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return slices.Compact(ips), selects
}

func blocksOf(peers []networkingv1.NetworkPolicyPeer) []IPBlock {
	var out []IPBlock
	for _, peer := range peers {
		if peer.IPBlock == nil {
			continue
		}
		cidr, ok := parsePrefix(peer.IPBlock.CIDR)
		if !ok {
			continue // IPv6 (or invalid): matches no IPv4 traffic
		}
		b := IPBlock{CIDR: cidr}
		for _, e := range peer.IPBlock.Except {
			if p, ok := parsePrefix(e); ok && cidr.Overlaps(p) {
				b.Except = append(b.Except, p)
			}
		}
		slices.SortFunc(b.Except, comparePrefix)
		b.Except = slices.Compact(b.Except)
		out = append(out, b)
	}
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// compile resolves one rule of a policy (once per sync, whatever the pods it selects).
func (c *compiler) compile(np *networkingv1.NetworkPolicy, dir string, index int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *compiledRule {
	key := np.Namespace + "/" + np.Name + "/" + dir + "/" + strconv.Itoa(index)
	if r, ok := c.cached[key]; ok {
		return r
	}
	r := &compiledRule{PolicyRule: PolicyRule{Key: key, AnyPeer: len(peers) == 0, AnyPort: len(ports) == 0}}
	if !r.AnyPeer {
		r.Pods, r.PodPeers = c.peerPods(np.Namespace, peers)
		r.Blocks = blocksOf(peers)
	}
	for j, pp := range ports {
		proto, ok := protoOf(pp.Protocol)
		if !ok {
			continue
		}
		switch {
		case pp.Port == nil:
			r.Ports = append(r.Ports, PortRange{Proto: proto})
		case pp.Port.Type == intstr.Int:
			first := pp.Port.IntVal
			last := first
			if pp.EndPort != nil && *pp.EndPort >= first {
				last = *pp.EndPort
			}
			if first < 1 || last > 65535 {
				continue
			}
			r.Ports = append(r.Ports, PortRange{Proto: proto, First: uint16(first), Last: uint16(last)})
		default:
			r.named = append(r.named, namedSpec{proto: proto, name: pp.Port.StrVal, index: j})
		}
	}
	if dir == "egress" {
		// A named port is the destination pod's: resolve it on every pod the rule's
		// peers allow.
		for _, n := range r.named {
			set := NamedPorts{Key: key + "/" + strconv.Itoa(n.index)}
			for _, e := range c.pods {
				if !r.peerMatches(e.ip) {
					continue
				}
				if port, ok := namedPort(e.pod, n.name, n.proto); ok {
					set.Dests = append(set.Dests, Dest{Addr: e.ip, Proto: n.proto, Port: port})
				}
			}
			slices.SortFunc(set.Dests, compareDest)
			set.Dests = slices.CompactFunc(set.Dests, func(a, b Dest) bool { return compareDest(a, b) == 0 })
			r.Named = append(r.Named, set)
		}
		r.named = nil
	}
	c.cached[key] = r
	return r
}

// forPod is the rule as it applies to one target pod: its ingress named ports resolved
// on that pod.
func (r *compiledRule) forPod(p *v1.Pod) PolicyRule {
	if len(r.named) == 0 {
		return r.PolicyRule
	}
	out := r.PolicyRule
	out.Ports = slices.Clone(r.Ports)
	for _, n := range r.named {
		if port, ok := namedPort(p, n.name, n.proto); ok {
			out.Ports = append(out.Ports, PortRange{Proto: n.proto, First: port, Last: port})
		}
	}
	return out
}

// Compute is the policy model of node: which of its pods the policies isolate, and
// what each may send and receive. It is a pure function of the objects.
func Compute(node string, pods []*v1.Pod, namespaces []*v1.Namespace, policies []*networkingv1.NetworkPolicy) *Model {
	m := &Model{}
	if len(policies) == 0 {
		return m
	}
	policiesByNS := map[string][]*networkingv1.NetworkPolicy{}
	for _, np := range policies {
		policiesByNS[np.Namespace] = append(policiesByNS[np.Namespace], np)
	}
	c := &compiler{nsSel: map[string]labels.Set{}, byNS: map[string][]podEntry{}, cached: map[string]*compiledRule{}}
	for _, ns := range namespaces {
		c.nsSel[ns.Name] = labels.Set(ns.Labels)
	}
	var local []podEntry
	for _, p := range pods {
		e, ok := usable(p)
		if !ok {
			continue
		}
		c.pods = append(c.pods, e)
		c.byNS[p.Namespace] = append(c.byNS[p.Namespace], e)
		if p.Spec.NodeName == node && len(policiesByNS[p.Namespace]) > 0 {
			local = append(local, e)
		}
	}
	slices.SortFunc(c.pods, func(a, b podEntry) int { return a.ip.Compare(b.ip) })
	slices.SortFunc(local, func(a, b podEntry) int {
		return cmp.Or(cmp.Compare(a.pod.Namespace, b.pod.Namespace), cmp.Compare(a.pod.Name, b.pod.Name))
	})
	selects := make(map[*networkingv1.NetworkPolicy]labels.Selector, len(policies))
	for _, nps := range policiesByNS {
		slices.SortFunc(nps, func(a, b *networkingv1.NetworkPolicy) int { return cmp.Compare(a.Name, b.Name) })
		for _, np := range nps {
			selects[np] = selector(&np.Spec.PodSelector)
		}
	}
	for _, e := range local {
		pr := &PodRules{Namespace: e.pod.Namespace, Name: e.pod.Name, IP: e.ip}
		podLabels := labels.Set(e.pod.Labels)
		for _, np := range policiesByNS[e.pod.Namespace] {
			if !selects[np].Matches(podLabels) {
				continue
			}
			ingress, egress := policyTypes(np)
			if ingress {
				if pr.Ingress == nil {
					pr.Ingress = &Direction{}
				}
				pr.Ingress.Policies = append(pr.Ingress.Policies, np.Name)
				for i, r := range np.Spec.Ingress {
					pr.Ingress.Rules = append(pr.Ingress.Rules, c.compile(np, "ingress", i, r.From, r.Ports).forPod(e.pod))
				}
			}
			if egress {
				if pr.Egress == nil {
					pr.Egress = &Direction{}
				}
				pr.Egress.Policies = append(pr.Egress.Policies, np.Name)
				for i, r := range np.Spec.Egress {
					pr.Egress.Rules = append(pr.Egress.Rules, c.compile(np, "egress", i, r.To, r.Ports).forPod(e.pod))
				}
			}
		}
		if pr.Ingress != nil || pr.Egress != nil {
			m.Pods = append(m.Pods, pr)
		}
	}
	// Two pods of the node with one address (one finished, its address reused, before
	// its phase is known): keep the first, so that the address has one set of rules.
	seen := map[netip.Addr]bool{}
	m.Pods = slices.DeleteFunc(m.Pods, func(p *PodRules) bool {
		dup := seen[p.IP]
		seen[p.IP] = true
		return dup
	})
	return m
}
