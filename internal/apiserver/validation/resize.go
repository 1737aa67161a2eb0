package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePodResize validates a write to pods/resize (in-place resizing): the pod spec stays
// valid, and nothing changed but the cpu and memory requests and limits of containers (and of
// sidecar init containers) and their resize policies.
func ValidatePodResize(pod, old *corev1.Pod) field.ErrorList {
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	munged := old.Spec.DeepCopy()
	take := func(dst []corev1.Container, src []corev1.Container, p *field.Path, sidecarsOnly bool) {
		for i := range dst {
			if i >= len(src) || src[i].Name != dst[i].Name {
				continue
			}
			if sidecarsOnly && (dst[i].RestartPolicy == nil || *dst[i].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, list := range []struct {
				now, was corev1.ResourceList
				name     string
			}{{src[i].Resources.Requests, dst[i].Resources.Requests, "requests"}, {src[i].Resources.Limits, dst[i].Resources.Limits, "limits"}} {
				for name := range union(list.now, list.was) {
					if name != corev1.ResourceCPU && name != corev1.ResourceMemory && !list.now[name].Equal(list.was[name]) {
						errs = append(errs, field.Forbidden(p.Index(i).Child("resources", list.name).Key(string(name)), "only cpu and memory resources are mutable"))
					}
				}
			}
			dst[i].Resources = src[i].Resources
			dst[i].ResizePolicy = src[i].ResizePolicy
		}
	}
	take(munged.Containers, pod.Spec.Containers, specPath.Child("containers"), false)
	take(munged.InitContainers, pod.Spec.InitContainers, specPath.Child("initContainers"), true)
	if !semanticEqual(*munged, pod.Spec) {
		errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources are mutable\n"+changedFields(*munged, pod.Spec)))
	}
	return errs
}

func union(a, b corev1.ResourceList) map[corev1.ResourceName]bool {
	out := map[corev1.ResourceName]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
