package netpol

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// Addresses of the world's pods, and of hosts outside the cluster.
const (
	web       = "10.244.0.10"
	db        = "10.244.0.11"
	client    = "10.244.0.12"
	other     = "10.244.0.13"
	done      = "10.244.0.14" // a finished pod labelled role=client
	devClient = "10.244.0.20"
	devTool   = "10.244.1.21" // on another node
	otherX    = "10.244.0.30"
	ext       = "192.0.2.10"
	extExcept = "192.0.2.20" // in 192.0.2.16/28
	extFar    = "198.51.100.1"
)

type conn struct {
	src, dst string
	proto    nft.Proto
	port     uint16
	want     bool
}

func tcpConn(src, dst string, port uint16, want bool) conn {
	return conn{src: src, dst: dst, proto: nft.ProtoTCP, port: port, want: want}
}

func udpConn(src, dst string, port uint16, want bool) conn {
	return conn{src: src, dst: dst, proto: nft.ProtoUDP, port: port, want: want}
}

func TestModelConnections(t *testing.T) {
	tcp, udp, sctp := v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP
	for _, tc := range []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		// isolated lists the pods isolated, as "ns/name:ingress|egress|both".
		isolated []string
		conns    []conn
	}{
		{
			name: "no policy: nothing isolated",
			conns: []conn{
				tcpConn(client, web, 80, true), tcpConn(ext, web, 80, true), tcpConn(web, extFar, 443, true),
			},
		},
		{
			name:     "default deny ingress isolates every pod of the namespace, for ingress only",
			policies: []*networkingv1.NetworkPolicy{mkPolicy("prod", "deny", nil, ingressOnly)},
			isolated: []string{"prod/client:ingress", "prod/db:ingress", "prod/other:ingress", "prod/web:ingress"},
			conns: []conn{
				tcpConn(client, web, 8080, false), tcpConn(devClient, web, 8080, false), tcpConn(ext, db, 5432, false),
				tcpConn(web, devClient, 80, true), // dev is not isolated; web's egress is not
				tcpConn(web, extFar, 443, true),
				tcpConn(web, web, 8080, true), // a pod reaches itself
				tcpConn(devClient, otherX, 80, true),
			},
		},
		{
			name:     "policyTypes default: ingress always, egress with egress rules",
			policies: []*networkingv1.NetworkPolicy{mkPolicy("prod", "web", lbl("app", "web"), nil, allowTo(nil, port(tcp, 53)))},
			isolated: []string{"prod/web:both"},
			conns: []conn{
				tcpConn(client, web, 8080, false), tcpConn(web, extFar, 53, true), tcpConn(web, extFar, 80, false),
			},
		},
		{
			name: "pod selector peers: the policy's namespace only, running pods with addresses only",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(podPeer(lbl("role", "client"))))),
			},
			isolated: []string{"prod/web:ingress"},
			conns: []conn{
				tcpConn(client, web, 8080, true), tcpConn(client, web, 1, true),
				tcpConn(other, web, 8080, false), tcpConn(devClient, web, 8080, false),
				tcpConn(done, web, 8080, false),     // finished: its address is no peer
				tcpConn("10.0.0.1", web, 80, false), // host-network pods are no peers
				tcpConn(client, db, 5432, true),     // db is not selected
			},
		},
		{
			name:     "namespace selector: every pod of the namespaces, on any node",
			policies: []*networkingv1.NetworkPolicy{mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(nsPeer(lbl("team", "b")))))},
			isolated: []string{"prod/web:ingress"},
			conns: []conn{
				tcpConn(devClient, web, 8080, true), tcpConn(devTool, web, 8080, true),
				tcpConn(client, web, 8080, false), tcpConn(otherX, web, 8080, false),
			},
		},
		{
			name: "namespace and pod selector together: both must match",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(nsPodPeer(lbl("team", "b"), lbl("role", "client"))))),
			},
			isolated: []string{"prod/web:ingress"},
			conns:    []conn{tcpConn(devClient, web, 8080, true), tcpConn(devTool, web, 8080, false), tcpConn(client, web, 8080, false)},
		},
		{
			name: "empty namespace selector: all namespaces",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(nsPodPeer(nil, lbl("role", "client"))))),
			},
			isolated: []string{"prod/web:ingress"},
			conns:    []conn{tcpConn(devClient, web, 8080, true), tcpConn(client, web, 8080, true), tcpConn(otherX, web, 8080, false)},
		},
		{
			name: "ipBlock with except",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(blockPeer("192.0.2.0/24", "192.0.2.16/28")))),
			},
			isolated: []string{"prod/web:ingress"},
			conns:    []conn{tcpConn(ext, web, 80, true), tcpConn(extExcept, web, 80, false), tcpConn(extFar, web, 80, false), tcpConn(client, web, 80, false)},
		},
		{
			name: "ipBlock matches pod addresses too; an unmasked cidr is masked",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(blockPeer("10.244.0.1/28", "10.244.0.13/32")))),
			},
			isolated: []string{"prod/web:ingress"},
			conns:    []conn{tcpConn(client, web, 80, true), tcpConn(other, web, 80, false), tcpConn(devClient, web, 80, false)},
		},
		{
			name: "ports: numeric, protocol defaulted, ranges, protocol only, SCTP",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "web", lbl("app", "web"), ingressOnly,
					allowFrom(nil, unprotocoled(8080), portRange(tcp, 9000, 9010), protoOnly(udp), port(sctp, 7777))),
			},
			isolated: []string{"prod/web:ingress"},
			conns: []conn{
				tcpConn(client, web, 8080, true), tcpConn(client, web, 80, false), udpConn(client, web, 8080, true),
				tcpConn(client, web, 9000, true), tcpConn(client, web, 9010, true), tcpConn(client, web, 9011, false), tcpConn(client, web, 8999, false),
				udpConn(ext, web, 1, true), {src: client, dst: web, proto: nft.ProtoSCTP, port: 7777, want: true},
				{src: client, dst: web, proto: nft.ProtoSCTP, port: 7778, want: false},
			},
		},
		{
			name: "named ports resolve on each target pod, with their protocol",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "all", nil, ingressOnly, allowFrom(nil, namedPolicyPort(tcp, "http"), namedPolicyPort(udp, "dns"), namedPolicyPort(tcp, "pg"))),
			},
			isolated: []string{"prod/client:ingress", "prod/db:ingress", "prod/other:ingress", "prod/web:ingress"},
			conns: []conn{
				tcpConn(client, web, 8080, true), tcpConn(client, web, 9090, false), udpConn(client, web, 5353, true), tcpConn(client, web, 5353, false),
				tcpConn(client, db, 5432, true), tcpConn(client, db, 8080, false), // db has no "http"
				tcpConn(web, client, 8080, false),
			},
		},
		{
			name: "rules and policies add up",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "a", lbl("app", "web"), ingressOnly, allowFrom(peers(podPeer(lbl("role", "client"))), port(tcp, 8080))),
				mkPolicy("prod", "b", lbl("app", "web"), ingressOnly, allowFrom(peers(nsPeer(lbl("team", "b"))), port(tcp, 9090)), allowFrom(peers(blockPeer(ext+"/32")))),
			},
			isolated: []string{"prod/web:ingress"},
			conns: []conn{
				tcpConn(client, web, 8080, true), tcpConn(client, web, 9090, false), tcpConn(devClient, web, 9090, true),
				tcpConn(devClient, web, 8080, false), tcpConn(ext, web, 22, true), tcpConn(other, web, 8080, false),
			},
		},
		{
			name:     "policy with empty rules list allows nothing; other namespaces unaffected",
			policies: []*networkingv1.NetworkPolicy{mkPolicy("dev", "deny", nil, both)},
			isolated: []string{"dev/client:both"}, // dev/tool is another node's
			conns: []conn{
				tcpConn(client, devClient, 80, false), tcpConn(devClient, client, 80, false), tcpConn(devClient, extFar, 443, false),
				tcpConn(client, web, 80, true),
			},
		},
		{
			name: "egress default deny, DNS allowed",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "dns-only", lbl("role", "client"), egressOnly, allowTo(nil, port(udp, 53), port(tcp, 53))),
			},
			isolated: []string{"prod/client:egress"},
			conns: []conn{
				udpConn(client, ext, 53, true), tcpConn(client, ext, 53, true), tcpConn(client, web, 8080, false), tcpConn(client, extFar, 443, false),
				tcpConn(other, web, 8080, true), tcpConn(web, client, 80, true), // ingress to client is not isolated
			},
		},
		{
			name: "egress to selected pods and blocks",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "to-db", lbl("role", "client"), egressOnly,
					allowTo(peers(podPeer(lbl("app", "db"))), port(tcp, 5432)), allowTo(peers(blockPeer("198.51.100.0/24")))),
			},
			isolated: []string{"prod/client:egress"},
			conns: []conn{
				tcpConn(client, db, 5432, true), tcpConn(client, db, 22, false), tcpConn(client, web, 5432, false), tcpConn(client, extFar, 1, true),
			},
		},
		{
			name: "egress named ports resolve on the destination pods the peers allow",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "named", lbl("role", "client"), egressOnly,
					allowTo(peers(podPeer(lbl("app", "web"))), namedPolicyPort(tcp, "http")),
					allowTo(nil, namedPolicyPort(tcp, "pg")),
					allowTo(peers(blockPeer("10.244.0.0/16", web+"/32")), namedPolicyPort(tcp, "http"))),
			},
			isolated: []string{"prod/client:egress"},
			conns: []conn{
				tcpConn(client, web, 8080, true), tcpConn(client, web, 9090, false),
				tcpConn(client, db, 5432, true), tcpConn(client, db, 8080, false),
				tcpConn(client, devTool, 8081, true), // "http" of dev/tool, in the block
				tcpConn(client, ext, 8080, false),    // no pod: a named port matches nothing
			},
		},
		{
			name: "egress of one pod and ingress of the other must both allow",
			policies: []*networkingv1.NetworkPolicy{
				mkPolicy("prod", "client-out", lbl("role", "client"), egressOnly, allowTo(peers(podPeer(lbl("app", "web"))))),
				mkPolicy("prod", "web-in", lbl("app", "web"), ingressOnly, allowFrom(peers(podPeer(lbl("role", "other"))))),
			},
			isolated: []string{"prod/client:egress", "prod/web:ingress"},
			conns:    []conn{tcpConn(client, web, 8080, false), tcpConn(other, web, 8080, true), tcpConn(client, db, 80, false)},
		},
		{
			name:     "pods of other nodes, host-network and finished pods are not isolated here",
			policies: []*networkingv1.NetworkPolicy{mkPolicy("dev", "deny", nil, ingressOnly), mkPolicy("prod", "web", lbl("role", "client"), ingressOnly)},
			isolated: []string{"dev/client:ingress", "prod/client:ingress"},
			conns:    []conn{tcpConn(client, devTool, 80, true)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pods, namespaces := world()
			m := Compute(testNode, pods, namespaces, tc.policies)
			var got []string
			for _, p := range m.Pods {
				dir := "both"
				switch {
				case p.Egress == nil:
					dir = "ingress"
				case p.Ingress == nil:
					dir = "egress"
				}
				got = append(got, p.Namespace+"/"+p.Name+":"+dir)
			}
			if !slices.Equal(got, tc.isolated) {
				t.Errorf("isolated pods = %v, want %v", got, tc.isolated)
			}
			for _, c := range tc.conns {
				src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
				if ok := m.Allowed(src, dst, c.proto, c.port); ok != c.want {
					t.Errorf("%s -> %s %s/%d: allowed = %v, want %v", c.src, c.dst, c.proto, c.port, ok, c.want)
				}
			}
		})
	}
}

func TestModelRules(t *testing.T) {
	pods, namespaces := world()
	tcp := v1.ProtocolTCP
	m := Compute(testNode, pods, namespaces, []*networkingv1.NetworkPolicy{
		mkPolicy("prod", "b", lbl("app", "web"), ingressOnly, allowFrom(peers(podPeer(lbl("role", "client")), blockPeer("192.0.2.0/24", "192.0.2.16/28", "192.0.2.0/28")), namedPolicyPort(tcp, "http"))),
		mkPolicy("prod", "a", nil, ingressOnly),
		mkPolicy("prod", "ipv6", lbl("app", "db"), egressOnly, allowTo(peers(blockPeer("2001:db8::/32")))),
	})
	w := m.Pod("prod", "web")
	if w == nil || w.Ingress == nil || w.Egress != nil {
		t.Fatalf("prod/web: %+v", w)
	}
	if want := []string{"a", "b"}; !slices.Equal(w.Ingress.Policies, want) {
		t.Errorf("policies selecting web = %v, want %v", w.Ingress.Policies, want)
	}
	if len(w.Ingress.Rules) != 1 {
		t.Fatalf("web's ingress rules: %+v", w.Ingress.Rules)
	}
	r := w.Ingress.Rules[0]
	if r.Key != "prod/b/ingress/0" || r.AnyPeer || !r.PodPeers || r.AnyPort {
		t.Errorf("rule: %+v", r)
	}
	if want := []netip.Addr{netip.MustParseAddr(client)}; !slices.Equal(r.Pods, want) {
		t.Errorf("peer pods = %v, want %v (finished and host-network pods are not peers)", r.Pods, want)
	}
	wantBlock := IPBlock{CIDR: netip.MustParsePrefix("192.0.2.0/24"), Except: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28"), netip.MustParsePrefix("192.0.2.16/28")}}
	if len(r.Blocks) != 1 || r.Blocks[0].CIDR != wantBlock.CIDR || !slices.Equal(r.Blocks[0].Except, wantBlock.Except) {
		t.Errorf("blocks = %+v, want %+v", r.Blocks, wantBlock)
	}
	if want := []PortRange{{Proto: nft.ProtoTCP, First: 8080, Last: 8080}}; !slices.Equal(r.Ports, want) {
		t.Errorf("ports = %v, want %v", r.Ports, want)
	}
	// An IPv6 block matches no IPv4 traffic: the rule allows nothing.
	d := m.Pod("prod", "db")
	if d == nil || d.Egress == nil || len(d.Egress.Rules) != 1 || len(d.Egress.Rules[0].Blocks) != 0 {
		t.Fatalf("prod/db: %+v", d)
	}
	if m.Allowed(netip.MustParseAddr(db), netip.MustParseAddr(extFar), nft.ProtoTCP, 80) {
		t.Error("an IPv6 ipBlock allowed IPv4 traffic")
	}
	// Pods without an address yet, of other nodes, host-network or finished: not here.
	for _, n := range []string{"pending", "hostnet", "done"} {
		if m.Pod("prod", n) != nil {
			t.Errorf("prod/%s is in the model", n)
		}
	}
}

func TestModelUpdates(t *testing.T) {
	pods, namespaces := world()
	pol := []*networkingv1.NetworkPolicy{mkPolicy("prod", "web", lbl("app", "web"), ingressOnly, allowFrom(peers(nsPodPeer(lbl("team", "b"), nil))))}
	allowed := func(pods []*v1.Pod, namespaces []*v1.Namespace, pol []*networkingv1.NetworkPolicy, src string) bool {
		return Compute(testNode, pods, namespaces, pol).Allowed(netip.MustParseAddr(src), netip.MustParseAddr(web), nft.ProtoTCP, 8080)
	}
	if allowed(pods, namespaces, pol, client) || !allowed(pods, namespaces, pol, devClient) {
		t.Fatal("initial state")
	}
	// prod gets team=b: its pods become peers.
	ns2 := slices.Clone(namespaces)
	ns2[0] = mkNS("prod", lbl("team", "b"))
	if !allowed(pods, ns2, pol, client) {
		t.Error("a namespace's new labels were not taken into account")
	}
	// The web pod loses its label: no longer isolated.
	pods2 := slices.Clone(pods)
	pods2[0] = mkPod("prod", "web", web, lbl("app", "other"))
	if !allowed(pods2, namespaces, pol, client) {
		t.Error("a pod no longer selected is still isolated")
	}
	// dev/client goes away: its address is no peer any more.
	pods3 := slices.DeleteFunc(slices.Clone(pods), func(p *v1.Pod) bool { return p.Namespace == "dev" && p.Name == "client" })
	if allowed(pods3, namespaces, pol, devClient) {
		t.Error("a deleted pod is still a peer")
	}
	// Policies deleted: everything allowed again.
	if !allowed(pods, namespaces, nil, client) {
		t.Error("traffic still denied without policies")
	}
}

func TestBuildDeterministic(t *testing.T) {
	pods, namespaces := world()
	pols := goldenPolicies()
	want := Render(Build("t", Compute(testNode, pods, namespaces, pols)))
	slices.Reverse(pods)
	slices.Reverse(namespaces)
	slices.Reverse(pols)
	if got := Render(Build("t", Compute(testNode, pods, namespaces, pols))); got != want {
		t.Errorf("Build depends on the order of its inputs:\n%s\n---\n%s", want, got)
	}
	if !strings.Contains(want, "add rule ip t forward ct state established,related accept") {
		t.Errorf("no conntrack rule:\n%s", want)
	}
}
