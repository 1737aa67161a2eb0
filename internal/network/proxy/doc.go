// Package proxy is kijabi's service proxy: it implements Service virtual IPs on a node
// with nftables, the way kube-proxy's nftables mode does.
//
// It watches Services and discovery/v1 EndpointSlices through client-go informers,
// merges the slices of each Service, and turns them into a desired ruleset: a pure,
// deterministic function (Build / BuildService) from (services, endpoint slices, node
// information) to a Model. A Model renders to `nft -f` syntax (Render), which is what
// the golden files under testdata hold, and is programmed into the kernel through
// netlink (github.com/google/nftables) by a Proxier.
//
// The ruleset lives in one table of family ip (default "kijabi-proxy"):
//
//   - base chains hooked at prerouting/output (nat, DNAT priority), postrouting (nat,
//     SNAT priority) and input/forward/output (filter, before DNAT);
//   - a "services" chain dispatching through the verdict maps service-ips
//     (ip . proto . port: ClusterIPs, external IPs, LoadBalancer ingress IPs) and
//     service-nodeports (proto . port, on node addresses and localhost);
//   - per service port chains "service-…" (Cluster policy endpoints), "local-…"
//     (node-local endpoints), "external-…" (NodePort/LoadBalancer entry with
//     masquerading and Local-policy short-circuits), and per endpoint chains
//     "endpoint-…" (hairpin masquerade, session affinity, DNAT);
//   - random balancing with `numgen random mod N vmap { … }`, ClientIP affinity with
//     dynamic timeout sets "affinity-…";
//   - no-endpoint-services / no-endpoint-nodeports verdict maps that reject (TCP reset,
//     ICMP port unreachable otherwise) or drop traffic to services without usable
//     endpoints, and cluster-ips-check rejecting traffic to undefined ClusterIP ports;
//   - masquerading by mark (0x4000) in postrouting.
//
// Changes are batched (Config.MinSyncInterval) and applied incrementally: only the
// chains, sets and map elements of Services that changed are rewritten, in one atomic
// netlink batch; a full resync runs at start and periodically.
//
// The building blocks the proxy shares with the NetworkPolicy controller are in package
// nft (internal/network/nft): protocols, verdicts, chains, the statements both use
// (its own, such as DNAT, numgen balancing and masquerading, are here) and the loop that
// batches changes into syncs.
//
// Only IPv4 is handled. The node must have net.ipv4.conf.all.route_localnet=1 for
// localhost NodePorts (the Proxier sets it in its network namespace) and, for
// pod-to-service-to-pod traffic on one bridge, br_netfilter with
// net.bridge.bridge-nf-call-iptables=1.
package proxy
