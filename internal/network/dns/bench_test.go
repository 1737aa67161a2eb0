package dns

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkServiceA measures A look-ups of a ClusterIP service over UDP on loopback, with
// several clients at once; it reports queries per second.
func BenchmarkServiceA(b *testing.B) {
	_, addr := startServer(b, Config{Client: fake.NewClientset(fixture()...)})
	q := new(dns.Msg)
	q.SetQuestion("web-api.default.svc.cluster.local.", dns.TypeA)
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := dns.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		m := q.Copy()
		for pb.Next() {
			m.Id = dns.Id()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if err := c.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			r, err := c.ReadMsg()
			if err != nil {
				b.Error(err)
				return
			}
			if r.Id != m.Id || len(r.Answer) != 1 {
				b.Errorf("answer %v", r)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "qps")
}
