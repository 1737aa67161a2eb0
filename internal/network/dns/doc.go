// Package dns is kijabi's cluster DNS addon: a DNS server answering the names of the
// Kubernetes DNS-based service discovery specification (schema 1.1.0) for one cluster
// domain (cluster.local by default) from informer caches of Services and discovery/v1
// EndpointSlices, and forwarding every other query to upstream resolvers.
//
// Records served, each with the configured TTL (5 s by default, as CoreDNS's kubernetes
// plugin):
//
//   - svc.ns.svc.<domain> A/AAAA: the ClusterIPs of a ClusterIP Service; for a headless
//     Service the addresses of its ready endpoints (every endpoint when the Service sets
//     publishNotReadyAddresses). A headless Service without endpoints is NXDOMAIN.
//   - host.svc.ns.svc.<domain> A/AAAA: the endpoint whose hostname is host (StatefulSet
//     pods whose subdomain is the Service), or whose address with dashes is host
//     (10-0-0-1), as CoreDNS does.
//   - _port._proto.svc.ns.svc.<domain> SRV, for every named port (the Service's ports for a
//     ClusterIP Service, the endpoints' ports for a headless one), with the targets'
//     addresses in the additional section. An SRV query of the bare service name returns
//     the records of all ports.
//   - PTR for ClusterIPs (svc.ns.svc.<domain>) and endpoint addresses
//     (host.svc.ns.svc.<domain>). Reverse names of other addresses are forwarded, unless
//     they fall in Config.ReverseCIDRs, where they are NXDOMAIN.
//   - ExternalName Services: a CNAME to the external name, followed (through the upstreams
//     or, for a target in the cluster domain, locally) for any query type but CNAME.
//   - a-b-c-d.ns.pod.<domain> A (and the dashed IPv6 form AAAA), answered without checking
//     that such a pod exists, as CoreDNS's "pods insecure".
//   - dns-version.<domain> TXT "1.1.0"; the SOA (and NS) of the domain apex.
//
// Unknown names in the domain are NXDOMAIN, and names that exist without records of the
// asked type are NODATA, both with the domain's SOA in the authority section. Answers keep
// the question's case, follow the client's EDNS0 buffer size and are truncated (TC) when
// they do not fit a UDP response.
//
// Queries outside the domain are forwarded to the upstreams (by default the nameservers of
// /etc/resolv.conf): over UDP, retried over TCP when the upstream truncates, and over TCP for
// TCP clients; upstreams are used round-robin, the next one taken when one fails.
//
// The name data lives in an index keyed by service name and by address, updated by the
// informers' event handlers one Service at a time; a query is a few map look-ups.
//
// EnsureService publishes the server as the kube-dns Service of kube-system, with an
// EndpointSlice of its own (managed-by kijabi-dns) since the server runs on the nodes'
// host network rather than in pods a selector could pick.
package dns
