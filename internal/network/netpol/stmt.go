package netpol

import (
	"github.com/google/nftables/expr"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// The controller's own statements; the ones it shares with the service proxy
// (addresses, protocols, ports, ct state, verdicts) are in package nft.

// portMatch matches a PortRange: "meta l4proto P", "P dport N" or "P dport N-M".
func portMatch(r PortRange) nft.Stmt {
	if r.First == 0 {
		return nft.L4Proto{Proto: r.Proto}
	}
	return nft.Dport{Proto: r.Proto, First: r.First, Last: r.Last}
}

// addrVmap is "ip saddr|daddr vmap @MAP".
type addrVmap struct {
	Src bool
	Map string
}

func (s addrVmap) Text() string {
	word, _ := nft.AddrField(s.Src)
	return word + " vmap @" + s.Map
}

func (s addrVmap) Exprs(*nft.Builder) []expr.Any {
	_, off := nft.AddrField(s.Src)
	return []expr.Any{
		&expr.Payload{DestRegister: nft.Reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Lookup{SourceRegister: nft.Reg1, SetName: s.Map, IsDestRegSet: true, DestRegister: 0},
	}
}

// destInSet matches "ip daddr . meta l4proto . th dport @SET".
type destInSet struct{ Set string }

func (s destInSet) Text() string { return "ip daddr . meta l4proto . th dport @" + s.Set }
func (s destInSet) Exprs(*nft.Builder) []expr.Any {
	_, daddr := nft.AddrField(false)
	return []expr.Any{
		&expr.Payload{DestRegister: nft.Reg32_00, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: nft.Reg32_00 + 1},
		&expr.Payload{DestRegister: nft.Reg32_00 + 2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: nft.Reg32_00, SetName: s.Set},
	}
}
