package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod-level resources (spec.resources, KEP-2837) defaults. They only apply
// when the pod already specifies some pod-level resources.

// defaultPodLevelResources fills pod-level hugepage limits, requests and
// limits, in that order, from the container resources.
//
// Like upstream this is not a fixed point in one corner: when only pod-level
// requests are set, the limits defaulted here make a second pass default
// requests for further resources that containers request (e.g. cpu).
// kube-apiserver behaves the same way, since it defaults on every decode.
func defaultPodLevelResources(pod *corev1.Pod) {
	defaultPodHugePageLimits(pod)
	defaultPodRequests(pod)
	defaultPodLimits(pod)
}

// defaultPodHugePageLimits sets a pod-level hugepage limit to the sum over
// the containers when the pod sets neither a limit nor a request for it.
func defaultPodHugePageLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || (len(res.Limits) == 0 && len(res.Requests) == 0) {
		return
	}
	limits := res.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range aggregateContainerResources(pod, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Limits }) {
		if !isHugePageResource(name) {
			continue
		}
		if _, ok := res.Requests[name]; ok {
			continue
		}
		if _, ok := limits[name]; !ok {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		res.Limits = limits
	}
}

// defaultPodRequests defaults pod-level requests when pod-level limits are
// set: from the aggregated container requests for overcommittable resources,
// otherwise from the pod-level limit.
func defaultPodRequests(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || len(res.Limits) == 0 {
		return
	}
	requests := res.Requests
	if requests == nil {
		requests = corev1.ResourceList{}
	}
	for name, q := range aggregateContainerResources(pod, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Requests }) {
		if _, ok := requests[name]; !ok && isSupportedPodLevelResource(name) && isOvercommitAllowed(name) {
			requests[name] = q.DeepCopy()
		}
	}
	for name, q := range res.Limits {
		if _, ok := requests[name]; !ok && isSupportedPodLevelResource(name) {
			requests[name] = q.DeepCopy()
		}
	}
	if len(requests) > 0 {
		res.Requests = requests
	}
}

// defaultPodLimits defaults pod-level limits from the aggregated container
// limits when only pod-level requests are set and every container limits the
// resource.
func defaultPodLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if podLevelSet(res, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Limits }) ||
		!podLevelSet(res, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Requests }) {
		return
	}
	limits := res.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range aggregateContainerResources(pod, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Limits }) {
		if _, ok := limits[name]; ok {
			continue
		}
		if !isSupportedPodLevelResource(name) || !isOvercommitAllowed(name) || !allContainersLimit(pod, name) {
			continue
		}
		limits[name] = q.DeepCopy()
	}
	if len(limits) > 0 {
		res.Limits = limits
	}
}

// podLevelSet reports whether the selected pod-level list names a resource
// supported at pod level.
func podLevelSet(res *corev1.ResourceRequirements, pick func(*corev1.ResourceRequirements) corev1.ResourceList) bool {
	if res == nil {
		return false
	}
	for name := range pick(res) {
		if isSupportedPodLevelResource(name) {
			return true
		}
	}
	return false
}

// allContainersLimit reports whether every regular and init container sets a
// limit for name.
func allContainersLimit(pod *corev1.Pod, name corev1.ResourceName) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if _, ok := cs[i].Resources.Limits[name]; !ok {
				return false
			}
		}
	}
	return true
}

// aggregateContainerResources computes the effective pod resources (requests
// or limits, chosen by pick) from the containers: the sum over regular and
// sidecar containers, or the largest need of any init container phase if that
// is bigger.
func aggregateContainerResources(pod *corev1.Pod, pick func(*corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		addResources(total, pick(&pod.Spec.Containers[i].Resources))
	}
	sidecars := corev1.ResourceList{}
	initPeak := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		own := pick(&c.Resources)
		var phase corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResources(total, own)
			addResources(sidecars, own)
			phase = sidecars
		} else {
			phase = corev1.ResourceList{}
			addResources(phase, own)
			addResources(phase, sidecars)
		}
		maxResources(initPeak, phase)
	}
	maxResources(total, initPeak)
	return total
}

func addResources(dst, src corev1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; ok {
			cur.Add(q)
			dst[name] = cur
		} else {
			dst[name] = q.DeepCopy()
		}
	}
}

func maxResources(dst, src corev1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || cur.Cmp(q) < 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

func isHugePageResource(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isSupportedPodLevelResource: cpu, memory and hugepages may be set at pod level.
func isSupportedPodLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || isHugePageResource(name)
}

// isOvercommitAllowed: native resources other than hugepages may be overcommitted.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !isHugePageResource(name)
}
