// Package netpol enforces NetworkPolicies (networking.k8s.io/v1) on a node with
// nftables, as k3s does with its embedded network policy controller.
//
// Like the service proxy, it talks only to the API server: client-go informers watch
// pods (all of the cluster's, through a factory of its own whose transform keeps only
// labels, node, addresses, phase and named ports), namespaces and NetworkPolicies (from
// the node's shared factory). Every change leads, at most once per MinSyncInterval, to:
//
//   - Compute: a pure function from (node, pods, namespaces, policies) to a Model, the
//     policy semantics: which of this node's pods are isolated for ingress or egress
//     (some policy of their namespace selects them with that policy type, policyTypes
//     defaulting as the API does), and the union of the selecting policies' rules, with
//     peers resolved (podSelector in the policy's namespace, namespaceSelector, both,
//     ipBlock with except) and ports resolved (TCP/UDP/SCTP, numbers, endPort ranges,
//     named ports: on the target pod for ingress, on every destination pod the rule's
//     peers allow for egress). Model.Allowed answers "is this connection allowed?", for
//     tests and for reading;
//   - Build: the Model as a Ruleset for one nftables table (family ip, default
//     "kijabi-netpol"), rendered in `nft -f` syntax by Render (the golden files under
//     testdata);
//   - a programmer that writes it through netlink (github.com/google/nftables), each
//     change in one transaction: the first sync (and one an hour) rewrites the table,
//     later ones only flush and refill the chains whose rules changed and add or delete
//     the set elements that came or went. The table is removed when Run returns.
//
// The ruleset:
//
//	chain forward { type filter hook forward priority 0; policy accept;
//	    ct state established,related accept        # replies of allowed connections
//	    ip saddr vmap @egress-pods                  # jump egress-<pod> of isolated pods
//	    ip daddr vmap @ingress-pods                 # goto ingress-<pod> of isolated pods
//	}
//	chain ingress-<hash>-<ns>/<pod> {
//	    ip saddr <the pod> accept                   # a pod cannot block itself
//	    ip saddr @peers-<hash>-<ns>/<policy>/ingress/<i> tcp dport 8080 accept
//	    ip saddr 192.0.2.0/24 ip saddr != 192.0.2.16/28 accept
//	    drop
//	}
//	chain egress-… { same with ip daddr, `return` instead of accept; then drop }
//
// A rule's pod and namespace selectors become a set of pod addresses (peers-…), shared
// by every pod the policy selects, so that a pod coming, going or changing labels
// changes elements, not rules; an egress named port becomes a set (dests-…) of
// `address . protocol . port` of the pods it names a port of.
//
// Protocols, verdicts, chains, the statements the controller shares with the service
// proxy and the loop that batches changes into syncs are in package nft
// (internal/network/nft); the two components do not import each other.
//
// # Where the rules hook, and why
//
// Only the forward hook is used, at the filter priority. Forwarding happens after
// prerouting, where the service proxy DNATs Service traffic (priority dstnat, -100):
// traffic to a ClusterIP, NodePort or LoadBalancer address is filtered with the address
// and port of the endpoint pod it was sent to, so a policy on a backend pod applies to
// Service traffic too, and named ports match container ports.
//
// Pods of one node share a bridge, and a packet between two of them is bridged, not
// routed: it reaches the IP hooks only with br_netfilter loaded and
// net.bridge.bridge-nf-call-iptables=1, which the node agent already sets for the
// proxy's hairpin Service traffic and which the controller sets again in its network
// namespace (warning when br_netfilter is missing). br_netfilter runs IPv4 conntrack
// and the ip-family hooks for bridged packets, so one forward chain sees pod-to-pod
// traffic on the bridge, pod-to-Service-to-pod traffic (routed through the bridge's
// address) and traffic between pods and the outside, with conntrack states. The
// nftables bridge family was the alternative; it was not chosen because routed traffic
// (a pod reaching a Service) crosses it as bridge output and input rather than forward,
// so it would need the same rules at three hooks, and because its `ct state` needs
// nf_conntrack_bridge, which kernels often lack (CONFIG_NF_CONNTRACK_BRIDGE is off on
// this project's test machines).
//
// Traffic the node itself sends to its pods (kubelet probes, the ingress controller)
// and traffic pods send to the node (cluster DNS, which kijabi serves on the bridge's
// address; an API server on the node) is never forwarded, so it is always allowed, as
// upstream states for the node a pod runs on. A pod under default-deny
// egress thus still resolves names even without a rule for port 53.
//
// Only IPv4 is filtered. Host-network pods are neither isolated nor peers; finished
// pods (Succeeded, Failed) are not peers, as their addresses may be reused. Isolation
// applies once the pod's address is known and the change synced (a fraction of a
// second after the kubelet reports it), as with other network plugins;
// connections established before a policy keep flowing (conntrack).
package netpol
