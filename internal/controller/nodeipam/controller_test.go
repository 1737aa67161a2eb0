package nodeipam

import (
	"context"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type fixture struct {
	client *fake.Clientset
	c      *Controller
	nodes  coreinformers.NodeInformer
}

func newFixture(t *testing.T, cluster string, mask int, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	nodes := f.Core().V1().Nodes()
	_, cidr, err := net.ParseCIDR(cluster)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(client, nodes, cidr, mask)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	for _, o := range objs {
		if err := nodes.Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.occupyExisting(context.Background()); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	return &fixture{client: client, c: c, nodes: nodes}
}

func node(name, cidr string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	return n
}

// sync syncs the node and returns its pod CIDRs as stored, and puts it in the cache.
func (fx *fixture) sync(t *testing.T, name string) (string, []string, error) {
	t.Helper()
	err := fx.c.sync(context.Background(), name)
	n, gerr := fx.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if gerr != nil {
		return "", nil, err
	}
	if uerr := fx.nodes.Informer().GetIndexer().Update(n); uerr != nil {
		t.Fatal(uerr)
	}
	return n.Spec.PodCIDR, n.Spec.PodCIDRs, err
}

func TestSyncAllocatesAroundExisting(t *testing.T) {
	fx := newFixture(t, "10.244.0.0/16", 24,
		node("a", "10.244.0.0/24"), node("b", "10.244.2.0/24"), node("foreign", "192.168.5.0/24"), node("new", ""))
	cidr, cidrs, err := fx.sync(t, "new")
	if err != nil {
		t.Fatal(err)
	}
	if cidr != "10.244.1.0/24" || len(cidrs) != 1 || cidrs[0] != cidr {
		t.Errorf("new node got %q %v", cidr, cidrs)
	}
	// Nodes that have a range keep it: no writes.
	fx.client.ClearActions()
	for _, n := range []string{"a", "b", "foreign", "new"} {
		if _, _, err := fx.sync(t, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range fx.client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected action %v", a)
		}
	}
	if fx.c.set.free() != 253 {
		t.Errorf("free = %d, want 253", fx.c.set.free())
	}
}

func TestSyncReleaseAndExhaustion(t *testing.T) {
	fx := newFixture(t, "10.244.0.0/23", 24, node("a", ""), node("b", ""), node("c", ""))
	got := map[string]bool{}
	for _, n := range []string{"a", "b"} {
		cidr, _, err := fx.sync(t, n)
		if err != nil || cidr == "" || got[cidr] {
			t.Fatalf("%s got %q (%v); so far %v", n, cidr, err, got)
		}
		got[cidr] = true
	}
	if _, _, err := fx.sync(t, "c"); !IsExhausted(err) {
		t.Fatalf("c: %v, want exhausted", err)
	}
	// a goes: its range is c's.
	aCIDR := fx.mustGet(t, "a").Spec.PodCIDR
	if err := fx.client.CoreV1().Nodes().Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fx.nodes.Informer().GetIndexer().Delete(node("a", aCIDR)); err != nil {
		t.Fatal(err)
	}
	if err := fx.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	cidr, _, err := fx.sync(t, "c")
	if err != nil || cidr != aCIDR {
		t.Errorf("c got %q (%v), want a's %s", cidr, err, aCIDR)
	}
}

func TestSyncReservationSurvivesStaleCache(t *testing.T) {
	fx := newFixture(t, "10.244.0.0/16", 24, node("a", ""))
	if err := fx.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	// The cache still shows a without a range: syncing again must not take a second one.
	if err := fx.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if fx.c.set.free() != 255 {
		t.Errorf("free = %d, want 255", fx.c.set.free())
	}
	if got := fx.mustGet(t, "a").Spec.PodCIDR; got != "10.244.0.0/24" {
		t.Errorf("podCIDR %q", got)
	}
}

func (fx *fixture) mustGet(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := fx.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewRejectsBadMask(t *testing.T) {
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	_, cidr, _ := net.ParseCIDR("10.244.0.0/16")
	if _, err := New(client, f.Core().V1().Nodes(), cidr, 12); err == nil {
		t.Error("mask /12 in a /16 accepted")
	}
	c, err := New(client, f.Core().V1().Nodes(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.queue.ShutDown()
	if c.set.cluster.String() != DefaultClusterCIDR || c.set.maskSize != DefaultNodeMaskSize {
		t.Errorf("defaults: %v /%d", c.set.cluster, c.set.maskSize)
	}
}
