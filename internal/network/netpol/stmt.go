package netpol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Stmt is one statement of a rule: its text in nft syntax and its netlink expressions.
type Stmt interface {
	text() string
	exprs() []expr.Any
}

// Rule is a list of statements, the last a verdict.
type Rule []Stmt

func (r Rule) text() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.text()
	}
	return strings.Join(parts, " ")
}

const (
	reg1     = 1 // NFT_REG_1
	reg32_00 = 8 // NFT_REG32_00, where concatenations are built
)

// Payload offsets in the IPv4 header.
const (
	offSaddr = 12
	offDaddr = 16
)

func addrField(src bool) (string, uint32) {
	if src {
		return "ip saddr", offSaddr
	}
	return "ip daddr", offDaddr
}

// ctEstablished matches "ct state established,related".
type ctEstablished struct{}

func (ctEstablished) text() string { return "ct state established,related" }
func (ctEstablished) exprs() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

// addrMatch matches "ip saddr|daddr [!=] PREFIX".
type addrMatch struct {
	Src    bool
	Neg    bool
	Prefix netip.Prefix
}

func (s addrMatch) text() string {
	word, _ := addrField(s.Src)
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

func (s addrMatch) exprs() []expr.Any {
	_, off := addrField(s.Src)
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	if bits := s.Prefix.Bits(); bits < 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits))
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	a := s.Prefix.Masked().Addr().As4()
	return append(out, &expr.Cmp{Op: op, Register: reg1, Data: a[:]})
}

// addrInSet matches "ip saddr|daddr @SET".
type addrInSet struct {
	Src bool
	Set string
}

func (s addrInSet) text() string {
	word, _ := addrField(s.Src)
	return word + " @" + s.Set
}

func (s addrInSet) exprs() []expr.Any {
	_, off := addrField(s.Src)
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Set},
	}
}

// addrVmap is "ip saddr|daddr vmap @MAP".
type addrVmap struct {
	Src bool
	Map string
}

func (s addrVmap) text() string {
	word, _ := addrField(s.Src)
	return word + " vmap @" + s.Map
}

func (s addrVmap) exprs() []expr.Any {
	_, off := addrField(s.Src)
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Map, IsDestRegSet: true, DestRegister: 0},
	}
}

// portMatch matches a PortRange: "meta l4proto P", "P dport N" or "P dport N-M".
type portMatch struct{ R PortRange }

func (s portMatch) text() string {
	switch {
	case s.R.First == 0:
		return "meta l4proto " + s.R.Proto.String()
	case s.R.First == s.R.Last:
		return fmt.Sprintf("%s dport %d", s.R.Proto, s.R.First)
	}
	return fmt.Sprintf("%s dport %d-%d", s.R.Proto, s.R.First, s.R.Last)
}

func (s portMatch) exprs() []expr.Any {
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(s.R.Proto)}},
	}
	if s.R.First == 0 {
		return out
	}
	out = append(out, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if s.R.First == s.R.Last {
		return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.R.First)})
	}
	return append(out,
		&expr.Cmp{Op: expr.CmpOpGte, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.R.First)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.R.Last)},
	)
}

// destInSet matches "ip daddr . meta l4proto . th dport @SET".
type destInSet struct{ Set string }

func (s destInSet) text() string { return "ip daddr . meta l4proto . th dport @" + s.Set }
func (s destInSet) exprs() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg32_00, Base: expr.PayloadBaseNetworkHeader, Offset: offDaddr, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00 + 1},
		&expr.Payload{DestRegister: reg32_00 + 2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg32_00, SetName: s.Set},
	}
}

// VerdictKind is what a verdict does.
type VerdictKind uint8

// Verdict kinds.
const (
	Accept VerdictKind = iota
	Drop
	Return
	Jump
	Goto
)

// Verdict ends a rule, or is the value of a verdict map's element.
type Verdict struct {
	Kind  VerdictKind
	Chain string // for Jump and Goto
}

func (v Verdict) String() string {
	switch v.Kind {
	case Drop:
		return "drop"
	case Return:
		return "return"
	case Jump:
		return "jump " + v.Chain
	case Goto:
		return "goto " + v.Chain
	}
	return "accept"
}

func (v Verdict) expr() *expr.Verdict {
	switch v.Kind {
	case Drop:
		return &expr.Verdict{Kind: expr.VerdictDrop}
	case Return:
		return &expr.Verdict{Kind: expr.VerdictReturn}
	case Jump:
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: v.Chain}
	case Goto:
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: v.Chain}
	}
	return &expr.Verdict{Kind: expr.VerdictAccept}
}

func (v Verdict) text() string      { return v.String() }
func (v Verdict) exprs() []expr.Any { return []expr.Any{v.expr()} }
