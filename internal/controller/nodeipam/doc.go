// Package nodeipam holds the node IPAM controller, as Kubernetes' node-ipam-controller with
// the RangeAllocator does: every Node gets spec.podCIDR (and spec.podCIDRs, the same single
// range) cut from one cluster CIDR.
//
//   - The cluster CIDR (10.244.0.0/16 by default, see DefaultClusterCIDR) is split into
//     ranges of the node mask size (/24 by default); IPv4 and IPv6 both work, with at most
//     2^16 ranges.
//   - At start, once the node cache has synced and before any allocation, every range that
//     existing Nodes already hold is marked used, so no range is handed out twice. A Node
//     that already has a podCIDR keeps it (if it lies outside the cluster CIDR it is left
//     alone and nothing is marked).
//   - A Node without a podCIDR gets the next free range, set with a strategic merge patch of
//     spec.podCIDR and spec.podCIDRs (guarded by the Node's UID). The range is reserved
//     for the Node's name before the patch, so a stale cache cannot make it take two.
//   - When a Node is deleted its range is released and handed out again later.
//   - When the range is exhausted the Node gets a CIDRNotAvailable event and is retried
//     with backoff.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := nodeipam.New(client, factory.Core().V1().Nodes(), clusterCIDR, 24)
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 1)
//
// The allocator is the pure type cidrSet in cidrset.go.
package nodeipam
