package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/scheduler"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func createNode(ctx context.Context, t *testing.T, c kubernetes.Interface, name, cpu, mem string) {
	t.Helper()
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	created.Status = v1.NodeStatus{
		Capacity:    scheduler.RL("cpu", cpu, "memory", mem, "pods", "110"),
		Allocatable: scheduler.RL("cpu", cpu, "memory", mem, "pods", "110"),
		Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update node status %s: %v", name, err)
	}
}

func createPod(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, name, cpu, mem string) *v1.Pod {
	t.Helper()
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox",
			Resources: v1.ResourceRequirements{Requests: scheduler.RL("cpu", cpu, "memory", mem)}}}}}
	out, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return out
}

func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	srv := testserver.Start(t)
	c := srv.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = "sched"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		createNode(ctx, t, c, fmt.Sprintf("node-%d", i), "4", "8Gi")
	}

	factory := informers.NewSharedInformerFactory(c, 0)
	level := slog.LevelWarn
	if os.Getenv("KIJABI_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	sched, err := scheduler.New(scheduler.Config{Client: c, Informers: factory, Seed: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	factory.Start(runCtx.Done())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done; factory.Shutdown() })

	// Six 1-CPU pods spread 2/2/2 (least allocated).
	for i := 0; i < 6; i++ {
		createPod(ctx, t, c, ns, fmt.Sprintf("web-%d", i), "1", "1Gi")
	}
	var dist map[string]int
	testutil.Poll(t, 30*time.Second, "6 pods bound", func() (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		dist = map[string]int{}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				dist[p.Spec.NodeName]++
			}
		}
		return len(pods.Items) == 6 && dist["node-1"]+dist["node-2"]+dist["node-3"] == 6, nil
	})
	if dist["node-1"] != 2 || dist["node-2"] != 2 || dist["node-3"] != 2 {
		t.Fatalf("distribution %v, want 2/2/2", dist)
	}

	// A 3-CPU pod fits nowhere (2 CPUs left per node).
	big := createPod(ctx, t, c, ns, "big", "3", "1Gi")
	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	testutil.Poll(t, 30*time.Second, "FailedScheduling event", func() (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "big" && e.Reason == "FailedScheduling" {
				// An events.k8s.io/v1 Event, as kube-scheduler's: read through core/v1 it has
				// a reporting controller and action, and no deprecated source.
				if e.Type != v1.EventTypeWarning || e.Message != want || e.ReportingController != scheduler.DefaultSchedulerName ||
					e.Action != "Scheduling" || e.EventTime.IsZero() {
					return false, fmt.Errorf("unexpected event %+v", e)
				}
				return true, nil
			}
		}
		return false, nil
	})
	testutil.Poll(t, 30*time.Second, "PodScheduled=False", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable && cond.Message == want {
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
	})

	// A node with room arrives: the pod is retried and bound there.
	createNode(ctx, t, c, "node-4", "4", "8Gi")
	testutil.Poll(t, 30*time.Second, "big bound to node-4", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, big.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Spec.NodeName == "node-4", fmt.Errorf("nodeName %q", p.Spec.NodeName)
	})
	testutil.Poll(t, 30*time.Second, "Scheduled event", func() (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "big" && e.Reason == "Scheduled" && e.Message == "Successfully assigned sched/big to node-4" {
				return true, nil
			}
		}
		return false, nil
	})
}
