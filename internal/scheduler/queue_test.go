package scheduler

import (
	"context"
	"runtime"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	testingclock "k8s.io/utils/clock/testing"
)

func TestQueueOrder(t *testing.T) {
	q := NewQueue(testingclock.NewFakeClock(baseTime))
	q.Add(mkPod("low-old", "", "", prio(1)))
	q.Add(mkPod("high-new", "", "", prio(10), func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(baseTime.Add(time.Hour)) }))
	q.Add(mkPod("high-old", "", "", prio(10)))
	q.Add(mkPod("low-older", "", "", prio(1), func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(baseTime.Add(-time.Hour)) }))
	var got []string
	for {
		pp, ok := q.TryPop()
		if !ok {
			break
		}
		got = append(got, pp.Pod.Name)
	}
	want := []string{"high-old", "high-new", "low-older", "low-old"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestBackoffDuration(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoffDuration(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

func TestQueueBackoffAndRequeueOnClusterEvent(t *testing.T) {
	clk := testingclock.NewFakeClock(baseTime)
	q := NewQueue(clk)
	pod := mkPod("p", "1", "1Gi")
	q.Add(pod)
	pp, ok := q.TryPop()
	if !ok {
		t.Fatal("no pod")
	}
	// Fails on resources; no event since the cycle began -> unschedulable.
	q.AddUnschedulable(pp, sets.New(PluginNodeResourcesFit))
	if a, b, u := q.Lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("lengths %d %d %d", a, b, u)
	}
	// An unrelated event (only affinity) does not move it.
	q.MoveAllToActiveOrBackoff(EventAssignedPodAdd())
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatal("moved on irrelevant event")
	}
	// A node add moves it, to backoff since 1s has not passed.
	q.MoveAllToActiveOrBackoff(EventNodeAdd())
	if a, b, u := q.Lengths(); a != 0 || b != 1 || u != 0 {
		t.Fatalf("after NodeAdd: %d %d %d", a, b, u)
	}
	clk.Step(999 * time.Millisecond)
	q.FlushBackoffCompleted()
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatal("backoff expired early")
	}
	clk.Step(time.Millisecond)
	q.FlushBackoffCompleted()
	pp, ok = q.TryPop()
	if !ok || pp.Attempts != 2 {
		t.Fatalf("pop after backoff: %v %+v", ok, pp)
	}
	// Second failure: an event arrived during the cycle -> straight to backoff (2s).
	q.MoveAllToActiveOrBackoff(EventNodeAdd())
	q.AddUnschedulable(pp, sets.New(PluginNodeResourcesFit))
	if _, b, _ := q.Lengths(); b != 1 {
		t.Fatal("expected backoff after in-flight event")
	}
	clk.Step(1999 * time.Millisecond)
	q.FlushBackoffCompleted()
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatal("2s backoff expired early")
	}
	clk.Step(time.Millisecond)
	q.FlushBackoffCompleted()
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatal("2s backoff did not expire")
	}
}

func TestQueueUnschedulableMovedDirectlyToActiveAfterBackoff(t *testing.T) {
	clk := testingclock.NewFakeClock(baseTime)
	q := NewQueue(clk)
	q.Add(mkPod("p", "1", "1Gi"))
	pp, _ := q.TryPop()
	q.AddUnschedulable(pp, sets.New(PluginTaintToleration))
	clk.Step(5 * time.Second)
	q.MoveAllToActiveOrBackoff(ClusterEvent{Name: "NodeUpdate", Plugins: sets.New(PluginTaintToleration)})
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatal("expected active")
	}
}

func TestQueueLeftoverFlushAndTicker(t *testing.T) {
	clk := testingclock.NewFakeClock(baseTime)
	q := NewQueue(clk)
	q.Add(mkPod("p", "1", "1Gi"))
	pp, _ := q.TryPop()
	q.AddUnschedulable(pp, sets.New(PluginNodeResourcesFit))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	// Drive the 30s ticker until 5 minutes have passed; the pod must be flushed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, b, _ := q.Lengths(); a+b == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pod never flushed from unschedulable")
		}
		if clk.HasWaiters() {
			clk.Step(30 * time.Second)
		}
		runtime.Gosched() // let the Run goroutine react; the loop polls with a deadline
	}
}

func TestQueueUpdateAndDelete(t *testing.T) {
	clk := testingclock.NewFakeClock(baseTime)
	q := NewQueue(clk)
	pod := mkPod("p", "1", "1Gi")
	q.Add(pod)
	pp, _ := q.TryPop()
	q.AddUnschedulable(pp, sets.New(PluginNodeAffinity))
	clk.Step(time.Minute)
	// A status-only update does not move it; a spec change does.
	st := pod.DeepCopy()
	st.Status.Message = "x"
	q.Update(st)
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatal("status update moved pod")
	}
	sp := pod.DeepCopy()
	sp.Spec.NodeSelector = map[string]string{"a": "b"}
	q.Update(sp)
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatal("spec update did not activate pod")
	}
	q.Delete(pod.UID)
	if a, b, u := q.Lengths(); a+b+u != 0 || q.Has(pod.UID) {
		t.Fatal("delete left the pod")
	}
	// Pop blocks until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := q.Pop(ctx); ok {
		t.Fatal("pop on cancelled ctx")
	}
}
