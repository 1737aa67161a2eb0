package proxy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// The proxy's own statements; the ones it shares with the network policy controller
// (addresses, protocols, ports, ct state, verdicts) are in package nft.

// stmtFibLocal matches "fib saddr|daddr type local".
type stmtFibLocal struct{ Src bool }

func (s stmtFibLocal) Text() string {
	if s.Src {
		return "fib saddr type local"
	}
	return "fib daddr type local"
}

func (s stmtFibLocal) Exprs(*nft.Builder) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: nft.Reg1, FlagSADDR: s.Src, FlagDADDR: !s.Src, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: nft.Reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// stmtIifname matches `iifname [!=] "NAME"`.
type stmtIifname struct {
	Neg  bool
	Name string
}

func (s stmtIifname) Text() string {
	op := ""
	if s.Neg {
		op = "!= "
	}
	return fmt.Sprintf("iifname %s%q", op, s.Name)
}

func (s stmtIifname) Exprs(*nft.Builder) []expr.Any {
	op := expr.CmpOpEq
	if s.Neg {
		op = expr.CmpOpNeq
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, s.Name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: nft.Reg1},
		&expr.Cmp{Op: op, Register: nft.Reg1, Data: name},
	}
}

// stmtVmap is "[ip daddr . ]meta l4proto . th dport vmap @MAP".
type stmtVmap struct {
	WithAddr bool
	Map      string
}

func (s stmtVmap) Text() string {
	if s.WithAddr {
		return "ip daddr . meta l4proto . th dport vmap @" + s.Map
	}
	return "meta l4proto . th dport vmap @" + s.Map
}

func (s stmtVmap) Exprs(*nft.Builder) []expr.Any {
	var out []expr.Any
	reg := uint32(nft.Reg32_00)
	if s.WithAddr {
		_, daddr := nft.AddrField(false)
		out = append(out, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: 4})
		reg++
	}
	out = append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: reg + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: nft.Reg32_00, SetName: s.Map, IsDestRegSet: true, DestRegister: 0},
	)
	return out
}

// stmtNumgen is "numgen random mod N vmap { 0 : goto A, 1 : goto B, ... }".
type stmtNumgen struct{ Chains []string }

func (s stmtNumgen) Text() string {
	elems := make([]string, len(s.Chains))
	for i, c := range s.Chains {
		elems[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	return fmt.Sprintf("numgen random mod %d vmap { %s }", len(s.Chains), strings.Join(elems, ", "))
}

func (s stmtNumgen) Exprs(b *nft.Builder) []expr.Any {
	set := &nftables.Set{
		Constant: true,
		IsMap:    true,
		KeyType:  nftables.TypeInteger,
		DataType: nftables.TypeVerdict,
	}
	elems := make([]nftables.SetElement, len(s.Chains))
	for i, c := range s.Chains {
		elems[i] = nftables.SetElement{
			Key:         binaryutil.BigEndian.PutUint32(uint32(i)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: c},
		}
	}
	lookup := &expr.Lookup{SourceRegister: nft.Reg1, IsDestRegSet: true, DestRegister: 0}
	b.AnonSet(set, elems, lookup)
	return []expr.Any{
		&expr.Numgen{Register: nft.Reg1, Modulus: uint32(len(s.Chains)), Type: unix.NFT_NG_RANDOM},
		// The library marks anonymous sets' keys big endian, so convert.
		&expr.Byteorder{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Op: expr.ByteorderHton, Len: 4, Size: 4},
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

func (s stmtMark) Text() string {
	switch s.Op {
	case markOr:
		return fmt.Sprintf("meta mark set meta mark | 0x%08x", s.Mark)
	case markXor:
		return fmt.Sprintf("meta mark set meta mark ^ 0x%08x", s.Mark)
	}
	return fmt.Sprintf("meta mark & 0x%08x == 0x00000000", s.Mark)
}

func (s stmtMark) Exprs(*nft.Builder) []expr.Any {
	ne := binaryutil.NativeEndian
	load := &expr.Meta{Key: expr.MetaKeyMARK, Register: nft.Reg1}
	store := &expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: nft.Reg1}
	switch s.Op {
	case markOr:
		return []expr.Any{load,
			&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4, Mask: ne.PutUint32(^s.Mark), Xor: ne.PutUint32(s.Mark)},
			store}
	case markXor:
		return []expr.Any{load,
			&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4, Mask: ne.PutUint32(^uint32(0)), Xor: ne.PutUint32(s.Mark)},
			store}
	}
	return []expr.Any{load,
		&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4, Mask: ne.PutUint32(s.Mark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: nft.Reg1, Data: make([]byte, 4)}}
}

// stmtMasquerade is "masquerade fully-random".
type stmtMasquerade struct{}

func (stmtMasquerade) Text() string { return "masquerade fully-random" }
func (stmtMasquerade) Exprs(*nft.Builder) []expr.Any {
	return []expr.Any{&expr.Masq{FullyRandom: true}}
}

// stmtReject is "reject" (ICMP port unreachable) or "reject with tcp reset".
type stmtReject struct{ TCPReset bool }

func (s stmtReject) Text() string {
	if s.TCPReset {
		return "reject with tcp reset"
	}
	return "reject"
}

func (s stmtReject) Exprs(*nft.Builder) []expr.Any {
	if s.TCPReset {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable}}
}

// stmtUpdateSrc is "update @SET { ip saddr }".
type stmtUpdateSrc struct{ Set string }

func (s stmtUpdateSrc) Text() string { return "update @" + s.Set + " { ip saddr }" }
func (s stmtUpdateSrc) Exprs(*nft.Builder) []expr.Any {
	_, saddr := nft.AddrField(true)
	return []expr.Any{
		&expr.Payload{DestRegister: nft.Reg1, Base: expr.PayloadBaseNetworkHeader, Offset: saddr, Len: 4},
		&expr.Dynset{SrcRegKey: nft.Reg1, SetName: s.Set, Operation: unix.NFT_DYNSET_OP_UPDATE},
	}
}

// stmtDNAT is "dnat to IP:PORT".
type stmtDNAT struct {
	Addr netip.Addr
	Port uint16
}

func (s stmtDNAT) Text() string { return fmt.Sprintf("dnat to %s:%d", s.Addr, s.Port) }
func (s stmtDNAT) Exprs(*nft.Builder) []expr.Any {
	a := s.Addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: nft.Reg1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(s.Port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: nft.Reg1, RegProtoMin: 2},
	}
}

func gotoChain(c string) nft.Stmt { return nft.Verdict{Kind: nft.Goto, Chain: c} }
func jumpChain(c string) nft.Stmt { return nft.Verdict{Kind: nft.Jump, Chain: c} }

const icmpPortUnreachable = 3 // ICMP destination unreachable code
