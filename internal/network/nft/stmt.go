package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Stmt is one statement of a rule: a match or an action. Each statement has a
// rendering in nft syntax and an encoding as netlink expressions.
type Stmt interface {
	Text() string
	Exprs(b *Builder) []expr.Any
}

// Rule is a list of statements, the last usually a verdict.
type Rule []Stmt

// Text is the rule in nft syntax.
func (r Rule) Text() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.Text()
	}
	return strings.Join(parts, " ")
}

// Builder collects what a rule needs besides its expressions: anonymous sets, created
// in the same batch just before the rule (see Chain.AddRules).
type Builder struct {
	table *nftables.Table
	anon  []anonSet
}

type anonSet struct {
	set    *nftables.Set
	elems  []nftables.SetElement
	lookup *expr.Lookup // filled with the set's name and ID once it is added
}

// AnonSet asks for an anonymous set of the rule's table, looked up by lookup: the set's
// name and ID are filled in when the rule is added.
func (b *Builder) AnonSet(set *nftables.Set, elems []nftables.SetElement, lookup *expr.Lookup) {
	set.Table = b.table
	set.Anonymous = true
	b.anon = append(b.anon, anonSet{set: set, elems: elems, lookup: lookup})
}

// Registers.
const (
	Reg1     = 1 // NFT_REG_1
	Reg32_00 = 8 // NFT_REG32_00, where concatenations are built: one 4-byte register a field
)

// AddrField is "ip saddr" (src) or "ip daddr" and its offset in the IPv4 header.
func AddrField(src bool) (word string, offset uint32) {
	if src {
		return "ip saddr", 12
	}
	return "ip daddr", 16
}

// CtState matches "ct state S[,S]": the packet's connection is in one of the states.
type CtState uint32

// Connection tracking states, to be or-ed.
const (
	CtEstablished = CtState(expr.CtStateBitESTABLISHED)
	CtRelated     = CtState(expr.CtStateBitRELATED)
	CtNew         = CtState(expr.CtStateBitNEW)
)

func (s CtState) Text() string {
	var names []string
	for _, st := range []struct {
		bit  CtState
		name string
	}{{CtEstablished, "established"}, {CtRelated, "related"}, {CtNew, "new"}} {
		if s&st.bit != 0 {
			names = append(names, st.name)
		}
	}
	return "ct state " + strings.Join(names, ",")
}

func (s CtState) Exprs(*Builder) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: Reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: Reg1, DestRegister: Reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(uint32(s)), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: Reg1, Data: make([]byte, 4)},
	}
}

// AddrMatch matches "ip saddr|daddr [!=] PREFIX" (an address for a /32).
type AddrMatch struct {
	Src    bool
	Neg    bool
	Prefix netip.Prefix
}

func (s AddrMatch) Text() string {
	word, _ := AddrField(s.Src)
	op := ""
	if s.Neg {
		op = "!= "
	}
	v := s.Prefix.String()
	if s.Prefix.Bits() == 32 {
		v = s.Prefix.Addr().String()
	}
	return word + " " + op + v
}

func (s AddrMatch) Exprs(*Builder) []expr.Any {
	_, off := AddrField(s.Src)
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	out := []expr.Any{&expr.Payload{DestRegister: Reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	if bits := s.Prefix.Bits(); bits != 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits))
		out = append(out, &expr.Bitwise{SourceRegister: Reg1, DestRegister: Reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	a := s.Prefix.Masked().Addr().As4()
	return append(out, &expr.Cmp{Op: op, Register: Reg1, Data: a[:]})
}

// AddrInSet matches "ip saddr|daddr @SET".
type AddrInSet struct {
	Src bool
	Set string
}

func (s AddrInSet) Text() string {
	word, _ := AddrField(s.Src)
	return word + " @" + s.Set
}

func (s AddrInSet) Exprs(*Builder) []expr.Any {
	_, off := AddrField(s.Src)
	return []expr.Any{
		&expr.Payload{DestRegister: Reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Lookup{SourceRegister: Reg1, SetName: s.Set},
	}
}

// L4Proto matches "meta l4proto P".
type L4Proto struct{ Proto Proto }

func (s L4Proto) Text() string { return "meta l4proto " + s.Proto.String() }
func (s L4Proto) Exprs(*Builder) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: Reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: Reg1, Data: []byte{byte(s.Proto)}},
	}
}

// Dport matches "P dport N", or "P dport N-M" when Last is above First (the
// protocol, then the port).
type Dport struct {
	Proto       Proto
	First, Last uint16
}

func (s Dport) isRange() bool { return s.Last > s.First }

func (s Dport) Text() string {
	if s.isRange() {
		return fmt.Sprintf("%s dport %d-%d", s.Proto, s.First, s.Last)
	}
	return fmt.Sprintf("%s dport %d", s.Proto, s.First)
}

func (s Dport) Exprs(b *Builder) []expr.Any {
	out := append(L4Proto{s.Proto}.Exprs(b),
		&expr.Payload{DestRegister: Reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if !s.isRange() {
		return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: Reg1, Data: binaryutil.BigEndian.PutUint16(s.First)})
	}
	return append(out,
		&expr.Cmp{Op: expr.CmpOpGte, Register: Reg1, Data: binaryutil.BigEndian.PutUint16(s.First)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: Reg1, Data: binaryutil.BigEndian.PutUint16(s.Last)},
	)
}
