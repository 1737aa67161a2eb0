// Package overlay connects the pod networks of a cluster's nodes, as flannel's VXLAN
// backend does for k3s.
//
// Every node agent runs a Controller. It creates a VXLAN device (DefaultDevice,
// "kijabi.1": VNI 1, UDP port 8472, local address the node's InternalIP, learning off)
// whose only address is the first address of the node's podCIDR as a /32 (the ".0" of
// 10.244.1.0/24), publishes the device's MAC and the node's address as Node
// annotations (AnnotationVTEPMAC, AnnotationPublicIP, AnnotationBackendType) and
// watches Nodes. For every other node with a podCIDR and those annotations it programs
//
//	ip route replace <their podCIDR> via <their .0> dev kijabi.1 onlink
//	ip neigh replace <their .0> lladdr <their VTEP MAC> dev kijabi.1 nud permanent
//	bridge fdb replace <their VTEP MAC> dev kijabi.1 dst <their node IP> self permanent
//
// so that a packet for a remote pod is routed into the device, framed for the remote
// VTEP, and sent in UDP to the remote node, which decapsulates and routes it to its
// bridge. Entries of nodes that go away or change are removed. Pods' packets keep their
// source address between nodes: the agent masquerades only what leaves the cluster's
// pod network. The device costs 50 bytes of every packet, so pods' MTU is the node
// link's less Overhead (PodMTU).
//
// The desired state is a pure function of the Nodes (Peers, Desired); Program makes a
// device's routes, neighbours and forwarding entries match it through netlink, idempotently,
// in any network namespace (a netlink.Handle). The controller talks to the API server
// only through client-go. The VXLAN MAC is derived from the node name (StableMAC), so a
// restarted agent, which reuses the device it finds or makes it again, keeps the address
// its peers know; the device is removed when the controller stops.
//
// A node may announce another address than its InternalIP for the overlay with the
// annotation AnnotationPublicIPOverwrite (flannel's public-ip-overwrite). Only IPv4 is
// handled.
package overlay
