package proxy

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Proto is an IP protocol number (TCP, UDP or SCTP).
type Proto uint8

// The protocols a Service port can use.
const (
	ProtoTCP  Proto = unix.IPPROTO_TCP
	ProtoUDP  Proto = unix.IPPROTO_UDP
	ProtoSCTP Proto = unix.IPPROTO_SCTP
)

func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
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

// Verdict is a rule's or a map element's verdict.
type Verdict struct {
	Kind  VerdictKind
	Chain string // for Jump and Goto
}

func (v Verdict) String() string {
	switch v.Kind {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Return:
		return "return"
	case Jump:
		return "jump " + v.Chain
	case Goto:
		return "goto " + v.Chain
	}
	return "?"
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

// Stmt is one statement of a rule: a match or an action. Each statement has a
// rendering in nft syntax and an encoding as netlink expressions.
type Stmt interface {
	text() string
	exprs(b *exprBuilder) []expr.Any
}

// exprBuilder collects what a rule needs besides its expressions (anonymous sets,
// created in the same batch just before the rule).
type exprBuilder struct {
	table *nftables.Table
	anon  []anonSet
}

type anonSet struct {
	set    *nftables.Set
	elems  []nftables.SetElement
	lookup *expr.Lookup // filled with the set's name and ID once it is added
}

const (
	reg1     = 1 // NFT_REG_1
	reg32_00 = 8 // NFT_REG32_00, used for concatenations
)

// Rule is a list of statements, the last usually a verdict.
type Rule []Stmt

func (r Rule) text() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.text()
	}
	return strings.Join(parts, " ")
}

// stmtCtStateNew matches "ct state new".
type stmtCtStateNew struct{}

func (stmtCtStateNew) text() string { return "ct state new" }
func (stmtCtStateNew) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

func addrOffset(src bool) uint32 {
	if src {
		return 12
	}
	return 16
}

func addrWord(src bool) string {
	if src {
		return "ip saddr"
	}
	return "ip daddr"
}

// stmtAddr matches "ip saddr|daddr [!=] PREFIX".
type stmtAddr struct {
	Src    bool
	Neg    bool
	Prefix netip.Prefix
}

func (s stmtAddr) text() string {
	op := ""
	if s.Neg {
		op = "!= "
	}
	v := s.Prefix.Addr().String()
	if s.Prefix.Bits() != 32 {
		v = s.Prefix.String()
	}
	return addrWord(s.Src) + " " + op + v
}

func (s stmtAddr) exprs(*exprBuilder) []expr.Any {
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOffset(s.Src), Len: 4}}
	addr := s.Prefix.Masked().Addr().As4()
	if s.Prefix.Bits() != 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Prefix.Bits()))
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(out, &expr.Cmp{Op: op, Register: reg1, Data: addr[:]})
}

// stmtAddrInSet matches "ip saddr|daddr @SET".
type stmtAddrInSet struct {
	Src bool
	Set string
}

func (s stmtAddrInSet) text() string { return addrWord(s.Src) + " @" + s.Set }
func (s stmtAddrInSet) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOffset(s.Src), Len: 4},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Set},
	}
}

// stmtFibLocal matches "fib saddr|daddr type local".
type stmtFibLocal struct{ Src bool }

func (s stmtFibLocal) text() string {
	if s.Src {
		return "fib saddr type local"
	}
	return "fib daddr type local"
}

func (s stmtFibLocal) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagSADDR: s.Src, FlagDADDR: !s.Src, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// stmtL4Proto matches "meta l4proto P".
type stmtL4Proto struct{ Proto Proto }

func (s stmtL4Proto) text() string { return "meta l4proto " + s.Proto.String() }
func (s stmtL4Proto) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(s.Proto)}},
	}
}

// stmtDport matches "tcp|udp|sctp dport N".
type stmtDport struct {
	Proto Proto
	Port  uint16
}

func (s stmtDport) text() string { return fmt.Sprintf("%s dport %d", s.Proto, s.Port) }
func (s stmtDport) exprs(b *exprBuilder) []expr.Any {
	return append(stmtL4Proto{s.Proto}.exprs(b),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.Port)},
	)
}

// stmtIifname matches `iifname [!=] "NAME"`.
type stmtIifname struct {
	Neg  bool
	Name string
}

func (s stmtIifname) text() string {
	op := ""
	if s.Neg {
		op = "!= "
	}
	return fmt.Sprintf("iifname %s%q", op, s.Name)
}

func (s stmtIifname) exprs(*exprBuilder) []expr.Any {
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, s.Name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: name},
	}
}

// stmtVmap is "[ip daddr . ]meta l4proto . th dport vmap @MAP".
type stmtVmap struct {
	WithAddr bool
	Map      string
}

func (s stmtVmap) text() string {
	if s.WithAddr {
		return "ip daddr . meta l4proto . th dport vmap @" + s.Map
	}
	return "meta l4proto . th dport vmap @" + s.Map
}

func (s stmtVmap) exprs(*exprBuilder) []expr.Any {
	var out []expr.Any
	reg := uint32(reg32_00)
	if s.WithAddr {
		out = append(out, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4})
		reg++
	}
	out = append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: reg + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg32_00, SetName: s.Map, IsDestRegSet: true, DestRegister: 0},
	)
	return out
}

// stmtNumgen is "numgen random mod N vmap { 0 : goto A, 1 : goto B, ... }".
type stmtNumgen struct{ Chains []string }

func (s stmtNumgen) text() string {
	elems := make([]string, len(s.Chains))
	for i, c := range s.Chains {
		elems[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	return fmt.Sprintf("numgen random mod %d vmap { %s }", len(s.Chains), strings.Join(elems, ", "))
}

func (s stmtNumgen) exprs(b *exprBuilder) []expr.Any {
	set := &nftables.Set{
		Table:     b.table,
		Anonymous: true,
		Constant:  true,
		IsMap:     true,
		KeyType:   nftables.TypeInteger,
		DataType:  nftables.TypeVerdict,
	}
	elems := make([]nftables.SetElement, len(s.Chains))
	for i, c := range s.Chains {
		elems[i] = nftables.SetElement{
			Key:         binaryutil.BigEndian.PutUint32(uint32(i)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: c},
		}
	}
	lookup := &expr.Lookup{SourceRegister: reg1, IsDestRegSet: true, DestRegister: 0}
	b.anon = append(b.anon, anonSet{set: set, elems: elems, lookup: lookup})
	return []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: uint32(len(s.Chains)), Type: unix.NFT_NG_RANDOM},
		// The library marks anonymous sets' keys big endian, so convert.
		&expr.Byteorder{SourceRegister: reg1, DestRegister: reg1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		lookup,
	}
}

// markOp is an operation on the packet mark.
type markOp uint8

const (
	markOr      markOp = iota // meta mark set meta mark | M
	markXor                   // meta mark set meta mark ^ M
	markAndZero               // meta mark & M == 0
)

// stmtMark sets or tests the masquerade mark bit.
type stmtMark struct {
	Op   markOp
	Mark uint32
}

func (s stmtMark) text() string {
	switch s.Op {
	case markOr:
		return fmt.Sprintf("meta mark set meta mark | 0x%08x", s.Mark)
	case markXor:
		return fmt.Sprintf("meta mark set meta mark ^ 0x%08x", s.Mark)
	}
	return fmt.Sprintf("meta mark & 0x%08x == 0x00000000", s.Mark)
}

func (s stmtMark) exprs(*exprBuilder) []expr.Any {
	ne := binaryutil.NativeEndian
	load := &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1}
	store := &expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1}
	switch s.Op {
	case markOr:
		return []expr.Any{load,
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne.PutUint32(^s.Mark), Xor: ne.PutUint32(s.Mark)},
			store}
	case markXor:
		return []expr.Any{load,
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne.PutUint32(^uint32(0)), Xor: ne.PutUint32(s.Mark)},
			store}
	}
	return []expr.Any{load,
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne.PutUint32(s.Mark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: make([]byte, 4)}}
}

// stmtMasquerade is "masquerade fully-random".
type stmtMasquerade struct{}

func (stmtMasquerade) text() string { return "masquerade fully-random" }
func (stmtMasquerade) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{&expr.Masq{FullyRandom: true}}
}

// stmtReject is "reject" (ICMP port unreachable) or "reject with tcp reset".
type stmtReject struct{ TCPReset bool }

func (s stmtReject) text() string {
	if s.TCPReset {
		return "reject with tcp reset"
	}
	return "reject"
}

func (s stmtReject) exprs(*exprBuilder) []expr.Any {
	if s.TCPReset {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable}}
}

// stmtUpdateSrc is "update @SET { ip saddr }".
type stmtUpdateSrc struct{ Set string }

func (s stmtUpdateSrc) text() string { return "update @" + s.Set + " { ip saddr }" }
func (s stmtUpdateSrc) exprs(*exprBuilder) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Dynset{SrcRegKey: reg1, SetName: s.Set, Operation: unix.NFT_DYNSET_OP_UPDATE},
	}
}

// stmtDNAT is "dnat to IP:PORT".
type stmtDNAT struct {
	Addr netip.Addr
	Port uint16
}

func (s stmtDNAT) text() string { return fmt.Sprintf("dnat to %s:%d", s.Addr, s.Port) }
func (s stmtDNAT) exprs(*exprBuilder) []expr.Any {
	a := s.Addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(s.Port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: 2},
	}
}

// stmtVerdict ends a rule with a verdict.
type stmtVerdict struct{ V Verdict }

func (s stmtVerdict) text() string                  { return s.V.String() }
func (s stmtVerdict) exprs(*exprBuilder) []expr.Any { return []expr.Any{s.V.expr()} }

func gotoChain(c string) Stmt { return stmtVerdict{Verdict{Kind: Goto, Chain: c}} }
func jumpChain(c string) Stmt { return stmtVerdict{Verdict{Kind: Jump, Chain: c}} }

const icmpPortUnreachable = 3 // ICMP destination unreachable code
