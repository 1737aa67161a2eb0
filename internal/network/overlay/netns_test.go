package overlay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kijabi/kijabi/internal/testutil"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netNS is a network namespace made for one test.
type netNS struct {
	name string
	h    *netlink.Handle
}

func newNetNS(t testing.TB, role string) *netNS {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := &netNS{name: "kjo-" + role + "-" + hex.EncodeToString(b)}
	run(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	ns.ip(t, "link", "set", "lo", "up")
	handle, err := netns.GetFromName(ns.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { handle.Close() })
	if ns.h, err = netlink.NewHandleAt(handle); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.h.Close)
	return ns
}

func (ns *netNS) ip(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns.name}, args...)...)
}

func (ns *netNS) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// do runs fn on a thread inside the namespace (sockets made there stay there).
func (ns *netNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread dies with the goroutine, still locked
		errc <- ferr
	}()
	return <-errc
}

// testNode is a "node" namespace on the underlay with a "pod" namespace behind it, as
// the CNI bridge would give it: the pod has .5 of the node's pod range, the node .1.
type testNode struct {
	name     string
	node     *netNS
	pod      *netNS
	nodeIP   net.IP
	podCIDR  netip.Prefix
	podIP    netip.Addr
	vtepName string
}

// twoNodes makes two node namespaces joined by a veth (198.18.0.0/24, a benchmarking
// range, only inside the namespaces) and a pod behind each.
func twoNodes(t *testing.T) (a, b *testNode) {
	t.Helper()
	a = &testNode{name: "a", node: newNetNS(t, "na"), pod: newNetNS(t, "pa"), nodeIP: net.ParseIP("198.18.0.1").To4(),
		podCIDR: netip.MustParsePrefix("10.250.1.0/24"), podIP: netip.MustParseAddr("10.250.1.5")}
	b = &testNode{name: "b", node: newNetNS(t, "nb"), pod: newNetNS(t, "pb"), nodeIP: net.ParseIP("198.18.0.2").To4(),
		podCIDR: netip.MustParsePrefix("10.250.2.0/24"), podIP: netip.MustParseAddr("10.250.2.5")}
	run(t, "ip", "link", "add", "eth0", "netns", a.node.name, "type", "veth", "peer", "name", "eth0", "netns", b.node.name)
	for _, n := range []*testNode{a, b} {
		n.node.ip(t, "addr", "add", n.nodeIP.String()+"/24", "dev", "eth0")
		n.node.ip(t, "link", "set", "eth0", "up")
		n.node.exec(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
		run(t, "ip", "link", "add", "pod0", "netns", n.node.name, "type", "veth", "peer", "name", "eth0", "netns", n.pod.name)
		gw := n.podCIDR.Addr().Next()
		n.node.ip(t, "addr", "add", gw.String()+"/24", "dev", "pod0")
		n.node.ip(t, "link", "set", "pod0", "up")
		n.pod.ip(t, "addr", "add", n.podIP.String()+"/24", "dev", "eth0")
		n.pod.ip(t, "link", "set", "eth0", "up")
		n.pod.ip(t, "route", "add", "default", "via", gw.String())
	}
	return a, b
}

func (n *testNode) nodeObject() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Annotations: map[string]string{
			AnnotationBackendType: BackendVXLAN, AnnotationVTEPMAC: StableMAC(n.name).String(), AnnotationPublicIP: n.nodeIP.String(),
		}},
		Spec: corev1.NodeSpec{PodCIDR: n.podCIDR.String(), PodCIDRs: []string{n.podCIDR.String()}},
	}
}

// expectTCP checks that from's pod opens a TCP connection to to's pod, which sees
// from's pod address as the source.
func expectTCP(t *testing.T, from, to *testNode) {
	t.Helper()
	var ln net.Listener
	if err := to.pod.do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(to.podIP.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		_, _ = c.Write([]byte("hello from " + to.name))
		seen <- host
	}()
	var reply []byte
	if err := from.pod.do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		reply, err = io.ReadAll(c)
		return err
	}); err != nil {
		t.Fatalf("pod %s → pod %s (%s): %v", from.name, to.name, ln.Addr(), err)
	}
	if got := <-seen; got != from.podIP.String() {
		t.Errorf("pod %s saw the connection from %s, want pod %s's own address %s", to.name, got, from.name, from.podIP)
	}
	if string(reply) != "hello from "+to.name {
		t.Errorf("reply %q", reply)
	}
}

func expectPing(t *testing.T, from, to *testNode) {
	t.Helper()
	from.pod.exec(t, "busybox", "ping", "-c", "1", "-W", "3", to.podIP.String())
}

func expectNoTCP(t *testing.T, from, to *testNode) {
	t.Helper()
	err := from.pod.do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(to.podIP.String(), "9"), 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil || strings.Contains(err.Error(), "refused") {
		t.Errorf("pod %s still reaches pod %s's node (err %v)", from.name, to.name, err)
	}
}

func TestProgramAcrossNamespaces(t *testing.T) {
	requireRoot(t)
	a, b := twoNodes(t)
	nodes := []*corev1.Node{a.nodeObject(), b.nodeObject()}
	links := map[string]netlink.Link{}
	for _, n := range []*testNode{a, b} {
		link, err := EnsureDevice(n.node.h, Device{Name: DefaultDevice, VNI: DefaultVNI, Port: DefaultPort, Local: n.nodeIP, MAC: StableMAC(n.name)},
			netip.PrefixFrom(n.podCIDR.Addr(), 32))
		if err != nil {
			t.Fatal(err)
		}
		if mtu := link.Attrs().MTU; mtu != 1450 {
			t.Errorf("%s: MTU %d, want 1450 (1500 less VXLAN's 50)", n.name, mtu)
		}
		links[n.name] = link
		if err := Program(n.node.h, link, Desired(Peers(nodes, n.name, n.podCIDR))); err != nil {
			t.Fatal(err)
		}
	}
	out := a.node.ip(t, "-d", "link", "show", DefaultDevice)
	for _, want := range []string{"vxlan id 1 ", "local 198.18.0.1", "dstport 8472", "nolearning", StableMAC("a").String()} {
		if !strings.Contains(out, want) {
			t.Errorf("device lacks %q:\n%s", want, out)
		}
	}
	if out := a.node.ip(t, "-4", "addr", "show", "dev", DefaultDevice); !strings.Contains(out, "inet 10.250.1.0/32") {
		t.Errorf("device address:\n%s", out)
	}
	routes := a.node.ip(t, "route", "show", "dev", DefaultDevice)
	if !strings.Contains(routes, "10.250.2.0/24 via 10.250.2.0 onlink") {
		t.Errorf("routes:\n%s", routes)
	}
	neigh := a.node.ip(t, "neigh", "show", "dev", DefaultDevice)
	if !strings.Contains(neigh, "10.250.2.0 lladdr "+StableMAC("b").String()+" PERMANENT") {
		t.Errorf("neighbours:\n%s", neigh)
	}
	fdb := a.node.exec(t, "bridge", "fdb", "show", "dev", DefaultDevice)
	if !strings.Contains(fdb, StableMAC("b").String()+" dst 198.18.0.2 self permanent") {
		t.Errorf("fdb:\n%s", fdb)
	}

	expectPing(t, a, b)
	expectPing(t, b, a)
	expectTCP(t, a, b)
	expectTCP(t, b, a)

	// Idempotent: the device is reused and the entries are left as they are.
	link, err := EnsureDevice(a.node.h, Device{Name: DefaultDevice, VNI: DefaultVNI, Port: DefaultPort, Local: a.nodeIP, MAC: StableMAC("a")},
		netip.PrefixFrom(a.podCIDR.Addr(), 32))
	if err != nil {
		t.Fatal(err)
	}
	if link.Attrs().Index != links["a"].Attrs().Index {
		t.Errorf("the device was made again (index %d, was %d)", link.Attrs().Index, links["a"].Attrs().Index)
	}
	if err := Program(a.node.h, link, Desired(Peers(nodes, "a", a.podCIDR))); err != nil {
		t.Fatal(err)
	}
	if again := a.node.ip(t, "route", "show", "dev", DefaultDevice); again != routes {
		t.Errorf("routes changed:\n%s\nwas\n%s", again, routes)
	}
	if again := a.node.exec(t, "bridge", "fdb", "show", "dev", DefaultDevice); again != fdb {
		t.Errorf("fdb changed:\n%s\nwas\n%s", again, fdb)
	}
	expectTCP(t, a, b)

	// Stale entries of another node are removed; a node that changes address or
	// MAC is reprogrammed.
	a.node.ip(t, "route", "add", "10.250.9.0/24", "via", "10.250.9.0", "dev", DefaultDevice, "onlink")
	a.node.ip(t, "neigh", "add", "10.250.9.0", "lladdr", "02:00:00:00:00:99", "dev", DefaultDevice, "nud", "permanent")
	a.node.exec(t, "bridge", "fdb", "add", "02:00:00:00:00:99", "dev", DefaultDevice, "dst", "198.18.0.9", "self", "permanent")
	moved := b.nodeObject()
	moved.Annotations[AnnotationPublicIP] = "198.18.0.7"
	if err := Program(a.node.h, link, Desired(Peers([]*corev1.Node{a.nodeObject(), moved}, "a", a.podCIDR))); err != nil {
		t.Fatal(err)
	}
	if got := a.node.ip(t, "route", "show", "dev", DefaultDevice); strings.Contains(got, "10.250.9.0") || !strings.Contains(got, "10.250.2.0/24") {
		t.Errorf("routes after a resync:\n%s", got)
	}
	if got := a.node.ip(t, "neigh", "show", "dev", DefaultDevice); strings.Contains(got, "10.250.9.0") {
		t.Errorf("neighbours after a resync:\n%s", got)
	}
	got := a.node.exec(t, "bridge", "fdb", "show", "dev", DefaultDevice)
	if strings.Contains(got, "02:00:00:00:00:99") || strings.Contains(got, "198.18.0.2") || !strings.Contains(got, "dst 198.18.0.7") {
		t.Errorf("fdb after b moved:\n%s", got)
	}

	// b goes: its entries go.
	if err := Program(a.node.h, link, Desired(Peers([]*corev1.Node{a.nodeObject()}, "a", a.podCIDR))); err != nil {
		t.Fatal(err)
	}
	if got := a.node.ip(t, "route", "show", "dev", DefaultDevice); strings.TrimSpace(got) != "" {
		t.Errorf("routes left after b went:\n%s", got)
	}
	if got := a.node.exec(t, "bridge", "fdb", "show", "dev", DefaultDevice); strings.Contains(got, StableMAC("b").String()) {
		t.Errorf("fdb left after b went:\n%s", got)
	}
	expectNoTCP(t, a, b)

	if err := RemoveDevice(a.node.h, DefaultDevice); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDevice(a.node.h, DefaultDevice); err != nil {
		t.Errorf("removing a missing device: %v", err)
	}
}

// TestControllers runs a Controller in each node namespace against one (fake) API
// server: each announces its VTEP on its Node and programs the other.
func TestControllers(t *testing.T) {
	requireRoot(t)
	a, b := twoNodes(t)
	plain := func(n *testNode) *corev1.Node {
		o := n.nodeObject()
		o.Annotations = nil
		return o
	}
	client := fake.NewClientset(plain(a), plain(b))
	start := func(n *testNode) (stop func()) {
		c, err := New(Config{Client: client, NodeName: n.name, NodeIP: n.nodeIP, Handle: n.node.h})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller %s: %v", n.name, err)
			}
		}
	}
	stopA, stopB := start(a), start(b)
	defer func() { stopA(); stopB() }()

	for _, n := range []*testNode{a, b} {
		testutil.Poll(t, 20*time.Second, "node "+n.name+" annotated", func() (bool, error) {
			o, err := client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, ok := PeerOf(o)
			return ok && o.Annotations[AnnotationPublicIP] == n.nodeIP.String() && o.Annotations[AnnotationVTEPMAC] == StableMAC(n.name).String(), nil
		})
	}
	for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		testutil.Poll(t, 20*time.Second, from.name+" programmed for "+to.name, func() (bool, error) {
			out, err := exec.Command("ip", "-n", from.node.name, "route", "show", "dev", DefaultDevice).CombinedOutput()
			return strings.Contains(string(out), to.podCIDR.String()+" via "+to.podCIDR.Addr().String()+" onlink"), err
		})
	}
	expectTCP(t, a, b)
	expectTCP(t, b, a)

	// A restarted agent reuses the device it finds.
	index := func(n *testNode) int {
		l, err := n.node.h.LinkByName(DefaultDevice)
		if err != nil {
			return -1
		}
		return l.Attrs().Index
	}
	stopB()
	if index(b) != -1 {
		t.Errorf("b's device is left after its controller stopped")
	}
	// Make the device as a crashed agent would leave it, and start again.
	if _, err := EnsureDevice(b.node.h, Device{Name: DefaultDevice, VNI: DefaultVNI, Port: DefaultPort, Local: b.nodeIP, MAC: StableMAC("b")},
		netip.PrefixFrom(b.podCIDR.Addr(), 32)); err != nil {
		t.Fatal(err)
	}
	left := index(b)
	stopB = start(b)
	testutil.Poll(t, 20*time.Second, "b programmed again", func() (bool, error) {
		out, err := exec.Command("ip", "-n", b.node.name, "route", "show", "dev", DefaultDevice).CombinedOutput()
		return strings.Contains(string(out), a.podCIDR.String()), err
	})
	if got := index(b); got != left {
		t.Errorf("the restarted controller made the device again (index %d, was %d)", got, left)
	}
	expectTCP(t, a, b)

	// b leaves the cluster: a drops its entries.
	if err := client.CoreV1().Nodes().Delete(context.Background(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 20*time.Second, "a's entries for b removed", func() (bool, error) {
		out, err := exec.Command("ip", "-n", a.node.name, "route", "show", "dev", DefaultDevice).CombinedOutput()
		return err == nil && !strings.Contains(string(out), b.podCIDR.String()), err
	})
}

// TestEnsureDeviceReplaces checks that a device of the name but another VNI (an agent
// restarted with other settings) is replaced, and stray addresses are removed.
func TestEnsureDeviceReplaces(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "re")
	ns.ip(t, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1") // no dummy interfaces in every kernel
	ns.ip(t, "addr", "add", "198.18.0.1/24", "dev", "eth0")
	ns.ip(t, "link", "set", "eth0", "up")
	ns.ip(t, "link", "add", DefaultDevice, "type", "vxlan", "id", "7", "dstport", "8472", "local", "198.18.0.1")
	ns.ip(t, "addr", "add", "10.250.9.0/32", "dev", DefaultDevice)
	d := Device{Name: DefaultDevice, VNI: DefaultVNI, Port: DefaultPort, Local: net.ParseIP("198.18.0.1").To4(), MAC: StableMAC("a")}
	link, err := EnsureDevice(ns.h, d, netip.MustParsePrefix("10.250.1.0/32"))
	if err != nil {
		t.Fatal(err)
	}
	if vx, ok := link.(*netlink.Vxlan); !ok || vx.VxlanId != DefaultVNI || vx.Learning {
		t.Errorf("device after EnsureDevice: %+v", link)
	}
	addrs := ns.ip(t, "-4", "addr", "show", "dev", DefaultDevice)
	if !strings.Contains(addrs, "10.250.1.0/32") || strings.Contains(addrs, "10.250.9.0") {
		t.Errorf("addresses:\n%s", addrs)
	}
	// The podCIDR changes: the address follows.
	if _, err := EnsureDevice(ns.h, d, netip.MustParsePrefix("10.250.3.0/32")); err != nil {
		t.Fatal(err)
	}
	addrs = ns.ip(t, "-4", "addr", "show", "dev", DefaultDevice)
	if !strings.Contains(addrs, "10.250.3.0/32") || strings.Contains(addrs, "10.250.1.0") {
		t.Errorf("addresses after the podCIDR changed:\n%s", addrs)
	}
}
