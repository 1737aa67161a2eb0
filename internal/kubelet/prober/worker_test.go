package prober

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

type harness struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	period time.Duration

	mu      sync.Mutex
	status  Status
	code    int
	execErr error
	calls   int
	updates []Update
	events  []Event

	iter chan struct{}
	w    *Worker
}

func newHarness(t *testing.T, kind Kind, probe corev1.Probe, st Status, podOpts ...func(*corev1.Pod)) *harness {
	t.Helper()
	h := &harness{t: t, clk: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), iter: make(chan struct{}, 100)}
	if st.StartedAt.IsZero() {
		st.StartedAt = h.clk.Now()
	}
	h.status = st
	probe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}
	h.period = 10 * time.Second
	if probe.PeriodSeconds > 0 {
		h.period = time.Duration(probe.PeriodSeconds) * time.Second
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	for _, o := range podOpts {
		o(pod)
	}
	h.w = NewWorker(WorkerConfig{
		Kind:      kind,
		Pod:       pod,
		Container: &corev1.Container{Name: "c"},
		Probe:     &probe,
		Exec: func(context.Context, []string, time.Duration) ([]byte, []byte, int, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.calls++
			return []byte("out"), nil, h.code, h.execErr
		},
		Status: func() (Status, bool) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.status, h.status.ContainerID != "" || h.status.PodTerminal
		},
		OnUpdate: func(u Update) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.updates = append(h.updates, u)
		},
		OnEvent: func(e Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
		},
		Clock:    h.clk,
		Log:      slog.New(slog.DiscardHandler),
		iterated: func() { h.iter <- struct{}{} },
	})
	t.Cleanup(h.w.Stop)
	h.waitIteration() // the first probe runs right away
	return h
}

func (h *harness) waitIteration() {
	h.t.Helper()
	select {
	case <-h.iter:
	case <-time.After(10 * time.Second):
		h.t.Fatal("worker did not iterate")
	}
}

// step advances the clock by one period and waits for the resulting iteration.
func (h *harness) step() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.clk.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("worker has no ticker")
		}
		select {
		case <-time.After(time.Millisecond):
		}
	}
	h.clk.Step(h.period)
	h.waitIteration()
}

func (h *harness) set(f func(*harness)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

// take returns and clears the updates so far.
func (h *harness) take() []Update {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.updates
	h.updates = nil
	return u
}

func (h *harness) nCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func expectUpdates(t *testing.T, got []Update, want ...Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("updates = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("update %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func running(id string) Status {
	return Status{ContainerID: id, Running: true, Started: true, PodIP: "10.0.0.1"}
}

func TestReadinessThresholds(t *testing.T) {
	h := newHarness(t, Readiness, corev1.Probe{}, running("c1"))
	expectUpdates(t, h.take(),
		Update{Kind: Readiness, ContainerID: "c1", Result: Failure},
		Update{Kind: Readiness, ContainerID: "c1", Result: Success})
	h.set(func(h *harness) { h.code = 1 })
	h.step()
	h.step()
	expectUpdates(t, h.take()) // below failureThreshold 3
	h.step()
	expectUpdates(t, h.take(), Update{Kind: Readiness, ContainerID: "c1", Result: Failure, Message: "Readiness probe failed: out"})
	if r, id, ok := h.w.Result(); r != Failure || id != "c1" || !ok {
		t.Errorf("Result = %v %s %v", r, id, ok)
	}
	h.mu.Lock()
	if len(h.events) != 3 || h.events[0].Reason != "Unhealthy" || h.events[0].Type != corev1.EventTypeWarning || h.events[0].Message != "Readiness probe failed: out" {
		t.Errorf("events = %+v", h.events)
	}
	h.mu.Unlock()
	// Readiness keeps probing after a failure.
	h.set(func(h *harness) { h.code = 0 })
	h.step()
	expectUpdates(t, h.take(), Update{Kind: Readiness, ContainerID: "c1", Result: Success})
}

func TestSuccessThreshold(t *testing.T) {
	h := newHarness(t, Readiness, corev1.Probe{SuccessThreshold: 2, PeriodSeconds: 5}, running("c1"))
	expectUpdates(t, h.take(), Update{Kind: Readiness, ContainerID: "c1", Result: Failure})
	h.step()
	expectUpdates(t, h.take(), Update{Kind: Readiness, ContainerID: "c1", Result: Success})
}

func TestLivenessHoldAndNewContainer(t *testing.T) {
	h := newHarness(t, Liveness, corev1.Probe{FailureThreshold: 2}, running("c1"))
	expectUpdates(t, h.take(), Update{Kind: Liveness, ContainerID: "c1", Result: Success})
	h.set(func(h *harness) { h.code = 1 })
	h.step()
	h.step()
	expectUpdates(t, h.take(), Update{Kind: Liveness, ContainerID: "c1", Result: Failure, Message: "Liveness probe failed: out"})
	calls := h.nCalls()
	h.step()
	h.step()
	if h.nCalls() != calls {
		t.Errorf("probed while on hold")
	}
	// The core restarted the container.
	h.set(func(h *harness) { h.status = running("c2"); h.status.StartedAt = h.clk.Now(); h.code = 0 })
	h.step()
	expectUpdates(t, h.take(), Update{Kind: Liveness, ContainerID: "c2", Result: Success})
	if h.nCalls() != calls+1 {
		t.Errorf("calls = %d, want %d", h.nCalls(), calls+1)
	}
}

func TestStartupGating(t *testing.T) {
	st := running("c1")
	st.Started = false
	live := newHarness(t, Liveness, corev1.Probe{}, st)
	live.step()
	if live.nCalls() != 0 {
		t.Errorf("liveness probed before startup")
	}
	startup := newHarness(t, Startup, corev1.Probe{}, st)
	expectUpdates(t, startup.take(),
		Update{Kind: Startup, ContainerID: "c1", Result: Unknown},
		Update{Kind: Startup, ContainerID: "c1", Result: Success})
	startup.set(func(h *harness) { h.status.Started = true })
	startup.step()
	if startup.nCalls() != 1 {
		t.Errorf("startup probed after start: %d calls", startup.nCalls())
	}
	live.set(func(h *harness) { h.status.Started = true })
	live.step()
	if live.nCalls() != 1 {
		t.Errorf("liveness not probed after start")
	}
}

func TestInitialDelay(t *testing.T) {
	h := newHarness(t, Readiness, corev1.Probe{InitialDelaySeconds: 25}, running("c1"))
	h.step() // 10s
	h.step() // 20s
	if h.nCalls() != 0 {
		t.Fatalf("probed during initial delay")
	}
	h.step() // 30s
	if h.nCalls() != 1 {
		t.Fatalf("calls = %d after initial delay", h.nCalls())
	}
}

func TestProbeErrorIsThrownAway(t *testing.T) {
	h := newHarness(t, Liveness, corev1.Probe{FailureThreshold: 1}, running("c1"))
	h.take()
	h.set(func(h *harness) { h.execErr = errors.New("runtime unavailable") })
	h.step()
	expectUpdates(t, h.take())
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) != 1 || h.events[0].Message != "Liveness probe errored and resulted in unknown state: exec probe \"check\": runtime unavailable" {
		t.Errorf("events = %+v", h.events)
	}
	if h.calls != 4 { // 1 initial + 3 attempts
		t.Errorf("calls = %d", h.calls)
	}
}

func TestWorkerExits(t *testing.T) {
	st := running("c1")
	h := newHarness(t, Liveness, corev1.Probe{}, st)
	h.take()
	h.set(func(h *harness) { h.status.PodDeleting = true; h.code = 1 })
	h.step()
	select {
	case <-h.w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("liveness worker did not exit on deletion")
	}
	if r, _, _ := h.w.Result(); r != Success {
		t.Errorf("result on deletion = %v", r)
	}

	st.Running, st.Terminated = false, true
	// Exited for good (restartPolicy Never): Failure, and the worker ends.
	r := newHarness(t, Readiness, corev1.Probe{}, st, func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever })
	expectUpdates(t, r.take(), Update{Kind: Readiness, ContainerID: "c1", Result: Failure})
	select {
	case <-r.w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not exit for a container that will not restart")
	}
	// With restarts the worker keeps going.
	a := newHarness(t, Readiness, corev1.Probe{}, st)
	a.step()
	select {
	case <-a.w.Done():
		t.Fatal("worker exited although the container will restart")
	default:
	}

	terminal := newHarness(t, Readiness, corev1.Probe{}, Status{PodTerminal: true})
	select {
	case <-terminal.w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not exit for a terminal pod")
	}
	terminal.w.Stop() // after exit: returns
}

func TestTriggerAndStop(t *testing.T) {
	h := newHarness(t, Readiness, corev1.Probe{}, running("c1"))
	h.w.Trigger()
	h.waitIteration()
	if h.nCalls() != 2 {
		t.Errorf("calls = %d after Trigger", h.nCalls())
	}
	h.w.Stop()
	h.w.Stop()
	select {
	case <-h.w.Done():
	default:
		t.Error("Done not closed after Stop")
	}
}

func TestKind(t *testing.T) {
	c := &corev1.Container{LivenessProbe: &corev1.Probe{}, ReadinessProbe: &corev1.Probe{}}
	if Liveness.Spec(c) != c.LivenessProbe || Readiness.Spec(c) != c.ReadinessProbe || Startup.Spec(c) != nil {
		t.Error("Spec")
	}
	if Liveness.String() != "Liveness" || Readiness.InitialResult() != Failure || Liveness.InitialResult() != Success || Startup.InitialResult() != Unknown {
		t.Error("Kind")
	}
}
