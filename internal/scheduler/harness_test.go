package scheduler

import (
	"fmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func controlPlane(name string) *v1.Node {
	return mkNode(name, "8", "16Gi", withTaint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule))
}

func TestHarnessFitsOnlyOneNode(t *testing.T) {
	h := NewHarness(1)
	h.AddNode(mkNode("small-1", "1", "1Gi"), mkNode("big", "8", "32Gi"), mkNode("small-2", "1", "1Gi"))
	node, err := h.Schedule(mkPod("p", "2", "4Gi"))
	if err != nil || node != "big" {
		t.Fatalf("got %q, %v", node, err)
	}
	if len(h.Bindings) != 1 || h.Bindings[0] != (Binding{Pod: "default/p", Node: "big"}) {
		t.Fatalf("bindings %+v", h.Bindings)
	}
}

func TestHarnessExhaustionMessage(t *testing.T) {
	h := NewHarness(1)
	h.AddNode(controlPlane("cp-1"), controlPlane("cp-2"), mkNode("worker", "4", "2Gi"))
	if _, err := h.Schedule(mkPod("a", "1", "1500Mi")); err != nil {
		t.Fatal(err)
	}
	_, err := h.Schedule(mkPod("b", "1", "1Gi"))
	want := "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint(s). " +
		"preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	if err == nil || err.Error() != want {
		t.Fatalf("message:\n got %v\nwant %s", err, want)
	}
	if len(h.Events) != 1 || h.Events[0].Reason != "FailedScheduling" || h.Events[0].Message != want {
		t.Fatalf("events %+v", h.Events)
	}
}

func TestHarnessInsufficientCPUEverywhere(t *testing.T) {
	h := NewHarness(1)
	for i := 0; i < 3; i++ {
		h.AddNode(mkNode(fmt.Sprintf("n%d", i), "2", "4Gi"))
		h.AddPod(mkPod(fmt.Sprintf("e%d", i), "1500m", "1Gi", onNode(fmt.Sprintf("n%d", i)), prio(10)))
	}
	_, err := h.Schedule(mkPod("p", "1", "1Gi"))
	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	never := v1.PreemptNever
	_, err = h.Schedule(mkPod("q", "1", "1Gi", prio(100), func(p *v1.Pod) { p.Spec.PreemptionPolicy = &never }))
	want = "0/3 nodes are available: 3 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestHarnessAntiAffinitySpreads(t *testing.T) {
	h := NewHarness(7)
	for i := 0; i < 4; i++ {
		h.AddNode(mkNode(fmt.Sprintf("n%d", i), "8", "16Gi"))
	}
	for i := 0; i < 4; i++ {
		p := mkPod(fmt.Sprintf("web-%d", i), "100m", "100Mi", podLabels("app", "web"), requiredAntiAffinity(v1.LabelHostname, sel("app", "web")))
		if _, err := h.Schedule(p); err != nil {
			t.Fatal(err)
		}
	}
	for n, c := range h.Placement() {
		if c != 1 {
			t.Fatalf("node %s got %d pods: %v", n, c, h.Bindings)
		}
	}
	_, err := h.Schedule(mkPod("web-4", "100m", "100Mi", podLabels("app", "web"), requiredAntiAffinity(v1.LabelHostname, sel("app", "web"))))
	want := "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestHarnessTopologySpread(t *testing.T) {
	h := NewHarness(3)
	for _, z := range []string{"a", "b", "c"} {
		for i := 0; i < 2; i++ {
			h.AddNode(mkNode(fmt.Sprintf("%s%d", z, i), "8", "16Gi", withLabels(zoneKey, z)))
		}
	}
	// Pre-load zone a so a naive scheduler would still pick it (it has the most free nodes otherwise equal).
	for i := 0; i < 9; i++ {
		p := mkPod(fmt.Sprintf("web-%d", i), "100m", "100Mi", podLabels("app", "web"), spread(1, zoneKey, v1.DoNotSchedule, sel("app", "web")))
		if _, err := h.Schedule(p); err != nil {
			t.Fatal(err)
		}
	}
	zones := map[string]int{}
	for _, b := range h.Bindings {
		zones[b.Node[:1]]++
	}
	if zones["a"] != 3 || zones["b"] != 3 || zones["c"] != 3 {
		t.Fatalf("zones %v", zones)
	}
}

func TestHarnessPreemptionPicksLowestVictims(t *testing.T) {
	h := NewHarness(1)
	h.AddNode(mkNode("n1", "2", "8Gi"), mkNode("n2", "2", "8Gi"), mkNode("n3", "2", "8Gi"))
	t0 := baseTime
	// n1: one pod at priority 50 (victim would have priority 50).
	h.AddPod(mkPod("n1-high", "2", "1Gi", onNode("n1"), prio(50)))
	// n2: two pods at priority 10 (both must go).
	h.AddPod(mkPod("n2-a", "1", "1Gi", onNode("n2"), prio(10)), mkPod("n2-b", "1", "1Gi", onNode("n2"), prio(10)))
	// n3: a priority-1000 pod that must stay and a priority-5 pod.
	h.AddPod(mkPod("n3-keep", "1", "1Gi", onNode("n3"), prio(1000)), mkPod("n3-low", "1", "1Gi", onNode("n3"), prio(5), startedAt(t0.Add(time.Minute))))
	pod := mkPod("preemptor", "1", "1Gi", prio(100))
	_, err := h.Schedule(pod)
	want := "0/3 nodes are available: 3 Insufficient cpu."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if len(h.Preempted) != 1 || h.Preempted[0] != "default/n3-low" {
		t.Fatalf("victims %v", h.Preempted)
	}
	if h.Snap.NominatedNode(pod.UID) != "n3" {
		t.Fatalf("nominated %q", h.Snap.NominatedNode(pod.UID))
	}
	// A lower-priority pod cannot take the reserved space.
	if _, err := h.Schedule(mkPod("sneaky", "1", "1Gi", prio(1))); err == nil {
		t.Fatalf("sneaky pod took the nominated node's space")
	}
	// The preemptor (now carrying nominatedNodeName) lands on n3.
	pod.Status.NominatedNodeName = "n3"
	if node, err := h.Schedule(pod); err != nil || node != "n3" {
		t.Fatalf("preemptor: %q %v", node, err)
	}
}

func TestHarnessPreemptionPrefersFewerVictims(t *testing.T) {
	h := NewHarness(1)
	h.AddNode(mkNode("n1", "2", "8Gi"), mkNode("n2", "2", "8Gi"))
	h.AddPod(mkPod("n1-a", "1", "1Gi", onNode("n1"), prio(10)), mkPod("n1-b", "1", "1Gi", onNode("n1"), prio(10)))
	h.AddPod(mkPod("n2-a", "2", "1Gi", onNode("n2"), prio(10)))
	// Both nodes: highest victim priority 10; sum n1 = 2 pods > n2 = 1 pod.
	if _, err := h.Schedule(mkPod("p", "2", "1Gi", prio(100))); err == nil {
		t.Fatal("expected preemption, got a binding")
	}
	if len(h.Preempted) != 1 || h.Preempted[0] != "default/n2-a" {
		t.Fatalf("victims %v", h.Preempted)
	}
}

func TestHarnessTieBreakIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for seed := uint64(1); seed < 40 && len(seen) < 3; seed++ {
		h := NewHarness(seed)
		h.AddNode(mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi"), mkNode("c", "4", "8Gi"))
		n, err := h.Schedule(mkPod("p", "1", "1Gi"))
		if err != nil {
			t.Fatal(err)
		}
		seen[n] = true
	}
	if len(seen) != 3 {
		t.Fatalf("ties not spread over all equal nodes: %v", seen)
	}
}

func TestHarnessNoNodes(t *testing.T) {
	h := NewHarness(1)
	_, err := h.Snap.Schedule(mkPod("p", "1", "1Gi"))
	if !ErrNoNodesAvailable(err) {
		t.Fatalf("got %v", err)
	}
}

// TestHarnessDefaultSpreading: replicas of one controller that declare no spreading are still
// spread over nodes (the system default constraints), even on nodes without zone labels.
func TestHarnessDefaultSpreading(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		h := NewHarness(seed)
		for i := 0; i < 3; i++ {
			h.AddNode(mkNode(fmt.Sprintf("n%d", i), "32", "64Gi"))
		}
		for i := 0; i < 3; i++ {
			p := mkPod(fmt.Sprintf("web-%d", i), "", "", podLabels("app", "web", "pod-template-hash", "abc"))
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs-1", Controller: ptr.To(true)}}
			if _, err := h.Schedule(p); err != nil {
				t.Fatal(err)
			}
		}
		if p := h.Placement(); len(p) != 3 {
			t.Fatalf("seed %d: 3 replicas on %d nodes: %v", seed, len(p), p)
		}
	}
}
