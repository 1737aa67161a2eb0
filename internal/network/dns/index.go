package dns

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

type serviceKind int

const (
	kindClusterIP serviceKind = iota
	kindHeadless
	kindExternalName
)

// port is a named (or unnamed) port with its protocol, lower case.
type port struct {
	name, proto string
	port        uint16
}

// endpoint is one published endpoint address of a Service.
type endpoint struct {
	// host is the endpoint's label under the service name: its hostname, or its address
	// with dashes.
	host  string
	addr  netip.Addr
	ports []port
}

// service is the DNS view of one Service, immutable once in the index.
type service struct {
	namespace, name string
	fqdn            string // name.namespace.svc.<domain>.
	kind            serviceKind
	clusterIPs      []netip.Addr
	external        string // FQDN of an ExternalName target, lower case
	ports           []port // the Service's ports
	endpoints       []endpoint
}

func (s *service) hasEndpoints() bool { return len(s.endpoints) > 0 }

// endpointsNamed returns the endpoints whose label is host.
func (s *service) endpointsNamed(host string) []endpoint {
	var out []endpoint
	for _, e := range s.endpoints {
		if e.host == host {
			out = append(out, e)
		}
	}
	return out
}

// index holds the DNS data: services by "name.namespace", PTR names by address, and how
// many services each namespace has (a namespace with services exists for DNS).
type index struct {
	domain string // lower case, with the trailing dot
	now    func() time.Time

	mu         sync.RWMutex
	services   map[string]*service
	ptr        map[netip.Addr][]string
	namespaces map[string]int
	serial     uint32
	synced     bool
}

func newIndex(domain string, now func() time.Time) *index {
	return &index{
		domain: domain, now: now,
		services:   map[string]*service{},
		ptr:        map[netip.Addr][]string{},
		namespaces: map[string]int{},
		serial:     uint32(now().Unix()),
	}
}

func serviceIndexKey(namespace, name string) string { return name + "." + namespace }

// update replaces the entry of namespace/name by what build returns (nil: no entry). It
// runs build under the index's write lock, so that an update computed from older cache
// contents can never overwrite one computed from newer contents.
func (x *index) update(namespace, name string, build func() *service) {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := serviceIndexKey(namespace, name)
	old := x.services[key]
	nu := build()
	if old == nil && nu == nil {
		return
	}
	if old != nil {
		x.removePTR(old)
		x.namespaces[namespace]--
		if x.namespaces[namespace] <= 0 {
			delete(x.namespaces, namespace)
		}
		delete(x.services, key)
	}
	if nu != nil {
		x.services[key] = nu
		x.namespaces[namespace]++
		x.addPTR(nu)
	}
	// The serial is the time of the last change, as CoreDNS's.
	x.serial = max(x.serial, uint32(x.now().Unix()))
}

func ptrNames(s *service) map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, ip := range s.clusterIPs {
		m[ip] = s.fqdn
	}
	for _, e := range s.endpoints {
		if _, ok := m[e.addr]; !ok {
			m[e.addr] = e.host + "." + s.fqdn
		}
	}
	return m
}

func (x *index) addPTR(s *service) {
	for ip, name := range ptrNames(s) {
		names := x.ptr[ip]
		if i, found := slices.BinarySearch(names, name); !found {
			// Never in place: queries read the old slice without the lock.
			x.ptr[ip] = slices.Insert(slices.Clip(names), i, name)
		}
	}
}

func (x *index) removePTR(s *service) {
	for ip, name := range ptrNames(s) {
		names := x.ptr[ip]
		if i, found := slices.BinarySearch(names, name); found {
			names = slices.Delete(slices.Clone(names), i, i+1)
		}
		if len(names) == 0 {
			delete(x.ptr, ip)
		} else {
			x.ptr[ip] = names
		}
	}
}

// view is what a query reads; it holds the read lock until done.
func (x *index) view() *index { x.mu.RLock(); return x }
func (x *index) done()        { x.mu.RUnlock() }

// buildService computes the DNS entry of svc from its EndpointSlices.
func buildService(domain string, svc *corev1.Service, slicesOf []*discoveryv1.EndpointSlice) *service {
	s := &service{
		namespace: svc.Namespace, name: svc.Name,
		fqdn: svc.Name + "." + svc.Namespace + ".svc." + domain,
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		s.kind = kindExternalName
		ext := strings.ToLower(strings.TrimSpace(svc.Spec.ExternalName))
		if ext == "" {
			return nil
		}
		if !strings.HasSuffix(ext, ".") {
			ext += "."
		}
		s.external = ext
		return s
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		s.kind = kindHeadless
	default:
		s.kind = kindClusterIP
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				s.clusterIPs = append(s.clusterIPs, a.Unmap())
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		s.ports = append(s.ports, port{name: strings.ToLower(p.Name), proto: protoName(p.Protocol), port: uint16(p.Port)})
	}
	// Endpoints, deduplicated by label and address (an endpoint may briefly be in two
	// slices while they are rebalanced), in a stable order.
	type epKey struct {
		host string
		addr netip.Addr
	}
	seen := map[epKey]int{}
	for _, sl := range slicesOf {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var ports []port
		for _, p := range sl.Ports {
			if p.Port == nil {
				continue
			}
			pp := port{port: uint16(*p.Port), proto: "tcp"}
			if p.Name != nil {
				pp.name = strings.ToLower(*p.Name)
			}
			if p.Protocol != nil {
				pp.proto = protoName(*p.Protocol)
			}
			ports = append(ports, pp)
		}
		for _, e := range sl.Endpoints {
			if !svc.Spec.PublishNotReadyAddresses && e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				addr = addr.Unmap()
				host := ""
				if e.Hostname != nil && *e.Hostname != "" {
					host = strings.ToLower(*e.Hostname)
				} else {
					host = dashed(addr)
				}
				k := epKey{host, addr}
				if i, ok := seen[k]; ok {
					s.endpoints[i].ports = mergePorts(s.endpoints[i].ports, ports)
					continue
				}
				seen[k] = len(s.endpoints)
				s.endpoints = append(s.endpoints, endpoint{host: host, addr: addr, ports: ports})
			}
		}
	}
	slices.SortFunc(s.endpoints, func(a, b endpoint) int {
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		return a.addr.Compare(b.addr)
	})
	return s
}

func mergePorts(a, b []port) []port {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func protoName(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

// dashed is addr with its separators replaced by dashes: 10-0-0-1, fd00--1.
func dashed(addr netip.Addr) string {
	s := addr.String()
	if addr.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// undashed parses a dashed address label.
func undashed(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
