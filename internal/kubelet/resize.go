package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// In-place resizing (pods/resize), as the kubelet of Kubernetes v1.37 does it.
//
// Three sets of resources meet here. The spec holds what the pod asks for. The
// allocation holds what the kubelet admitted for each container (status
// allocatedResources): what a container is started, or restarted, with. The actuated
// resources are what each running container instance was last given — by
// CreateContainer (kept in the container's io.kijabi.container.resources annotation) or
// by UpdateContainerResources (kept in the pod's state file) — and are reported in
// status resources.
//
// When the spec differs from the allocation, the kubelet admits the resize as a whole
// (every container at once) or leaves it pending with condition PodResizePending:
// reason Infeasible when the pod could never fit the node's allocatable, Deferred when
// it does not fit next to what the node's other pods have allocated now. A deferred
// resize is looked at again at every sync of its pod (every 10 s once settled) and as
// soon as another pod leaves the node, finishes, or shrinks. An admitted resize becomes
// the allocation; then each running container whose actuated resources differ is
// resized in place (NotRequired, the default resizePolicy), or stopped and started
// again with the new resources when the resizePolicy of a changed resource is
// RestartContainer. While the allocation is not yet actuated the pod carries
// PodResizeInProgress (reason Error, with why, when applying failed: a memory limit is
// not lowered below what the container uses).
//
// The allocation and the resources applied by UpdateContainerResources are written to
// DATA-DIR/pods/UID/resources.json, so a restarted kubelet reports and decides as the
// one before it did.

// annotationResources holds the resources a container was created with (JSON).
const annotationResources = "io.kijabi.container.resources"

// resourcesFile is the pod's resource state, in its directory.
const resourcesFile = "resources.json"

// podResources is what the kubelet keeps of one pod's resources.
type podResources struct {
	// Allocated holds, by container name, the resources admitted for it.
	Allocated map[string]corev1.ResourceRequirements `json:"allocated"`
	// Actuated holds, by container name, the resources UpdateContainerResources last
	// applied to one instance of it (an instance not named here runs with what it was
	// created with).
	Actuated map[string]actuatedResources `json:"actuated,omitempty"`
}

type actuatedResources struct {
	ContainerID string                      `json:"containerID"`
	Resources   corev1.ResourceRequirements `json:"resources"`
}

// allocations holds the pods' resource state, read from their state files when first
// needed and written back at every change.
type allocations struct {
	mu   sync.Mutex
	root string // where the pods' directories are
	pods map[types.UID]*podResources
}

func (a *allocations) path(uid types.UID) string {
	return filepath.Join(podDir(a.root, uid), resourcesFile)
}

// stateLocked is the pod's state, read from its file the first time; nil when it has none.
func (a *allocations) stateLocked(uid types.UID) *podResources {
	if a.pods == nil {
		a.pods = map[types.UID]*podResources{}
	}
	if s, ok := a.pods[uid]; ok {
		return s
	}
	var s *podResources
	if b, err := os.ReadFile(a.path(uid)); err == nil {
		s = &podResources{}
		if json.Unmarshal(b, s) != nil || s.Allocated == nil {
			s = nil
		}
	}
	a.pods[uid] = s
	return s
}

func (a *allocations) saveLocked(uid types.UID, s *podResources) error {
	a.pods[uid] = s
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	p := a.path(uid)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// allocated returns the pod's allocation by container name, and false when there is none yet.
func (a *allocations) allocated(uid types.UID) (map[string]corev1.ResourceRequirements, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stateLocked(uid)
	if s == nil {
		return nil, false
	}
	return s.Allocated, true
}

// setAllocated records the pod's allocation (the map is kept: callers do not change it).
func (a *allocations) setAllocated(uid types.UID, alloc map[string]corev1.ResourceRequirements) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &podResources{Allocated: alloc}
	if old := a.stateLocked(uid); old != nil {
		s.Actuated = old.Actuated
	}
	return a.saveLocked(uid, s)
}

// actuated returns what UpdateContainerResources last applied to container instance id
// (named name), and false when it never resized it.
func (a *allocations) actuated(uid types.UID, name, id string) (corev1.ResourceRequirements, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.stateLocked(uid); s != nil {
		if r, ok := s.Actuated[name]; ok && r.ContainerID == id {
			return r.Resources, true
		}
	}
	return corev1.ResourceRequirements{}, false
}

func (a *allocations) setActuated(uid types.UID, name, id string, rr corev1.ResourceRequirements) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.stateLocked(uid)
	s := &podResources{Allocated: map[string]corev1.ResourceRequirements{}, Actuated: map[string]actuatedResources{}}
	if old != nil {
		s.Allocated = old.Allocated
		for n, r := range old.Actuated {
			s.Actuated[n] = r
		}
	}
	s.Actuated[name] = actuatedResources{ContainerID: id, Resources: rr}
	return a.saveLocked(uid, s)
}

// forget drops a torn-down pod (its directory, with the file, is removed by the teardown).
func (a *allocations) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, uid)
}

// resizable is the part of a container's resources that resizing changes.
func resizable(rr corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := rr.Requests[name]; ok {
			if out.Requests == nil {
				out.Requests = corev1.ResourceList{}
			}
			out.Requests[name] = q
		}
		if q, ok := rr.Limits[name]; ok {
			if out.Limits == nil {
				out.Limits = corev1.ResourceList{}
			}
			out.Limits[name] = q
		}
	}
	return out
}

func resourcesAnnotation(c *corev1.Container) string {
	b, _ := json.Marshal(resizable(c.Resources))
	return string(b)
}

func sameList(x, y corev1.ResourceList) bool {
	if len(x) != len(y) {
		return false
	}
	for n, q := range x {
		if o, ok := y[n]; !ok || o.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

func sameResources(a, b corev1.ResourceRequirements) bool {
	return sameList(a.Requests, b.Requests) && sameList(a.Limits, b.Limits)
}

// isResizableContainer: app containers and sidecars; regular init containers run once
// and are never resized.
func isResizableContainer(c *corev1.Container, isInit bool) bool {
	return !isInit || isSidecar(c)
}

// specAllocation is what the pod's spec asks each container to have.
func specAllocation(pod *corev1.Pod) map[string]corev1.ResourceRequirements {
	out := map[string]corev1.ResourceRequirements{}
	for _, c := range allContainers(pod) {
		out[c.Name] = *c.Resources.DeepCopy()
	}
	return out
}

// sameAllocation reports whether two allocations give every container the same cpu and
// memory.
func sameAllocation(a, b map[string]corev1.ResourceRequirements) bool {
	if len(a) != len(b) {
		return false
	}
	for name, ra := range a {
		rb, ok := b[name]
		if !ok || !sameResources(resizable(ra), resizable(rb)) {
			return false
		}
	}
	return true
}

// withAllocation returns pod with its containers' resources as allocated (pod itself
// when they are already).
func withAllocation(pod *corev1.Pod, alloc map[string]corev1.ResourceRequirements) *corev1.Pod {
	differs := func(c *corev1.Container) bool {
		rr, ok := alloc[c.Name]
		return ok && !sameResources(resizable(rr), resizable(c.Resources))
	}
	changed := false
	for _, c := range allContainers(pod) {
		changed = changed || differs(c)
	}
	if !changed {
		return pod
	}
	out := pod.DeepCopy()
	for _, c := range allContainers(out) {
		if rr, ok := alloc[c.Name]; ok {
			c.Resources = *rr.DeepCopy()
		}
	}
	return out
}

// podRequests is the pod's total cpu (milli) and memory (bytes) requests, as the
// kubelet's admission counts them.
func podRequests(pod *corev1.Pod) (cpu, mem int64) {
	r := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	return r.Cpu().MilliValue(), r.Memory().Value()
}

// resizeDecision is what becomes of a pod's resize.
type resizeDecision struct {
	// Reason is "" when the resize is admitted, else PodReasonInfeasible or
	// PodReasonDeferred (the PodResizePending condition's reason).
	Reason string
	// Detail is the admission's own reason (OutOfcpu, OutOfmemory), named by the event.
	Detail  string
	Message string
}

// nodeResources are amounts of cpu (milli) and memory (bytes).
type nodeResources struct{ cpu, mem int64 }

// decideResize says whether a pod may go from requesting have to want, on a node with
// allocatable, where the other pods use used — in upstream's words. A pod that can
// never fit the node is Infeasible (memory looked at first); a resize that asks for
// more of nothing is always admitted; one that does not fit next to the others is
// Deferred (cpu looked at first, as the scheduler's fit filter).
func decideResize(want, have, used, allocatable nodeResources) resizeDecision {
	if want.cpu > allocatable.cpu || want.mem > allocatable.mem {
		msg := fmt.Sprintf("cpu, requested: %d, capacity: %d", want.cpu, allocatable.cpu)
		if want.mem > allocatable.mem {
			msg = fmt.Sprintf("memory, requested: %d, capacity: %d", want.mem, allocatable.mem)
		}
		return resizeDecision{Reason: corev1.PodReasonInfeasible, Detail: corev1.PodReasonInfeasible,
			Message: "Node didn't have enough capacity: " + msg}
	}
	if want.cpu <= have.cpu && want.mem <= have.mem {
		return resizeDecision{}
	}
	for _, r := range []struct {
		name                    corev1.ResourceName
		want, used, allocatable int64
	}{{corev1.ResourceCPU, want.cpu, used.cpu, allocatable.cpu}, {corev1.ResourceMemory, want.mem, used.mem, allocatable.mem}} {
		if r.want > 0 && r.want > r.allocatable-r.used {
			return resizeDecision{Reason: corev1.PodReasonDeferred, Detail: "OutOf" + string(r.name),
				Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", r.name, r.want, r.used, r.allocatable)}
		}
	}
	return resizeDecision{}
}

// resizeAction is what a running container needs for its actuated resources to become
// the allocated ones.
type resizeAction int

const (
	resizeNone resizeAction = iota
	// resizeRecord: only the memory request changed, which no cgroup holds.
	resizeRecord
	resizeInPlace
	resizeRestart
)

// containerResizeAction compares what container c (holding its allocated resources and
// its resizePolicy) runs with to what it is allocated: a change of the cpu request or
// limit, or of the memory limit, is applied in place unless that resource's
// resizePolicy is RestartContainer.
func containerResizeAction(c *corev1.Container, actuated corev1.ResourceRequirements) resizeAction {
	want := resizable(c.Resources)
	have := resizable(actuated)
	if sameResources(want, have) {
		return resizeNone
	}
	changed := map[corev1.ResourceName]bool{
		corev1.ResourceCPU: !sameQuantity(want.Requests, have.Requests, corev1.ResourceCPU) ||
			!sameQuantity(want.Limits, have.Limits, corev1.ResourceCPU),
		corev1.ResourceMemory: !sameQuantity(want.Limits, have.Limits, corev1.ResourceMemory),
	}
	if !changed[corev1.ResourceCPU] && !changed[corev1.ResourceMemory] {
		return resizeRecord
	}
	for _, p := range c.ResizePolicy {
		if changed[p.ResourceName] && p.RestartPolicy == corev1.RestartContainer {
			return resizeRestart
		}
	}
	return resizeInPlace
}

func sameQuantity(a, b corev1.ResourceList, name corev1.ResourceName) bool {
	qa, oka := a[name]
	qb, okb := b[name]
	return oka == okb && qa.Cmp(qb) == 0
}

// memoryLimitDecrease returns the new memory limit (bytes) when a resize in place lowers
// it, else 0.
func memoryLimitDecrease(c *corev1.Container, actuated corev1.ResourceRequirements) int64 {
	want, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return 0
	}
	have, ok := actuated.Limits[corev1.ResourceMemory]
	if ok && want.Cmp(have) >= 0 {
		return 0
	}
	return want.Value()
}

// memoryDecreaseError says why a container using usage bytes may not have its memory
// limit lowered to limit bytes, or "".
func memoryDecreaseError(name string, limit int64, usage uint64) string {
	if limit <= 0 || usage < uint64(limit) {
		return ""
	}
	return fmt.Sprintf("attempting to set container %q memory limit (%d) below current usage (%d)", name, limit, usage)
}

// actuatedOf is what container instance s (of container name, in pod uid) runs with,
// and false when unknown.
func (k *Kubelet) actuatedOf(uid types.UID, name string, s *runtimeapi.ContainerStatus) (corev1.ResourceRequirements, bool) {
	if rr, ok := k.allocs.actuated(uid, name, s.Id); ok {
		return rr, true
	}
	var rr corev1.ResourceRequirements
	if a, ok := s.Annotations[annotationResources]; ok && json.Unmarshal([]byte(a), &rr) == nil {
		return rr, true
	}
	return rr, false
}

// initialAllocation is the allocation of a pod the kubelet has no state of: the spec,
// except that a container already running (a kubelet from before this state file) keeps
// what it runs with, and a resize beyond it is decided anew.
func (k *Kubelet) initialAllocation(pod *corev1.Pod, st *podState) map[string]corev1.ResourceRequirements {
	alloc := specAllocation(pod)
	for name, rr := range alloc {
		latest := st.latest(name)
		if latest == nil || latest.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		have, ok := k.actuatedOf(pod.UID, name, latest)
		if !ok {
			continue
		}
		for _, list := range []struct{ dst, src corev1.ResourceList }{{rr.Requests, have.Requests}, {rr.Limits, have.Limits}} {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := list.src[res]; ok && list.dst != nil {
					list.dst[res] = q
				}
			}
		}
		alloc[name] = rr
	}
	return alloc
}

// allocatedOf is what container name of pod uid is allocated, and false when the
// kubelet has not allocated it (an ephemeral container, or a pod not yet synced).
func (k *Kubelet) allocatedOf(uid types.UID, name string) (corev1.ResourceRequirements, bool) {
	alloc, ok := k.allocs.allocated(uid)
	if !ok {
		return corev1.ResourceRequirements{}, false
	}
	rr, ok := alloc[name]
	return rr, ok
}

// usedByOthers sums what the node's other active pods are allocated.
func (k *Kubelet) usedByOthers(uid types.UID) nodeResources {
	pods, _ := k.Pods()
	var used nodeResources
	for _, p := range pods {
		if p.UID == uid || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if alloc, ok := k.allocs.allocated(p.UID); ok {
			p = withAllocation(p, alloc)
		}
		cpu, mem := podRequests(p)
		used.cpu += cpu
		used.mem += mem
	}
	return used
}

func (k *Kubelet) allocatable() nodeResources {
	if k.machine == nil {
		return nodeResources{}
	}
	cpu, mem := k.machine.allocatable[corev1.ResourceCPU], k.machine.allocatable[corev1.ResourceMemory]
	return nodeResources{cpu: cpu.MilliValue(), mem: mem.Value()}
}

// admitResize decides the pod's pending resize, if it has one, and returns the pod as
// the kubelet runs it: with its containers' resources as allocated.
func (k *Kubelet) admitResize(pod *corev1.Pod, st *podState, res *syncResult) *corev1.Pod {
	k.allocMu.Lock()
	defer k.allocMu.Unlock()
	alloc, ok := k.allocs.allocated(pod.UID)
	if !ok {
		alloc = k.initialAllocation(pod, st)
		if err := k.allocs.setAllocated(pod.UID, alloc); err != nil {
			k.log.Warn("recording the pod's allocation", "pod", podDesc(pod), "err", err)
		}
	}
	desired := specAllocation(pod)
	if sameAllocation(alloc, desired) {
		delete(k.pendingResizes, pod.UID)
		return withAllocation(pod, alloc)
	}
	allocated := withAllocation(pod, alloc)
	var want, have nodeResources
	want.cpu, want.mem = podRequests(pod)
	have.cpu, have.mem = podRequests(allocated)
	d := decideResize(want, have, k.usedByOthers(pod.UID), k.allocatable())
	if d.Reason != "" {
		res.resizePending = d
		if k.pendingResizes == nil {
			k.pendingResizes = map[types.UID]bool{}
		}
		k.pendingResizes[pod.UID] = true
		if old := findPodCondition(pod.Status.Conditions, corev1.PodResizePending); old == nil || old.Reason != d.Reason || old.Message != d.Message {
			event := "ResizeDeferred"
			if d.Reason == corev1.PodReasonInfeasible {
				event = "ResizeInfeasible"
			}
			k.recorder.Event(pod, corev1.EventTypeWarning, event, resizeMessage(pod, "Pod resize "+d.Detail, d.Message))
		}
		return allocated
	}
	if err := k.allocs.setAllocated(pod.UID, desired); err != nil {
		k.log.Warn("recording the pod's allocation", "pod", podDesc(pod), "err", err)
	}
	delete(k.pendingResizes, pod.UID)
	res.resizeAdmitted = true
	k.recorder.Event(pod, corev1.EventTypeNormal, "ResizeStarted", resizeMessage(pod, "Pod resize started", ""))
	if want.cpu < have.cpu || want.mem < have.mem {
		k.retryPendingResizesLocked(pod.UID)
	}
	return pod
}

// resizeAdmittedStatus is the pod's last status, with what its containers are now
// allocated and the resize in progress rather than pending.
func (k *Kubelet) resizeAdmittedStatus(pod *corev1.Pod) corev1.PodStatus {
	status := *pod.Status.DeepCopy()
	for _, l := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for i := range l {
			if rr, ok := k.allocatedOf(pod.UID, l[i].Name); ok {
				l[i].AllocatedResources = resizable(rr).Requests
			}
		}
	}
	now := metav1.NewTime(k.cfg.Clock.Now()).Rfc3339Copy()
	var conds []corev1.PodCondition
	for _, c := range status.Conditions {
		if c.Type != corev1.PodResizePending && c.Type != corev1.PodResizeInProgress {
			conds = append(conds, c)
		}
	}
	status.Conditions = append(conds, resizeCondition(pod.Status.Conditions, corev1.PodResizeInProgress, "", "", now))
	return status
}

// retryPendingResizes wakes the workers of the pods whose resize is deferred: room may
// have been made.
func (k *Kubelet) retryPendingResizes() {
	k.allocMu.Lock()
	defer k.allocMu.Unlock()
	k.retryPendingResizesLocked("")
}

func (k *Kubelet) retryPendingResizesLocked(except types.UID) {
	for uid := range k.pendingResizes {
		if uid == except {
			continue
		}
		k.mu.Lock()
		w := k.workers[uid]
		k.mu.Unlock()
		if w != nil {
			w.wake()
		}
	}
}

// forgetResizes drops what the kubelet keeps of a torn-down pod's resources.
func (k *Kubelet) forgetResizes(uid types.UID) {
	k.allocMu.Lock()
	delete(k.pendingResizes, uid)
	k.allocMu.Unlock()
	k.allocs.forget(uid)
}

// resizeMessage is the text of a resize event: what is asked of each container, as
// upstream's kubelet writes it.
func resizeMessage(pod *corev1.Pod, prefix, errMsg string) string {
	type containerResources struct {
		Name      string                      `json:"name"`
		Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	}
	summary := struct {
		InitContainers []containerResources `json:"initContainers,omitempty"`
		Containers     []containerResources `json:"containers,omitempty"`
		Generation     int64                `json:"generation"`
		Error          string               `json:"error,omitempty"`
	}{Generation: pod.Generation, Error: errMsg}
	for _, c := range pod.Spec.InitContainers {
		summary.InitContainers = append(summary.InitContainers, containerResources{c.Name, c.Resources})
	}
	for _, c := range pod.Spec.Containers {
		summary.Containers = append(summary.Containers, containerResources{c.Name, c.Resources})
	}
	b, err := json.Marshal(summary)
	if err != nil {
		return prefix
	}
	return prefix + ": " + string(b)
}

// ensureResources makes running container c (holding its allocated resources; instance
// s) run with them: in place, or — resizePolicy RestartContainer for a changed resource
// — by a restart, which it reports as true and leaves to the caller.
func (k *Kubelet) ensureResources(ctx context.Context, pod *corev1.Pod, c *corev1.Container, s *runtimeapi.ContainerStatus, res *syncResult) (restart bool) {
	have, known := k.actuatedOf(pod.UID, c.Name, s)
	if !known {
		// A container from before resources were recorded: apply what it is allocated.
		have = corev1.ResourceRequirements{}
	}
	action := containerResizeAction(c, have)
	if !known && action == resizeRestart {
		action = resizeInPlace // never restart a container only because its record is missing
	}
	switch action {
	case resizeNone:
		return false
	case resizeRestart:
		return true
	case resizeInPlace:
		if limit := memoryLimitDecrease(c, have); limit > 0 && known {
			usage, err := k.memoryUsage(ctx, s.Id)
			if err != nil {
				res.resizeError = fmt.Sprintf("missing container %q memory usage: %v", c.Name, err)
				res.soon(5 * time.Second)
				return false
			}
			if msg := memoryDecreaseError(c.Name, limit, usage); msg != "" {
				res.resizeError = msg
				res.soon(5 * time.Second)
				return false
			}
		}
		if _, err := k.cfg.Runtime.Runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: s.Id, Linux: linuxResources(c)}); err != nil {
			res.resizeError = fmt.Sprintf("resizing container %s: %v", c.Name, err)
			res.soon(busyResync)
			return false
		}
		res.acted = true
	}
	if err := k.allocs.setActuated(pod.UID, c.Name, s.Id, resizable(c.Resources)); err != nil {
		k.log.Warn("recording a container's resources", "pod", podDesc(pod), "container", c.Name, "err", err)
	}
	return false
}

// memoryUsage is the memory a container uses, in bytes (upstream reads the same figure,
// the cgroup's usage, before lowering a limit).
func (k *Kubelet) memoryUsage(ctx context.Context, id string) (uint64, error) {
	resp, err := k.cfg.Runtime.Runtime.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		return 0, err
	}
	if resp.Stats == nil || resp.Stats.Memory == nil || resp.Stats.Memory.UsageBytes == nil {
		return 0, errors.New("the runtime reports none")
	}
	return resp.Stats.Memory.UsageBytes.Value, nil
}

// resizeEvents records what became of a resize the sync applied, or failed to apply:
// ResizeCompleted once the containers run with what they are allocated, ResizeError
// when applying failed (once per message).
func (k *Kubelet) resizeEvents(pod *corev1.Pod, status *corev1.PodStatus, res *syncResult) {
	was := findPodCondition(pod.Status.Conditions, corev1.PodResizeInProgress)
	now := findPodCondition(status.Conditions, corev1.PodResizeInProgress)
	switch {
	case now == nil && (was != nil || res.resizeAdmitted):
		k.recorder.Event(pod, corev1.EventTypeNormal, "ResizeCompleted", resizeMessage(pod, "Pod resize completed", ""))
	case now != nil && now.Reason == corev1.PodReasonError && (was == nil || was.Message != now.Message):
		k.recorder.Event(pod, corev1.EventTypeWarning, "ResizeError", resizeMessage(pod, "Pod resize error", now.Message))
	}
}
