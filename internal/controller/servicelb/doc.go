// Package servicelb is the service load-balancer controller: it gives every Service of type
// LoadBalancer an address, the part a cloud provider (or MetalLB, or k3s's ServiceLB) plays
// elsewhere, and writes it to status.loadBalancer.ingress (ip, ipMode VIP) through the status
// subresource, only when it changed.
//
// # Which Services
//
// Services of type LoadBalancer without spec.loadBalancerClass, or with LoadBalancerClass
// ("kijabi.io/servicelb"). Those of any other class belong to another implementation and are
// left alone. When a Service is deleted or stops being a LoadBalancer its addresses are
// released (and a leftover ingress and node annotation cleared). Node ports
// (allocateLoadBalancerNodePorts) are the API server's business.
//
// # Pool mode
//
// With a pool (WithPool; ParsePool reads the --service-lb-pool syntax: prefixes, a-b ranges
// and single addresses, comma-separated) every Service gets one pool address per IP family of
// its spec.ipFamilies for which the pool has addresses (all of them with RequireDualStack),
// the lowest free one, and keeps it: an address is never given to two Services (sharing is not
// supported). A Service may ask for specific addresses with the annotation
// AnnotationLoadBalancerIPs ("kijabi.io/load-balancer-ips", comma-separated, one per family)
// or, deprecated, spec.loadBalancerIP; a request outside the pool or for a taken address fails.
// A Service that cannot be served gets a Warning Event AllocationFailed and no ingress, and is
// tried again whenever addresses are freed; a Service given addresses gets a Normal Event
// IPAllocated ("Assigned IP [...]"), as with MetalLB.
//
// Addresses are kept in memory only; at start-up, before handing out any, the controller takes
// up those the Services' statuses show (the oldest Service first), so a restart or a new
// leader keeps every assignment.
//
// A pool address must be answered for by one node (layer 2, like MetalLB's L2 mode): the
// controller elects the first Ready node by name and records it in the annotation
// AnnotationLoadBalancerNode ("kijabi.io/load-balancer-node") on the Service, with an Event
// NodeAssigned. Node changes re-reconcile every LoadBalancer Service, so when that node goes
// NotReady or away the next one takes over; with no Ready node the annotation is removed. The
// node agent (internal/network/lbannounce) puts the addresses of the Services naming its node
// on a local dummy interface.
//
// # Node-addresses mode
//
// Without a pool, as k3s's ServiceLB does, a Service's addresses are the InternalIPs of all
// Ready nodes of its IP families, sorted; they follow the nodes as they come, go or change
// readiness. Nothing needs announcing: every node already owns its address. Requested
// addresses are ignored in this mode.
//
// # Usage
//
//	pool, err := servicelb.ParsePool("192.168.1.240-192.168.1.250")
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c := servicelb.New(client, factory.Core().V1().Services(), factory.Core().V1().Nodes(),
//		servicelb.WithPool(pool))
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 2)
package servicelb
