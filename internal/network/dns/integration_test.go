package dns_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	kdns "github.com/kijabi/kijabi/internal/network/dns"
	"github.com/kijabi/kijabi/internal/testserver"
)

// answers returns the rcode and the sorted string forms of the answer records' data.
func answers(addr, proto, name string, qtype uint16) (int, []string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, nil, err
	}
	var out []string
	for _, rr := range resp.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[4:], " "))
	}
	slices.Sort(out)
	return resp.Rcode, out, nil
}

// waitAnswer polls until name answers want over proto, and returns how long it took.
func waitAnswer(t *testing.T, addr, proto, name string, qtype uint16, rcode int, want []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var (
		got     []string
		gotCode int
		err     error
	)
	for {
		gotCode, got, err = answers(addr, proto, name, qtype)
		if err == nil && gotCode == rcode && slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s over %s: got %s %v (err %v) after %v, want %s %v",
				name, dns.TypeToString[qtype], proto, dns.RcodeToString[gotCode], got, err, within, dns.RcodeToString[rcode], want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func endpointSlice(ns, svc, name string, eps map[string]string, notReady ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "dns-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](5432)}},
	}
	hosts := make([]string, 0, len(eps))
	for h := range eps {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{eps[h]}, Hostname: ptr.To(h),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(!slices.Contains(notReady, h))},
		})
	}
	return s
}

func TestIntegration(t *testing.T) {
	start := time.Now()
	ts := testserver.Start(t, testserver.Options{Controllers: true})
	t.Logf("control plane started in %v", time.Since(start))
	client := ts.Client
	ctx := t.Context()
	up := kdns.StartUpstream(t)

	srv, err := kdns.New(kdns.Config{
		Client: client, Listen: []string{"127.0.0.1:0"}, Upstreams: []string{up.Addr},
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("DNS server not ready")
	}
	addr := srv.Addrs()[0]
	t.Logf("DNS server ready at %s after %v", addr, time.Since(start))

	const ns = "dnstest"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The API server's own service.
	kube, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "udp", "kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{kube.Spec.ClusterIP}, 5*time.Second)

	// A ClusterIP service, over UDP and TCP, with its SRV and PTR records.
	web, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := web.Spec.ClusterIP
	took := waitAnswer(t, addr, "udp", "web.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{ip}, 2*time.Second)
	t.Logf("new service answered after %v", took)
	waitAnswer(t, addr, "tcp", "web.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{ip}, time.Second)
	waitAnswer(t, addr, "udp", "_http._tcp.web.dnstest.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
		[]string{"0 100 80 web.dnstest.svc.cluster.local."}, time.Second)
	rev, _ := dns.ReverseAddr(ip)
	waitAnswer(t, addr, "udp", rev, dns.TypePTR, dns.RcodeSuccess, []string{"web.dnstest.svc.cluster.local."}, time.Second)

	// A headless service whose endpoints change.
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone,
			Ports: []corev1.ServicePort{{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "udp", "db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, 2*time.Second)
	slices1 := client.DiscoveryV1().EndpointSlices(ns)
	sl, err := slices1.Create(ctx, endpointSlice(ns, "db", "db-1", map[string]string{"db-0": "10.244.0.10", "db-1": "10.244.0.11"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	took = waitAnswer(t, addr, "udp", "db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.10", "10.244.0.11"}, 2*time.Second)
	t.Logf("new endpointslice answered after %v", took)
	waitAnswer(t, addr, "tcp", "db-1.db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.11"}, time.Second)

	// Scale up: a third pod.
	nu := endpointSlice(ns, "db", "db-1", map[string]string{"db-0": "10.244.0.10", "db-1": "10.244.0.11", "db-2": "10.244.0.12"})
	nu.ResourceVersion = sl.ResourceVersion
	if sl, err = slices1.Update(ctx, nu, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitAnswer(t, addr, "udp", "db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.10", "10.244.0.11", "10.244.0.12"}, 2*time.Second)
	t.Logf("scale-up answered after %v", took)
	waitAnswer(t, addr, "udp", "_pg._tcp.db.dnstest.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{
		"0 33 5432 db-0.db.dnstest.svc.cluster.local.", "0 33 5432 db-1.db.dnstest.svc.cluster.local.", "0 33 5432 db-2.db.dnstest.svc.cluster.local.",
	}, time.Second)
	waitAnswer(t, addr, "udp", "12.0.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"db-2.db.dnstest.svc.cluster.local."}, time.Second)

	// db-0 stops being ready.
	nu = endpointSlice(ns, "db", "db-1", map[string]string{"db-0": "10.244.0.10", "db-1": "10.244.0.11", "db-2": "10.244.0.12"}, "db-0")
	nu.ResourceVersion = sl.ResourceVersion
	if _, err = slices1.Update(ctx, nu, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitAnswer(t, addr, "udp", "db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.11", "10.244.0.12"}, 2*time.Second)
	t.Logf("readiness change answered after %v", took)
	waitAnswer(t, addr, "udp", "db-0.db.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, time.Second)

	// An ExternalName service, followed through the upstream.
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "udp", "ext.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1", "example.org."}, 2*time.Second)

	// Forwarding, over UDP and TCP.
	waitAnswer(t, addr, "udp", "example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, time.Second)
	waitAnswer(t, addr, "tcp", "example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, time.Second)
	waitAnswer(t, addr, "udp", "nothing.example.org.", dns.TypeA, dns.RcodeNameError, nil, time.Second)
	if up.UDP.Load() == 0 || up.TCP.Load() == 0 {
		t.Errorf("upstream saw %d UDP and %d TCP queries", up.UDP.Load(), up.TCP.Load())
	}

	// Pods, and the version record.
	waitAnswer(t, addr, "udp", "10-244-0-10.dnstest.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.10"}, time.Second)
	waitAnswer(t, addr, "udp", "dns-version.cluster.local.", dns.TypeTXT, dns.RcodeSuccess, []string{`"1.1.0"`}, time.Second)

	// Deleting the service removes its names.
	if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "udp", "web.dnstest.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, 2*time.Second)

	t.Run("EnsureService", func(t *testing.T) { testEnsureService(t, client, addr) })
}

func testEnsureService(t *testing.T, client kubernetes.Interface, addr string) {
	ctx := t.Context()
	check := func(ip string, eps ...string) {
		t.Helper()
		svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != ip || svc.Spec.Selector != nil || svc.Labels["k8s-app"] != "kube-dns" || svc.Labels["kubernetes.io/name"] != "CoreDNS" {
			t.Errorf("service: clusterIP %s selector %v labels %v", svc.Spec.ClusterIP, svc.Spec.Selector, svc.Labels)
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s %d->%s", p.Name, p.Protocol, p.Port, p.TargetPort.String()))
		}
		if want := []string{"dns/UDP 53->5353", "dns-tcp/TCP 53->5353"}; !slices.Equal(ports, want) {
			t.Errorf("service ports %v, want %v", ports, want)
		}
		list, err := client.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kube-dns"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("%d endpointslices for kube-dns, want 1", len(list.Items))
		}
		sl := list.Items[0]
		var got []string
		for _, e := range sl.Endpoints {
			got = append(got, e.Addresses...)
		}
		if sl.Labels[discoveryv1.LabelManagedBy] != kdns.ManagedBy || !slices.Equal(got, eps) ||
			len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].UID != svc.UID || len(sl.Ports) != 2 || *sl.Ports[0].Port != 5353 {
			t.Errorf("endpointslice: labels %v endpoints %v owners %v ports %v", sl.Labels, got, sl.OwnerReferences, sl.Ports)
		}
	}
	// Addresses only stored, never dialled: EndpointSlices cannot hold loopback ones.
	node := net.ParseIP("192.0.2.53")
	if err := kdns.EnsureService(ctx, client, net.ParseIP("10.96.0.10"), []net.IP{node}, 5353); err != nil {
		t.Fatal(err)
	}
	check("10.96.0.10", "192.0.2.53")
	waitAnswer(t, addr, "udp", "kube-dns.kube-system.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.10"}, 2*time.Second)
	waitAnswer(t, addr, "udp", "_dns._udp.kube-dns.kube-system.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
		[]string{"0 100 53 kube-dns.kube-system.svc.cluster.local."}, time.Second)

	// Again, with another endpoint: updated in place.
	if err := kdns.EnsureService(ctx, client, net.ParseIP("10.96.0.10"), []net.IP{node, net.ParseIP("192.0.2.54")}, 5353); err != nil {
		t.Fatal(err)
	}
	check("10.96.0.10", "192.0.2.53", "192.0.2.54")

	// Another ClusterIP: the service is made anew.
	if err := kdns.EnsureService(ctx, client, net.ParseIP("10.96.0.20"), []net.IP{node}, 5353); err != nil {
		t.Fatal(err)
	}
	check("10.96.0.20", "192.0.2.53")
	waitAnswer(t, addr, "udp", "kube-dns.kube-system.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.20"}, 2*time.Second)

	// The EndpointSlice controller leaves the selector-less service's slice alone: once it
	// has made the slice of a service created later, kube-dns still has only ours. The
	// garbage collector keeps it too (its owner is the current service).
	if _, err := client.CoreV1().Services("kube-system").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "probe"},
			Ports: []corev1.ServicePort{{Name: "x", Protocol: corev1.ProtocolTCP, Port: 1}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := client.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=probe"})
		if err == nil && len(l.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpointslice controller made no slice for a new service")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	check("10.96.0.20", "192.0.2.53")

	if err := kdns.EnsureService(ctx, client, net.ParseIP("10.96.0.20"), []net.IP{net.ParseIP("127.0.0.1")}, 5353); err == nil {
		t.Error("EnsureService accepted a loopback endpoint")
	}
}
