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
// when nothing matches. Requests go straight to the ready endpoints of the Service port
// (round-robin over EndpointSlices, not through the ClusterIP).
//
// The listeners are served by a lean HTTP/1.1 proxy (frontend.go, upstream.go): one
// goroutine per client connection parses requests without header maps, writes each
// request head (with a small body) to a pooled keep-alive endpoint connection in one
// write and the response head (with what came of the body) to the client in one write,
// passes fixed-length, chunked and close-delimited bodies on as they come, and starts a
// goroutine only to copy a large request body or, when an endpoint takes longer than a
// second, to notice a client going away (499). Hop-by-hop headers are removed,
// X-Forwarded-* set as httputil.ReverseProxy does, Expect: 100-continue answered by the
// proxy as nginx does, idempotent requests sent again when a pooled connection turns out
// closed, and a request refused by an endpoint's port sent to the next endpoint.
// Everything else — HTTP/1.0, HTTP/2 (ALPN), Upgrade (WebSockets), chunked request
// bodies, malformed or unusual heads — is handed with its connection to a net/http server
// that proxies with net/http/httputil.ReverseProxy. WebSocket upgrades and streamed
// responses pass through either way. HTTPS
// certificates come from the kubernetes.io/tls Secrets named in spec.tls, chosen by SNI,
// with a self-signed fallback. The controller writes the node addresses into
// status.loadBalancer of each Ingress it serves.
package ingress
