package kubelet

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/kubelet/prober"
)

// probeResults runs the probe workers of this node's containers and keeps their latest
// verdicts per container instance.
type probeResults struct {
	mu      sync.Mutex
	workers map[probeKey]*prober.Worker
	// status is what each worker is told about its container, refreshed by every sync.
	status  map[containerKey]prober.Status
	results map[string]map[prober.Kind]prober.Update
}

type containerKey struct {
	uid  types.UID
	name string
}

type probeKey struct {
	containerKey
	kind prober.Kind
}

func newProbeResults() *probeResults {
	return &probeResults{
		workers: map[probeKey]*prober.Worker{},
		status:  map[containerKey]prober.Status{},
		results: map[string]map[prober.Kind]prober.Update{},
	}
}

func (p *probeResults) result(id string, kind prober.Kind) (prober.Update, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.results[id][kind]
	return u, ok
}

// started reports whether c's startup probe (if any) has succeeded for instance id.
func (p *probeResults) started(id string, c *corev1.Container) bool {
	if c.StartupProbe == nil {
		return true
	}
	u, ok := p.result(id, prober.Startup)
	return ok && u.Result == prober.Success
}

// ready reports whether c's readiness probe (if any) passes for instance id.
func (p *probeResults) ready(id string, c *corev1.Container) bool {
	if c.ReadinessProbe == nil {
		return true
	}
	u, ok := p.result(id, prober.Readiness)
	return ok && u.Result == prober.Success
}

// killReason says why a failed liveness or startup probe wants instance id killed.
func (p *probeResults) killReason(id string) (string, bool) {
	if u, ok := p.result(id, prober.Liveness); ok && u.Result == prober.Failure {
		return "failed liveness probe", true
	}
	if u, ok := p.result(id, prober.Startup); ok && u.Result == prober.Failure {
		return "failed startup probe", true
	}
	return "", false
}

func (p *probeResults) forgetContainer(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.results, id)
}

// forgetPod stops the pod's probe workers.
func (p *probeResults) forgetPod(uid types.UID) {
	p.mu.Lock()
	var stop []*prober.Worker
	for key, w := range p.workers {
		if key.uid == uid {
			stop = append(stop, w)
			delete(p.workers, key)
		}
	}
	for key := range p.status {
		if key.uid == uid {
			delete(p.status, key)
		}
	}
	p.mu.Unlock()
	for _, w := range stop {
		w.Stop()
	}
}

// stopAll stops every probe worker (when the kubelet stops).
func (p *probeResults) stopAll() {
	p.mu.Lock()
	workers := p.workers
	p.workers = map[probeKey]*prober.Worker{}
	p.mu.Unlock()
	for _, w := range workers {
		w.Stop()
	}
}

// setStatus tells c's probe workers about its current instance.
func (p *probeResults) setStatus(pod *corev1.Pod, c *corev1.Container, s prober.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status[containerKey{pod.UID, c.Name}] = s
}

// ensureProbes starts the probe workers of running container instance id, and tells
// them about it.
func (k *Kubelet) ensureProbes(pod *corev1.Pod, c *corev1.Container, id string, startedAt time.Time, podIPs []string) {
	if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
		return
	}
	s := prober.Status{ContainerID: id, Running: true, StartedAt: startedAt, Started: k.probes.started(id, c), PodDeleting: pod.DeletionTimestamp != nil}
	if len(podIPs) > 0 {
		s.PodIP = podIPs[0]
	}
	k.probes.setStatus(pod, c, s)
	for _, kind := range []prober.Kind{prober.Startup, prober.Liveness, prober.Readiness} {
		if kind.Spec(c) == nil {
			continue
		}
		key := probeKey{containerKey{pod.UID, c.Name}, kind}
		k.probes.mu.Lock()
		_, running := k.probes.workers[key]
		k.probes.mu.Unlock()
		if running {
			continue
		}
		ck := key.containerKey
		w := prober.NewWorker(prober.WorkerConfig{
			Kind: kind, Pod: pod, Container: c,
			Exec: k.execFunc(ck),
			Status: func() (prober.Status, bool) {
				k.probes.mu.Lock()
				defer k.probes.mu.Unlock()
				st, ok := k.probes.status[ck]
				return st, ok
			},
			OnUpdate: func(u prober.Update) { k.probeUpdate(pod, c, u) },
			OnEvent: func(e prober.Event) {
				k.recorder.Event(pod, e.Type, e.Reason, e.Message)
			},
			Clock: k.cfg.Clock,
			Log:   k.log,
		})
		k.probes.mu.Lock()
		k.probes.workers[key] = w
		k.probes.mu.Unlock()
	}
}

// probeUpdate records a verdict change and wakes the pod's worker to act on it.
func (k *Kubelet) probeUpdate(pod *corev1.Pod, c *corev1.Container, u prober.Update) {
	k.probes.mu.Lock()
	if k.probes.results[u.ContainerID] == nil {
		k.probes.results[u.ContainerID] = map[prober.Kind]prober.Update{}
	}
	k.probes.results[u.ContainerID][u.Kind] = u
	ck := containerKey{pod.UID, c.Name}
	if u.Kind == prober.Startup && u.Result == prober.Success {
		if s, ok := k.probes.status[ck]; ok && s.ContainerID == u.ContainerID {
			s.Started = true
			k.probes.status[ck] = s
		}
	}
	readiness := k.probes.workers[probeKey{ck, prober.Readiness}]
	k.probes.mu.Unlock()
	if u.Kind == prober.Startup && u.Result == prober.Success && readiness != nil {
		readiness.Trigger()
	}
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

// execFunc runs exec probes in the current instance of a container through CRI.
func (k *Kubelet) execFunc(ck containerKey) prober.ExecFunc {
	return func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
		k.probes.mu.Lock()
		id := k.probes.status[ck].ContainerID
		k.probes.mu.Unlock()
		if id == "" {
			return nil, nil, 0, errors.New("container is not running")
		}
		secs := int64(timeout / time.Second)
		if secs < 1 {
			secs = 1
		}
		resp, err := k.cfg.Runtime.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: secs})
		if err != nil {
			return nil, nil, 0, err
		}
		return resp.Stdout, resp.Stderr, int(resp.ExitCode), nil
	}
}
