package netpol

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// DefaultTableName is the nftables table (family ip) the controller owns.
const DefaultTableName = "kijabi-netpol"

// Names of the fixed chains and maps.
const (
	chainForward = "forward"
	mapIngress   = "ingress-pods"
	mapEgress    = "egress-pods"
)

// ForwardPriority is the priority of the forward filter chain: the filter priority,
// after the service proxy's own forward checks (-110). Every forward hook runs after
// prerouting, where the proxy's DNAT (priority -100) has given Service traffic its
// endpoint's address and port.
const ForwardPriority = 0

// Element is an element of a set, or of a verdict map when Verdict is set.
type Element struct {
	Addr    netip.Addr
	Proto   nft.Proto // with Port, for nft.KeyAddrProtoPort
	Port    uint16
	Verdict *nft.Verdict
}

func (e Element) keyText() string {
	if e.Port != 0 {
		return fmt.Sprintf("%s . %s . %d", e.Addr, e.Proto, e.Port)
	}
	return e.Addr.String()
}

func (e Element) text() string {
	if e.Verdict != nil {
		return e.keyText() + " : " + e.Verdict.String()
	}
	return e.keyText()
}

func compareElements(a, b Element) int {
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
}

// Set is a named set, or a verdict map, with its elements (sorted, unique keys).
type Set struct {
	Name     string
	Key      nft.KeyKind
	Map      bool
	Elements []Element
}

// Ruleset is a whole desired table: base chains first, then the other chains and the
// sets, sorted by name.
type Ruleset struct {
	Table  string
	Chains []*nft.Chain
	Sets   []*Set
}

// hashName names chains and sets as the service proxy does: a hash prefix keeps names
// unique when they are cut to fit.
func hashName(prefix, name string) string {
	const maxLen = 200
	hash := sha256.Sum256([]byte(name))
	name = prefix + "-" + base32.StdEncoding.EncodeToString(hash[:])[:8] + "-" + name
	if len(name) > maxLen {
		name = name[:maxLen-3] + "..."
	}
	return name
}

func ingressChain(p *PodRules) string { return hashName("ingress", p.Namespace+"/"+p.Name) }
func egressChain(p *PodRules) string  { return hashName("egress", p.Namespace+"/"+p.Name) }
func peerSet(ruleKey string) string   { return hashName("peers", ruleKey) }
func destSet(namedKey string) string  { return hashName("dests", namedKey) }

// Build turns a model into the ruleset of table:
//
//	chain forward (filter hook forward priority 0):
//	  ct state established,related accept       replies, and what was allowed before
//	  ip saddr vmap @egress-pods                 jump to the egress chain of an isolated pod
//	  ip daddr vmap @ingress-pods                goto the ingress chain of an isolated pod
//	chain egress-…  (one per pod isolated for egress)
//	  ip daddr <itself> return; <rules> return; drop
//	chain ingress-… (one per pod isolated for ingress)
//	  ip saddr <itself> accept; <rules> accept; drop
//
// A rule's pod and namespace selectors become a set peers-… of the pods' addresses,
// shared by every pod the policy selects; ipBlocks are matched in the rule; an egress
// rule's named port becomes a set dests-… of (address . protocol . port) of the pods it
// resolves on.
func Build(table string, m *Model) *Ruleset {
	rs := &Ruleset{Table: table}
	forward := &nft.Chain{Name: chainForward, Hook: &nft.Hook{Type: "filter", Hook: "forward", Priority: ForwardPriority}, Rules: []nft.Rule{
		{nft.CtEstablished | nft.CtRelated, nft.Verdict{Kind: nft.Accept}},
		{addrVmap{Src: true, Map: mapEgress}},
		{addrVmap{Src: false, Map: mapIngress}},
	}}
	ingress := &Set{Name: mapIngress, Key: nft.KeyAddr, Map: true}
	egress := &Set{Name: mapEgress, Key: nft.KeyAddr, Map: true}
	var chains []*nft.Chain
	sets := map[string]*Set{}
	for _, p := range m.Pods {
		if p.Egress != nil {
			c := podChain(egressChain(p), p, p.Egress, false, sets)
			chains = append(chains, c)
			egress.Elements = append(egress.Elements, Element{Addr: p.IP, Verdict: &nft.Verdict{Kind: nft.Jump, Chain: c.Name}})
		}
		if p.Ingress != nil {
			c := podChain(ingressChain(p), p, p.Ingress, true, sets)
			chains = append(chains, c)
			ingress.Elements = append(ingress.Elements, Element{Addr: p.IP, Verdict: &nft.Verdict{Kind: nft.Goto, Chain: c.Name}})
		}
	}
	slices.SortFunc(chains, func(a, b *nft.Chain) int { return cmp.Compare(a.Name, b.Name) })
	rs.Chains = append([]*nft.Chain{forward}, chains...)
	for _, s := range sets {
		rs.Sets = append(rs.Sets, s)
	}
	rs.Sets = append(rs.Sets, ingress, egress)
	for _, s := range rs.Sets {
		slices.SortFunc(s.Elements, compareElements)
		s.Elements = slices.CompactFunc(s.Elements, func(a, b Element) bool { return compareElements(a, b) == 0 })
	}
	slices.SortFunc(rs.Sets, func(a, b *Set) int { return cmp.Compare(a.Name, b.Name) })
	return rs
}

// podChain is the chain of one pod in one direction. The peer is the source for
// ingress and the destination for egress; an allowed packet is accepted (ingress, the
// last check) or returns to the forward chain (egress, then checked for ingress).
func podChain(name string, p *PodRules, d *Direction, ingress bool, sets map[string]*Set) *nft.Chain {
	src := ingress
	allow := nft.Verdict{Kind: nft.Accept}
	if !ingress {
		allow = nft.Verdict{Kind: nft.Return}
	}
	c := &nft.Chain{Name: name}
	// A pod may always reach itself (through a Service: hairpin).
	c.Rules = append(c.Rules, nft.Rule{nft.AddrMatch{Src: src, Prefix: netip.PrefixFrom(p.IP, 32)}, allow})
	for i := range d.Rules {
		r := &d.Rules[i]
		var peers [][]nft.Stmt // alternatives: any of them
		switch {
		case r.AnyPeer:
			peers = [][]nft.Stmt{nil}
		default:
			if r.PodPeers {
				name := peerSet(r.Key)
				if sets[name] == nil {
					s := &Set{Name: name, Key: nft.KeyAddr}
					for _, a := range r.Pods {
						s.Elements = append(s.Elements, Element{Addr: a})
					}
					sets[name] = s
				}
				peers = append(peers, []nft.Stmt{nft.AddrInSet{Src: src, Set: name}})
			}
			for _, b := range r.Blocks {
				var st []nft.Stmt
				if b.CIDR.Bits() > 0 {
					st = append(st, nft.AddrMatch{Src: src, Prefix: b.CIDR})
				}
				for _, e := range b.Except {
					st = append(st, nft.AddrMatch{Src: src, Neg: true, Prefix: e})
				}
				peers = append(peers, st)
			}
		}
		var ports []nft.Stmt // alternatives; nil: any port
		if r.AnyPort {
			ports = []nft.Stmt{nil}
		}
		for _, pr := range r.Ports {
			ports = append(ports, portMatch(pr))
		}
		for _, port := range ports {
			for _, peer := range peers {
				rule := slices.Clone(peer)
				if port != nil {
					rule = append(rule, port)
				}
				c.Rules = append(c.Rules, append(rule, allow))
			}
		}
		for _, n := range r.Named {
			name := destSet(n.Key)
			if sets[name] == nil {
				s := &Set{Name: name, Key: nft.KeyAddrProtoPort}
				for _, d := range n.Dests {
					s.Elements = append(s.Elements, Element{Addr: d.Addr, Proto: d.Proto, Port: d.Port})
				}
				sets[name] = s
			}
			c.Rules = append(c.Rules, nft.Rule{destInSet{Set: name}, allow})
		}
	}
	c.Rules = append(c.Rules, nft.Rule{nft.Verdict{Kind: nft.Drop}})
	return c
}

// Render writes the ruleset in `nft -f` syntax: the commands that create the table
// from nothing, in the order they are programmed (chains and sets before the rules and
// elements that use them). The output is deterministic; it is what the golden files
// hold.
func Render(rs *Ruleset) string {
	var b strings.Builder
	t := "ip " + rs.Table
	fmt.Fprintf(&b, "add table %s\n", t)
	for _, c := range rs.Chains {
		c.WriteDecl(&b, t)
	}
	for _, s := range rs.Sets {
		if s.Map {
			fmt.Fprintf(&b, "add map %s %s { type %s : verdict; }\n", t, s.Name, s.Key)
		} else {
			fmt.Fprintf(&b, "add set %s %s { type %s; }\n", t, s.Name, s.Key)
		}
	}
	for _, c := range rs.Chains {
		c.WriteRules(&b, t)
	}
	for _, s := range rs.Sets {
		for _, e := range s.Elements {
			fmt.Fprintf(&b, "add element %s %s { %s }\n", t, s.Name, e.text())
		}
	}
	return b.String()
}
