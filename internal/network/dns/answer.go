package dns

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size this server advertises (the DNS flag day 2020 value).
const ednsSize = 1232

// maxChase bounds how many CNAMEs of ExternalName services are followed.
const maxChase = 8

// reply is the result of a local look-up.
type reply struct {
	rcode  int
	answer []dns.RR
	extra  []dns.RR
	// soa is the zone whose SOA goes into the authority section of an empty answer.
	soa string
}

// ServeDNS answers one query: names in the cluster domain and known reverse names from the
// index, everything else through the upstreams.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	tcp := false
	if a := w.LocalAddr(); a != nil && strings.HasPrefix(a.Network(), "tcp") {
		tcp = true
	}
	ctx, cancel := context.WithTimeout(s.context(), 5*time.Second)
	defer cancel()
	m := s.handle(ctx, req, tcp)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("writing answer", "err", err)
	}
}

// handle computes the answer to req as sent to the client.
func (s *Server) handle(ctx context.Context, req *dns.Msg, tcp bool) *dns.Msg {
	opt := req.IsEdns0()
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		rcode := dns.RcodeFormatError
		if req.Opcode != dns.OpcodeQuery {
			rcode = dns.RcodeNotImplemented
		}
		m.SetRcode(req, rcode)
		return finish(m, req, opt, tcp)
	}
	if opt != nil && opt.Version() != 0 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeBadVers)
		return finish(m, req, opt, tcp)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	var r reply
	switch {
	case dns.IsSubDomain(s.domain, name):
		if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeRefused)
			return finish(m, req, opt, tcp)
		}
		r = s.zone(ctx, name, q.Qtype, 0)
	default:
		var ok bool
		r, ok = s.reverse(name, q.Qtype)
		if !ok {
			return s.forward(ctx, req, opt, tcp)
		}
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Rcode = r.rcode
	m.Answer = r.answer
	m.Extra = r.extra
	if len(r.answer) == 0 && r.soa != "" && (r.rcode == dns.RcodeSuccess || r.rcode == dns.RcodeNameError) {
		m.Ns = []dns.RR{s.soaRecord(r.soa)}
	}
	// Keep the question's case in the owner names that repeat it.
	for _, rr := range m.Answer {
		if h := rr.Header(); h.Name == name {
			h.Name = q.Name
		}
	}
	return finish(m, req, opt, tcp)
}

// finish adds the OPT record the client's EDNS0 asks for and truncates the message to what
// the client can take.
func finish(m, req *dns.Msg, opt *dns.OPT, tcp bool) *dns.Msg {
	size := dns.MinMsgSize
	if opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		o := new(dns.OPT)
		o.Hdr.Name = "."
		o.Hdr.Rrtype = dns.TypeOPT
		o.SetUDPSize(ednsSize)
		if m.Rcode > 0xF {
			o.SetExtendedRcode(uint16(m.Rcode))
		}
		m.Extra = append(m.Extra, o)
	}
	if tcp {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	return m
}

// forward answers req from the upstreams.
func (s *Server) forward(ctx context.Context, req *dns.Msg, opt *dns.OPT, tcp bool) *dns.Msg {
	resp, err := s.fwd.exchange(ctx, req, tcp)
	if err != nil {
		s.log.Debug("forwarding failed", "err", err)
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		return finish(m, req, opt, tcp)
	}
	resp.Id = req.Id
	resp.Question = req.Question
	// The client's EDNS0, not the upstream's, decides the OPT record.
	extra := resp.Extra[:0:0]
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	resp.Extra = extra
	if opt == nil && resp.Rcode > 0xF {
		resp.Rcode = dns.RcodeServerFailure
	}
	return finish(resp, req, opt, tcp)
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.ttl}
}

func (s *Server) soaRecord(zone string) dns.RR {
	x := s.idx.view()
	serial := x.serial
	x.done()
	return &dns.SOA{
		Hdr: s.hdr(zone, dns.TypeSOA), Ns: "ns.dns." + s.domain, Mbox: "hostmaster." + s.domain,
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.ttl,
	}
}

func (s *Server) nxdomain() reply { return reply{rcode: dns.RcodeNameError, soa: s.domain} }
func (s *Server) nodata() reply   { return reply{soa: s.domain} }

// addrRecords returns A and AAAA records of name for addrs, as qtype asks.
func (s *Server) addrRecords(name string, qtype uint16, addrs ...netip.Addr) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		switch {
		case a.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			b := a.As4()
			out = append(out, &dns.A{Hdr: s.hdr(name, dns.TypeA), A: b[:]})
		case a.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			b := a.As16()
			out = append(out, &dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: b[:]})
		}
	}
	return out
}

func isAddrType(qtype uint16) bool {
	return qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY
}

// lookup returns the service namespace/name from the index.
func (s *Server) lookup(namespace, name string) (*service, bool) {
	x := s.idx.view()
	defer x.done()
	if !x.synced {
		return nil, false
	}
	return x.services[serviceIndexKey(namespace, name)], true
}

// zone answers name (lower case, in the cluster domain).
func (s *Server) zone(ctx context.Context, name string, qtype uint16, depth int) reply {
	x := s.idx.view()
	synced := x.synced
	x.done()
	if !synced {
		return reply{rcode: dns.RcodeServerFailure}
	}
	rest := strings.TrimSuffix(strings.TrimSuffix(name, s.domain), ".")
	if rest == "" {
		switch qtype {
		case dns.TypeSOA:
			return reply{answer: []dns.RR{s.soaRecord(s.domain)}}
		case dns.TypeNS:
			return reply{answer: []dns.RR{&dns.NS{Hdr: s.hdr(s.domain, dns.TypeNS), Ns: "ns.dns." + s.domain}}}
		}
		return s.nodata()
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	switch {
	case n == 1 && labels[0] == "dns-version":
		if qtype == dns.TypeTXT {
			return reply{answer: []dns.RR{&dns.TXT{Hdr: s.hdr(name, dns.TypeTXT), Txt: []string{SchemaVersion}}}}
		}
		return s.nodata()
	case n == 1 && (labels[0] == "svc" || labels[0] == "pod"):
		return s.nodata()
	case labels[n-1] == "svc":
		return s.svcZone(ctx, name, labels[:n-1], qtype, depth)
	case labels[n-1] == "pod":
		return s.podZone(name, labels[:n-1], qtype)
	}
	return s.nxdomain()
}

// podZone answers a-b-c-d.ns.pod.<domain> without checking the pod exists.
func (s *Server) podZone(name string, labels []string, qtype uint16) reply {
	switch len(labels) {
	case 1: // ns.pod.<domain>: any namespace may have pods
		return s.nodata()
	case 2:
		a, ok := undashed(labels[0])
		if !ok {
			return s.nxdomain()
		}
		return reply{answer: s.addrRecords(name, qtype, a), soa: s.domain}
	}
	return s.nxdomain()
}

// svcZone answers the names under svc.<domain>; labels are those before "svc".
func (s *Server) svcZone(ctx context.Context, name string, labels []string, qtype uint16, depth int) reply {
	n := len(labels)
	if n == 1 { // ns.svc.<domain>
		x := s.idx.view()
		exists := x.namespaces[labels[0]] > 0
		x.done()
		if exists {
			return s.nodata()
		}
		return s.nxdomain()
	}
	if n > 4 {
		return s.nxdomain()
	}
	svc, _ := s.lookup(labels[n-1], labels[n-2])
	if svc == nil {
		return s.nxdomain()
	}
	switch n {
	case 2:
		return s.serviceRecords(ctx, name, svc, qtype, depth)
	case 3:
		if strings.HasPrefix(labels[0], "_") { // _proto.svc.ns.svc: an empty non-terminal
			if svc.kind != kindExternalName && len(s.srvPorts(svc, "", labels[0][1:])) > 0 {
				return s.nodata()
			}
			return s.nxdomain()
		}
		if svc.kind == kindExternalName {
			return s.nxdomain()
		}
		eps := svc.endpointsNamed(labels[0])
		if len(eps) == 0 {
			return s.nxdomain()
		}
		var addrs []netip.Addr
		for _, e := range eps {
			addrs = append(addrs, e.addr)
		}
		return reply{answer: s.addrRecords(name, qtype, addrs...), soa: s.domain}
	default: // _port._proto.svc.ns.svc
		if svc.kind == kindExternalName || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return s.nxdomain()
		}
		r := s.srv(name, svc, labels[0][1:], labels[1][1:])
		if len(r.answer) == 0 {
			return s.nxdomain()
		}
		if qtype != dns.TypeSRV && qtype != dns.TypeANY {
			return s.nodata()
		}
		return r
	}
}

// serviceRecords answers svc.ns.svc.<domain>.
func (s *Server) serviceRecords(ctx context.Context, name string, svc *service, qtype uint16, depth int) reply {
	switch svc.kind {
	case kindExternalName:
		cname := &dns.CNAME{Hdr: s.hdr(name, dns.TypeCNAME), Target: svc.external}
		r := reply{answer: []dns.RR{cname}}
		if qtype != dns.TypeCNAME {
			r.answer = append(r.answer, s.chase(ctx, svc.external, qtype, depth)...)
		}
		return r
	case kindHeadless:
		if !svc.hasEndpoints() {
			return s.nxdomain()
		}
	}
	if qtype == dns.TypeSRV {
		r := s.srv(name, svc, "", "")
		r.soa = s.domain
		return r
	}
	if !isAddrType(qtype) {
		return s.nodata()
	}
	addrs := svc.clusterIPs
	if svc.kind == kindHeadless {
		seen := map[netip.Addr]bool{}
		addrs = nil
		for _, e := range svc.endpoints {
			if !seen[e.addr] {
				seen[e.addr] = true
				addrs = append(addrs, e.addr)
			}
		}
	}
	return reply{answer: s.addrRecords(name, qtype, addrs...), soa: s.domain}
}

// srvPorts returns the ports of svc named portName (any when empty) with protocol proto
// (any when empty).
func (s *Server) srvPorts(svc *service, portName, proto string) []port {
	var out []port
	match := func(p port) bool {
		return (portName == "" || p.name == portName) && (proto == "" || p.proto == proto)
	}
	if svc.kind == kindClusterIP {
		for _, p := range svc.ports {
			if match(p) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, e := range svc.endpoints {
		for _, p := range e.ports {
			if match(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// srv returns the SRV records of name for the ports of svc matching portName and proto
// (any when empty), with the targets' addresses as additional records. A ClusterIP
// service's target is the service; a headless service's are its endpoints.
func (s *Server) srv(name string, svc *service, portName, proto string) reply {
	type rec struct {
		target string
		port   uint16
	}
	var recs []rec
	var extra []dns.RR
	seen := map[string]bool{}
	match := func(p port) bool {
		return (portName == "" || p.name == portName) && (proto == "" || p.proto == proto)
	}
	switch svc.kind {
	case kindClusterIP:
		for _, p := range svc.ports {
			if match(p) {
				recs = append(recs, rec{svc.fqdn, p.port})
			}
		}
		if len(recs) > 0 {
			extra = s.addrRecords(svc.fqdn, dns.TypeANY, svc.clusterIPs...)
		}
	case kindHeadless:
		for _, e := range svc.endpoints {
			target := e.host + "." + svc.fqdn
			added := false
			for _, p := range e.ports {
				if match(p) {
					recs = append(recs, rec{target, p.port})
					added = true
				}
			}
			key := target + " " + e.addr.String()
			if added && !seen[key] {
				seen[key] = true
				extra = append(extra, s.addrRecords(target, dns.TypeANY, e.addr)...)
			}
		}
	}
	if len(recs) == 0 {
		return reply{}
	}
	// One record per target and port (an endpoint with an IPv4 and an IPv6 address is one
	// target), all of priority 0 and equal weights summing to about 100, as CoreDNS's.
	dup := map[rec]bool{}
	uniq := recs[:0]
	for _, x := range recs {
		if !dup[x] {
			dup[x] = true
			uniq = append(uniq, x)
		}
	}
	weight := uint16(max(100/len(uniq), 1))
	r := reply{extra: extra}
	for _, x := range uniq {
		r.answer = append(r.answer, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Priority: 0, Weight: weight, Port: x.port, Target: x.target})
	}
	return r
}

// chase resolves the target of a CNAME: in the cluster domain locally, elsewhere through
// the upstreams. It returns the records found, none when resolution fails.
func (s *Server) chase(ctx context.Context, target string, qtype uint16, depth int) []dns.RR {
	if depth >= maxChase {
		return nil
	}
	if dns.IsSubDomain(s.domain, target) {
		return s.zone(ctx, target, qtype, depth+1).answer
	}
	m := new(dns.Msg)
	m.SetQuestion(target, qtype)
	m.SetEdns0(ednsSize, false)
	resp, err := s.fwd.exchange(ctx, m, false)
	if err != nil {
		s.log.Debug("following external name", "target", target, "err", err)
		return nil
	}
	return resp.Answer
}

// reverse answers a PTR name of a known address, or of an address in the reverse CIDRs;
// ok is false when the name is to be forwarded.
func (s *Server) reverse(name string, qtype uint16) (reply, bool) {
	addr, zone, ok := parseReverse(name)
	if !ok {
		return reply{}, false
	}
	x := s.idx.view()
	names := x.ptr[addr]
	synced := x.synced
	x.done()
	inRange := false
	for _, p := range s.reverseCIDRs {
		if p.Contains(addr) {
			inRange = true
			break
		}
	}
	if len(names) == 0 && !inRange {
		return reply{}, false
	}
	if !synced {
		return reply{rcode: dns.RcodeServerFailure}, true
	}
	if len(names) == 0 {
		return reply{rcode: dns.RcodeNameError, soa: zone}, true
	}
	if qtype != dns.TypePTR && qtype != dns.TypeANY {
		return reply{soa: zone}, true
	}
	r := reply{soa: zone}
	for _, n := range names {
		r.answer = append(r.answer, &dns.PTR{Hdr: s.hdr(name, dns.TypePTR), Ptr: n})
	}
	return r, true
}

// parseReverse parses a full in-addr.arpa or ip6.arpa name.
func parseReverse(name string) (netip.Addr, string, bool) {
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa."):
		labels := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
		if len(labels) != 4 {
			return netip.Addr{}, "", false
		}
		var b [4]byte
		for i, l := range labels {
			v, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, "", false
			}
			b[3-i] = byte(v)
		}
		return netip.AddrFrom4(b), "in-addr.arpa.", true
	case strings.HasSuffix(name, ".ip6.arpa."):
		labels := strings.Split(strings.TrimSuffix(name, ".ip6.arpa."), ".")
		if len(labels) != 32 {
			return netip.Addr{}, "", false
		}
		var b [16]byte
		for i, l := range labels {
			v, err := strconv.ParseUint(l, 16, 8)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, "", false
			}
			j := 31 - i
			if j%2 == 0 {
				b[j/2] |= byte(v) << 4
			} else {
				b[j/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b).Unmap(), "ip6.arpa.", true
	}
	return netip.Addr{}, "", false
}
