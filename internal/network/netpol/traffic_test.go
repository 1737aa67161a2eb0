package netpol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kijabi/kijabi/internal/network/nft"
	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
	"github.com/kijabi/kijabi/internal/testutil"
)

// testNet is a node in a network namespace: a bridge with its gateway address, and
// "pods", each a network namespace of its own on a veth attached to the bridge.
type testNet struct {
	t    *testing.T
	host *nfttest.NetNS
	pods map[string]*nfttest.NetNS // by address
	n    int
}

const (
	bridgeGateway = "10.88.0.1"
	serviceIP     = "10.96.0.50" // DNATed to web:8080 at the proxy's priority
)

// Every pod listens on these TCP ports.
var listenPorts = []int{80, 8080, 9090}

func newTestNet(t *testing.T) *testNet {
	n := &testNet{t: t, host: newNetNS(t), pods: map[string]*nfttest.NetNS{}}
	n.host.IP(t, "link", "add", "br0", "type", "bridge")
	n.host.IP(t, "addr", "add", bridgeGateway+"/24", "dev", "br0")
	n.host.IP(t, "link", "set", "br0", "up")
	n.host.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	listen(t, n.host)
	// What the service proxy does for a ClusterIP, at its priority (dstnat).
	n.host.NftLoad(t, `table ip svc {
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		ip daddr `+serviceIP+` tcp dport 80 dnat to 10.88.0.10:8080
	}
}
`)
	return n
}

// addPod makes a pod namespace with address ip, listening on listenPorts.
func (n *testNet) addPod(ip string) {
	t := n.t
	n.n++
	ns := newNetNS(t)
	veth := fmt.Sprintf("veth%d", n.n)
	n.host.IP(t, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
	n.host.IP(t, "link", "set", veth, "master", "br0", "up")
	ns.IP(t, "addr", "add", ip+"/24", "dev", "eth0")
	ns.IP(t, "link", "set", "eth0", "up")
	ns.IP(t, "route", "add", "default", "via", bridgeGateway)
	listen(t, ns)
	n.pods[ip] = ns
}

// listen accepts (and closes) connections on listenPorts in ns.
func listen(t *testing.T, ns *nfttest.NetNS) {
	for _, p := range listenPorts {
		var l net.Listener
		if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", fmt.Sprintf(":%d", p)); return err }); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
		t.Cleanup(func() { _ = l.Close() })
	}
}

const probeTimeout = 700 * time.Millisecond

// connect opens a TCP connection from src (a pod's address, or the gateway for the
// node itself) to dst:port: nil when it connects, errDropped when nothing answers.
func (n *testNet) connect(src, dst string, port int) error {
	ns := n.pods[src]
	if src == bridgeGateway {
		ns = n.host
	}
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(dst, fmt.Sprint(port)), probeTimeout)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errDropped
			}
			return err
		}
		return c.Close()
	})
}

var errDropped = errors.New("dropped")

type probe struct {
	src, dst string
	port     int
	want     bool
}

// check runs probes in parallel and returns what differs from their expectations.
func (n *testNet) check(probes []probe) []string {
	var mu sync.Mutex
	var wrong []string
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			err := n.connect(p.src, p.dst, p.port)
			if err != nil && !errors.Is(err, errDropped) {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s -> %s:%d: %v", p.src, p.dst, p.port, err))
				mu.Unlock()
				return
			}
			if (err == nil) != p.want {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s -> %s:%d: allowed=%v, want %v", p.src, p.dst, p.port, err == nil, p.want))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return wrong
}

// expect waits until every probe gives what it should (the controller applies changes
// asynchronously).
func (n *testNet) expect(what string, probes ...probe) {
	n.t.Helper()
	var last []string
	testutil.Poll(n.t, 15*time.Second, what, func() (bool, error) {
		last = n.check(probes)
		if len(last) == 0 {
			return true, nil
		}
		return false, errors.New(strings.Join(last, "; "))
	})
}

func allow(src, dst string, port int) probe { return probe{src, dst, port, true} }
func deny(src, dst string, port int) probe  { return probe{src, dst, port, false} }

// TestTraffic runs the controller on a bridge of pods and checks, with TCP
// connections, that it lets through what the policies allow and drops the rest, as
// objects change.
func TestTraffic(t *testing.T) {
	nfttest.RequireRoot(t)
	const (
		web    = "10.88.0.10"
		client = "10.88.0.11"
		other  = "10.88.0.12"
		dev    = "10.88.0.13"
		ext1   = "10.88.0.50" // addresses of no pod, in the ipBlock
		ext2   = "10.88.0.51" // in its except
	)
	n := newTestNet(t)
	for _, ip := range []string{web, client, other, dev, ext1, ext2} {
		n.addPod(ip)
	}
	tcp := v1.ProtocolTCP
	pods := []*v1.Pod{
		mkPod("prod", "web", web, lbl("app", "web"), cport("http", tcp, 8080)),
		mkPod("prod", "client", client, lbl("role", "client")),
		mkPod("prod", "other", other, lbl("role", "other")),
		mkPod("dev", "client", dev, lbl("role", "client")),
	}
	cs := fake.NewClientset(mkNS("prod", lbl("team", "a")), mkNS("dev", lbl("team", "b")), pods[0], pods[1], pods[2], pods[3])
	table := "kjnp-" + strings.TrimPrefix(n.host.Name, "kjnp-")
	c, err := New(Config{
		Client: cs, NodeName: testNode, TableName: table, NetNS: n.host.Path, MinSyncInterval: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	select {
	case <-c.Synced():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no first sync")
	}
	if v := strings.TrimSpace(n.host.Exec(t, "cat", bridgeNFSysctl)); v != "1" {
		t.Errorf("bridge-nf-call-iptables = %s, want 1", v)
	}

	n.expect("everything allowed without policies",
		allow(client, web, 8080), allow(other, web, 9090), allow(ext2, web, 80), allow(web, client, 80), allow(client, serviceIP, 80))

	pol := func(np *networkingv1.NetworkPolicy) {
		if _, err := cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pol(mkPolicy("prod", "web", lbl("app", "web"), ingressOnly,
		allowFrom(peers(podPeer(lbl("role", "client"))), namedPolicyPort(tcp, "http")),
		allowFrom(peers(nsPeer(lbl("team", "b"))), port(tcp, 9090)),
		allowFrom(peers(blockPeer("10.88.0.48/28", ext2+"/32"))),
	))
	n.expect("web's ingress policy",
		allow(client, web, 8080), deny(client, web, 9090), deny(client, web, 80), // the named port only
		deny(other, web, 8080), deny(other, web, 9090),
		allow(dev, web, 9090), deny(dev, web, 8080), // a pod selector is the policy's namespace's
		allow(ext1, web, 80), allow(ext1, web, 9090), deny(ext2, web, 80), // ipBlock except
		allow(bridgeGateway, web, 80),                            // the node (kubelet probes)
		allow(client, serviceIP, 80), deny(other, serviceIP, 80), // after the proxy's DNAT
		allow(web, client, 80), allow(other, client, 9090), // the others are not isolated
	)

	clientOut := mkPolicy("prod", "client-out", lbl("role", "client"), egressOnly,
		allowTo(peers(blockPeer("10.88.0.48/28")), port(tcp, 80)),
		allowTo(peers(podPeer(lbl("app", "web")))),
	)
	pol(clientOut)
	// The kernel agrees with the model on every pair.
	nps, err := cs.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pols []*networkingv1.NetworkPolicy
	for i := range nps.Items {
		pols = append(pols, &nps.Items[i])
	}
	m := Compute(testNode, pods, []*v1.Namespace{mkNS("prod", lbl("team", "a")), mkNS("dev", lbl("team", "b"))}, pols)
	var matrix []probe
	addrs := []string{web, client, other, dev, ext1, ext2}
	for _, src := range addrs {
		for _, dst := range addrs {
			for _, p := range listenPorts {
				if src != dst {
					matrix = append(matrix, probe{src, dst, p, m.Allowed(netip.MustParseAddr(src), netip.MustParseAddr(dst), nft.ProtoTCP, uint16(p))})
				}
			}
		}
	}
	n.expect("the kernel to filter as the model says", matrix...)
	n.expect("client's egress policy",
		allow(client, ext1, 80), deny(client, ext1, 8080), deny(client, ext2, 9090), deny(client, other, 80), allow(client, web, 8080),
		allow(client, bridgeGateway, 80), // the node: not forwarded, not filtered
		allow(other, client, 80),
	)

	// other becomes a client: in.
	p := pods[2].DeepCopy()
	p.Labels = lbl("role", "client")
	if _, err := cs.CoreV1().Pods("prod").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect("a relabelled pod to be let in", allow(other, web, 8080), deny(other, ext1, 8080))
	// client goes away: its address is no peer any more.
	if err := cs.CoreV1().Pods("prod").Delete(ctx, "client", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect("a deleted pod's address to be out", deny(client, web, 8080), allow(other, web, 8080))
	// dev loses team=b.
	if _, err := cs.CoreV1().Namespaces().Update(ctx, mkNS("dev", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect("a relabelled namespace to be out", deny(dev, web, 9090))
	// Policies deleted: all allowed again.
	for _, name := range []string{"web", "client-out"} {
		if err := cs.NetworkingV1().NetworkPolicies("prod").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n.expect("everything allowed once the policies are deleted",
		allow(client, web, 8080), allow(ext2, web, 80), allow(dev, web, 8080), allow(other, ext2, 9090), allow(other, serviceIP, 80))

	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if l := n.host.ListTable(t, table); l != "" {
		t.Fatalf("table left after shutdown:\n%s", l)
	}
}
