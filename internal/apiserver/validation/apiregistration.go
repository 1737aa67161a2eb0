package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

// apiregistration.k8s.io/v1 APIServices, checked as kube-apiserver's aggregator checks them.

// ValidateAPIService checks an APIService: its name is VERSION.GROUP, the group a DNS
// subdomain (empty only for the core v1), the version a DNS label, the priorities in range;
// a local APIService (no service) has no TLS settings, a remote one names its Service.
func ValidateAPIService(a *apiregistrationv1.APIService) field.ErrorList {
	want := a.Spec.Version + "." + a.Spec.Group
	errs := objectMeta(&a.ObjectMeta, false, func(name string, _ bool) []string {
		if problems := path.IsValidPathSegmentName(name); len(problems) > 0 {
			return problems
		}
		if name != want {
			return []string{fmt.Sprintf("must be `spec.version+\".\"+spec.group`: %q", want)}
		}
		return nil
	})
	spec := field.NewPath("spec")
	if a.Spec.Group == "" && a.Spec.Version != "v1" {
		errs = append(errs, field.Required(spec.Child("group"), "only v1 may have an empty group and it better be legacy kube"))
	}
	if a.Spec.Group != "" {
		errs = append(errs, msgs(spec.Child("group"), a.Spec.Group, utilvalidation.IsDNS1123Subdomain(a.Spec.Group))...)
	}
	errs = append(errs, msgs(spec.Child("version"), a.Spec.Version, utilvalidation.IsDNS1035Label(a.Spec.Version))...)
	if p := a.Spec.GroupPriorityMinimum; p <= 0 || p > 20000 {
		errs = append(errs, field.Invalid(spec.Child("groupPriorityMinimum"), p, "must be positive and less than 20000"))
	}
	if p := a.Spec.VersionPriority; p <= 0 || p > 1000 {
		errs = append(errs, field.Invalid(spec.Child("versionPriority"), p, "must be positive and less than 1000"))
	}
	svc := a.Spec.Service
	if svc == nil {
		if n := len(a.Spec.CABundle); n > 0 {
			errs = append(errs, field.Invalid(spec.Child("caBundle"), fmt.Sprintf("%d bytes", n), "local APIServices may not have a caBundle"))
		}
		if a.Spec.InsecureSkipTLSVerify {
			errs = append(errs, field.Invalid(spec.Child("insecureSkipTLSVerify"), true, "local APIServices may not have insecureSkipTLSVerify"))
		}
		return errs
	}
	sp := spec.Child("service")
	if svc.Namespace == "" {
		errs = append(errs, field.Required(sp.Child("namespace"), ""))
	}
	if svc.Name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	}
	port := int32(443)
	if svc.Port != nil {
		port = *svc.Port
	}
	if problems := utilvalidation.IsValidPortNum(int(port)); len(problems) > 0 {
		errs = append(errs, field.Invalid(sp.Child("port"), port, "port is not valid: "+strings.Join(problems, ", ")))
	}
	if a.Spec.InsecureSkipTLSVerify && len(a.Spec.CABundle) > 0 {
		errs = append(errs, field.Invalid(spec.Child("insecureSkipTLSVerify"), true, "may not be true if caBundle is present"))
	}
	return errs
}

// ValidateAPIServiceUpdate checks an APIService on update: the metadata rules and the
// whole object again.
func ValidateAPIServiceUpdate(a, old *apiregistrationv1.APIService) field.ErrorList {
	return append(objectMetaUpdate(&a.ObjectMeta, &old.ObjectMeta), ValidateAPIService(a)...)
}

// ValidateAPIServiceStatusUpdate checks a write of an APIService's status: condition
// statuses are True, False or Unknown.
func ValidateAPIServiceStatusUpdate(a, old *apiregistrationv1.APIService) field.ErrorList {
	errs := objectMetaUpdate(&a.ObjectMeta, &old.ObjectMeta)
	cp := field.NewPath("status", "conditions")
	for i, c := range a.Status.Conditions {
		errs = append(errs, enum(c.Status, false, cp.Index(i).Child("status"),
			apiregistrationv1.ConditionTrue, apiregistrationv1.ConditionFalse, apiregistrationv1.ConditionUnknown)...)
	}
	return errs
}
