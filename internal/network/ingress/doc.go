// Package ingress is kijabi's built-in ingress controller: it serves the Ingresses of the
// IngressClass "kijabi" (controller kijabi.io/ingress, the default class unless a user says
// otherwise) with an HTTP and an HTTPS listener on the node.
//
// The controller watches Ingresses, IngressClasses, Services, EndpointSlices and Secrets
// through client-go informers. On every change (debounced) it rebuilds an immutable route
// table from the caches and swaps it in atomically, so requests in flight keep the table
// they started with. Routing follows the Ingress specification: exact and one-label
// wildcard hosts, Exact and Prefix paths (ImplementationSpecific behaves as Prefix), the
// longest path winning with Exact before Prefix at equal length, rules of several Ingresses
// merged with the oldest Ingress winning a conflict, and spec.defaultBackend (else 404)
// when nothing matches. Backends are proxied with net/http/httputil.ReverseProxy straight
// to the ready endpoints of the Service port (round-robin over EndpointSlices, not through
// the ClusterIP); WebSocket upgrades and streamed responses pass through. HTTPS
// certificates come from the kubernetes.io/tls Secrets named in spec.tls, chosen by SNI,
// with a self-signed fallback. The controller writes the node addresses into
// status.loadBalancer of each Ingress it serves.
package ingress
