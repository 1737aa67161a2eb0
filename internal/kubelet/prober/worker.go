package prober

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Kind is the kind of a probe.
type Kind int

const (
	Liveness Kind = iota
	Readiness
	Startup
)

func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	}
	return "Unknown"
}

// InitialResult is the verdict a new container starts with: Failure for readiness (no
// traffic before the first success), Success for liveness (no kill before a failure),
// Unknown for startup (not started).
func (k Kind) InitialResult() Result {
	switch k {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	}
	return Unknown
}

// Spec returns c's probe of kind k (nil when it has none).
func (k Kind) Spec(c *corev1.Container) *corev1.Probe {
	switch k {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	case Startup:
		return c.StartupProbe
	}
	return nil
}

// Status is what a Worker needs to know of its container and pod each time it runs.
type Status struct {
	// ContainerID is the current container instance; empty when there is none yet.
	ContainerID string
	// Running, with StartedAt, is the container's running state.
	Running   bool
	StartedAt time.Time
	// Terminated: the container has exited.
	Terminated bool
	// Started: the startup probe has succeeded or the container has none. Liveness and
	// readiness probes run only once started; startup probes only before.
	Started bool
	// PodIP is the pod's primary IP, the default probe host.
	PodIP string
	// PodTerminal: the pod is Succeeded or Failed; the worker exits.
	PodTerminal bool
	// PodDeleting: the pod has a deletionTimestamp; liveness and startup workers
	// report Success and exit so the pod shuts down quietly.
	PodDeleting bool
}

// Update is a change of verdict for a container instance.
type Update struct {
	Kind        Kind
	ContainerID string
	Result      Result // Success, Failure or (startup, initially) Unknown
	// Message is the event text of the probe that caused the change (e.g. "Liveness
	// probe failed: HTTP probe failed with statuscode: 500"), empty when no probe did.
	Message string
}

// Event is an event the kubelet records for a probe run.
type Event struct {
	Kind        Kind
	ContainerID string
	Type        string // corev1.EventTypeWarning
	Reason      string // "Unhealthy" or "ProbeWarning"
	Message     string
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Kind      Kind
	Pod       *corev1.Pod
	Container *corev1.Container
	// Probe defaults to Kind.Spec(Container); the API defaults are applied to unset
	// fields (period 10s, timeout 1s, success 1, failure 3).
	Probe *corev1.Probe
	// Exec runs exec probes in the container (CRI ExecSync).
	Exec ExecFunc
	// Status returns the container's current state; ok false when the pod or the
	// container is not known yet (the worker waits). Called on the worker goroutine.
	Status func() (st Status, ok bool)
	// OnUpdate receives verdict changes, from the worker goroutine; it must not block
	// for long nor call Stop.
	OnUpdate func(Update)
	// OnEvent, optional, receives an event for every failed, errored or warning probe.
	OnEvent func(Event)
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Log defaults to slog.Default().
	Log *slog.Logger

	// iterated, for tests, is called after each iteration of the loop.
	iterated func()
}

// Worker probes one container periodically on its own goroutine.
type Worker struct {
	cfg     WorkerConfig
	probe   corev1.Probe
	clock   clock.WithTicker
	log     *slog.Logger
	trigger chan struct{}
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
	ctx     context.Context
	once    sync.Once

	mu          sync.Mutex
	containerID string
	result      Result
	set         bool

	// Owned by the worker goroutine.
	lastResult Result
	resultRun  int
	onHold     bool
}

// NewWorker starts a worker. It probes first right away (subject to the delays above),
// then every periodSeconds.
func NewWorker(cfg WorkerConfig) *Worker {
	p := cfg.Probe
	if p == nil && cfg.Container != nil {
		p = cfg.Kind.Spec(cfg.Container)
	}
	if p == nil {
		p = &corev1.Probe{}
	}
	w := &Worker{
		cfg:     cfg,
		probe:   *withDefaults(p),
		clock:   cfg.Clock,
		log:     cfg.Log,
		trigger: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if cfg.Pod != nil {
		w.log = w.log.With("pod", cfg.Pod.Namespace+"/"+cfg.Pod.Name)
	}
	if cfg.Container != nil {
		w.log = w.log.With("container", cfg.Container.Name)
	}
	w.log = w.log.With("probe", cfg.Kind.String())
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

func withDefaults(p *corev1.Probe) *corev1.Probe {
	p = p.DeepCopy()
	if p.PeriodSeconds <= 0 {
		p.PeriodSeconds = 10
	}
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 1
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = 3
	}
	return p
}

// Stop ends the worker, cancelling a probe in flight, and waits for its goroutine.
// It may be called more than once, and after the worker exited by itself.
func (w *Worker) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.cancel()
	})
	<-w.done
}

// Done is closed when the worker's goroutine has exited: after Stop, or by itself once
// the pod is terminal, the container exited for good (restartPolicy Never), or the pod
// is being deleted (liveness and startup).
func (w *Worker) Done() <-chan struct{} { return w.done }

// Trigger asks for a probe now instead of at the next period (non-blocking); the
// kubelet does it for readiness when the container has just started.
func (w *Worker) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// Result returns the current verdict and the container instance it is for; ok is false
// before the worker has seen a container.
func (w *Worker) Result() (res Result, containerID string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result, w.containerID, w.set
}

func (w *Worker) run() {
	defer close(w.done)
	defer w.cancel()
	ticker := w.clock.NewTicker(time.Duration(w.probe.PeriodSeconds) * time.Second)
	defer ticker.Stop()
	for {
		more := w.doProbe()
		if w.cfg.iterated != nil {
			w.cfg.iterated()
		}
		if !more {
			return
		}
		select {
		case <-w.stop:
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

// setResult records a verdict and reports it when it changed.
func (w *Worker) setResult(id string, r Result, msg string) {
	w.mu.Lock()
	changed := !w.set || w.containerID != id || w.result != r
	w.containerID, w.result, w.set = id, r, true
	w.mu.Unlock()
	if changed && w.cfg.OnUpdate != nil {
		w.cfg.OnUpdate(Update{Kind: w.cfg.Kind, ContainerID: id, Result: r, Message: msg})
	}
}

// doProbe is one iteration of the kubelet's worker; false ends the worker.
func (w *Worker) doProbe() bool {
	select {
	case <-w.stop:
		return false
	default:
	}
	if w.cfg.Status == nil {
		return true
	}
	st, ok := w.cfg.Status()
	if !ok {
		return true
	}
	if st.PodTerminal {
		w.log.Debug("pod is terminated, exiting probe worker")
		return false
	}
	if st.ContainerID == "" {
		return true // not created yet, or deleted
	}
	w.mu.Lock()
	current := w.containerID
	w.mu.Unlock()
	if current != st.ContainerID {
		w.lastResult, w.resultRun = Unknown, 0
		w.setResult(st.ContainerID, w.cfg.Kind.InitialResult(), "")
		w.onHold = false // a new container: resume probing
	}
	if w.onHold {
		return true
	}
	if !st.Running {
		w.setResult(st.ContainerID, Failure, "")
		// Stop if the container will not be restarted.
		restartNever := w.cfg.Pod != nil && w.cfg.Pod.Spec.RestartPolicy == corev1.RestartPolicyNever
		return !st.Terminated || !restartNever
	}
	if st.PodDeleting && (w.cfg.Kind == Liveness || w.cfg.Kind == Startup) {
		w.setResult(st.ContainerID, Success, "")
		return false
	}
	if w.clock.Since(st.StartedAt) < time.Duration(w.probe.InitialDelaySeconds)*time.Second {
		return true
	}
	if st.Started {
		if w.cfg.Kind == Startup {
			return true
		}
	} else if w.cfg.Kind != Startup {
		return true
	}

	res, out, err := Do(w.ctx, &w.probe, Target{PodIP: st.PodIP, Pod: w.cfg.Pod, Container: w.cfg.Container, Exec: w.cfg.Exec})
	if w.ctx.Err() != nil {
		return false // stopped mid-probe
	}
	reason, msg, hasEvent := EventMessage(w.cfg.Kind, res, out, err)
	if hasEvent && w.cfg.OnEvent != nil {
		w.cfg.OnEvent(Event{Kind: w.cfg.Kind, ContainerID: st.ContainerID, Type: corev1.EventTypeWarning, Reason: reason, Message: msg})
	}
	if err != nil {
		w.log.Info("probe errored", "err", err)
		return true // thrown away, as the kubelet does
	}
	verdict := Failure
	if res == Success || res == Warning {
		verdict = Success
	}
	if hasEvent && verdict == Failure {
		w.log.Info("probe failed", "output", out)
	}
	if w.lastResult == verdict {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = verdict, 1
	}
	if (verdict == Failure && w.resultRun < int(w.probe.FailureThreshold)) ||
		(verdict == Success && w.resultRun < int(w.probe.SuccessThreshold)) {
		return true
	}
	if verdict == Success {
		msg = ""
	}
	w.setResult(st.ContainerID, verdict, msg)
	if (w.cfg.Kind == Liveness || w.cfg.Kind == Startup) && verdict == Failure {
		// The container will be restarted: hold until a new container ID shows up.
		w.onHold = true
		w.resultRun = 0
	}
	return true
}
