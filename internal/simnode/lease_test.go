package simnode

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testutil"
)

// stepUntil advances the fake clock by step until cond holds.
func (e *fakeEnv) stepUntil(t *testing.T, step time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	testutil.Poll(t, 15*time.Second, what, func() (bool, error) {
		ok, err := cond()
		if !ok {
			e.clock.Step(step)
		}
		return ok, err
	})
}

func leaseRenewedAfter(e *fakeEnv, name string, after time.Time) func() (bool, error) {
	return func() (bool, error) {
		l, err := getLease(e.client, name)
		return err == nil && renewTime(l).After(after), err
	}
}

func TestLeaseRenewal(t *testing.T) {
	e := startFake(t, Config{Nodes: 2})
	e.run(t)
	for _, n := range []string{"sim-0000", "sim-0001"} {
		testutil.Poll(t, 10*time.Second, n+" lease", func() (bool, error) {
			_, err := getLease(e.client, n)
			return err == nil, err
		})
	}

	// Renewed about every 10s (+ up to 4% jitter), never much earlier.
	e.stepUntil(t, time.Second, "first renewal", leaseRenewedAfter(e, "sim-0000", testStart))
	l, _ := getLease(e.client, "sim-0000")
	if d := renewTime(l).Sub(testStart); d < 10*time.Second || d > 12*time.Second {
		t.Errorf("renewed after %v, want about 10s", d)
	}
	second := renewTime(l)
	e.stepUntil(t, time.Second, "second renewal", leaseRenewedAfter(e, "sim-0000", second))

	// The node status heartbeat is reported every minute.
	e.stepUntil(t, 5*time.Second, "status heartbeat", func() (bool, error) {
		nd, err := getNode(e.client, "sim-0000")
		if err != nil {
			return false, err
		}
		r := findNodeCondition(nd.Status.Conditions, corev1.NodeReady)
		if r.LastHeartbeatTime.Time.After(testStart) {
			if !r.LastTransitionTime.Time.Equal(testStart) {
				t.Errorf("Ready lastTransitionTime moved to %v", r.LastTransitionTime)
			}
			if d := r.LastHeartbeatTime.Sub(testStart); d < time.Minute || d > 75*time.Second {
				t.Errorf("status reported after %v, want about 1m", d)
			}
			return true, nil
		}
		return false, nil
	})

	// A paused node stops renewing while the others go on; resumed, it renews at once.
	e.c.Pause("sim-0000")
	l, _ = getLease(e.client, "sim-0000")
	paused := renewTime(l)
	other, _ := getLease(e.client, "sim-0001")
	for range 3 {
		e.stepUntil(t, 2*time.Second, "sim-0001 renewal", leaseRenewedAfter(e, "sim-0001", renewTime(other)))
		other, _ = getLease(e.client, "sim-0001")
	}
	if l, _ = getLease(e.client, "sim-0000"); !renewTime(l).Equal(paused) {
		t.Fatalf("paused node renewed its lease: %v -> %v", paused, renewTime(l))
	}
	e.c.Resume("sim-0000")
	testutil.Poll(t, 10*time.Second, "renewal after resume", leaseRenewedAfter(e, "sim-0000", paused))
}

// The node reports its status at once when someone else changed it, e.g. the node lifecycle
// controller marking it Unknown.
func TestStatusRestored(t *testing.T) {
	e := startFake(t, Config{})
	e.run(t)
	testutil.Poll(t, 10*time.Second, "Ready", func() (bool, error) {
		nd, err := getNode(e.client, "sim-0000")
		return err == nil && nodeReady(nd), err
	})
	nd, _ := getNode(e.client, "sim-0000")
	for i := range nd.Status.Conditions {
		nd.Status.Conditions[i].Status = corev1.ConditionUnknown
		nd.Status.Conditions[i].Reason = "NodeStatusUnknown"
	}
	nd.ResourceVersion = "" // the fake tracker keeps versions elsewhere
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(context.Background(), nd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 10*time.Second, "Ready again", func() (bool, error) {
		nd, err := getNode(e.client, "sim-0000")
		return err == nil && nodeReady(nd), err
	})
}
