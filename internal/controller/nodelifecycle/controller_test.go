package nodelifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	client   *fake.Clientset
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	f        informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(base())
	rec := record.NewFakeRecorder(100)
	nodes, leases, pods := f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods()
	c := New(client, nodes, leases, pods, WithClock(clk), WithGracePeriod(40*time.Second), WithEventRecorder(rec))
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Node:
			err = nodes.Informer().GetIndexer().Add(o)
		case *coordinationv1.Lease:
			err = leases.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = pods.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	t.Cleanup(func() { c.nodeQueue.ShutDown(); c.podQueue.ShutDown() })
	return &fixture{client: client, c: c, clock: clk, recorder: rec, f: f}
}

// updateCache puts the client's current version of a node into the informer cache.
func (fx *fixture) refreshNode(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := fx.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.f.Core().V1().Nodes().Informer().GetIndexer().Update(n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readyNode(name string, heartbeat time.Time) *corev1.Node {
	n := nodeWithReady(corev1.ConditionTrue, heartbeat)
	n.Name = name
	n.UID = types.UID("uid-" + name)
	n.ResourceVersion = "1"
	return n
}

func nodeLease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func boundPod(name, node string, tols ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tols},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

func unreachableToleration(secs *int64) corev1.Toleration {
	return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
}

func hasTaint(n *corev1.Node, key string) *corev1.Taint {
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == key {
			return &n.Spec.Taints[i]
		}
	}
	return nil
}

func TestSyncNodeGoesUnknownAndTainted(t *testing.T) {
	fx := newFixture(t, readyNode("n1", base()), nodeLease("n1", base()))
	ctx := context.Background()
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if a := fx.client.Actions(); len(a) != 0 {
		t.Fatalf("healthy node: actions %v", a)
	}
	// Silent for less than the grace period: still nothing.
	fx.clock.Step(30 * time.Second)
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if a := fx.client.Actions(); len(a) != 0 {
		t.Fatalf("within grace: actions %v", a)
	}
	// Past it.
	fx.clock.Step(11 * time.Second)
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	n := fx.refreshNode(t, "n1")
	ready := findCondition(n.Status.Conditions, corev1.NodeReady)
	if ready.Status != corev1.ConditionUnknown || ready.Reason != ReasonNodeStatusUnknown || ready.Message != MessageNodeStatusUnknown {
		t.Errorf("Ready = %+v", ready)
	}
	for _, ct := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		if c := findCondition(n.Status.Conditions, ct); c == nil || c.Status != corev1.ConditionUnknown {
			t.Errorf("%s = %+v", ct, c)
		}
	}
	taint := hasTaint(n, corev1.TaintNodeUnreachable)
	if taint == nil || taint.Effect != corev1.TaintEffectNoExecute || taint.TimeAdded == nil || !taint.TimeAdded.Time.Equal(fx.clock.Now()) {
		t.Errorf("taints = %+v", n.Spec.Taints)
	}
	var sawStatus bool
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			sawStatus = true
		}
	}
	if !sawStatus {
		t.Errorf("no status update: %v", fx.client.Actions())
	}

	// Syncing again changes nothing.
	fx.client.ClearActions()
	fx.clock.Step(time.Second)
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if a := fx.client.Actions(); len(a) != 0 {
		t.Errorf("second sync: actions %v", a)
	}

	// The kubelet comes back: its lease is renewed and it posts Ready=True.
	n = n.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.NewTime(fx.clock.Now()), LastTransitionTime: metav1.NewTime(fx.clock.Now())}}
	if _, err := fx.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.refreshNode(t, "n1")
	if err := fx.f.Coordination().V1().Leases().Informer().GetIndexer().Update(nodeLease("n1", fx.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	n = fx.refreshNode(t, "n1")
	if hasTaint(n, corev1.TaintNodeUnreachable) != nil {
		t.Errorf("taint not removed: %+v", n.Spec.Taints)
	}
	if r := findCondition(n.Status.Conditions, corev1.NodeReady); r.Status != corev1.ConditionTrue {
		t.Errorf("Ready = %+v", r)
	}
}

func TestSyncNodeLeaseKeepsNodeAlive(t *testing.T) {
	// The status heartbeat is old, but the lease is renewed: the node is healthy.
	fx := newFixture(t, readyNode("n1", base()), nodeLease("n1", base()))
	ctx := context.Background()
	for range 10 {
		fx.clock.Step(10 * time.Second)
		if err := fx.f.Coordination().V1().Leases().Informer().GetIndexer().Update(nodeLease("n1", fx.clock.Now())); err != nil {
			t.Fatal(err)
		}
		if err := fx.c.syncNode(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
	}
	if a := fx.client.Actions(); len(a) != 0 {
		t.Errorf("actions %v", a)
	}
}

func TestSyncNodeNotReadyTaint(t *testing.T) {
	n := readyNode("n1", base())
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: base()}}}
	fx := newFixture(t, n, nodeLease("n1", base()))
	if err := fx.c.syncNode(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	got := fx.refreshNode(t, "n1")
	if hasTaint(got, corev1.TaintNodeUnreachable) != nil || hasTaint(got, corev1.TaintNodeNotReady) == nil {
		t.Errorf("taints = %+v", got.Spec.Taints)
	}
}

func taintedNode(name string, added time.Time) *corev1.Node {
	n := readyNode(name, base())
	n.Status.Conditions[0].Status = corev1.ConditionUnknown
	n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}}
	return n
}

func podGone(t *testing.T, fx *fixture, name string) bool {
	t.Helper()
	_, err := fx.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

func TestSyncPodEvictions(t *testing.T) {
	fx := newFixture(t,
		taintedNode("n1", base()),
		boundPod("untolerated", "n1"),
		boundPod("timed", "n1", unreachableToleration(ptr.To[int64](5))),
		boundPod("forever", "n1", unreachableToleration(nil)),
		boundPod("elsewhere", "n2"),
	)
	ctx := context.Background()
	fx.clock.Step(time.Second)
	for _, p := range []string{"untolerated", "timed", "forever", "elsewhere"} {
		if err := fx.c.syncPod(ctx, "default/"+p); err != nil {
			t.Fatal(p, err)
		}
	}
	if !podGone(t, fx, "untolerated") {
		t.Error("untolerated pod not deleted")
	}
	for _, p := range []string{"timed", "forever", "elsewhere"} {
		if podGone(t, fx, p) {
			t.Errorf("%s deleted early", p)
		}
	}
	// The evicted pod got the DisruptionTarget condition first.
	var sawCondition bool
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" {
			if p, ok := a.(interface{ GetPatch() []byte }); ok && strings.Contains(string(p.GetPatch()), ReasonDeletionByTaintManager) {
				sawCondition = true
			}
		}
	}
	if !sawCondition {
		t.Errorf("no DisruptionTarget patch: %v", fx.client.Actions())
	}
	// The pods on the unknown node were marked not ready.
	p, err := fx.client.CoreV1().Pods("default").Get(ctx, "timed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
			t.Errorf("timed pod Ready = %v", c.Status)
		}
	}
	if _, ok := fx.c.pending["default/timed"]; !ok {
		t.Error("timed eviction not pending")
	}

	// tolerationSeconds after timeAdded it goes.
	fx.clock.SetTime(base().Add(5*time.Second + time.Millisecond))
	if err := fx.c.syncPod(ctx, "default/timed"); err != nil {
		t.Fatal(err)
	}
	if !podGone(t, fx, "timed") {
		t.Error("timed pod not deleted after its tolerationSeconds")
	}
	if podGone(t, fx, "forever") {
		t.Error("forever-tolerating pod deleted")
	}
	events := drain(fx.recorder)
	if !strings.Contains(events, EventTaintManagerEviction) || !strings.Contains(events, "Marking for deletion Pod default/untolerated") {
		t.Errorf("events: %s", events)
	}
}

func TestSyncPodCancelledWhenTaintGoes(t *testing.T) {
	fx := newFixture(t, taintedNode("n1", base()), boundPod("timed", "n1", unreachableToleration(ptr.To[int64](5))))
	ctx := context.Background()
	if err := fx.c.syncPod(ctx, "default/timed"); err != nil {
		t.Fatal(err)
	}
	// The node recovers before the eviction falls due.
	n := readyNode("n1", base())
	if err := fx.f.Core().V1().Nodes().Informer().GetIndexer().Update(n); err != nil {
		t.Fatal(err)
	}
	fx.clock.Step(10 * time.Second)
	if err := fx.c.syncPod(ctx, "default/timed"); err != nil {
		t.Fatal(err)
	}
	if podGone(t, fx, "timed") {
		t.Error("pod deleted after the taint went")
	}
	if _, ok := fx.c.pending["default/timed"]; ok {
		t.Error("still pending")
	}
	if ev := drain(fx.recorder); !strings.Contains(ev, "Cancelling deletion of Pod default/timed") {
		t.Errorf("events: %s", ev)
	}
}

func TestSyncPodTaintWithoutTimeAdded(t *testing.T) {
	n := readyNode("n1", base())
	n.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}
	tol := corev1.Toleration{Key: "maintenance", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](3)}
	fx := newFixture(t, n, boundPod("p", "n1", tol))
	ctx := context.Background()
	fx.clock.Step(time.Minute) // the taint is first seen now
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := fx.c.syncPod(ctx, "default/p"); err != nil {
		t.Fatal(err)
	}
	if podGone(t, fx, "p") {
		t.Fatal("evicted at once")
	}
	fx.clock.Step(3 * time.Second)
	if err := fx.c.syncPod(ctx, "default/p"); err != nil {
		t.Fatal(err)
	}
	if !podGone(t, fx, "p") {
		t.Error("not evicted 3s after the taint was seen")
	}
}

func drain(r *record.FakeRecorder) string {
	var b strings.Builder
	for {
		select {
		case e := <-r.Events:
			b.WriteString(e + "\n")
		default:
			return b.String()
		}
	}
}

func TestSyncPodTaintWithoutTimeAddedSeenFirstByPod(t *testing.T) {
	n := readyNode("n1", base())
	n.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}
	tol := corev1.Toleration{Key: "maintenance", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](3)}
	fx := newFixture(t, n, boundPod("p", "n1", tol))
	ctx := context.Background()
	if err := fx.c.syncPod(ctx, "default/p"); err != nil { // before any node sync
		t.Fatal(err)
	}
	fx.clock.Step(2 * time.Second)
	if err := fx.c.syncNode(ctx, "n1"); err != nil { // keeps the first sighting
		t.Fatal(err)
	}
	fx.clock.Step(time.Second)
	if err := fx.c.syncPod(ctx, "default/p"); err != nil {
		t.Fatal(err)
	}
	if !podGone(t, fx, "p") {
		t.Error("not evicted 3s after the taint was first seen")
	}
}
