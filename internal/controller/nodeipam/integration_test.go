package nodeipam_test

import (
	"context"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/controller/nodeipam"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// startController runs a node IPAM controller until the returned stop function is called.
func startController(t *testing.T, client kubernetes.Interface, cluster *net.IPNet) (stop func()) {
	t.Helper()
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := nodeipam.New(client, f.Core().V1().Nodes(), cluster, 24)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			f.Shutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestIntegrationNodeIPAM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	ctx := context.Background()
	// Four /24s in all.
	_, cluster, _ := net.ParseCIDR("10.244.0.0/22")
	stop := startController(t, client, cluster)

	create := func(name string) {
		t.Helper()
		if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cidrOf := func(name string) string {
		t.Helper()
		var cidr string
		testutil.Poll(t, 30*time.Second, name+" to get a pod CIDR", func() (bool, error) {
			n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			cidr = n.Spec.PodCIDR
			return cidr != "" && len(n.Spec.PodCIDRs) == 1 && n.Spec.PodCIDRs[0] == cidr, nil
		})
		return cidr
	}
	held := map[string]string{} // cidr -> node
	take := func(name string) string {
		t.Helper()
		cidr := cidrOf(name)
		_, ipnet, err := net.ParseCIDR(cidr)
		if err != nil || !cluster.Contains(ipnet.IP) || ipnet.String() != cidr {
			t.Fatalf("%s got %q, not a range of %v", name, cidr, cluster)
		}
		if ones, _ := ipnet.Mask.Size(); ones != 24 {
			t.Fatalf("%s got %q, not a /24", name, cidr)
		}
		if other, dup := held[cidr]; dup {
			t.Fatalf("%s got %s, already %s's", name, cidr, other)
		}
		held[cidr] = name
		return cidr
	}

	for _, n := range []string{"node-a", "node-b", "node-c"} {
		create(n)
	}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		take(n)
	}

	// A node created with a range of its own keeps it, and the controller does not hand it out.
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-own"},
		Spec: corev1.NodeSpec{PodCIDR: "192.168.7.0/24", PodCIDRs: []string{"192.168.7.0/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Restarted, the controller rebuilds its map from the nodes: the fourth range goes to a new node.
	stop()
	startController(t, client, cluster)
	create("node-d")
	take("node-d")
	if got := cidrOf("node-own"); got != "192.168.7.0/24" {
		t.Errorf("node-own's range changed to %s", got)
	}

	// Exhausted: node-e waits; when node-b goes, node-e gets its range.
	create("node-e")
	// The controller says so with an event on the node.
	testutil.Poll(t, 30*time.Second, "a CIDRNotAvailable event for node-e", func() (bool, error) {
		evs, err := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == "node-e" && e.Reason == nodeipam.EventCIDRNotAvailable {
				return true, nil
			}
		}
		return false, nil
	})
	if n, err := client.CoreV1().Nodes().Get(ctx, "node-e", metav1.GetOptions{}); err != nil || n.Spec.PodCIDR != "" {
		t.Fatalf("node-e got %q with the range exhausted (%v)", n.Spec.PodCIDR, err)
	}
	var bCIDR string
	for c, n := range held {
		if n == "node-b" {
			bCIDR = c
		}
	}
	if err := client.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := cidrOf("node-e"); got != bCIDR {
		t.Errorf("node-e got %s, want node-b's released %s", got, bCIDR)
	}
}
