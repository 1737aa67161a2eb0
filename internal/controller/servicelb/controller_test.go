package servicelb

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func mustAddrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func mkNode(name, ip string, ready bool) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		},
	}
}

var created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mkService(name string, mods ...func(*corev1.Service)) *corev1.Service {
	created = created.Add(time.Second)
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
	services cache.Indexer
	nodes    cache.Indexer
}

func newFixture(t *testing.T, pool string, objs ...runtime.Object) *fixture {
	t.Helper()
	p, err := ParsePool(pool)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	svcs, nodes := f.Core().V1().Services(), f.Core().V1().Nodes()
	recorder := record.NewFakeRecorder(100)
	c := New(client, svcs, nodes, WithPool(p), WithEventRecorder(recorder))
	fx := &fixture{t: t, client: client, c: c, recorder: recorder, services: svcs.Informer().GetIndexer(), nodes: nodes.Informer().GetIndexer()}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			_ = fx.services.Add(o)
		case *corev1.Node:
			_ = fx.nodes.Add(o)
		}
	}
	if err := c.adoptExisting(); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	return fx
}

// sync syncs key and brings the cache up to date with what it wrote, as the informer would.
func (fx *fixture) sync(key string) {
	fx.t.Helper()
	if err := fx.c.sync(context.Background(), key); err != nil {
		fx.t.Fatalf("sync %s: %v", key, err)
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	svc, err := fx.client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err == nil {
		_ = fx.services.Update(svc)
	}
}

func (fx *fixture) get(name string) *corev1.Service {
	fx.t.Helper()
	svc, err := fx.client.CoreV1().Services("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		fx.t.Fatal(err)
	}
	return svc
}

// ingress renders a Service's ingress as "ip/mode,...".
func ingress(svc *corev1.Service) string {
	var s []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		s = append(s, ing.IP+"/"+string(ptr.Deref(ing.IPMode, "")))
	}
	return strings.Join(s, ",")
}

func (fx *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-fx.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (fx *fixture) hasEvent(prefix string) bool {
	return slices.ContainsFunc(fx.events(), func(e string) bool { return strings.HasPrefix(e, prefix) })
}

func (fx *fixture) deleteService(name string) {
	fx.t.Helper()
	svc := fx.get(name)
	if err := fx.client.CoreV1().Services("ns").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		fx.t.Fatal(err)
	}
	_ = fx.services.Delete(svc)
}

func TestPoolAllocation(t *testing.T) {
	fx := newFixture(t, "192.168.1.240-192.168.1.250", mkService("a"), mkService("b"),
		mkNode("n2", "10.1.0.2", true), mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/a")
	fx.sync("ns/b")
	a, b := fx.get("a"), fx.get("b")
	if got := ingress(a); got != "192.168.1.240/VIP" {
		t.Errorf("a's ingress %q", got)
	}
	if got := ingress(b); got != "192.168.1.241/VIP" {
		t.Errorf("b's ingress %q", got)
	}
	if a.Annotations[AnnotationLoadBalancerNode] != "n1" || b.Annotations[AnnotationLoadBalancerNode] != "n1" {
		t.Errorf("node annotations %v, %v", a.Annotations, b.Annotations)
	}
	events := fx.events()
	if !slices.Contains(events, `Normal IPAllocated Assigned IP ["192.168.1.240"]`) ||
		!slices.Contains(events, `Normal NodeAssigned Announcing from node "n1"`) {
		t.Errorf("events %q", events)
	}

	// Idempotent: nothing more to write.
	fx.client.ClearActions()
	fx.sync("ns/a")
	fx.sync("ns/b")
	for _, a := range fx.client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected action %v", a)
		}
	}
}

func TestNoDoubleAllocation(t *testing.T) {
	fx := newFixture(t, "192.168.1.240", mkService("a"), mkService("b"),
		mkService("c", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.1.240" }),
		mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/a")
	fx.sync("ns/b")
	fx.sync("ns/c")
	if got := ingress(fx.get("a")); got != "192.168.1.240/VIP" {
		t.Errorf("a's ingress %q", got)
	}
	for _, name := range []string{"b", "c"} {
		if svc := fx.get(name); len(svc.Status.LoadBalancer.Ingress) != 0 || svc.Annotations[AnnotationLoadBalancerNode] != "" {
			t.Errorf("%s got %q (%v) from an exhausted pool", name, ingress(svc), svc.Annotations)
		}
	}
	events := fx.events()
	n := 0
	for _, e := range events {
		if strings.HasPrefix(e, "Warning AllocationFailed") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("events %q, want two AllocationFailed", events)
	}
	// A failing Service re-synced does not repeat its event.
	fx.sync("ns/b")
	if fx.hasEvent("Warning AllocationFailed") {
		t.Error("AllocationFailed repeated")
	}
}

func TestReleaseOnDelete(t *testing.T) {
	fx := newFixture(t, "192.168.1.240", mkService("a"), mkService("b"), mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/a")
	fx.sync("ns/b")
	if ingress(fx.get("b")) != "" {
		t.Fatal("b got an address")
	}
	for fx.c.queue.Len() > 0 { // drain
		k, _ := fx.c.queue.Get()
		fx.c.queue.Done(k)
	}
	fx.deleteService("a")
	fx.sync("ns/a")
	// The waiting Service is queued again and gets the address.
	if fx.c.queue.Len() != 1 {
		t.Fatalf("queue length %d after a release, want 1 (b)", fx.c.queue.Len())
	}
	k, _ := fx.c.queue.Get()
	fx.c.queue.Done(k)
	if k != "ns/b" {
		t.Fatalf("queued %q", k)
	}
	fx.sync("ns/b")
	if got := ingress(fx.get("b")); got != "192.168.1.240/VIP" {
		t.Errorf("b's ingress %q after a was deleted", got)
	}
}

func TestReleaseOnTypeChange(t *testing.T) {
	fx := newFixture(t, "192.168.1.240", mkService("a"), mkService("b"), mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/a")
	a := fx.get("a")
	a.Spec.Type = corev1.ServiceTypeClusterIP
	a, err := fx.client.CoreV1().Services("ns").Update(context.Background(), a, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = fx.services.Update(a)
	fx.sync("ns/a")
	if a := fx.get("a"); len(a.Status.LoadBalancer.Ingress) != 0 || a.Annotations[AnnotationLoadBalancerNode] != "" {
		t.Errorf("ClusterIP service keeps %q, %v", ingress(a), a.Annotations)
	}
	fx.sync("ns/b")
	if got := ingress(fx.get("b")); got != "192.168.1.240/VIP" {
		t.Errorf("b's ingress %q", got)
	}
}

func TestRequestedAddresses(t *testing.T) {
	fx := newFixture(t, "192.168.1.240-192.168.1.250,fd00::10-fd00::20",
		mkService("spec", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.1.245" }),
		mkService("ann", func(s *corev1.Service) {
			s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "192.168.1.250,fd00::15"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		}),
		mkService("outside", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.9.9.9" }),
		mkService("dual", func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}),
		mkNode("n1", "10.1.0.1", true))
	for _, k := range []string{"spec", "ann", "outside", "dual"} {
		fx.sync("ns/" + k)
	}
	for name, want := range map[string]string{
		"spec": "192.168.1.245/VIP", "ann": "192.168.1.250/VIP,fd00::15/VIP", "outside": "",
		"dual": "fd00::10/VIP,192.168.1.240/VIP",
	} {
		if got := ingress(fx.get(name)); got != want {
			t.Errorf("%s's ingress %q, want %q", name, got, want)
		}
	}

	// Changing the request moves the Service, freeing the old address.
	spec := fx.get("spec")
	spec.Spec.LoadBalancerIP = "192.168.1.246"
	_ = fx.services.Update(spec)
	fx.sync("ns/spec")
	if got := ingress(fx.get("spec")); got != "192.168.1.246/VIP" {
		t.Errorf("moved to %q", got)
	}
	if h := fx.c.alloc.holder(netip.MustParseAddr("192.168.1.245")); h != "" {
		t.Errorf("old address still held by %q", h)
	}
}

func TestOtherClassLeftAlone(t *testing.T) {
	fx := newFixture(t, "192.168.1.240", mkService("a", func(s *corev1.Service) {
		s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
	}), mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/a")
	for _, a := range fx.client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("action on another class's service: %v", a)
		}
	}
}

func TestNodeAddressesMode(t *testing.T) {
	fx := newFixture(t, "", mkService("a", func(s *corev1.Service) {
		s.Annotations = map[string]string{AnnotationLoadBalancerNode: "stale"}
	}), mkNode("n2", "10.1.0.2", true), mkNode("n1", "10.1.0.1", true), mkNode("n3", "10.1.0.3", false))
	fx.sync("ns/a")
	a := fx.get("a")
	if got := ingress(a); got != "10.1.0.1/VIP,10.1.0.2/VIP" {
		t.Errorf("ingress %q", got)
	}
	if _, ok := a.Annotations[AnnotationLoadBalancerNode]; ok {
		t.Errorf("node annotation in node-addresses mode: %v", a.Annotations)
	}
	// n1 goes NotReady, n3 comes up.
	_ = fx.nodes.Update(mkNode("n1", "10.1.0.1", false))
	_ = fx.nodes.Update(mkNode("n3", "10.1.0.3", true))
	fx.sync("ns/a")
	if got := ingress(fx.get("a")); got != "10.1.0.2/VIP,10.1.0.3/VIP" {
		t.Errorf("ingress %q after node changes", got)
	}
}

func TestFailover(t *testing.T) {
	fx := newFixture(t, "192.168.1.240/30", mkService("a"), mkNode("n1", "10.1.0.1", true), mkNode("n2", "10.1.0.2", true))
	fx.sync("ns/a")
	if got := fx.get("a").Annotations[AnnotationLoadBalancerNode]; got != "n1" {
		t.Fatalf("elected %q", got)
	}
	_ = fx.nodes.Update(mkNode("n1", "10.1.0.1", false))
	fx.sync("ns/a")
	a := fx.get("a")
	if got := a.Annotations[AnnotationLoadBalancerNode]; got != "n2" {
		t.Errorf("after n1 went NotReady elected %q", got)
	}
	if got := ingress(a); got != "192.168.1.241/VIP" {
		t.Errorf("address changed on failover: %q", got)
	}
	if !fx.hasEvent(`Normal NodeAssigned Announcing from node "n2"`) {
		t.Error("no NodeAssigned event for n2")
	}
	// n2 goes away too: no node answers, the address is kept.
	_ = fx.nodes.Delete(mkNode("n2", "", true))
	fx.sync("ns/a")
	a = fx.get("a")
	if _, ok := a.Annotations[AnnotationLoadBalancerNode]; ok || ingress(a) != "192.168.1.241/VIP" {
		t.Errorf("with no Ready node: %v, %q", a.Annotations, ingress(a))
	}
	if !fx.hasEvent("Warning NoReadyNode") {
		t.Error("no NoReadyNode event")
	}
}

func TestRestartKeepsAssignments(t *testing.T) {
	old := mkService("old", func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = ingressFor(mustAddrs("192.168.1.240"))
	})
	// A newer Service claims the same address (say, written by hand): the older one keeps it.
	dup := mkService("dup", func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = ingressFor(mustAddrs("192.168.1.240"))
	})
	fx := newFixture(t, "192.168.1.240-192.168.1.242", mkService("new"), dup, old, mkNode("n1", "10.1.0.1", true))
	fx.sync("ns/new")
	fx.sync("ns/dup")
	fx.sync("ns/old")
	for name, want := range map[string]string{"old": "192.168.1.240/VIP", "new": "192.168.1.241/VIP", "dup": "192.168.1.242/VIP"} {
		if got := ingress(fx.get(name)); got != want {
			t.Errorf("%s's ingress %q, want %q", name, got, want)
		}
	}
}

// TestRun runs the controller on informers fed by the fake clientset: a node going NotReady
// moves the Service's address to the next node, without the Service changing.
func TestRun(t *testing.T) {
	pool, _ := ParsePool("192.168.1.240/29")
	client := fake.NewClientset(mkNode("n1", "10.1.0.1", true), mkNode("n2", "10.1.0.2", true))
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f.Core().V1().Services(), f.Core().V1().Nodes(), WithPool(pool), WithEventRecorder(record.NewFakeRecorder(100)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	if _, err := client.CoreV1().Services("ns").Create(ctx, mkService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func(*corev1.Service) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			svc, err := client.CoreV1().Services("ns").Get(ctx, "web", metav1.GetOptions{})
			if err == nil && cond(svc) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (service %+v, %v)", what, svc, err)
			}
			<-time.After(10 * time.Millisecond)
		}
	}
	waitFor("an address on n1", func(s *corev1.Service) bool {
		return ingress(s) == "192.168.1.241/VIP" && s.Annotations[AnnotationLoadBalancerNode] == "n1"
	})
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, mkNode("n1", "10.1.0.1", false), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("n2 to take over", func(s *corev1.Service) bool {
		return ingress(s) == "192.168.1.241/VIP" && s.Annotations[AnnotationLoadBalancerNode] == "n2"
	})
	if err := client.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("no node to answer", func(s *corev1.Service) bool {
		_, ok := s.Annotations[AnnotationLoadBalancerNode]
		return !ok
	})
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, mkNode("n1", "10.1.0.1", true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("n1 back", func(s *corev1.Service) bool { return s.Annotations[AnnotationLoadBalancerNode] == "n1" })
}
