package kubelet

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/kubelet/prober"
)

// Resync periods: a pod with work in flight is looked at again soon; a settled one only
// when poked, or every so often to refresh volumes and catch what a poke missed.
const (
	busyResync    = time.Second
	settledResync = 10 * time.Second
)

// syncResult collects what one sync learned that the status needs.
type syncResult struct {
	// waiting holds, per container name, why it is not running (reason, message).
	waiting map[string][2]string
	again   time.Duration
	// acted is set when the sync changed something in the runtime, which then has to
	// be read again for the status.
	acted bool
	// podIPs are the ready sandbox's addresses, once read.
	podIPs     []string
	podIPsOf   string
	podIPsRead bool
	// resizePending says why the pod's resize waits (PodResizePending: Infeasible or
	// Deferred); resizeAdmitted that this sync admitted one; resizeError why applying
	// one failed (PodResizeInProgress, Error).
	resizePending  resizeDecision
	resizeAdmitted bool
	resizeError    string
}

func (r *syncResult) wait(name, reason, msg string) {
	r.waiting[name] = [2]string{reason, msg}
}

func (r *syncResult) soon(d time.Duration) {
	if r.again == 0 || d < r.again {
		r.again = d
	}
}

// syncPod drives one pod toward its spec and writes its status. It returns when to sync
// again.
func (k *Kubelet) syncPod(ctx context.Context, w *podWorker, pod *corev1.Pod) time.Duration {
	if pod.DeletionTimestamp != nil {
		return k.syncTerminating(ctx, w, pod)
	}
	res := &syncResult{waiting: map[string][2]string{}}
	st, err := k.runtimeState(ctx, pod.UID)
	if err != nil {
		k.log.Warn("reading pod state", "pod", podDesc(pod), "err", err)
		return 5 * time.Second
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished pods keep their status; the kubelet only makes sure nothing runs.
		k.stopContainers(ctx, st, 0, nil)
		k.stopSandboxes(ctx, st)
		return 0x7fffffff * time.Second
	}
	// The pod as the kubelet runs it: its containers with the resources allocated to
	// them, which a resize admitted here has just changed.
	running := k.admitResize(pod, st, res)
	if res.resizeAdmitted && len(pod.Status.ContainerStatuses) > 0 {
		// Report the admitted resize (allocatedResources, PodResizeInProgress) before
		// applying it: a restart it requires takes the container's grace period.
		if written, _ := k.writeSyncStatus(ctx, w, pod, k.resizeAdmittedStatus(pod)); written != nil {
			pod = written
		}
	}
	k.runPod(ctx, w, running, st, res)
	if res.acted {
		if st, err = k.runtimeState(ctx, pod.UID); err != nil {
			return 5 * time.Second
		}
	}
	w.observe(st)
	status := k.podStatus(ctx, pod, st, res)
	k.resizeEvents(pod, &status, res)
	if _, err := k.writeSyncStatus(ctx, w, pod, status); err != nil && ctx.Err() == nil {
		res.soon(time.Second)
	}
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		k.stopSandboxes(ctx, st)
		k.retryPendingResizes() // its room may let a deferred resize through
		return 0x7fffffff * time.Second
	}
	// configMap, secret, downwardAPI and projected volumes follow their sources every
	// settledResync, not on every sync (a burst of syncs would read them all again).
	if hasVolumes(pod) && !w.refreshed.IsZero() && k.cfg.Clock.Since(w.refreshed) >= settledResync {
		if _, err := k.volumes.Refresh(ctx, pod); err != nil {
			k.log.Debug("refreshing volumes", "pod", podDesc(pod), "err", err)
		}
		w.refreshed = k.cfg.Clock.Now()
	}
	if res.again == 0 {
		res.again = settledResync
	}
	return res.again
}

// writeSyncStatus writes the status a sync derived and returns the pod the API now has,
// or nil when nothing was written.
func (k *Kubelet) writeSyncStatus(ctx context.Context, w *podWorker, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	written, err := k.writeStatus(ctx, pod, status)
	if err != nil && ctx.Err() == nil {
		k.log.Warn("writing pod status", "pod", podDesc(pod), "err", err)
	}
	if written != nil {
		w.mu.Lock()
		w.written = &written.Status
		if w.pod != nil && w.pod.ResourceVersion == pod.ResourceVersion {
			// Until the informer brings it, the written pod is the latest: a sync
			// before that would otherwise write the same status over a stale version.
			w.pod = written
		}
		w.mu.Unlock()
	}
	return written, err
}

// runPod makes the runtime run what the pod's spec asks for.
func (k *Kubelet) runPod(ctx context.Context, w *podWorker, pod *corev1.Pod, st *podState, res *syncResult) {
	if !pod.Spec.HostNetwork {
		select {
		case <-k.networkReady:
		default:
			for _, c := range allContainers(pod) {
				res.wait(c.Name, "ContainerCreating", "")
			}
			res.soon(busyResync)
			return
		}
	}
	if hasVolumes(pod) {
		if err := k.volumes.Setup(ctx, pod); err != nil {
			k.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
			for _, c := range allContainers(pod) {
				res.wait(c.Name, "ContainerCreating", "")
			}
			res.soon(2 * time.Second)
			return
		}
		if w.refreshed.IsZero() {
			w.refreshed = k.cfg.Clock.Now()
		}
	}
	sb := st.readySandbox()
	if sb == nil {
		if len(st.sandboxes) > 0 && !k.recreateSandbox(pod, st) {
			return
		}
		res.acted = true
		// A new sandbox means new containers: whatever ran in the old one goes.
		k.stopContainers(ctx, st, 2, nil)
		k.stopSandboxes(ctx, st)
		attempt := uint32(0)
		if len(st.sandboxes) > 0 {
			attempt = st.sandboxes[0].Metadata.Attempt + 1
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		}
		id, err := k.createSandbox(ctx, pod, attempt)
		if err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			for _, c := range allContainers(pod) {
				res.wait(c.Name, "ContainerCreating", "")
			}
			res.soon(5 * time.Second)
			return
		}
		var err2 error
		if st, err2 = k.runtimeState(ctx, pod.UID); err2 != nil {
			res.soon(time.Second)
			return
		}
		sb = st.readySandbox()
		if sb == nil || sb.Id != id {
			res.soon(time.Second)
			return
		}
	}
	sbConfig, err := k.sandboxConfig(pod, sb.Metadata.Attempt)
	if err != nil {
		res.soon(5 * time.Second)
		return
	}
	podIPs := k.sandboxIPs(ctx, sb.Id)
	res.podIPs, res.podIPsOf, res.podIPsRead = podIPs, sb.Id, true
	if pod.Spec.HostNetwork {
		podIPs = []string{k.cfg.NodeIP.String()}
	}
	if err := k.writeHosts(pod, podIPs); err != nil {
		k.log.Warn("writing hosts file", "pod", podDesc(pod), "err", err)
	}
	target := &startTarget{sandboxID: sb.Id, sandboxConfig: sbConfig, podIPs: podIPs}

	// Init containers, one at a time, each to success, before any app container.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := st.latest(c.Name)
		if isSidecar(c) {
			if !k.keepRunning(ctx, pod, c, latest, target, res, true) {
				return
			}
			continue
		}
		switch {
		case latest == nil:
			k.startContainer(ctx, pod, c, 0, target, res)
			return
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && latest.ExitCode == 0:
			continue
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED:
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return
			}
			k.restartAfterBackoff(ctx, pod, c, latest, target, res)
			return
		default:
			res.soon(busyResync)
			return
		}
	}
	for i := range pod.Spec.Containers {
		k.keepRunning(ctx, pod, &pod.Spec.Containers[i], st.latest(pod.Spec.Containers[i].Name), target, res, false)
	}
	// Ephemeral containers (kubectl debug) run once each, never restarted, in the process
	// namespace of their target container when they name one.
	for i := range pod.Spec.EphemeralContainers {
		e := &pod.Spec.EphemeralContainers[i]
		if st.latest(e.Name) != nil {
			continue
		}
		c := corev1.Container(e.EphemeralContainerCommon)
		t := *target
		if e.TargetContainerName != "" {
			tc := st.latest(e.TargetContainerName)
			if tc == nil || tc.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				res.wait(e.Name, "ContainerCreating", fmt.Sprintf("waiting for target container %q to run", e.TargetContainerName))
				res.soon(busyResync)
				continue
			}
			t.pidOf = tc.Id
		}
		k.startContainer(ctx, pod, &c, 0, &t, res)
	}
}

// keepRunning starts, restarts or kills app (or sidecar) container c as the restart
// policy and probes say. It reports whether c is running and started.
func (k *Kubelet) keepRunning(ctx context.Context, pod *corev1.Pod, c *corev1.Container, latest *runtimeapi.ContainerStatus, t *startTarget, res *syncResult, sidecar bool) bool {
	policy := pod.Spec.RestartPolicy
	if sidecar {
		policy = corev1.RestartPolicyAlways
	}
	if latest == nil {
		k.startContainer(ctx, pod, c, 0, t, res)
		return false
	}
	switch latest.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		reason := ""
		if latest.Annotations[annotationHash] != containerHash(c) {
			reason = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
		} else if msg, failed := k.probes.killReason(latest.Id); failed {
			reason = fmt.Sprintf("Container %s %s, will be restarted", c.Name, msg)
		}
		if reason != "" {
			res.acted = true
			k.recorder.Event(pod, corev1.EventTypeNormal, "Killing", reason)
			k.killContainer(ctx, pod, c, latest.Id, gracePeriod(pod))
			res.soon(0)
			return false
		}
		if k.ensureResources(ctx, pod, c, latest, res) {
			// resizePolicy RestartContainer: a new instance with the new resources,
			// at once (a restart for a resize is no crash, and knows no back-off).
			res.acted = true
			k.recorder.Event(pod, corev1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s resize requires restart", c.Name))
			k.killContainer(ctx, pod, c, latest.Id, gracePeriod(pod))
			k.startContainer(ctx, pod, c, latest.Metadata.Attempt+1, t, res)
			k.removeDead(ctx, pod, c.Name)
			return false
		}
		k.ensureProbes(pod, c, latest.Id, time.Unix(0, latest.StartedAt), t.podIPs)
		return k.probes.started(latest.Id, c)
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		k.probes.setStatus(pod, c, prober.Status{ContainerID: latest.Id, Terminated: true})
		if !shouldRestart(policy, latest.ExitCode) {
			return false
		}
		k.restartAfterBackoff(ctx, pod, c, latest, t, res)
		return false
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		// Created but never started (the kubelet died in between): start it now.
		res.acted = true
		if _, err := k.cfg.Runtime.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: latest.Id}); err != nil {
			res.wait(c.Name, "RunContainerError", err.Error())
		}
		res.soon(busyResync)
		return false
	default:
		res.soon(busyResync)
		return false
	}
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// restartAfterBackoff starts a new instance of an exited container unless it is in its
// crash-loop back-off, which it reports as CrashLoopBackOff.
func (k *Kubelet) restartAfterBackoff(ctx context.Context, pod *corev1.Pod, c *corev1.Container, latest *runtimeapi.ContainerStatus, t *startTarget, res *syncResult) {
	key := string(pod.UID) + "/" + c.Name
	finished := time.Unix(0, latest.FinishedAt)
	if k.crashBackoff.IsInBackOffSince(key, finished) {
		delay := k.crashBackoff.Get(key)
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, podDesc(pod))
		res.wait(c.Name, "CrashLoopBackOff", msg)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, podDesc(pod))
		res.soon(max(delay-k.cfg.Clock.Since(finished), 100*time.Millisecond))
		return
	}
	k.crashBackoff.Next(key, k.cfg.Clock.Now())
	k.startContainer(ctx, pod, c, latest.Metadata.Attempt+1, t, res)
	k.removeDead(ctx, pod, c.Name)
}

// removeDead keeps only the newest exited instance of a container besides the current
// one (for kubectl logs --previous), as the kubelet's container GC does.
func (k *Kubelet) removeDead(ctx context.Context, pod *corev1.Pod, name string) {
	st, err := k.runtimeState(ctx, pod.UID)
	if err != nil {
		return
	}
	l := st.containers[name]
	for i, c := range l {
		if i >= 2 && c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			_, _ = k.cfg.Runtime.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id})
		}
	}
}

// recreateSandbox reports whether a pod whose sandbox died gets a new one: not when its
// restart policy would not restart what already ran in it.
func (k *Kubelet) recreateSandbox(pod *corev1.Pod, st *podState) bool {
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return true
	}
	for _, l := range st.containers {
		if len(l) > 0 {
			return false
		}
	}
	return true
}

// syncTerminating stops a deleted pod gracefully, then removes the API object.
func (k *Kubelet) syncTerminating(ctx context.Context, w *podWorker, pod *corev1.Pod) time.Duration {
	grace := int64(0)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	if !w.terminating {
		w.terminating = true
		st, err := k.runtimeState(ctx, pod.UID)
		if err != nil {
			return time.Second
		}
		k.stopContainers(ctx, st, grace, pod)
		st, err = k.runtimeState(ctx, pod.UID)
		if err == nil {
			k.stopSandboxes(ctx, st)
			if status := k.podStatus(ctx, pod, st, &syncResult{waiting: map[string][2]string{}}); status.Phase != "" {
				_, _ = k.writeStatus(ctx, pod, status)
			}
		}
	}
	if err := k.teardown(ctx, pod.UID, 0); err != nil {
		k.log.Warn("removing pod", "pod", podDesc(pod), "err", err)
		return time.Second
	}
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Warn("deleting pod", "pod", podDesc(pod), "err", err)
		return time.Second
	}
	return 5 * time.Second
}

// stopContainers stops every running container of the pod in parallel, each with grace
// seconds (running preStop hooks first when pod is given).
func (k *Kubelet) stopContainers(ctx context.Context, st *podState, grace int64, pod *corev1.Pod) {
	var wg sync.WaitGroup
	for name, l := range st.containers {
		for _, c := range l {
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING && c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var spec *corev1.Container
				if pod != nil {
					spec = findContainer(pod, name)
				}
				if spec != nil {
					k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", name)
				}
				k.killContainer(ctx, pod, spec, c.Id, grace)
			}()
		}
	}
	wg.Wait()
}

// killContainer runs c's preStop hook (when known), then stops the container, giving it
// what is left of grace seconds before SIGKILL.
func (k *Kubelet) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64) {
	start := k.cfg.Clock.Now()
	if pod != nil && c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		if msg, err := k.runHook(hctx, pod, c, id, c.Lifecycle.PreStop); err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
		}
		cancel()
		grace -= int64(k.cfg.Clock.Since(start) / time.Second)
		if grace < 2 {
			grace = 2 // the kubelet's minimum after a preStop hook
		}
	}
	if _, err := k.cfg.Runtime.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: grace}); err != nil {
		k.log.Warn("stopping container", "id", id, "err", err)
	}
	k.probes.forgetContainer(id)
}

func (k *Kubelet) stopSandboxes(ctx context.Context, st *podState) {
	for _, sb := range st.sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if _, err := k.cfg.Runtime.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
				k.log.Warn("stopping sandbox", "id", sb.Id, "err", err)
			}
		}
	}
}

func gracePeriod(pod *corev1.Pod) int64 {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func hasVolumes(pod *corev1.Pod) bool { return len(pod.Spec.Volumes) > 0 }

func allContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, c := range allContainers(pod) {
		if c.Name == name {
			return c
		}
	}
	return nil
}
