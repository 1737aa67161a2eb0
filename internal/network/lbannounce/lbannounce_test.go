package lbannounce

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kijabi/kijabi/internal/controller/servicelb"
)

func mkService(name, node string, ips ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	if node != "" {
		s.Annotations = map[string]string{servicelb.AnnotationLoadBalancerNode: node}
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func TestDesired(t *testing.T) {
	clusterIP := mkService("cip", "me", "192.0.2.9")
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	got := desired([]*corev1.Service{
		mkService("a", "me", "192.0.2.2", "fd00::2"), mkService("b", "other", "192.0.2.3"),
		mkService("c", "", "10.1.0.1"), mkService("d", "me", "192.0.2.1", "192.0.2.2"), clusterIP,
	}, "me")
	if fmt.Sprint(got) != "[192.0.2.1 192.0.2.2 fd00::2]" {
		t.Errorf("desired %v", got)
	}
}

// newNetNS creates a network namespace for the test, without entering it.
func newNetNS(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Skipf("creating a network namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("returning to the original network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func TestRun(t *testing.T) {
	ns := newNetNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	client := fake.NewClientset(
		mkService("a", "me", "192.0.2.10"),
		mkService("b", "other", "192.0.2.11"),
		mkService("c", "", "10.1.0.1"),
		mkService("v6", "me", "fd00::10"),
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() {
		done <- Run(ctx, Config{Client: client, NodeName: "me", NetNS: ns, Interface: "lbtest0", ResyncPeriod: 100 * time.Millisecond, Log: log})
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})

	addrs := func() (string, error) {
		link, err := h.LinkByName("lbtest0")
		if err != nil {
			return "", err
		}
		list, err := h.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return "", err
		}
		var out []string
		for _, a := range list {
			if !a.IP.IsLinkLocalUnicast() {
				out = append(out, a.IPNet.String())
			}
		}
		slices.Sort(out)
		return strings.Join(out, " "), nil
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := addrs()
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("addresses on lbtest0: %q (%v), want %q", got, err, want)
			}
			<-time.After(20 * time.Millisecond)
		}
	}
	waitFor("192.0.2.10/32 fd00::10/128")
	link, err := h.LinkByName("lbtest0")
	if err != nil {
		t.Fatal(err)
	}
	if !ourLinkType(link) || link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("link %s, flags %v", link.Type(), link.Attrs().Flags)
	}

	// b moves to this node, a to another.
	update := func(svc *corev1.Service) {
		t.Helper()
		if _, err := client.CoreV1().Services("ns").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update(mkService("b", "me", "192.0.2.11"))
	update(mkService("a", "other", "192.0.2.10"))
	waitFor("192.0.2.11/32 fd00::10/128")

	// A stray address is removed, a removed one put back, by the periodic check.
	stray, _ := netlink.ParseAddr("198.51.100.1/24")
	if err := h.AddrAdd(link, stray); err != nil {
		t.Fatal(err)
	}
	mine, _ := netlink.ParseAddr("192.0.2.11/32")
	if err := h.AddrDel(link, mine); err != nil {
		t.Fatal(err)
	}
	waitFor("192.0.2.11/32 fd00::10/128")

	// The Service goes: so does its address.
	if err := client.CoreV1().Services("ns").Delete(ctx, "v6", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("192.0.2.11/32")

	// On shutdown the interface goes with everything on it.
	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := h.LinkByName("lbtest0"); err == nil {
		t.Error("interface left after shutdown")
	}
}

func TestRunRefusesOtherLinkTypes(t *testing.T) {
	ns := newNetNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth-test"}, PeerName: "veth-peer"}); err != nil {
		t.Skipf("creating a veth pair: %v", err)
	}
	a := &announcer{h: h, name: "veth-test", node: "me", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := a.ensureLink(); err == nil || !strings.Contains(err.Error(), "not a dummy") {
		t.Errorf("ensureLink on a veth: %v", err)
	}
	if err := a.cleanup(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if _, err := h.LinkByName("veth-test"); err != nil {
		t.Errorf("cleanup deleted a veth that is not ours: %v", err)
	}
}
