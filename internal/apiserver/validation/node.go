package validation

import (
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- node.k8s.io/v1 RuntimeClass ----

func validateRuntimeClass(rc *nodev1.RuntimeClass) field.ErrorList {
	errs := objectMeta(&rc.ObjectMeta, false, nameIsDNSSubdomain)
	// The handler names a CRI runtime configuration: a DNS label. It is required in v1 (an
	// empty value fails the label check, as upstream reports it).
	errs = append(errs, msgs(field.NewPath("handler"), rc.Handler, nameIsDNSLabel(rc.Handler, false))...)
	if rc.Overhead != nil {
		// The pod's fixed overhead obeys the rules of a container's limits.
		errs = append(errs, validateResourceRequirements(&corev1.ResourceRequirements{Limits: rc.Overhead.PodFixed}, field.NewPath("overhead"))...)
	}
	if s := rc.Scheduling; s != nil {
		p := field.NewPath("scheduling")
		errs = append(errs, labels(s.NodeSelector, p.Child("nodeSelector"))...)
		errs = append(errs, validateTolerations(s.Tolerations, p.Child("tolerations"))...)
		type tolerationKey struct {
			key, value string
			operator   corev1.TolerationOperator
			effect     corev1.TaintEffect
		}
		seen := map[tolerationKey]bool{}
		for i, t := range s.Tolerations {
			k := tolerationKey{t.Key, t.Value, t.Operator, t.Effect}
			if seen[k] {
				errs = append(errs, field.Duplicate(p.Child("tolerations").Index(i), t))
			}
			seen[k] = true
		}
	}
	return errs
}

func validateRuntimeClassUpdate(rc, old *nodev1.RuntimeClass) field.ErrorList {
	errs := objectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
	return append(errs, immutable(rc.Handler, old.Handler, field.NewPath("handler"))...)
}
