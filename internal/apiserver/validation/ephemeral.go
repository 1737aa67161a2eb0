package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateEphemeralContainersUpdate validates a write to pods/ephemeralcontainers (what
// `kubectl debug` sends): the pod spec stays valid with the new containers, and the
// ephemeral containers already there are neither changed nor removed.
func ValidateEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	p := specPath.Child("ephemeralContainers")
	current := map[string]*corev1.EphemeralContainer{}
	for i := range pod.Spec.EphemeralContainers {
		current[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	for i := range old.Spec.EphemeralContainers {
		was := &old.Spec.EphemeralContainers[i]
		now, ok := current[was.Name]
		switch {
		case !ok:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("existing ephemeral containers %q may not be removed", was.Name)))
		case !equality.Semantic.DeepEqual(now, was):
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("existing ephemeral containers %q may not be changed", was.Name)))
		}
	}
	return errs
}
