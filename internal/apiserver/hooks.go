package apiserver

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/apiserver/defaults"
	"github.com/kijabi/kijabi/internal/apiserver/validation"
)

// The type-specific rules live in their own packages; these wrappers are the only place the
// server calls them.

func registerDefaults(s *runtime.Scheme) { defaults.Register(s) }

func validateCreate(res *resource, obj runtime.Object) field.ErrorList {
	if res.cr != nil {
		return validateCR(res, obj, nil)
	}
	if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
		return validateCRD(crd, nil)
	}
	return validation.ValidateCreate(obj)
}

func validateUpdate(res *resource, obj, old runtime.Object) field.ErrorList {
	if res.cr != nil {
		return validateCR(res, obj, old)
	}
	if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
		return validateCRD(crd, old.(*apiextensionsv1.CustomResourceDefinition))
	}
	return validation.ValidateUpdate(obj, old)
}

func validateStatusUpdate(res *resource, obj, old runtime.Object) field.ErrorList {
	if res.cr != nil {
		return validateCR(res, obj, old)
	}
	if _, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
		return nil
	}
	return validation.ValidateStatusUpdate(obj, old)
}

// validateEphemeralUpdate validates a write to a pod's ephemeral containers.
func validateEphemeralUpdate(obj, old runtime.Object) field.ErrorList {
	pod, ok1 := obj.(*corev1.Pod)
	was, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return nil
	}
	return validation.ValidateEphemeralContainersUpdate(pod, was)
}

// validateResize validates a write to pods/resize; the QoS class may not change.
func validateResize(obj, old runtime.Object) field.ErrorList {
	pod, ok1 := obj.(*corev1.Pod)
	was, ok2 := old.(*corev1.Pod)
	if !ok1 || !ok2 {
		return nil
	}
	errs := validation.ValidatePodResize(pod, was)
	if qosClass(&pod.Spec) != qosClass(&was.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "Pod QOS Class may not change as a result of resizing"))
	}
	return errs
}

// validateApprovalUpdate validates a write to a CertificateSigningRequest's approval.
func validateApprovalUpdate(obj, old runtime.Object) field.ErrorList {
	return validation.ValidateApprovalUpdate(obj, old)
}

func metav1StatusCause(reason, message string) metav1.StatusCause {
	return metav1.StatusCause{Type: metav1.CauseType(reason), Message: message}
}
