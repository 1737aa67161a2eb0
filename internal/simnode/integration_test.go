package simnode_test

import (
	"context"
	"github.com/kijabi/kijabi/internal/simnode"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// TestAgainstAPIServer runs simulated nodes against the real API server.
func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("KIJABI_TEST_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := simnode.New(simnode.Config{Client: s.Client, Nodes: 3, RenewInterval: 300 * time.Millisecond, Workers: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	client := s.Client

	// Nodes register Ready, their leases are renewed.
	first := map[string]time.Time{}
	for _, name := range c.NodeNames() {
		testutil.Poll(t, 20*time.Second, name+" Ready with a lease", func() (bool, error) {
			nd, err := simnode.GetNode(client, name)
			if err != nil || !simnode.NodeReady(nd) {
				return false, err
			}
			l, err := simnode.GetLease(client, name)
			if err != nil {
				return false, err
			}
			if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != nd.UID {
				t.Fatalf("lease %s owners = %+v", name, l.OwnerReferences)
			}
			first[name] = simnode.RenewTime(l)
			return true, nil
		})
	}
	for _, name := range c.NodeNames() {
		testutil.Poll(t, 10*time.Second, name+" lease renewed", func() (bool, error) {
			l, err := simnode.GetLease(client, name)
			return err == nil && simnode.RenewTime(l).After(first[name]), err
		})
	}

	// A pod bound to a simulated node runs.
	pods := client.CoreV1().Pods("default")
	web := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			NodeName:   "sim-0001",
			Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}},
		},
	}
	if _, err := pods.Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running *corev1.Pod
	testutil.Poll(t, 20*time.Second, "web Running", func() (bool, error) {
		p, err := pods.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		running = p
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", nil
	})
	if running.Status.HostIP != "10.200.0.2" || len(running.Status.ContainerStatuses) != 1 || !running.Status.ContainerStatuses[0].Ready {
		t.Errorf("web status = %+v", running.Status)
	}
	if c := simnode.PodCondition(running, corev1.PodReady); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("web Ready condition = %+v", c)
	}

	// A run-to-completion pod succeeds.
	job := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Annotations: map[string]string{simnode.AnnotationRunSeconds: "1"}},
		Spec: corev1.PodSpec{
			NodeName:      "sim-0002",
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "task", Image: "busybox"}},
		},
	}
	if _, err := pods.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 20*time.Second, "once Succeeded", func() (bool, error) {
		p, err := pods.Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("once failed: %+v", p.Status)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})

	// A graceful delete of a running pod is completed by its node.
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](30)}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 20*time.Second, "web gone", func() (bool, error) {
		_, err := pods.Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// A paused node stops renewing its lease while the others go on.
	c.Pause("sim-0000")
	l, err := simnode.GetLease(client, "sim-0000")
	if err != nil {
		t.Fatal(err)
	}
	paused := simnode.RenewTime(l)
	for range 3 {
		l, err := simnode.GetLease(client, "sim-0001")
		if err != nil {
			t.Fatal(err)
		}
		before := simnode.RenewTime(l)
		testutil.Poll(t, 10*time.Second, "sim-0001 lease renewed", func() (bool, error) {
			l, err := simnode.GetLease(client, "sim-0001")
			return err == nil && simnode.RenewTime(l).After(before), err
		})
	}
	if l, err = simnode.GetLease(client, "sim-0000"); err != nil || !simnode.RenewTime(l).Equal(paused) {
		t.Fatalf("paused node's lease renewed: %v -> %v (%v)", paused, simnode.RenewTime(l), err)
	}
	c.Resume("sim-0000")
	testutil.Poll(t, 10*time.Second, "sim-0000 lease renewed after resume", func() (bool, error) {
		l, err := simnode.GetLease(client, "sim-0000")
		return err == nil && simnode.RenewTime(l).After(paused), err
	})
}
