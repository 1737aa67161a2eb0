package scheduler

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults used for containers without requests when scoring (upstream
// DefaultMilliCPURequest / DefaultMemoryRequest). Filters never use them.
const (
	defaultMilliCPURequest int64 = 100
	defaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a vector of resource amounts in the units the scheduler
// compares: milli-CPU, bytes, and integer counts for scalar resources.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPods is only meaningful for allocatable (status.allocatable.pods).
	AllowedPods int64
	// Scalar holds extended resources, hugepages-* and attachable-volumes-*.
	Scalar map[v1.ResourceName]int64
}

// isScalarResourceName reports whether name is tracked in Resource.Scalar,
// like upstream's schedutil.IsScalarResourceName.
func isScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	return isExtendedResourceName(name) || strings.HasPrefix(s, v1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(s, v1.ResourceAttachableVolumesPrefix)
}

// isExtendedResourceName: not native (native = no domain or a kubernetes.io
// domain) and not a quota "requests." name.
func isExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	native := !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
	return !native && !strings.HasPrefix(s, "requests.")
}

// resourceFromList converts a ResourceList into a Resource.
func resourceFromList(rl v1.ResourceList) Resource {
	var r Resource
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case v1.ResourceMemory:
			r.Memory = q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		case v1.ResourcePods:
			r.AllowedPods = q.Value()
		default:
			if isScalarResourceName(name) {
				if r.Scalar == nil {
					r.Scalar = map[v1.ResourceName]int64{}
				}
				r.Scalar[name] = q.Value()
			}
		}
	}
	return r
}

func (r *Resource) add(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

func (r Resource) clone() Resource {
	if r.Scalar != nil {
		m := make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			m[k] = v
		}
		r.Scalar = m
	}
	return r
}

func (r *Resource) isZero() bool {
	return r.MilliCPU == 0 && r.Memory == 0 && r.EphemeralStorage == 0 && len(r.Scalar) == 0
}

func addList(dst, src v1.ResourceList) {
	for k, v := range src {
		if cur, ok := dst[k]; ok {
			cur.Add(v)
			dst[k] = cur
		} else {
			dst[k] = v.DeepCopy()
		}
	}
}

func maxList(dst, src v1.ResourceList) {
	for k, v := range src {
		if cur, ok := dst[k]; !ok || v.Cmp(cur) > 0 {
			dst[k] = v.DeepCopy()
		}
	}
}

// withDefaults returns the container requests, filling cpu and memory with the
// scoring defaults when nonZero is set and they are missing.
func withDefaults(req v1.ResourceList, nonZero bool) v1.ResourceList {
	if !nonZero {
		return req
	}
	_, hasCPU := req[v1.ResourceCPU]
	_, hasMem := req[v1.ResourceMemory]
	if hasCPU && hasMem {
		return req
	}
	out := make(v1.ResourceList, len(req)+2)
	for k, v := range req {
		out[k] = v
	}
	if !hasCPU {
		out[v1.ResourceCPU] = *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI)
	}
	if !hasMem {
		out[v1.ResourceMemory] = *resource.NewQuantity(defaultMemoryRequest, resource.BinarySI)
	}
	return out
}

// podRequestList aggregates a pod's requests like upstream
// resourcehelper.PodRequests with UseStatusResources (in-place resize is GA):
// regular containers and restartable (sidecar) init containers are summed;
// each regular init container needs its own request plus the sidecars
// started before it; the result is the maximum of both; pod-level requests
// (spec.resources) replace the aggregate for cpu and memory; spec.overhead is
// added on top.
//
// While a resize is in flight the spec and the node disagree, so the
// aggregate is taken three times — from the spec, from what the kubelet
// allocated (status allocatedResources) and from what it actuated (status
// resources.requests) — and the largest of the three counts, resource by
// resource. A resize the kubelet marked Infeasible (condition
// PodResizePending, reason Infeasible) will never be applied: its spec is
// left out and only what the node gave the pod counts. A Deferred resize
// still counts at its new size, so that the room it waits for is not given
// to another pod.
func podRequestList(pod *v1.Pod, nonZero bool) v1.ResourceList {
	infeasible := podResizeInfeasible(pod)
	reqs := aggregateRequests(pod, nonZero, nil, specRequests, false)
	if infeasible || hasStatusResources(pod) {
		statuses := containerStatusesByName(pod)
		var allocated, actuated v1.ResourceList
		if ps := &pod.Status; ps.AllocatedResources != nil && ps.Resources != nil && ps.Resources.Requests != nil {
			// Pod-level status (InPlacePodLevelResourcesVerticalScaling) already holds
			// the aggregates over the containers.
			allocated, actuated = ps.AllocatedResources, ps.Resources.Requests
		} else {
			allocated = aggregateRequests(pod, nonZero, statuses, allocatedRequests, infeasible)
			actuated = aggregateRequests(pod, nonZero, statuses, actuatedRequests, infeasible)
		}
		if infeasible {
			reqs = v1.ResourceList{}
		}
		maxList(reqs, actuated)
		maxList(reqs, allocated)
	}
	if pod.Spec.Resources != nil {
		var effective v1.ResourceList
		for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			if _, ok := pod.Spec.Resources.Requests[name]; ok {
				effective = pod.Spec.Resources.Requests
			}
		}
		if effective != nil && pod.Status.Resources != nil {
			effective = v1.ResourceList{}
			if !infeasible {
				maxList(effective, pod.Spec.Resources.Requests)
			}
			maxList(effective, pod.Status.Resources.Requests)
			maxList(effective, pod.Status.AllocatedResources)
		}
		for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			if q, ok := effective[name]; ok {
				reqs[name] = q
			}
		}
	}
	if pod.Spec.Overhead != nil {
		addList(reqs, pod.Spec.Overhead)
	}
	return reqs
}

// podResizeInfeasible reports whether the kubelet marked the pod's resize as one the
// node can never hold (upstream IsPodResizeInfeasible: the PodResizePending condition's
// reason alone decides).
func podResizeInfeasible(pod *v1.Pod) bool {
	for i := range pod.Status.Conditions {
		if c := &pod.Status.Conditions[i]; c.Type == v1.PodResizePending {
			return c.Reason == v1.PodReasonInfeasible
		}
	}
	return false
}

// hasStatusResources reports whether the status says what the node allocated to or
// applied for any container (or the pod); without it the spec alone counts.
func hasStatusResources(pod *v1.Pod) bool {
	if pod.Status.Resources != nil || pod.Status.AllocatedResources != nil {
		return true
	}
	for _, l := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range l {
			if l[i].Resources != nil || l[i].AllocatedResources != nil {
				return true
			}
		}
	}
	return false
}

func containerStatusesByName(pod *v1.Pod) map[string]*v1.ContainerStatus {
	out := make(map[string]*v1.ContainerStatus, len(pod.Status.ContainerStatuses)+len(pod.Status.InitContainerStatuses))
	for i := range pod.Status.InitContainerStatuses {
		out[pod.Status.InitContainerStatuses[i].Name] = &pod.Status.InitContainerStatuses[i]
	}
	for i := range pod.Status.ContainerStatuses {
		out[pod.Status.ContainerStatuses[i].Name] = &pod.Status.ContainerStatuses[i]
	}
	return out
}

// A requestSource says which requests of one container count: its spec's, what the
// kubelet allocated to it, or what it actuated.
type requestSource func(c *v1.Container, cs *v1.ContainerStatus, infeasible bool) v1.ResourceList

func specRequests(c *v1.Container, _ *v1.ContainerStatus, _ bool) v1.ResourceList {
	return c.Resources.Requests
}

// allocatedRequests is status allocatedResources; without it the spec, unless the
// resize is infeasible (then nothing is known to be given).
func allocatedRequests(c *v1.Container, cs *v1.ContainerStatus, infeasible bool) v1.ResourceList {
	if cs != nil && cs.AllocatedResources != nil {
		return cs.AllocatedResources
	}
	if infeasible {
		return nil
	}
	return c.Resources.Requests
}

// actuatedRequests is status resources.requests, else allocatedResources, else (as
// allocatedRequests) the spec.
func actuatedRequests(c *v1.Container, cs *v1.ContainerStatus, infeasible bool) v1.ResourceList {
	if cs != nil && cs.Resources != nil && cs.Resources.Requests != nil {
		return cs.Resources.Requests
	}
	return allocatedRequests(c, cs, infeasible)
}

// aggregateRequests sums the containers' requests from src (sidecars with the app
// containers; each regular init container with the sidecars before it; the larger of
// both), with the scoring defaults when nonZero is set.
func aggregateRequests(pod *v1.Pod, nonZero bool, statuses map[string]*v1.ContainerStatus, src requestSource, infeasible bool) v1.ResourceList {
	reqs := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		addList(reqs, withDefaults(src(c, statuses[c.Name], infeasible), nonZero))
	}
	sidecars := v1.ResourceList{}
	initMax := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cr := withDefaults(src(c, statuses[c.Name], infeasible), nonZero)
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			addList(reqs, cr)
			addList(sidecars, cr)
			maxList(initMax, sidecars)
			continue
		}
		tmp := v1.ResourceList{}
		addList(tmp, cr)
		addList(tmp, sidecars)
		maxList(initMax, tmp)
	}
	maxList(reqs, initMax)
	return reqs
}

// PodRequests returns the resources a pod requests, as NodeResourcesFit sees them.
func PodRequests(pod *v1.Pod) Resource {
	r := resourceFromList(podRequestList(pod, false))
	for k, v := range r.Scalar {
		if v == 0 {
			delete(r.Scalar, k)
		}
	}
	if len(r.Scalar) == 0 {
		r.Scalar = nil
	}
	return r
}

// podNonZeroRequests returns cpu and memory with scoring defaults applied.
func podNonZeroRequests(pod *v1.Pod) (int64, int64) {
	rl := podRequestList(pod, true)
	cpu, mem := rl[v1.ResourceCPU], rl[v1.ResourceMemory]
	return cpu.MilliValue(), mem.Value()
}
