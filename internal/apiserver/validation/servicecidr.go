package validation

import (
	networkingv1 "k8s.io/api/networking/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// ---- networking.k8s.io/v1 ServiceCIDR and IPAddress ----

func validateServiceCIDR(sc *networkingv1.ServiceCIDR) field.ErrorList {
	errs := objectMeta(&sc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, serviceCIDRSpec(&sc.Spec)...)
}

func serviceCIDRSpec(spec *networkingv1.ServiceCIDRSpec) field.ErrorList {
	p := specPath.Child("cidrs")
	switch {
	case len(spec.CIDRs) == 0:
		return field.ErrorList{field.Required(p, "at least one CIDR required")}
	case len(spec.CIDRs) > 2:
		return field.ErrorList{field.Invalid(p, spec, "may only hold up to 2 values")}
	case len(spec.CIDRs) == 2:
		if dual, err := netutils.IsDualStackCIDRStrings(spec.CIDRs); err != nil || !dual {
			return field.ErrorList{field.Invalid(p, spec, "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64")}
		}
	}
	var errs field.ErrorList
	for i, cidr := range spec.CIDRs {
		errs = append(errs, utilvalidation.IsValidCIDR(p.Index(i), cidr)...)
	}
	return errs
}

// validateServiceCIDRUpdate: the ranges are immutable, except that a single-stack range may
// become dual-stack by gaining a range of the other family.
func validateServiceCIDRUpdate(sc, old *networkingv1.ServiceCIDR) field.ErrorList {
	errs := objectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
	p := specPath.Child("cidrs")
	switch {
	case len(sc.Spec.CIDRs) == len(old.Spec.CIDRs):
		for i, cidr := range old.Spec.CIDRs {
			if sc.Spec.CIDRs[i] != cidr {
				errs = append(errs, field.Invalid(p.Index(i), sc.Spec.CIDRs[i], immutableFieldMsg))
			}
		}
	case len(old.Spec.CIDRs) == 1 && len(sc.Spec.CIDRs) == 2:
		if sc.Spec.CIDRs[0] != old.Spec.CIDRs[0] {
			errs = append(errs, field.Invalid(p.Index(0), sc.Spec.CIDRs[0], immutableFieldMsg))
		}
		errs = append(errs, serviceCIDRSpec(&sc.Spec)...)
	default:
		errs = append(errs, field.Invalid(p, sc.Spec.CIDRs, immutableFieldMsg))
	}
	return errs
}

func validateServiceCIDRStatusUpdate(sc, old *networkingv1.ServiceCIDR) field.ErrorList {
	return objectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
}

// ipAddressName: an IPAddress is named after its address, in canonical form.
func ipAddressName(name string, _ bool) []string {
	var out []string
	for _, e := range utilvalidation.IsValidIP(&field.Path{}, name) {
		out = append(out, e.Detail)
	}
	return out
}

func validateIPAddress(ip *networkingv1.IPAddress) field.ErrorList {
	errs := objectMeta(&ip.ObjectMeta, false, ipAddressName)
	return append(errs, ipAddressParentRef(ip.Spec.ParentRef)...)
}

func ipAddressParentRef(ref *networkingv1.ParentReference) field.ErrorList {
	if ref == nil {
		return field.ErrorList{field.Required(specPath.Child("parentRef"), "")}
	}
	p := specPath.Child("parentRef")
	var errs field.ErrorList
	// The core group of Services is "", so the group cannot be required.
	if ref.Group != "" {
		errs = append(errs, msgs(p.Child("group"), ref.Group, utilvalidation.IsDNS1123Subdomain(ref.Group))...)
	}
	if ref.Resource == "" {
		errs = append(errs, field.Required(p.Child("resource"), ""))
	} else {
		errs = append(errs, msgs(p.Child("resource"), ref.Resource, validatePathSegmentName(ref.Resource, false))...)
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, msgs(p.Child("name"), ref.Name, validatePathSegmentName(ref.Name, false))...)
	}
	if ref.Namespace != "" {
		errs = append(errs, msgs(p.Child("namespace"), ref.Namespace, validatePathSegmentName(ref.Namespace, false))...)
	}
	return errs
}

func validateIPAddressUpdate(ip, old *networkingv1.IPAddress) field.ErrorList {
	errs := objectMetaUpdate(&ip.ObjectMeta, &old.ObjectMeta)
	return append(errs, immutable(ip.Spec.ParentRef, old.Spec.ParentRef, specPath.Child("parentRef"))...)
}
