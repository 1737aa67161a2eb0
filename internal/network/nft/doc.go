// Package nft holds the nftables building blocks that kijabi's node components share:
// the service proxy (internal/network/proxy) and the NetworkPolicy controller
// (internal/network/netpol). Each component keeps its own model of the ruleset it
// wants and its own way of programming it; this package has what they express it with:
//
//   - Proto, the IP protocols ports are matched on (tcp, udp, sctp);
//   - Verdict, a rule's or a verdict map element's verdict;
//   - Stmt and Rule: a rule is a list of statements, each with a rendering in `nft -f`
//     syntax (Text, what the golden files hold) and an encoding as netlink expressions
//     of github.com/google/nftables (Exprs). The statements both components use are
//     here (CtState, AddrMatch, AddrInSet, L4Proto, Dport, Verdict); a component
//     defines its own statements by implementing Stmt;
//   - Hook and Chain, KeyKind and ElementKey: chains and set keys, rendered and encoded;
//   - Chain.AddRules and SetElements, which add a chain's rules (with the anonymous
//     sets their statements need) or set elements (chunked to fit netlink messages) to
//     a batch, and AddSet, through which every set is added (it numbers sets safely
//     across the components of one process);
//   - SyncLoop, which batches a component's changes into syncs (at most one per
//     interval, full ones at the start, periodically and after a failure);
//   - OpenNetNS, InNetNS and WriteSysctl, to act in the network namespace a component
//     is given (Config.NetNS; /proc/sys/net shows the namespace of the thread that
//     opens it).
//
// Only IPv4 (table family ip) is handled. Package nfttest has the test harness the
// components share: network namespaces, nft listings compared, golden files.
package nft
