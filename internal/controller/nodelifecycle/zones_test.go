package nodelifecycle

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestZoneOf(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{corev1.LabelTopologyZone: "a"}, ":\x00:a"},
		{map[string]string{corev1.LabelTopologyRegion: "r", corev1.LabelTopologyZone: "a"}, "r:\x00:a"},
		{map[string]string{corev1.LabelFailureDomainBetaRegion: "r", corev1.LabelFailureDomainBetaZone: "b"}, "r:\x00:b"},
		{map[string]string{corev1.LabelTopologyZone: "a", corev1.LabelFailureDomainBetaZone: "b"}, ":\x00:a"},
	} {
		if got := zoneOf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}}); got != tc.want {
			t.Errorf("zoneOf(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestComputeZoneState(t *testing.T) {
	r := func(s corev1.ConditionStatus) *corev1.NodeCondition {
		return &corev1.NodeCondition{Type: corev1.NodeReady, Status: s}
	}
	T, F, U := r(corev1.ConditionTrue), r(corev1.ConditionFalse), r(corev1.ConditionUnknown)
	for _, tc := range []struct {
		name  string
		ready []*corev1.NodeCondition
		want  zoneState
	}{
		{"all ready", []*corev1.NodeCondition{T, T, T}, stateNormal},
		{"one of one down", []*corev1.NodeCondition{U}, stateFullDisruption},
		{"all down, one never posted", []*corev1.NodeCondition{F, nil}, stateFullDisruption},
		{"two of three down: at most two never partial", []*corev1.NodeCondition{T, U, U}, stateNormal},
		{"three of four down", []*corev1.NodeCondition{T, U, U, F}, statePartialDisruption},
		{"three of six down: under 55 %", []*corev1.NodeCondition{T, T, T, U, U, U}, stateNormal},
		{"six of ten down", []*corev1.NodeCondition{T, T, T, T, U, U, U, U, U, U}, statePartialDisruption},
	} {
		if got := computeZoneState(tc.ready, DefaultUnhealthyZoneThreshold); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestZoneEvictionRate(t *testing.T) {
	rates := evictionRates{primary: 0.1, secondary: 0.01, unhealthy: 0.55, largeCluster: 50}
	for _, tc := range []struct {
		state zoneState
		size  int
		want  float32
	}{
		{stateNormal, 3, 0.1},
		{stateFullDisruption, 3, 0.1},
		{statePartialDisruption, 50, 0},
		{statePartialDisruption, 51, 0.01},
	} {
		if got := zoneEvictionRate(tc.state, tc.size, rates); got != tc.want {
			t.Errorf("%s with %d nodes: %v, want %v", tc.state, tc.size, got, tc.want)
		}
	}
}

func TestDesiredNoScheduleTaints(t *testing.T) {
	cond := func(ct corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: ct, Status: s}
	}
	ns := func(key string) corev1.Taint { return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule} }
	user := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	noexec := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name          string
		taints        []corev1.Taint
		conds         []corev1.NodeCondition
		unschedulable bool
		want          []corev1.Taint
		changed       bool
	}{
		{"healthy", []corev1.Taint{user}, []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue)}, false, []corev1.Taint{user}, false},
		{"cordoned", nil, []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue)}, true,
			[]corev1.Taint{ns(corev1.TaintNodeUnschedulable)}, true},
		{"uncordoned", []corev1.Taint{user, ns(corev1.TaintNodeUnschedulable)}, nil, false, []corev1.Taint{user}, true},
		{"not ready with pressure", nil, []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse), cond(corev1.NodeMemoryPressure, corev1.ConditionTrue),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse), cond(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)}, false,
			[]corev1.Taint{ns(corev1.TaintNodeNotReady), ns(corev1.TaintNodeMemoryPressure), ns(corev1.TaintNodeNetworkUnavailable)}, true},
		{"not ready becomes unreachable; the NoExecute taint is not this function's", []corev1.Taint{noexec, ns(corev1.TaintNodeNotReady)},
			[]corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionUnknown)}, false,
			[]corev1.Taint{noexec, ns(corev1.TaintNodeUnreachable)}, true},
		{"duplicate dropped", []corev1.Taint{ns(corev1.TaintNodeUnschedulable), ns(corev1.TaintNodeUnschedulable)}, nil, true,
			[]corev1.Taint{ns(corev1.TaintNodeUnschedulable)}, true},
	} {
		got, changed := desiredNoScheduleTaints(tc.taints, tc.conds, tc.unschedulable)
		if !reflect.DeepEqual(got, tc.want) || changed != tc.changed {
			t.Errorf("%s: %v (changed %v), want %v (changed %v)", tc.name, got, changed, tc.want, tc.changed)
		}
	}
}

// zoneNodes makes n ready nodes in zone z, with their leases, heard from at base().
func zoneNodes(z string, n int) []runtime.Object {
	var objs []runtime.Object
	for i := range n {
		name := fmt.Sprintf("%s-%d", z, i)
		node := readyNode(name, base())
		node.Labels = map[string]string{corev1.LabelTopologyZone: z}
		objs = append(objs, node, nodeLease(name, base()))
	}
	return objs
}

// observeAll has the controller hear from every node now (a node is otherwise first heard
// from when first synced).
func (fx *fixture) observeAll(t *testing.T) {
	t.Helper()
	nodes, err := fx.c.nodeLister.List(labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := fx.c.syncNode(context.Background(), n.Name); err != nil {
			t.Fatal(err)
		}
	}
	fx.client.ClearActions()
}

func noExecute(n *corev1.Node) []corev1.Taint { return noExecuteTaints(n.Spec.Taints) }

// silence lets every named node go past its grace period, syncs them (they go Unknown) and
// refreshes the cache, then runs a monitor pass.
func (fx *fixture) silence(t *testing.T, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range names {
		if err := fx.c.syncNode(ctx, name); err != nil {
			t.Fatal(err)
		}
		fx.refreshNode(t, name)
	}
}

// TestEvictionRateLimitedPerZone: in a healthy zone, nodes that go silent get their
// NoExecute taint one at a time at the zone's rate (0.1/s: one every 10 s), while their
// NoSchedule taint and Unknown status come at once.
func TestEvictionRateLimitedPerZone(t *testing.T) {
	fx := newFixture(t, zoneNodes("a", 10)...)
	fx.observeAll(t)
	ctx := context.Background()
	fx.c.handleDisruption(ctx)
	fx.clock.Step(41 * time.Second)
	// a-0 and a-1 go silent; the others keep renewing their leases.
	for i := 2; i < 10; i++ {
		name := fmt.Sprintf("a-%d", i)
		if err := fx.f.Coordination().V1().Leases().Informer().GetIndexer().Update(nodeLease(name, fx.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	fx.silence(t, "a-0", "a-1")
	fx.c.handleDisruption(ctx)
	if st := fx.c.zones[":\x00:a"]; st != stateNormal {
		t.Fatalf("zone state %s, want Normal with 2 of 10 down", st)
	}
	n0, n1 := fx.refreshNode(t, "a-0"), fx.refreshNode(t, "a-1")
	if len(noExecute(n0)) != 1 || len(noExecute(n1)) != 0 {
		t.Fatalf("NoExecute taints: a-0 %v, a-1 %v; want only a-0's (one token)", n0.Spec.Taints, n1.Spec.Taints)
	}
	if hasNoSchedule(n1, corev1.TaintNodeUnreachable) == nil || readyStatus(n1) != corev1.ConditionUnknown {
		t.Fatalf("a-1 not marked at once: %v %v", n1.Spec.Taints, n1.Status.Conditions)
	}
	fx.clock.Step(10 * time.Second)
	if err := fx.c.syncNode(ctx, "a-1"); err != nil {
		t.Fatal(err)
	}
	if n1 = fx.refreshNode(t, "a-1"); len(noExecute(n1)) != 1 {
		t.Fatalf("a-1 after 10 s: %v, want its NoExecute taint", n1.Spec.Taints)
	}
}

// TestSmallZonePartlyDisruptedEvictsNothing: a zone of under 50 nodes with most of them down
// gets no new NoExecute taints; a zone wholly down while another is up does.
func TestSmallZonePartlyDisruptedEvictsNothing(t *testing.T) {
	fx := newFixture(t, append(zoneNodes("a", 4), zoneNodes("b", 2)...)...)
	ctx := context.Background()
	fx.clock.Step(41 * time.Second)
	for _, name := range []string{"a-3"} {
		if err := fx.f.Coordination().V1().Leases().Informer().GetIndexer().Update(nodeLease(name, fx.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a-0", "a-1", "a-2", "b-0", "b-1"} {
		fx.markUnknown(t, name)
	}
	fx.c.handleDisruption(ctx)
	if a, b := fx.c.zones[":\x00:a"], fx.c.zones[":\x00:b"]; a != statePartialDisruption || b != stateFullDisruption {
		t.Fatalf("zone states a=%s b=%s, want PartialDisruption and FullDisruption", a, b)
	}
	for _, name := range []string{"a-0", "a-1", "a-2", "b-0", "b-1"} {
		if err := fx.c.syncNode(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a-0", "a-1", "a-2"} {
		if n := fx.refreshNode(t, name); len(noExecute(n)) != 0 || hasNoSchedule(n, corev1.TaintNodeUnreachable) == nil {
			t.Errorf("%s in a small, partly disrupted zone: taints %v", name, n.Spec.Taints)
		}
	}
	tainted := 0
	for _, name := range []string{"b-0", "b-1"} {
		tainted += len(noExecute(fx.refreshNode(t, name)))
	}
	if tainted != 1 {
		t.Errorf("%d nodes of the wholly down zone b tainted at once, want 1 (its rate's one token)", tainted)
	}
}

// TestMasterDisruption: when every node is down, no NoExecute taints are added and those
// there go; when one comes back the others get a fresh grace period.
func TestMasterDisruption(t *testing.T) {
	objs := zoneNodes("a", 2)
	// b-0 already carries an unreachable taint from before the outage.
	tainted := readyNode("b-0", base())
	tainted.Labels = map[string]string{corev1.LabelTopologyZone: "b"}
	tainted.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: base()}}}
	fx := newFixture(t, append(objs, tainted, nodeLease("b-0", base()))...)
	ctx := context.Background()
	fx.clock.Step(41 * time.Second)
	for _, name := range []string{"a-0", "a-1", "b-0"} {
		fx.markUnknown(t, name)
	}
	fx.c.handleDisruption(ctx)
	if !fx.c.masterDisruption {
		t.Fatal("every node down: not in master disruption mode")
	}
	for _, name := range []string{"a-0", "a-1", "b-0"} {
		if err := fx.c.syncNode(ctx, name); err != nil {
			t.Fatal(err)
		}
		if n := fx.refreshNode(t, name); len(noExecute(n)) != 0 || hasNoSchedule(n, corev1.TaintNodeUnreachable) == nil {
			t.Errorf("%s in master disruption: taints %v", name, n.Spec.Taints)
		}
	}
	// a-0 comes back: the mode ends and the others are counted as heard from now.
	fx.clock.Step(5 * time.Second)
	n := fx.refreshNode(t, "a-0").DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.NewTime(fx.clock.Now()), LastTransitionTime: metav1.NewTime(fx.clock.Now())}}
	if _, err := fx.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.refreshNode(t, "a-0")
	fx.c.handleDisruption(ctx)
	if fx.c.masterDisruption {
		t.Fatal("a node is ready again: still in master disruption mode")
	}
	if h := fx.c.health["a-1"]; h == nil || !h.probe.Equal(fx.clock.Now()) {
		t.Errorf("a-1's probe time %v, want reset to %v", h, fx.clock.Now())
	}
}

// TestCordonTaint: a cordoned node carries node.kubernetes.io/unschedulable:NoSchedule, as
// `kubectl describe node` shows upstream, and loses it when uncordoned.
func TestCordonTaint(t *testing.T) {
	n := readyNode("n1", base())
	n.Spec.Unschedulable = true
	fx := newFixture(t, n, nodeLease("n1", base()))
	ctx := context.Background()
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	got := fx.refreshNode(t, "n1")
	if hasNoSchedule(got, corev1.TaintNodeUnschedulable) == nil {
		t.Fatalf("cordoned node's taints: %v", got.Spec.Taints)
	}
	got = got.DeepCopy()
	got.Spec.Unschedulable = false
	if _, err := fx.client.CoreV1().Nodes().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.refreshNode(t, "n1")
	if err := fx.c.syncNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if got = fx.refreshNode(t, "n1"); len(got.Spec.Taints) != 0 {
		t.Fatalf("uncordoned node's taints: %v", got.Spec.Taints)
	}
}

// markUnknown sets the node's monitored conditions Unknown, as the controller does to a
// silent node, without touching its taints.
func (fx *fixture) markUnknown(t *testing.T, name string) {
	t.Helper()
	n, err := fx.c.nodeLister.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	conds, _ := markUnknown(n.Status.Conditions, n.CreationTimestamp, fx.clock.Now())
	upd := n.DeepCopy()
	upd.Status.Conditions = conds
	if _, err := fx.client.CoreV1().Nodes().UpdateStatus(context.Background(), upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.refreshNode(t, name)
}

func hasNoSchedule(n *corev1.Node, key string) *corev1.Taint {
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == key && n.Spec.Taints[i].Effect == corev1.TaintEffectNoSchedule {
			return &n.Spec.Taints[i]
		}
	}
	return nil
}
