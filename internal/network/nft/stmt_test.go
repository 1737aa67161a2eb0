package nft

import (
	"net/netip"
	"testing"
)

func TestStmtText(t *testing.T) {
	for _, tc := range []struct {
		s    Stmt
		want string
	}{
		{CtNew, "ct state new"},
		{CtEstablished | CtRelated, "ct state established,related"},
		{AddrMatch{Prefix: netip.MustParsePrefix("10.0.0.1/32")}, "ip daddr 10.0.0.1"},
		{AddrMatch{Src: true, Neg: true, Prefix: netip.MustParsePrefix("10.0.0.0/8")}, "ip saddr != 10.0.0.0/8"},
		{AddrInSet{Src: true, Set: "peers"}, "ip saddr @peers"},
		{L4Proto{Proto: ProtoSCTP}, "meta l4proto sctp"},
		{Dport{Proto: ProtoTCP, First: 80}, "tcp dport 80"},
		{Dport{Proto: ProtoUDP, First: 53, Last: 53}, "udp dport 53"},
		{Dport{Proto: ProtoTCP, First: 9000, Last: 9010}, "tcp dport 9000-9010"},
		{Verdict{Kind: Goto, Chain: "c"}, "goto c"},
		{Verdict{}, "accept"},
	} {
		if got := tc.s.Text(); got != tc.want {
			t.Errorf("%#v: got %q, want %q", tc.s, got, tc.want)
		}
		if len(tc.s.Exprs(&Builder{})) == 0 {
			t.Errorf("%#v: no expressions", tc.s)
		}
	}
}

func TestElementKey(t *testing.T) {
	a := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"addr", ElementKey(a, 0, 0), []byte{10, 1, 2, 3}},
		{"proto . port", ElementKey(netip.Addr{}, ProtoTCP, 0x1f90), []byte{6, 0, 0, 0, 0x1f, 0x90, 0, 0}},
		{"addr . proto . port", ElementKey(a, ProtoUDP, 53), []byte{10, 1, 2, 3, 17, 0, 0, 0, 0, 53, 0, 0}},
	} {
		if string(tc.got) != string(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
