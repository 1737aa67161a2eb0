package dns

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Upstream is a fake upstream resolver on 127.0.0.1 for tests (this package's and the
// external ones). It knows:
//
//   - example.org. A 192.0.2.1
//   - big.example.org. TXT: 30 strings of 100 bytes, too big for 1232-byte UDP answers
//   - anything else: NXDOMAIN
type Upstream struct {
	Addr     string
	UDP, TCP atomic.Int64 // queries received over each protocol
}

// StartUpstream starts a fake upstream that stops when the test ends.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	pc, l, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake upstream: %v", err)
	}
	u := &Upstream{Addr: l.Addr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		tcp := strings.HasPrefix(w.LocalAddr().Network(), "tcp")
		if tcp {
			u.TCP.Add(1)
		} else {
			u.UDP.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		switch {
		case strings.EqualFold(q.Name, "example.org.") && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)})
		case strings.EqualFold(q.Name, "example.org."):
		case strings.EqualFold(q.Name, "big.example.org.") && q.Qtype == dns.TypeTXT:
			for i := range 30 {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
					Txt: []string{fmt.Sprintf("%02d%s", i, strings.Repeat("x", 98))}})
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
			m.SetEdns0(o.UDPSize(), false)
		}
		if tcp {
			size = dns.MaxMsgSize
		}
		m.Truncate(size)
		_ = w.WriteMsg(m)
	})
	srvs := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}}
	for _, s := range srvs {
		go func() { _ = s.ActivateAndServe() }()
	}
	t.Cleanup(func() {
		for _, s := range srvs {
			_ = s.Shutdown()
		}
		pc.Close()
		l.Close()
	})
	return u
}
