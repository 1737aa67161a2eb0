package dns

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedNow is the clock of golden tests, which makes the SOA serial fixed.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func svc(ns, name string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	mod(s)
	return s
}

type ep struct {
	ip, host string
	ready    *bool
}

func slice(ns, service, name string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: at, Ports: ports,
	}
	for _, e := range eps {
		d := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.host != "" {
			d.Hostname = ptr.To(e.host)
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

func epPort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

// fixture is the fixed set of objects of the golden tests.
func fixture() []runtime.Object {
	return []runtime.Object{
		svc("default", "web-api", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
			s.Spec.Ports = []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
			}
		}),
		slice("default", "web-api", "web-api-abc", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{epPort("http", corev1.ProtocolTCP, 8080)}, ep{ip: "10.244.0.3"}),
		svc("default", "dual", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11", "fd00:96::11"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443}}
		}),
		svc("default", "ext", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.org"
		}),
		svc("default", "int-ext", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "web-api.default.svc.cluster.local"
		}),
		// A headless service with a StatefulSet's pods (web-0, web-1), an endpoint without
		// hostname and one that is not ready, split across two slices.
		svc("apps", "web", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			s.Spec.Ports = []corev1.ServicePort{{Name: "web", Protocol: corev1.ProtocolTCP, Port: 80}}
		}),
		slice("apps", "web", "web-1", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{epPort("web", corev1.ProtocolTCP, 80)},
			ep{ip: "10.244.1.5", host: "web-0", ready: ptr.To(true)},
			ep{ip: "10.244.1.6", host: "web-1"},
			ep{ip: "10.244.1.8", host: "web-3", ready: ptr.To(false)}),
		slice("apps", "web", "web-2", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{epPort("web", corev1.ProtocolTCP, 80)},
			ep{ip: "10.244.1.7", ready: ptr.To(true)}),
		slice("apps", "web", "web-v6", discoveryv1.AddressTypeIPv6,
			[]discoveryv1.EndpointPort{epPort("web", corev1.ProtocolTCP, 80)},
			ep{ip: "fd00:244::5", host: "web-0", ready: ptr.To(true)}),
		// publishNotReadyAddresses: the not-ready endpoint is published.
		svc("apps", "pnr", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses = corev1.ClusterIPNone, true
		}),
		slice("apps", "pnr", "pnr-1", discoveryv1.AddressTypeIPv4, nil,
			ep{ip: "10.244.2.9", host: "db-0", ready: ptr.To(false)}),
		// A headless service without endpoints.
		svc("apps", "empty", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		// A slice whose service does not exist yet.
		slice("apps", "later", "later-1", discoveryv1.AddressTypeIPv4, nil, ep{ip: "10.244.3.1"}),
	}
}

// startServer runs a server on 127.0.0.1 over client and returns it with its address.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	if len(cfg.Upstreams) == 0 {
		// Never the machine's resolvers: tests talk to loopback only.
		cfg.ResolvConf = writeResolvConf(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.idx.now = func() time.Time { return fixedNow }
	s.idx.serial = uint32(fixedNow.Unix())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	return s, s.Addrs()[0]
}

// writeResolvConf writes a resolv.conf without nameservers.
func writeResolvConf(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("search example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func query(t testing.TB, addr, proto, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], proto, err)
	}
	return resp
}

func TestGolden(t *testing.T) {
	up := StartUpstream(t)
	_, v4, _ := net.ParseCIDR("10.96.0.0/12")
	_, addr := startServer(t, Config{
		Client: fake.NewClientset(fixture()...), Upstreams: []string{up.Addr}, ReverseCIDRs: []*net.IPNet{v4},
	})
	cases := []struct {
		file  string
		name  string
		qtype uint16
		proto string
		edns  uint16
	}{
		{"clusterip-a", "web-api.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"clusterip-aaaa-nodata", "web-api.default.svc.cluster.local.", dns.TypeAAAA, "udp", 0},
		{"clusterip-txt-nodata", "web-api.default.svc.cluster.local.", dns.TypeTXT, "udp", 0},
		{"clusterip-case", "WeB-Api.Default.SVC.Cluster.LOCAL.", dns.TypeA, "udp", 0},
		{"clusterip-tcp", "web-api.default.svc.cluster.local.", dns.TypeA, "tcp", 0},
		{"clusterip-edns", "web-api.default.svc.cluster.local.", dns.TypeA, "udp", 4096},
		{"clusterip-endpoint", "10-244-0-3.web-api.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"dualstack-a", "dual.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"dualstack-aaaa", "dual.default.svc.cluster.local.", dns.TypeAAAA, "udp", 0},
		{"headless-a", "web.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-aaaa", "web.apps.svc.cluster.local.", dns.TypeAAAA, "udp", 0},
		{"headless-hostname", "web-0.web.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-hostname-case", "WEB-1.web.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-dashed", "10-244-1-7.web.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-not-ready", "web-3.web.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-publish-not-ready", "pnr.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-publish-not-ready-host", "db-0.pnr.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"headless-empty", "empty.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"srv-clusterip", "_http._tcp.web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-clusterip-udp", "_dns._udp.web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-clusterip-all", "web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-headless", "_web._tcp.web.apps.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-unknown-port", "_nope._tcp.web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-wrong-proto", "_http._udp.web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"srv-name-a-nodata", "_http._tcp.web-api.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"srv-proto-ent", "_tcp.web-api.default.svc.cluster.local.", dns.TypeSRV, "udp", 0},
		{"ptr-clusterip", "10.0.96.10.in-addr.arpa.", dns.TypePTR, "udp", 0},
		{"ptr-clusterip-v6", "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, "udp", 0},
		{"ptr-endpoint-hostname", "5.1.244.10.in-addr.arpa.", dns.TypePTR, "udp", 0},
		{"ptr-endpoint-dashed", "7.1.244.10.in-addr.arpa.", dns.TypePTR, "udp", 0},
		{"ptr-unknown-in-range", "99.99.96.10.in-addr.arpa.", dns.TypePTR, "udp", 0},
		{"ptr-unknown-forwarded", "1.2.0.192.in-addr.arpa.", dns.TypePTR, "udp", 0},
		{"externalname-cname", "ext.default.svc.cluster.local.", dns.TypeCNAME, "udp", 0},
		{"externalname-a", "ext.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"externalname-internal", "int-ext.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"pod-a", "10-244-1-5.apps.pod.cluster.local.", dns.TypeA, "udp", 0},
		{"pod-aaaa", "fd00-244--5.apps.pod.cluster.local.", dns.TypeAAAA, "udp", 0},
		{"pod-a-of-v6-nodata", "fd00-244--5.apps.pod.cluster.local.", dns.TypeA, "udp", 0},
		{"pod-invalid", "not-an-ip.apps.pod.cluster.local.", dns.TypeA, "udp", 0},
		{"nxdomain-service", "nope.default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"nxdomain-slice-without-service", "later.apps.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"nxdomain-namespace", "foo.nons.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"nxdomain-other", "foo.bar.cluster.local.", dns.TypeA, "udp", 0},
		{"namespace-nodata", "default.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"namespace-unknown", "nons.svc.cluster.local.", dns.TypeA, "udp", 0},
		{"dns-version", "dns-version.cluster.local.", dns.TypeTXT, "udp", 0},
		{"apex-soa", "cluster.local.", dns.TypeSOA, "udp", 0},
		{"apex-ns", "cluster.local.", dns.TypeNS, "udp", 0},
		{"forwarded", "example.org.", dns.TypeA, "udp", 0},
		{"forwarded-case", "ExAmPle.ORG.", dns.TypeA, "udp", 0},
		{"forwarded-nxdomain", "nothing.example.org.", dns.TypeA, "tcp", 0},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.file] {
			t.Fatalf("duplicate golden file %s", c.file)
		}
		seen[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			resp := query(t, addr, c.proto, c.name, c.qtype, c.edns)
			resp.Id = 0
			got := fmt.Sprintf("; %s %s over %s", c.name, dns.TypeToString[c.qtype], c.proto)
			if c.edns > 0 {
				got += fmt.Sprintf(", EDNS0 %d", c.edns)
			}
			got += "\n" + resp.String()
			path := filepath.Join("testdata", c.file+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("answer differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestTruncation checks that big answers are truncated over UDP, to 512 bytes without
// EDNS0 and to the client's buffer with it, and complete over TCP.
func TestTruncation(t *testing.T) {
	objs := []runtime.Object{svc("big", "many", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })}
	var eps []ep
	for i := range 100 {
		eps = append(eps, ep{ip: fmt.Sprintf("10.244.9.%d", i+1)})
	}
	objs = append(objs, slice("big", "many", "many-1", discoveryv1.AddressTypeIPv4, nil, eps...))
	_, addr := startServer(t, Config{Client: fake.NewClientset(objs...), Upstreams: []string{}})
	const name = "many.big.svc.cluster.local."

	resp := query(t, addr, "udp", name, dns.TypeA, 0)
	if !resp.Truncated || len(resp.Answer) == 0 || len(resp.Answer) >= 100 {
		t.Errorf("UDP without EDNS0: truncated %v with %d answers, want truncated with some", resp.Truncated, len(resp.Answer))
	}
	resp.Compress = true
	if n, _ := resp.Pack(); len(n) > dns.MinMsgSize {
		t.Errorf("UDP answer of %d bytes, want at most 512", len(n))
	}
	resp = query(t, addr, "udp", name, dns.TypeA, 4096)
	if resp.Truncated || len(resp.Answer) != 100 || resp.IsEdns0() == nil {
		t.Errorf("UDP with EDNS0 4096: truncated %v with %d answers (OPT %v), want 100", resp.Truncated, len(resp.Answer), resp.IsEdns0() != nil)
	}
	resp = query(t, addr, "udp", name, dns.TypeA, 1000)
	resp.Compress = true
	if n, _ := resp.Pack(); !resp.Truncated || len(n) > 1000 {
		t.Errorf("UDP with EDNS0 1000: truncated %v, %d bytes", resp.Truncated, len(n))
	}
	resp = query(t, addr, "tcp", name, dns.TypeA, 0)
	if resp.Truncated || len(resp.Answer) != 100 {
		t.Errorf("TCP: truncated %v with %d answers, want 100", resp.Truncated, len(resp.Answer))
	}
}

// TestForwarding checks the retry over TCP of truncated upstream answers and the fallback
// from a dead upstream.
func TestForwarding(t *testing.T) {
	up := StartUpstream(t)
	// A dead upstream: a UDP and TCP port on loopback nobody listens on.
	pc, l, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	pc.Close()
	l.Close()
	_, addr := startServer(t, Config{Client: fake.NewClientset(), Upstreams: []string{dead, up.Addr}, UpstreamTimeout: time.Second})

	for i := range 4 {
		resp := query(t, addr, "udp", "example.org.", dns.TypeA, 0)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("query %d: %v", i, resp)
		}
	}
	if got := up.UDP.Load(); got != 4 {
		t.Errorf("live upstream got %d UDP queries, want 4", got)
	}

	// 30 TXT strings of 100 bytes do not fit the upstream's 1232-byte UDP answer: the
	// server asks again over TCP and gives the client all of it over TCP...
	tcpBefore := up.TCP.Load()
	resp := query(t, addr, "udp", "big.example.org.", dns.TypeTXT, 4096)
	if resp.Truncated || len(resp.Answer) != 30 {
		t.Errorf("big answer with EDNS0 4096: truncated %v, %d records; want 30", resp.Truncated, len(resp.Answer))
	}
	resp = query(t, addr, "udp", "big.example.org.", dns.TypeTXT, 1232)
	if up.TCP.Load() == tcpBefore {
		t.Error("truncated upstream answer not asked again over TCP")
	}
	// ... but truncates it to what the client takes over UDP.
	if !resp.Truncated {
		t.Errorf("big answer over UDP with EDNS0 1232 not truncated (%d records)", len(resp.Answer))
	}
	resp = query(t, addr, "tcp", "big.example.org.", dns.TypeTXT, 0)
	if resp.Truncated || len(resp.Answer) != 30 {
		t.Errorf("big answer over TCP: truncated %v, %d records; want 30", resp.Truncated, len(resp.Answer))
	}
}

func TestNoUpstreams(t *testing.T) {
	_, addr := startServer(t, Config{Client: fake.NewClientset(), Upstreams: []string{}})
	if resp := query(t, addr, "udp", "example.org.", dns.TypeA, 0); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}

func TestBadEDNSVersion(t *testing.T) {
	_, addr := startServer(t, Config{Client: fake.NewClientset(), Upstreams: []string{}})
	m := new(dns.Msg)
	m.SetQuestion("dns-version.cluster.local.", dns.TypeTXT)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	resp, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeBadVers {
		t.Errorf("rcode %s, want BADVERS", dns.RcodeToString[resp.Rcode])
	}
}

func TestConfig(t *testing.T) {
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Client: fake.NewClientset(), Listen: []string{"0.0.0.0:53"}, ResolvConf: rc, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1:53 is this server itself.
	if diff := cmp.Diff([]string{"192.0.2.53:53", "[2001:db8::53]:53"}, s.fwd.upstreams); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
	if s.domain != "cluster.local." || s.ttl != DefaultTTL {
		t.Errorf("domain %q ttl %d", s.domain, s.ttl)
	}
	for _, bad := range []Config{
		{Listen: []string{"127.0.0.1:0"}},
		{Client: fake.NewClientset()},
		{Client: fake.NewClientset(), Listen: []string{"nope"}},
		{Client: fake.NewClientset(), Listen: []string{"127.0.0.1:0"}, ResolvConf: filepath.Join(t.TempDir(), "missing")},
		{Client: fake.NewClientset(), Listen: []string{"127.0.0.1:0"}, Upstreams: []string{"1.2.3.4:99999"}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

func TestParseReverse(t *testing.T) {
	for name, want := range map[string]string{
		"4.3.2.1.in-addr.arpa.": "1.2.3.4",
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.": "4321:0:1:2:3:4:567:89ab",
		"3.2.1.in-addr.arpa.":    "",
		"04.3.2.1.in-addr.arpa":  "",
		"256.3.2.1.in-addr.arpa": "",
	} {
		a, _, ok := parseReverse(name)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("parseReverse(%q) = %q, want %q", name, got, want)
		}
	}
	if !strings.HasSuffix(dashed(netip.MustParseAddr("fd00::1")), "--1") {
		t.Error("dashed")
	}
}
