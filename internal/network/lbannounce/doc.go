// Package lbannounce is the node side of LoadBalancer Services with pool addresses (see
// internal/controller/servicelb): it makes this node answer for the addresses the controller
// elected it for, as a MetalLB speaker in layer-2 mode does.
//
// Run watches Services and keeps on a dummy interface (DefaultInterface, "kijabi-lb", created
// if missing and set up; an empty bridge, as local-only, where the kernel lacks the dummy
// driver) exactly the status.loadBalancer.ingress IPs of the LoadBalancer
// Services whose servicelb.AnnotationLoadBalancerNode annotation names this node, each as a
// /32 (IPv4) or /128 (IPv6, without duplicate address detection); other addresses found there
// (left over from a crash, or of Services that moved to another node) are removed, the
// kernel's own IPv6 link-local address excepted. The interface is checked again every
// ResyncPeriod even without Service events, so an address removed by hand comes back. When
// ctx ends, the interface and with it every address is deleted.
//
// Once an address is local, Linux answers ARP (and, for IPv6, neighbour solicitations) for it
// on the node's other interfaces too (with the default arp_ignore=0), so the rest of the
// layer-2 segment reaches the node; the service proxy then handles the traffic as for any
// local address. In node-addresses mode (no pool) Services carry no annotation and nothing is
// added: every node already owns its address.
//
// Usage (the node agent):
//
//	go func() {
//		err := lbannounce.Run(ctx, lbannounce.Config{Client: client, NodeName: nodeName, Log: log})
//		...
//	}()
//
// Tests pass NetNS to work in a network namespace of their own.
package lbannounce
