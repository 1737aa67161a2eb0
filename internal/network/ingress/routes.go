package ingress

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

const (
	// ControllerName is the spec.controller of the IngressClasses this controller serves.
	ControllerName = "kijabi.io/ingress"
	// DefaultClassName is the IngressClass the controller creates and serves.
	DefaultClassName = "kijabi"
	// DefaultClassAnnotation marks an IngressClass as the cluster's default.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// LegacyClassAnnotation is the deprecated way of naming an Ingress's class.
	LegacyClassAnnotation = "kubernetes.io/ingress.class"
)

// source is what a route table is built from: the informer caches, or fixed objects in tests.
type source interface {
	IngressClasses() []*networkingv1.IngressClass
	Ingresses() []*networkingv1.Ingress
	Service(namespace, name string) *corev1.Service
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	Secret(namespace, name string) *corev1.Secret
}

// table is an immutable route table. Requests load the current one atomically.
type table struct {
	exact    map[string]*hostRoutes // by lower-case host
	wildcard map[string]*hostRoutes // "*.example.com" by its suffix ".example.com"
	anyHost  *hostRoutes            // rules without a host

	defaultBackend *backend
	defaultFrom    string // namespace/name of the Ingress whose defaultBackend it is

	certs         map[string]*certEntry // exact TLS host
	wildcardCerts map[string]*certEntry // wildcard TLS host by suffix

	served []*networkingv1.Ingress // the Ingresses served, oldest first
	notes  []note                  // problems found while building
}

type hostRoutes struct {
	host   string
	routes []*route // in match order: longest path first, Exact before Prefix
}

type route struct {
	host     string
	path     string // as written in the Ingress
	match    string // Prefix: path without trailing slash ("" for "/"); Exact: path
	exact    bool
	pathType networkingv1.PathType
	backend  *backend
	from     string // namespace/name of the Ingress
}

// backend is a Service port with its ready endpoints at build time.
type backend struct {
	key       string   // namespace/service:port
	endpoints []string // host:port, sorted
	problem   string   // why there are no endpoints, when there are none
	next      *atomic.Uint64
}

type certEntry struct {
	cert   *tls.Certificate
	secret string // namespace/name
	from   string // namespace/name of the Ingress
}

// note is a problem with an Ingress found while building; the controller logs it and
// records it as an event once per Ingress generation.
type note struct {
	ing    *networkingv1.Ingress
	reason string
	msg    string
}

// pick returns the endpoint for the next request and its index (round-robin).
func (b *backend) pick() (string, int) {
	n := len(b.endpoints)
	if n == 1 {
		return b.endpoints[0], 0
	}
	i := int((b.next.Add(1) - 1) % uint64(n))
	return b.endpoints[i], i
}

// builder builds a table. counters keeps round-robin positions across rebuilds; certs caches
// parsed certificates by Secret and resourceVersion. Both may be nil.
type builder struct {
	src       source
	className string
	counters  map[string]*atomic.Uint64
	certs     map[string]cachedCert
	backends  map[string]*backend
	usedCerts map[string]bool
	t         *table
}

type cachedCert struct {
	resourceVersion string
	cert            *tls.Certificate
	err             error
}

func buildTable(src source, className string, counters map[string]*atomic.Uint64, certs map[string]cachedCert) *table {
	if counters == nil {
		counters = map[string]*atomic.Uint64{}
	}
	if certs == nil {
		certs = map[string]cachedCert{}
	}
	b := &builder{
		src: src, className: className, counters: counters, certs: certs,
		backends: map[string]*backend{}, usedCerts: map[string]bool{},
		t: &table{
			exact: map[string]*hostRoutes{}, wildcard: map[string]*hostRoutes{},
			certs: map[string]*certEntry{}, wildcardCerts: map[string]*certEntry{},
		},
	}
	b.build()
	// Forget counters and certificates no longer used.
	for k := range counters {
		if _, ok := b.backends[k]; !ok {
			delete(counters, k)
		}
	}
	for k := range certs {
		if !b.usedCerts[k] {
			delete(certs, k)
		}
	}
	return b.t
}

// servedClasses returns the IngressClass names that are ours and whether one of them is the
// default class.
func servedClasses(classes []*networkingv1.IngressClass, className string) (map[string]bool, bool) {
	ours := map[string]bool{className: true}
	isDefault := false
	for _, c := range classes {
		if c.Spec.Controller != ControllerName {
			continue
		}
		ours[c.Name] = true
		if c.Annotations[DefaultClassAnnotation] == "true" {
			isDefault = true
		}
	}
	return ours, isDefault
}

// serves reports whether an Ingress belongs to one of our classes.
func serves(ing *networkingv1.Ingress, ours map[string]bool, isDefault bool) bool {
	if ing.Spec.IngressClassName != nil {
		return ours[*ing.Spec.IngressClassName]
	}
	if c, ok := ing.Annotations[LegacyClassAnnotation]; ok {
		return ours[c]
	}
	return isDefault
}

func ingressKey(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// olderFirst orders Ingresses oldest first (ties by namespace/name), which decides conflicts.
func olderFirst(a, b *networkingv1.Ingress) int {
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(ingressKey(a), ingressKey(b))
}

func (b *builder) build() {
	ours, isDefault := servedClasses(b.src.IngressClasses(), b.className)
	var served []*networkingv1.Ingress
	for _, ing := range b.src.Ingresses() {
		if ing.DeletionTimestamp == nil && serves(ing, ours, isDefault) {
			served = append(served, ing)
		}
	}
	slices.SortFunc(served, olderFirst)
	b.t.served = served

	seen := map[string]string{} // host, path type and path → Ingress that has it
	for _, ing := range served {
		from := ingressKey(ing)
		for _, t := range ing.Spec.TLS {
			b.addTLS(ing, t)
		}
		if db := ing.Spec.DefaultBackend; db != nil {
			switch {
			case db.Resource != nil:
				b.notef(ing, "UnsupportedBackend", "spec.defaultBackend.resource (%s %s) is not supported", kindOf(db.Resource), db.Resource.Name)
			case db.Service != nil && b.t.defaultBackend == nil:
				b.t.defaultBackend = b.backend(ing.Namespace, db.Service)
				b.t.defaultFrom = from
			case db.Service != nil:
				b.notef(ing, "Conflict", "spec.defaultBackend ignored: the default backend of the older Ingress %s is used", b.t.defaultFrom)
			}
		}
		for i, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			host := strings.ToLower(rule.Host)
			for j, p := range rule.HTTP.Paths {
				if p.Backend.Resource != nil {
					b.notef(ing, "UnsupportedBackend", "spec.rules[%d].http.paths[%d].backend.resource (%s %s) is not supported; path %q skipped",
						i, j, kindOf(p.Backend.Resource), p.Backend.Resource.Name, p.Path)
					continue
				}
				if p.Backend.Service == nil {
					continue
				}
				r := newRoute(host, p, from)
				key := host + "\x00" + strconv.FormatBool(r.exact) + "\x00" + r.match
				if other, ok := seen[key]; ok {
					if other != from {
						b.notef(ing, "Conflict", "host %q path %q (%s) is already routed by the older Ingress %s", displayHost(host), r.path, r.pathType, other)
					}
					continue
				}
				seen[key] = from
				r.backend = b.backend(ing.Namespace, p.Backend.Service)
				b.hostRoutes(host).routes = append(b.hostRoutes(host).routes, r)
			}
		}
	}
	for _, hr := range b.allHosts() {
		sortRoutes(hr.routes)
	}
}

func kindOf(r *corev1.TypedLocalObjectReference) string {
	if r.APIGroup != nil && *r.APIGroup != "" {
		return r.Kind + "." + *r.APIGroup
	}
	return r.Kind
}

func displayHost(h string) string {
	if h == "" {
		return "*"
	}
	return h
}

func (b *builder) notef(ing *networkingv1.Ingress, reason, format string, args ...any) {
	b.t.notes = append(b.t.notes, note{ing: ing, reason: reason, msg: fmt.Sprintf(format, args...)})
}

func newRoute(host string, p networkingv1.HTTPIngressPath, from string) *route {
	pt := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pt = *p.PathType
	}
	r := &route{host: host, path: p.Path, pathType: pt, from: from}
	if r.path == "" {
		r.path = "/"
	}
	if pt == networkingv1.PathTypeExact {
		r.exact, r.match = true, r.path
	} else {
		// Prefix and ImplementationSpecific: element-wise prefix, trailing slash ignored.
		r.match = strings.TrimRight(r.path, "/")
	}
	return r
}

// sortRoutes orders routes for matching: longest path first; at equal length Exact first.
func sortRoutes(rs []*route) {
	sort.SliceStable(rs, func(i, j int) bool {
		if li, lj := len(rs[i].match), len(rs[j].match); li != lj {
			return li > lj
		}
		return rs[i].exact && !rs[j].exact
	})
}

func (b *builder) hostRoutes(host string) *hostRoutes {
	switch {
	case host == "":
		if b.t.anyHost == nil {
			b.t.anyHost = &hostRoutes{}
		}
		return b.t.anyHost
	case strings.HasPrefix(host, "*."):
		suffix := host[1:]
		hr := b.t.wildcard[suffix]
		if hr == nil {
			hr = &hostRoutes{host: host}
			b.t.wildcard[suffix] = hr
		}
		return hr
	default:
		hr := b.t.exact[host]
		if hr == nil {
			hr = &hostRoutes{host: host}
			b.t.exact[host] = hr
		}
		return hr
	}
}

func (b *builder) allHosts() []*hostRoutes {
	var out []*hostRoutes
	for _, k := range sortedKeys(b.t.exact) {
		out = append(out, b.t.exact[k])
	}
	for _, k := range sortedKeys(b.t.wildcard) {
		out = append(out, b.t.wildcard[k])
	}
	if b.t.anyHost != nil {
		out = append(out, b.t.anyHost)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// backend resolves a Service backend to the ready endpoints of its port.
func (b *builder) backend(namespace string, sb *networkingv1.IngressServiceBackend) *backend {
	port := strconv.Itoa(int(sb.Port.Number))
	if sb.Port.Name != "" {
		port = sb.Port.Name
	}
	key := namespace + "/" + sb.Name + ":" + port
	if be, ok := b.backends[key]; ok {
		return be
	}
	be := &backend{key: key}
	b.backends[key] = be
	if be.next = b.counters[key]; be.next == nil {
		be.next = new(atomic.Uint64)
		b.counters[key] = be.next
	}
	svc := b.src.Service(namespace, sb.Name)
	if svc == nil {
		be.problem = "service not found"
		return be
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		be.problem = "ExternalName services are not supported"
		return be
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (sb.Port.Name != "" && p.Name == sb.Port.Name) || (sb.Port.Name == "" && p.Port == sb.Port.Number) {
			sp = p
			break
		}
	}
	if sp == nil {
		be.problem = "service has no port " + port
		return be
	}
	if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
		be.problem = "service port " + port + " is not TCP"
		return be
	}
	seen := map[string]bool{}
	for _, s := range b.src.EndpointSlices(namespace, sb.Name) {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		target := int32(0)
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == sp.Name && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) && p.Port != nil {
				target = *p.Port
				break
			}
		}
		if target == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) {
				continue
			}
			addr := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(target)))
			if !seen[addr] {
				seen[addr] = true
				be.endpoints = append(be.endpoints, addr)
			}
		}
	}
	sort.Strings(be.endpoints)
	if len(be.endpoints) == 0 {
		be.problem = "no ready endpoints"
	}
	return be
}

// addTLS indexes the certificate of one spec.tls entry by its hosts (by the certificate's
// own names when the entry lists none).
func (b *builder) addTLS(ing *networkingv1.Ingress, t networkingv1.IngressTLS) {
	if t.SecretName == "" {
		return
	}
	secretKey := ing.Namespace + "/" + t.SecretName
	cert, err := b.cert(ing.Namespace, t.SecretName)
	if err != nil {
		b.notef(ing, "BadTLSSecret", "TLS secret %s: %v", t.SecretName, err)
		return
	}
	hosts := t.Hosts
	if len(hosts) == 0 && cert.Leaf != nil {
		hosts = cert.Leaf.DNSNames
	}
	e := &certEntry{cert: cert, secret: secretKey, from: ingressKey(ing)}
	for _, h := range hosts {
		h = strings.ToLower(h)
		m, k := b.t.certs, h
		if strings.HasPrefix(h, "*.") {
			m, k = b.t.wildcardCerts, h[1:]
		}
		if old, ok := m[k]; ok {
			if old.secret != secretKey {
				b.notef(ing, "Conflict", "TLS host %q: the certificate of the older Ingress %s (secret %s) is used", h, old.from, old.secret)
			}
			continue
		}
		m[k] = e
	}
}

func (b *builder) cert(namespace, name string) (*tls.Certificate, error) {
	s := b.src.Secret(namespace, name)
	if s == nil {
		return nil, fmt.Errorf("not found")
	}
	key := namespace + "/" + name
	b.usedCerts[key] = true
	if c, ok := b.certs[key]; ok && c.resourceVersion == s.ResourceVersion && s.ResourceVersion != "" {
		return c.cert, c.err
	}
	c := cachedCert{resourceVersion: s.ResourceVersion}
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		c.err = fmt.Errorf("parsing %s and %s: %w", corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	} else {
		if pair.Leaf == nil && len(pair.Certificate) > 0 {
			pair.Leaf, _ = x509.ParseCertificate(pair.Certificate[0])
		}
		c.cert = &pair
	}
	b.certs[key] = c
	return c.cert, c.err
}

// normalizeHost lower-cases a Host header and drops its port and a trailing dot.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// cleanPath normalises a request path for matching as nginx does ("//", ".", ".." removed),
// keeping a trailing slash. The request is forwarded unchanged.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func (r *route) matches(p string) bool {
	if r.exact {
		return p == r.match
	}
	if r.match == "" {
		return true
	}
	return strings.HasPrefix(p, r.match) && (len(p) == len(r.match) || p[len(r.match)] == '/')
}

func (hr *hostRoutes) lookup(p string) *route {
	if hr == nil {
		return nil
	}
	for _, r := range hr.routes {
		if r.matches(p) {
			return r
		}
	}
	return nil
}

// match finds the route of a request: the rules of an exact host, then of a wildcard host,
// then the rules without a host. A nil route with a non-nil backend is the default backend.
func (t *table) match(host, p string) (*route, *backend) {
	if r := t.exact[host].lookup(p); r != nil {
		return r, r.backend
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if r := t.wildcard[host[i:]].lookup(p); r != nil {
			return r, r.backend
		}
	}
	if r := t.anyHost.lookup(p); r != nil {
		return r, r.backend
	}
	return nil, t.defaultBackend
}

// certificate returns the certificate entry for a TLS server name, or nil.
func (t *table) certificate(name string) *certEntry {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if e, ok := t.certs[name]; ok {
		return e
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if e, ok := t.wildcardCerts[name[i:]]; ok {
			return e
		}
	}
	return nil
}

// render writes the table in a stable text form (for tests and debugging).
func (t *table) render() string {
	var sb strings.Builder
	for _, ing := range t.served {
		fmt.Fprintf(&sb, "serve %s\n", ingressKey(ing))
	}
	if t.defaultBackend != nil {
		fmt.Fprintf(&sb, "default backend %s (%s)\n", t.defaultBackend.describe(), t.defaultFrom)
	}
	var hosts []*hostRoutes
	for _, k := range sortedKeys(t.exact) {
		hosts = append(hosts, t.exact[k])
	}
	for _, k := range sortedKeys(t.wildcard) {
		hosts = append(hosts, t.wildcard[k])
	}
	if t.anyHost != nil {
		hosts = append(hosts, t.anyHost)
	}
	for _, hr := range hosts {
		fmt.Fprintf(&sb, "host %s\n", displayHost(hr.host))
		for _, r := range hr.routes {
			fmt.Fprintf(&sb, "  %-22s %-30s %s (%s)\n", r.pathType, r.path, r.backend.describe(), r.from)
		}
	}
	for _, k := range sortedKeys(t.certs) {
		e := t.certs[k]
		fmt.Fprintf(&sb, "tls %s secret %s (%s)\n", k, e.secret, e.from)
	}
	for _, k := range sortedKeys(t.wildcardCerts) {
		e := t.wildcardCerts[k]
		fmt.Fprintf(&sb, "tls *%s secret %s (%s)\n", k, e.secret, e.from)
	}
	for _, n := range t.notes {
		fmt.Fprintf(&sb, "note %s %s: %s\n", ingressKey(n.ing), n.reason, n.msg)
	}
	return sb.String()
}

func (b *backend) describe() string {
	if len(b.endpoints) == 0 {
		return b.key + " [" + b.problem + "]"
	}
	return b.key + " [" + strings.Join(b.endpoints, " ") + "]"
}
