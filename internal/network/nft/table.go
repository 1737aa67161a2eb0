package nft

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Hook makes a chain a base chain.
type Hook struct {
	Type     string // filter or nat
	Hook     string // prerouting, input, forward, output, postrouting
	Priority int
}

// Chain is a chain with its rules.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule

	text string // rendered rules, for comparisons
}

// RulesText is the chain's rules in nft syntax, one a line: two chains whose texts are
// equal hold the same rules. It is computed once: rules must not change after.
func (c *Chain) RulesText() string {
	if c.text == "" {
		var b strings.Builder
		for _, r := range c.Rules {
			b.WriteString(r.Text())
			b.WriteByte('\n')
		}
		c.text = b.String()
	}
	return c.text
}

// NF is the chain for the nftables library: a base chain (policy accept) when it has a
// Hook.
func (c *Chain) NF(t *nftables.Table) *nftables.Chain {
	nc := &nftables.Chain{Table: t, Name: c.Name}
	if c.Hook != nil {
		switch c.Hook.Type {
		case "nat":
			nc.Type = nftables.ChainTypeNAT
		default:
			nc.Type = nftables.ChainTypeFilter
		}
		switch c.Hook.Hook {
		case "prerouting":
			nc.Hooknum = nftables.ChainHookPrerouting
		case "input":
			nc.Hooknum = nftables.ChainHookInput
		case "forward":
			nc.Hooknum = nftables.ChainHookForward
		case "output":
			nc.Hooknum = nftables.ChainHookOutput
		case "postrouting":
			nc.Hooknum = nftables.ChainHookPostrouting
		}
		nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.Hook.Priority))
		accept := nftables.ChainPolicyAccept
		nc.Policy = &accept
	}
	return nc
}

// WriteDecl writes the `nft -f` command that adds the chain to table ("ip NAME").
func (c *Chain) WriteDecl(b *strings.Builder, table string) {
	if c.Hook == nil {
		fmt.Fprintf(b, "add chain %s %s\n", table, c.Name)
		return
	}
	fmt.Fprintf(b, "add chain %s %s { type %s hook %s priority %d; policy accept; }\n", table, c.Name, c.Hook.Type, c.Hook.Hook, c.Hook.Priority)
}

// WriteRules writes the `nft -f` commands that add the chain's rules.
func (c *Chain) WriteRules(b *strings.Builder, table string) {
	for _, r := range c.Rules {
		fmt.Fprintf(b, "add rule %s %s %s\n", table, c.Name, r.Text())
	}
}

// AddRules adds the chain's rules, in order, to the chain of table t in the batch of
// conn, each after the anonymous sets its statements ask for.
func (c *Chain) AddRules(conn *nftables.Conn, t *nftables.Table) error {
	nc := &nftables.Chain{Table: t, Name: c.Name}
	for _, r := range c.Rules {
		if err := addRule(conn, nc, r); err != nil {
			return err
		}
	}
	return nil
}

func addRule(conn *nftables.Conn, chain *nftables.Chain, r Rule) error {
	b := &Builder{table: chain.Table}
	var exprs []expr.Any
	for _, s := range r {
		exprs = append(exprs, s.Exprs(b)...)
	}
	for _, a := range b.anon {
		if err := AddSet(conn, a.set, a.elems); err != nil {
			return fmt.Errorf("chain %s: anonymous set: %w", chain.Name, err)
		}
		a.lookup.SetName = a.set.Name
		a.lookup.SetID = a.set.ID
	}
	conn.AddRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: exprs})
	return nil
}

// KeyKind is the key layout of a set or map.
type KeyKind uint8

// Key layouts.
const (
	KeyAddr          KeyKind = iota // ipv4_addr
	KeyAddrProtoPort                // ipv4_addr . inet_proto . inet_service
	KeyProtoPort                    // inet_proto . inet_service
)

func (k KeyKind) String() string {
	switch k {
	case KeyAddrProtoPort:
		return "ipv4_addr . inet_proto . inet_service"
	case KeyProtoPort:
		return "inet_proto . inet_service"
	}
	return "ipv4_addr"
}

var (
	typeAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	typeProtoPort     = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
)

// Type is the key's data type for the nftables library.
func (k KeyKind) Type() nftables.SetDatatype {
	switch k {
	case KeyAddrProtoPort:
		return typeAddrProtoPort
	case KeyProtoPort:
		return typeProtoPort
	}
	return nftables.TypeIPAddr
}

// ElementKey encodes the key of a set element: the address when valid, then, when
// port is not 0, protocol and port; each field of a concatenation takes a 4-byte
// register.
func ElementKey(addr netip.Addr, proto Proto, port uint16) []byte {
	var k []byte
	if addr.IsValid() {
		a := addr.As4()
		k = append(k, a[:]...)
	}
	if port != 0 {
		k = append(k, byte(proto), 0, 0, 0, byte(port>>8), byte(port), 0, 0)
	}
	return k
}

// elementsPerMessage bounds the elements of one netlink message (attributes are
// limited to 64 KiB).
const elementsPerMessage = 128

// SetElements adds (or, with del, deletes) elements of set in the batch of conn, in
// chunks that fit netlink messages.
func SetElements(conn *nftables.Conn, set *nftables.Set, es []nftables.SetElement, del bool) error {
	for len(es) > 0 {
		n := min(len(es), elementsPerMessage)
		var err error
		if del {
			err = conn.SetDeleteElements(set, es[:n])
		} else {
			err = conn.SetAddElements(set, es[:n])
		}
		if err != nil {
			return fmt.Errorf("set %s elements: %w", set.Name, err)
		}
		es = es[n:]
	}
	return nil
}
