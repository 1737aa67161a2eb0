package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// errNoUpstreams is returned when there is no upstream to forward to.
var errNoUpstreams = errors.New("no upstream resolvers")

// failBackoff is how long an upstream that failed is tried only after the others.
const failBackoff = 5 * time.Second

// forwarder sends queries to upstream resolvers round-robin, taking the next upstream when
// one fails and putting upstreams that failed recently last.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	log       *slog.Logger
	next      atomic.Uint32

	mu     sync.Mutex
	failed map[string]time.Time // upstream → when it last failed
}

func newForwarder(upstreams []string, timeout time.Duration, log *slog.Logger) *forwarder {
	return &forwarder{upstreams: upstreams, timeout: timeout, log: log, failed: map[string]time.Time{}}
}

// order returns the upstreams to try, starting with the next in turn, healthy ones first.
func (f *forwarder) order() []string {
	n := len(f.upstreams)
	start := int(f.next.Add(1)-1) % n
	out := make([]string, 0, n)
	var sick []string
	now := time.Now()
	f.mu.Lock()
	for i := range n {
		u := f.upstreams[(start+i)%n]
		if t, ok := f.failed[u]; ok && now.Sub(t) < failBackoff {
			sick = append(sick, u)
			continue
		}
		out = append(out, u)
	}
	f.mu.Unlock()
	return append(out, sick...)
}

func (f *forwarder) mark(u string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.failed[u] = time.Now()
	} else {
		delete(f.failed, u)
	}
}

// exchange forwards req (over TCP when tcp, else over UDP with a retry over TCP when the
// answer is truncated) and returns the first answer an upstream gives.
func (f *forwarder) exchange(ctx context.Context, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errNoUpstreams
	}
	var errs []error
	for _, u := range f.order() {
		resp, err := f.one(ctx, u, req, tcp)
		f.mark(u, err)
		if err == nil {
			return resp, nil
		}
		f.log.Debug("upstream failed", "upstream", u, "err", err)
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("forwarding %s: %w", questionString(req), errors.Join(errs...))
}

func (f *forwarder) one(ctx context.Context, upstream string, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	m := req.Copy()
	m.Id = dns.Id()
	if !tcp {
		c := &dns.Client{Net: "udp", Timeout: f.timeout, UDPSize: dns.MaxMsgSize}
		resp, _, err := c.ExchangeContext(ctx, m, upstream)
		if err != nil {
			return nil, fmt.Errorf("%s over udp: %w", upstream, err)
		}
		if !resp.Truncated {
			return resp, nil
		}
	}
	c := &dns.Client{Net: "tcp", Timeout: f.timeout}
	resp, _, err := c.ExchangeContext(ctx, m, upstream)
	if err != nil {
		return nil, fmt.Errorf("%s over tcp: %w", upstream, err)
	}
	return resp, nil
}

func questionString(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return "(no question)"
	}
	q := m.Question[0]
	return q.Name + " " + dns.TypeToString[q.Qtype]
}
