package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// DefaultTableName is the nftables table (family ip) the proxy owns.
const DefaultTableName = "kijabi-proxy"

// MasqueradeMark is the packet mark bit that asks the masquerading chain to SNAT.
const MasqueradeMark uint32 = 0x4000

// Names of the fixed chains, sets and maps.
const (
	chainServices         = "services"
	chainSvcEndpointCheck = "service-endpoints-check"
	chainNPEndpointCheck  = "nodeport-endpoints-check"
	chainClusterIPsCheck  = "cluster-ips-check"
	chainMarkMasq         = "mark-for-masquerade"
	chainMasquerading     = "masquerading"
	chainReject           = "reject-chain"

	mapServiceIPs         = "service-ips"
	mapServiceNodePorts   = "service-nodeports"
	mapNoEndpointServices = "no-endpoint-services"
	mapNoEndpointNodePort = "no-endpoint-nodeports"
	setClusterIPs         = "cluster-ips"
	setNodePortIPs        = "nodeport-ips"
)

// Node describes the node the proxy runs on.
type Node struct {
	// Name is the node's name; endpoints whose nodeName equals it are local.
	Name string
	// IPs, when set, are the addresses that accept NodePort traffic (with 127.0.0.1).
	// When empty, every local address does (fib daddr type local).
	IPs []netip.Addr
	// ClusterCIDR is the pod network: traffic to a ClusterIP from outside it is
	// masqueraded, and pod traffic to external IPs short-circuits Local policy. May be
	// invalid (zero), which turns both off.
	ClusterCIDR netip.Prefix
}

// The chains, rules, set keys, protocols and verdicts of the model are package nft's.

// Set is a named set, or a verdict map when Map is true.
type Set struct {
	Name    string
	Key     nft.KeyKind
	Map     bool
	Timeout time.Duration // > 0: a dynamic set whose elements expire (session affinity)
}

// Element is an element of a named set or map.
type Element struct {
	Set     string
	Addr    netip.Addr
	Proto   nft.Proto
	Port    uint16
	Verdict nft.Verdict // for maps
}

// ServiceRules is everything one Service contributes to the ruleset.
type ServiceRules struct {
	Name     types.NamespacedName
	Chains   []*nft.Chain // sorted by name
	Sets     []Set        // sorted by name
	Elements []Element    // sorted
}

// Model is a whole desired ruleset.
type Model struct {
	Table    string
	Chains   []*nft.Chain // fixed chains, in creation order
	Sets     []Set        // fixed sets and maps
	Elements []Element    // elements of fixed sets (nodeport-ips)
	Services []*ServiceRules
}

// Base returns the fixed part of the ruleset for a node: base chains, dispatch,
// no-endpoint handling and masquerading.
func Base(table string, node Node) *Model {
	m := &Model{Table: table}
	newSt := nft.CtNew
	m.Chains = []*nft.Chain{
		{Name: "filter-input", Hook: &nft.Hook{Type: "filter", Hook: "input", Priority: -110}, Rules: []nft.Rule{
			{newSt, jumpChain(chainNPEndpointCheck)},
			{newSt, jumpChain(chainSvcEndpointCheck)},
			// route_localnet is on: drop new connections to 127/8 that came from
			// outside. Replies to masqueraded localhost NodePort traffic come back on
			// the bridge and are un-NATed to 127.0.0.1: they are established, and pass.
			{newSt, stmtIifname{Neg: true, Name: "lo"}, nft.AddrMatch{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, nft.Verdict{Kind: nft.Drop}},
		}},
		{Name: "filter-forward", Hook: &nft.Hook{Type: "filter", Hook: "forward", Priority: -110}, Rules: []nft.Rule{
			{newSt, jumpChain(chainSvcEndpointCheck)},
			{newSt, jumpChain(chainClusterIPsCheck)},
		}},
		{Name: "filter-output", Hook: &nft.Hook{Type: "filter", Hook: "output", Priority: -110}, Rules: []nft.Rule{
			{newSt, jumpChain(chainSvcEndpointCheck)},
		}},
		{Name: "filter-output-post-dnat", Hook: &nft.Hook{Type: "filter", Hook: "output", Priority: -90}, Rules: []nft.Rule{
			{newSt, jumpChain(chainClusterIPsCheck)},
		}},
		{Name: "nat-prerouting", Hook: &nft.Hook{Type: "nat", Hook: "prerouting", Priority: -100}, Rules: []nft.Rule{{jumpChain(chainServices)}}},
		{Name: "nat-output", Hook: &nft.Hook{Type: "nat", Hook: "output", Priority: -100}, Rules: []nft.Rule{{jumpChain(chainServices)}}},
		{Name: "nat-postrouting", Hook: &nft.Hook{Type: "nat", Hook: "postrouting", Priority: 100}, Rules: []nft.Rule{{jumpChain(chainMasquerading)}}},
	}
	var nodePortMatch nft.Stmt = stmtFibLocal{}
	if len(node.IPs) > 0 {
		nodePortMatch = nft.AddrInSet{Set: setNodePortIPs}
		m.Sets = append(m.Sets, Set{Name: setNodePortIPs, Key: nft.KeyAddr})
		ips := append([]netip.Addr{netip.MustParseAddr("127.0.0.1")}, node.IPs...)
		for _, ip := range ips {
			if ip.Is4() || ip.Is4In6() {
				m.Elements = append(m.Elements, Element{Set: setNodePortIPs, Addr: ip.Unmap()})
			}
		}
		sortElements(m.Elements)
		m.Elements = slices.Compact(m.Elements)
	}
	m.Sets = append(m.Sets,
		Set{Name: setClusterIPs, Key: nft.KeyAddr},
		Set{Name: mapServiceIPs, Key: nft.KeyAddrProtoPort, Map: true},
		Set{Name: mapServiceNodePorts, Key: nft.KeyProtoPort, Map: true},
		Set{Name: mapNoEndpointServices, Key: nft.KeyAddrProtoPort, Map: true},
		Set{Name: mapNoEndpointNodePort, Key: nft.KeyProtoPort, Map: true},
	)
	m.Chains = append(m.Chains,
		&nft.Chain{Name: chainServices, Rules: []nft.Rule{
			{stmtVmap{WithAddr: true, Map: mapServiceIPs}},
			{nodePortMatch, stmtVmap{Map: mapServiceNodePorts}},
		}},
		&nft.Chain{Name: chainSvcEndpointCheck, Rules: []nft.Rule{
			{stmtVmap{WithAddr: true, Map: mapNoEndpointServices}},
		}},
		&nft.Chain{Name: chainNPEndpointCheck, Rules: []nft.Rule{
			{nodePortMatch, stmtVmap{Map: mapNoEndpointNodePort}},
		}},
		&nft.Chain{Name: chainClusterIPsCheck, Rules: []nft.Rule{
			// Traffic still addressed to a ClusterIP after DNAT went to a port the
			// Service does not define.
			{nft.AddrInSet{Set: setClusterIPs}, nft.L4Proto{Proto: nft.ProtoTCP}, stmtReject{TCPReset: true}},
			{nft.AddrInSet{Set: setClusterIPs}, stmtReject{}},
		}},
		&nft.Chain{Name: chainReject, Rules: []nft.Rule{
			{nft.L4Proto{Proto: nft.ProtoTCP}, stmtReject{TCPReset: true}},
			{stmtReject{}},
		}},
		&nft.Chain{Name: chainMarkMasq, Rules: []nft.Rule{
			{stmtMark{Op: markOr, Mark: MasqueradeMark}},
		}},
		&nft.Chain{Name: chainMasquerading, Rules: []nft.Rule{
			{stmtMark{Op: markAndZero, Mark: MasqueradeMark}, nft.Verdict{Kind: nft.Return}},
			{stmtMark{Op: markXor, Mark: MasqueradeMark}},
			{stmtMasquerade{}},
		}},
	)
	return m
}

// Build computes the whole desired ruleset from Services and EndpointSlices. It is
// pure: the same inputs give the same Model.
func Build(table string, node Node, services []*v1.Service, endpointSlices []*discovery.EndpointSlice) *Model {
	m := Base(table, node)
	bySvc := map[types.NamespacedName][]*discovery.EndpointSlice{}
	for _, s := range endpointSlices {
		if n, ok := sliceService(s); ok {
			bySvc[n] = append(bySvc[n], s)
		}
	}
	for _, svc := range services {
		n := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		if sr := BuildService(node, svc, bySvc[n]); sr != nil {
			m.Services = append(m.Services, sr)
		}
	}
	slices.SortFunc(m.Services, func(a, b *ServiceRules) int {
		return cmp.Or(cmp.Compare(a.Name.Namespace, b.Name.Namespace), cmp.Compare(a.Name.Name, b.Name.Name))
	})
	return m
}

// sliceService is the Service an EndpointSlice belongs to (label
// kubernetes.io/service-name).
func sliceService(s *discovery.EndpointSlice) (types.NamespacedName, bool) {
	name := s.Labels[discovery.LabelServiceName]
	if name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: s.Namespace, Name: name}, true
}

// endpoint is one backend of one service port.
type endpoint struct {
	Addr        netip.Addr
	Port        uint16
	Ready       bool
	Serving     bool
	Terminating bool
	Local       bool
}

func (e endpoint) String() string { return fmt.Sprintf("%s:%d", e.Addr, e.Port) }

// servicePort is what the rules for one port of a Service are made from.
type servicePort struct {
	svc          types.NamespacedName
	name         string
	proto        nft.Proto
	clusterIP    netip.Addr
	port         uint16
	nodePort     uint16
	externalIPs  []netip.Addr // spec.externalIPs and LoadBalancer ingress IPs
	extLocal     bool         // externalTrafficPolicy Local (and externally reachable)
	intLocal     bool         // internalTrafficPolicy Local
	affinity     time.Duration
	endpoints    []endpoint
	chainBase    string
	externalable bool
}

func protoOf(p v1.Protocol) (nft.Proto, bool) {
	switch p {
	case v1.ProtocolTCP, "":
		return nft.ProtoTCP, true
	case v1.ProtocolUDP:
		return nft.ProtoUDP, true
	case v1.ProtocolSCTP:
		return nft.ProtoSCTP, true
	}
	return 0, false
}

func parseV4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !(a.Is4() || a.Is4In6()) {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// clusterIPv4 returns the Service's IPv4 ClusterIP, if it has one.
func clusterIPv4(svc *v1.Service) (netip.Addr, bool) {
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return netip.Addr{}, false
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if a, ok := parseV4(s); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// BuildService computes the rules of one Service from it and its EndpointSlices. It
// returns nil for Services that get no rules (headless, ExternalName, no IPv4
// ClusterIP).
func BuildService(node Node, svc *v1.Service, endpointSlices []*discovery.EndpointSlice) *ServiceRules {
	clusterIP, ok := clusterIPv4(svc)
	if !ok {
		return nil
	}
	name := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	var external []netip.Addr
	for _, s := range svc.Spec.ExternalIPs {
		if a, ok := parseV4(s); ok {
			external = append(external, a)
		}
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IPMode != nil && *ing.IPMode != v1.LoadBalancerIPModeVIP {
			continue
		}
		if a, ok := parseV4(ing.IP); ok {
			external = append(external, a)
		}
	}
	slices.SortFunc(external, netip.Addr.Compare)
	external = slices.Compact(external)
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		secs := int32(v1.DefaultClientIPServiceAffinitySeconds)
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			secs = *c.ClientIP.TimeoutSeconds
		}
		affinity = time.Duration(secs) * time.Second
	}
	intLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	externalType := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer || len(svc.Spec.ExternalIPs) > 0

	b := &ruleBuilder{node: node, sr: &ServiceRules{Name: name}}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		proto, ok := protoOf(p.Protocol)
		if !ok || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		sp := &servicePort{
			svc:       name,
			name:      p.Name,
			proto:     proto,
			clusterIP: clusterIP,
			port:      uint16(p.Port),
			intLocal:  intLocal,
			affinity:  affinity,
		}
		if p.NodePort > 0 && p.NodePort <= 65535 {
			sp.nodePort = uint16(p.NodePort)
		}
		sp.externalIPs = external
		sp.externalable = sp.nodePort != 0 || len(external) > 0
		sp.extLocal = externalType && sp.externalable && svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
		sp.endpoints = portEndpoints(node.Name, p.Name, proto, endpointSlices)
		sp.chainBase = hashAndTruncate(fmt.Sprintf("%s/%s/%s/%s", name.Namespace, name.Name, proto, p.Name))
		b.port(sp)
	}
	sr := b.sr
	if len(sr.Chains) == 0 && len(sr.Elements) == 0 {
		return nil
	}
	slices.SortFunc(sr.Chains, func(a, b *nft.Chain) int { return cmp.Compare(a.Name, b.Name) })
	sr.Chains = slices.CompactFunc(sr.Chains, func(a, b *nft.Chain) bool { return a.Name == b.Name })
	slices.SortFunc(sr.Sets, func(a, b Set) int { return cmp.Compare(a.Name, b.Name) })
	sr.Sets = slices.Compact(sr.Sets)
	sortElements(sr.Elements)
	sr.Elements = slices.Compact(sr.Elements)
	return sr
}

// portEndpoints merges the endpoints of all slices for one service port: the port is
// matched by name and protocol (named target ports come resolved in the slice), only
// IPv4 slices count, and an address:port appears once.
func portEndpoints(nodeName, portName string, proto nft.Proto, endpointSlices []*discovery.EndpointSlice) []endpoint {
	seen := map[endpoint]bool{}
	var out []endpoint
	for _, s := range endpointSlices {
		if s.AddressType != discovery.AddressTypeIPv4 {
			continue
		}
		var port uint16
		for _, ep := range s.Ports {
			epName := ""
			if ep.Name != nil {
				epName = *ep.Name
			}
			epProto := v1.ProtocolTCP
			if ep.Protocol != nil {
				epProto = *ep.Protocol
			}
			if pr, ok := protoOf(epProto); epName == portName && ok && pr == proto && ep.Port != nil && *ep.Port > 0 && *ep.Port <= 65535 {
				port = uint16(*ep.Port)
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a, ok := parseV4(e.Addresses[0])
			if !ok {
				continue
			}
			c := e.Conditions
			ep := endpoint{
				Addr:        a,
				Port:        port,
				Ready:       c.Ready == nil || *c.Ready,
				Serving:     c.Serving == nil || *c.Serving,
				Terminating: c.Terminating != nil && *c.Terminating,
				Local:       e.NodeName != nil && *e.NodeName == nodeName,
			}
			key := endpoint{Addr: a, Port: port}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, ep)
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})
	return out
}

func filterEndpoints(eps []endpoint, keep func(endpoint) bool) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// categorize splits endpoints as kube-proxy does (pkg/proxy/topology.go, without
// topology hints): the endpoints for Cluster policy, for Local policy, all endpoints
// any chain uses, and whether the service has any usable endpoint at all. Ready
// endpoints are preferred; when there are none, serving-and-terminating ones are used.
func (sp *servicePort) categorize() (cluster, local, all []endpoint, hasAny bool) {
	usesCluster := !sp.intLocal || sp.externalable
	usesLocal := sp.intLocal || sp.extLocal
	if usesCluster {
		cluster = filterEndpoints(sp.endpoints, func(e endpoint) bool { return e.Ready })
		if len(cluster) == 0 {
			cluster = filterEndpoints(sp.endpoints, func(e endpoint) bool { return e.Serving && e.Terminating })
		}
		hasAny = len(cluster) > 0
	}
	if !usesLocal {
		return cluster, nil, cluster, hasAny
	}
	localReady, localTerm := false, false
	for _, e := range sp.endpoints {
		if e.Ready {
			hasAny = true
			localReady = localReady || e.Local
		} else if e.Serving && e.Terminating {
			hasAny = true
			localTerm = localTerm || e.Local
		}
	}
	if localReady {
		local = filterEndpoints(sp.endpoints, func(e endpoint) bool { return e.Local && e.Ready })
	} else if localTerm {
		local = filterEndpoints(sp.endpoints, func(e endpoint) bool { return e.Local && e.Serving && e.Terminating })
	}
	if !usesCluster {
		return nil, local, local, hasAny
	}
	all = append(slices.Clone(cluster), local...)
	slices.SortFunc(all, func(a, b endpoint) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})
	all = slices.CompactFunc(all, func(a, b endpoint) bool { return a.Addr == b.Addr && a.Port == b.Port })
	return cluster, local, all, hasAny
}

// hashAndTruncate names chains as kube-proxy's nftables mode does: a hash prefix
// keeps names unique when they are cut to fit.
func hashAndTruncate(name string) string {
	const maxLen = 200
	hash := sha256.Sum256([]byte(name))
	name = base32.StdEncoding.EncodeToString(hash[:])[:8] + "-" + name
	if len(name) > maxLen {
		name = name[:maxLen-3] + "..."
	}
	return name
}

func endpointChainBase(sp *servicePort, e endpoint) string {
	return hashAndTruncate(fmt.Sprintf("%s/%s/%s/%s__%s/%d", sp.svc.Namespace, sp.svc.Name, sp.proto, sp.name, e.Addr, e.Port))
}

type ruleBuilder struct {
	node Node
	sr   *ServiceRules
}

func (b *ruleBuilder) elem(e Element) { b.sr.Elements = append(b.sr.Elements, e) }

// port adds the rules of one service port; it follows kube-proxy's syncProxyRules.
func (b *ruleBuilder) port(sp *servicePort) {
	cluster, local, all, hasEndpoints := sp.categorize()
	clusterChain := "service-" + sp.chainBase
	localChain := "local-" + sp.chainBase
	externalChain := "external-" + sp.chainBase

	usesClusterChain := len(cluster) > 0 && (!sp.intLocal || sp.externalable)
	usesLocalChain := len(local) > 0 && (sp.intLocal || sp.extLocal)

	internalChain, hasInternal := clusterChain, hasEndpoints
	if sp.intLocal {
		internalChain = localChain
		hasInternal = hasInternal && len(local) > 0
	}
	externalPolicyChain, hasExternal := clusterChain, hasEndpoints
	if sp.extLocal {
		externalPolicyChain = localChain
		hasExternal = hasExternal && len(local) > 0
	}
	usesExternalChain := hasEndpoints && sp.externalable

	var internalVerdict, externalVerdict nft.Verdict
	if !hasEndpoints {
		internalVerdict = nft.Verdict{Kind: nft.Goto, Chain: chainReject}
		externalVerdict = internalVerdict
	} else {
		internalVerdict = nft.Verdict{Kind: nft.Drop}
		externalVerdict = nft.Verdict{Kind: nft.Drop}
	}

	b.elem(Element{Set: setClusterIPs, Addr: sp.clusterIP})
	if hasInternal {
		b.elem(Element{Set: mapServiceIPs, Addr: sp.clusterIP, Proto: sp.proto, Port: sp.port, Verdict: nft.Verdict{Kind: nft.Goto, Chain: internalChain}})
	} else {
		b.elem(Element{Set: mapNoEndpointServices, Addr: sp.clusterIP, Proto: sp.proto, Port: sp.port, Verdict: internalVerdict})
	}
	for _, ip := range sp.externalIPs {
		if hasEndpoints {
			b.elem(Element{Set: mapServiceIPs, Addr: ip, Proto: sp.proto, Port: sp.port, Verdict: nft.Verdict{Kind: nft.Goto, Chain: externalChain}})
		}
		if !hasExternal {
			b.elem(Element{Set: mapNoEndpointServices, Addr: ip, Proto: sp.proto, Port: sp.port, Verdict: externalVerdict})
		}
	}
	if sp.nodePort != 0 {
		if hasEndpoints {
			b.elem(Element{Set: mapServiceNodePorts, Proto: sp.proto, Port: sp.nodePort, Verdict: nft.Verdict{Kind: nft.Goto, Chain: externalChain}})
		}
		if !hasExternal {
			b.elem(Element{Set: mapNoEndpointNodePort, Proto: sp.proto, Port: sp.nodePort, Verdict: externalVerdict})
		}
	}

	chains := map[string]*nft.Chain{}
	chain := func(name string) *nft.Chain {
		c := chains[name]
		if c == nil {
			c = &nft.Chain{Name: name}
			chains[name] = c
			b.sr.Chains = append(b.sr.Chains, c)
		}
		return c
	}

	// Internal traffic: masquerade what comes from outside the pod network.
	if hasInternal && b.node.ClusterCIDR.IsValid() {
		c := chain(internalChain)
		c.Rules = append(c.Rules, nft.Rule{
			nft.AddrMatch{Prefix: netip.PrefixFrom(sp.clusterIP, 32)}, nft.Dport{Proto: sp.proto, First: sp.port},
			nft.AddrMatch{Src: true, Neg: true, Prefix: b.node.ClusterCIDR}, jumpChain(chainMarkMasq),
		})
	}

	if usesExternalChain {
		c := chain(externalChain)
		if !sp.extLocal {
			// Replies could leave through another node: masquerade.
			c.Rules = append(c.Rules, nft.Rule{jumpChain(chainMarkMasq)})
		} else {
			if b.node.ClusterCIDR.IsValid() {
				// Pod traffic to an external destination is not subject to the
				// policy (as if it went out to a load balancer and came back).
				c.Rules = append(c.Rules, nft.Rule{nft.AddrMatch{Src: true, Prefix: b.node.ClusterCIDR}, gotoChain(clusterChain)})
			}
			// The node's own traffic (including localhost NodePorts) still needs
			// masquerading and may use any endpoint.
			c.Rules = append(c.Rules,
				nft.Rule{stmtFibLocal{Src: true}, jumpChain(chainMarkMasq)},
				nft.Rule{stmtFibLocal{Src: true}, gotoChain(clusterChain)},
			)
		}
		if hasExternal {
			c.Rules = append(c.Rules, nft.Rule{gotoChain(externalPolicyChain)})
		}
	}

	if usesClusterChain {
		b.balance(chain(clusterChain), sp, cluster)
	}
	if usesLocalChain {
		b.balance(chain(localChain), sp, local)
	}
	for _, e := range all {
		base := endpointChainBase(sp, e)
		c := chain("endpoint-" + base)
		// Hairpin: a pod reaching itself through its Service.
		c.Rules = append(c.Rules, nft.Rule{nft.AddrMatch{Src: true, Prefix: netip.PrefixFrom(e.Addr, 32)}, jumpChain(chainMarkMasq)})
		if sp.affinity > 0 {
			set := "affinity-" + base
			b.sr.Sets = append(b.sr.Sets, Set{Name: set, Key: nft.KeyAddr, Timeout: sp.affinity})
			c.Rules = append(c.Rules, nft.Rule{stmtUpdateSrc{Set: set}})
		}
		c.Rules = append(c.Rules, nft.Rule{nft.L4Proto{Proto: sp.proto}, stmtDNAT{Addr: e.Addr, Port: e.Port}})
	}
}

// balance fills a policy chain: affinity lookups first, then random choice.
func (b *ruleBuilder) balance(c *nft.Chain, sp *servicePort, eps []endpoint) {
	names := make([]string, len(eps))
	for i, e := range eps {
		base := endpointChainBase(sp, e)
		names[i] = "endpoint-" + base
		if sp.affinity > 0 {
			c.Rules = append(c.Rules, nft.Rule{nft.AddrInSet{Src: true, Set: "affinity-" + base}, gotoChain(names[i])})
		}
	}
	c.Rules = append(c.Rules, nft.Rule{stmtNumgen{Chains: names}})
}

func compareElements(a, b Element) int {
	return cmp.Or(
		cmp.Compare(a.Set, b.Set),
		a.Addr.Compare(b.Addr),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.Verdict.Kind, b.Verdict.Kind),
		cmp.Compare(a.Verdict.Chain, b.Verdict.Chain),
	)
}

func sortElements(es []Element) { slices.SortFunc(es, compareElements) }
