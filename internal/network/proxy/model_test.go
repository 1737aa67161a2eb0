package proxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

func TestRenderGolden(t *testing.T) {
	services, slices := fixtures()
	m := Build("kijabi-proxy", testNodeInfo, services, slices)
	nfttest.Golden(t, "ruleset.nft", Render(m))

	// Without node IPs nor cluster CIDR: NodePorts on every local address, no
	// masquerading of off-cluster ClusterIP traffic.
	m = Build("kijabi-proxy", Node{Name: testNode}, services[:3], slices)
	nfttest.Golden(t, "ruleset-minimal.nft", Render(m))
}

func TestBuildDeterministic(t *testing.T) {
	services, slices := fixtures()
	want := Render(Build("t", testNodeInfo, services, slices))
	// Reverse the inputs: same output.
	rs := append([]*v1.Service(nil), services...)
	rl := append([]*discovery.EndpointSlice(nil), slices...)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	for i, j := 0, len(rl)-1; i < j; i, j = i+1, j-1 {
		rl[i], rl[j] = rl[j], rl[i]
	}
	if got := Render(Build("t", testNodeInfo, rs, rl)); got != want {
		t.Errorf("Build depends on input order:\n%s", cmp.Diff(want, got))
	}
}

func TestBuildServiceCases(t *testing.T) {
	services, slices := fixtures()
	m := Build("t", testNodeInfo, services, slices)
	byName := map[string]*ServiceRules{}
	for _, sr := range m.Services {
		byName[sr.Name.Name] = sr
	}
	for _, n := range []string{"headless", "extname", "ghost"} {
		if byName[n] != nil {
			t.Errorf("%s: got rules, want none", n)
		}
	}
	text := func(n string) string {
		sr := byName[n]
		if sr == nil {
			t.Fatalf("%s: no rules", n)
		}
		return Render(&Model{Table: "t", Services: []*ServiceRules{sr}})
	}
	for _, tc := range []struct {
		svc          string
		want, absent []string
	}{
		{svc: "web", want: []string{"numgen random mod 2 vmap", "dnat to 10.244.1.2:8080", "dnat to 10.244.2.3:8080", "ip saddr != 10.244.0.0/16 jump mark-for-masquerade"},
			absent: []string{"10.244.0.9"}},
		{svc: "np", want: []string{"service-nodeports { tcp . 30080 : goto external-", "external-", "jump mark-for-masquerade"}},
		{svc: "np-local", want: []string{"fib saddr type local jump mark-for-masquerade", "ip saddr 10.244.0.0/16 goto service-", "goto local-", "numgen random mod 1 vmap"}},
		{svc: "lb-local", want: []string{"no-endpoint-services { 192.0.2.11 . tcp . 80 : drop }", "no-endpoint-nodeports { tcp . 30083 : drop }", "service-ips { 10.96.0.14 . tcp . 80 : goto service-"}},
		{svc: "int-local", want: []string{"service-ips { 10.96.0.15 . tcp . 80 : goto local-", "dnat to 10.244.0.10:8080"}, absent: []string{"10.244.1.10"}},
		{svc: "int-local-none", want: []string{"no-endpoint-services { 10.96.0.16 . tcp . 80 : drop }"}, absent: []string{"service-ips"}},
		{svc: "sticky", want: []string{"flags dynamic,timeout; timeout 600s;", "update @affinity-", "ip saddr @affinity-"}},
		{svc: "empty", want: []string{"10.96.0.18 . tcp . 80 : goto reject-chain", "10.96.0.18 . udp . 53 : goto reject-chain", "udp . 30085 : goto reject-chain"}, absent: []string{"add chain"}},
		{svc: "multi", want: []string{"dnat to 10.244.1.14:8080", "dnat to 10.244.2.14:8081", "dnat to 10.244.1.14:5353", "meta l4proto sctp dnat to 10.244.1.14:19999", "10.96.0.19 . sctp . 9999"}, absent: []string{"10.244.2.14:5353"}},
		{svc: "terminating", want: []string{"dnat to 10.244.1.15:8080"}, absent: []string{"10.244.1.16"}},
		{svc: "manual", want: []string{"dnat to 10.244.3.1:5432"}},
	} {
		got := text(tc.svc)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing %q in\n%s", tc.svc, w, got)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s: unexpected %q in\n%s", tc.svc, a, got)
			}
		}
	}
}
