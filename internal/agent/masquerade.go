package agent

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// masquerade installs, in an nftables table of its own, the one rule that lets pods reach
// anything outside the pod network: traffic from this node's pod range to outside the
// cluster's pod network leaves with the node's address. (The CNI bridge plugin can do
// it instead, with an iptables chain per pod, which costs tens of milliseconds at every
// sandbox creation.)
func masquerade(table string, podCIDR, clusterCIDR *net.IPNet) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("masquerading: %w", err)
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	// Replace whatever an earlier run left, in the same batch.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		// ip saddr <podCIDR>
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: podCIDR.Mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: podCIDR.IP.To4()},
		// ip daddr != <clusterCIDR>
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: clusterCIDR.Mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: clusterCIDR.IP.To4()},
		&expr.Masq{},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("masquerading %s: %w", podCIDR, err)
	}
	return nil
}

// removeMasquerade deletes the table masquerade made.
func removeMasquerade(table string) {
	c, err := nftables.New()
	if err != nil {
		return
	}
	c.DelTable(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4})
	_ = c.Flush()
}
