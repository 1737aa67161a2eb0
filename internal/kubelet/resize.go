package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// In-place resizing (pods/resize). A container records the cpu and memory requests and
// limits it was created with in a CRI annotation; when the pod's spec asks for others, the
// kubelet applies them to the running container through UpdateContainerResources (its cgroup
// changes, the process keeps running) and reports what is applied in the container's status
// (resources, allocatedResources). A resize that can never fit the node is left pending with
// the PodResizePending condition, reason Infeasible, as upstream reports it.

// annotationResources holds the resources a container runs with (JSON).
const annotationResources = "io.kijabi.container.resources"

// resizes remembers, per container ID, the resources applied since creation.
type resizes struct {
	mu      sync.Mutex
	applied map[string]corev1.ResourceRequirements
}

func (r *resizes) get(id string) (corev1.ResourceRequirements, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rr, ok := r.applied[id]
	return rr, ok
}

func (r *resizes) set(id string, rr corev1.ResourceRequirements) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied == nil {
		r.applied = map[string]corev1.ResourceRequirements{}
	}
	r.applied[id] = rr
}

// drop forgets a container that stopped or went.
func (r *resizes) drop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.applied, id)
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

// appliedResources is what container s runs with, and false when unknown.
func (k *Kubelet) appliedResources(s *runtimeapi.ContainerStatus) (corev1.ResourceRequirements, bool) {
	if rr, ok := k.resized.get(s.Id); ok {
		return rr, true
	}
	var rr corev1.ResourceRequirements
	if a, ok := s.Annotations[annotationResources]; ok && json.Unmarshal([]byte(a), &rr) == nil {
		return rr, true
	}
	return rr, false
}

func sameResources(a, b corev1.ResourceRequirements) bool {
	eq := func(x, y corev1.ResourceList) bool {
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
	return eq(a.Requests, b.Requests) && eq(a.Limits, b.Limits)
}

// ensureResources applies a resize of running container c (instance s) when its spec asks
// for other resources than it runs with.
func (k *Kubelet) ensureResources(ctx context.Context, pod *corev1.Pod, c *corev1.Container, s *runtimeapi.ContainerStatus, res *syncResult) {
	want := resizable(c.Resources)
	have, known := k.appliedResources(s)
	if known && sameResources(have, want) {
		return
	}
	if msg := k.infeasible(want); msg != "" {
		res.resizePending = msg
		return
	}
	if _, err := k.cfg.Runtime.Runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: s.Id, Linux: linuxResources(c)}); err != nil {
		res.resizeError = fmt.Sprintf("resizing container %s: %v", c.Name, err)
		res.soon(busyResync)
		return
	}
	res.acted = true
	k.resized.set(s.Id, want)
}

// infeasible says why requests can never fit this node, or "".
func (k *Kubelet) infeasible(want corev1.ResourceRequirements) string {
	var short []string
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := want.Requests[name]
		alloc, known := k.machine.allocatable[name]
		if ok && known && q.Cmp(alloc) > 0 {
			short = append(short, fmt.Sprintf("%s, requested: %d, capacity: %d", name, quantityValue(name, &q), quantityValue(name, &alloc)))
		}
	}
	sort.Strings(short)
	if len(short) == 0 {
		return ""
	}
	return "Node didn't have enough capacity: " + strings.Join(short, "; ")
}

func quantityValue(name corev1.ResourceName, q interface{ MilliValue() int64 }) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.MilliValue() / 1000
}
