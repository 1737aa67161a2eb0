package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Helpers shared by every controller that stamps out pods from a template.

// workloadSelector validates a required, non-empty label selector and returns
// the parsed selector (nil when it is unusable).
func workloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (k8slabels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(fldPath, "")}
	}
	errs := labelSelector(sel, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath, sel, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(fldPath, sel, "invalid label selector")}
	}
	return parsed, nil
}

// selectorMatchesTemplate reports the classic "selector does not match
// template labels" error: a controller whose pods it cannot see would create
// them forever.
func selectorMatchesTemplate(sel k8slabels.Selector, tmpl *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if sel == nil || tmpl == nil {
		return nil
	}
	if !sel.Matches(k8slabels.Set(tmpl.Labels)) {
		return field.ErrorList{field.Invalid(fldPath.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`")}
	}
	return nil
}

// alwaysRestartTemplate validates a template for a controller that keeps pods
// running (Deployment, ReplicaSet, DaemonSet, StatefulSet, RC): restartPolicy
// must be Always and a pod-level deadline would just kill pods in a loop.
func alwaysRestartTemplate(tmpl *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	tp := fldPath.Child("template")
	errs := validatePodTemplateSpec(tmpl, tp)
	if rp := tmpl.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}
