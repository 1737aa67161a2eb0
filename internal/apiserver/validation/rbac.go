package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC object names only need to be usable as a URL path segment, because
// they are referenced verbatim from bindings and by humans ("system:admin").

func validateRole(r *rbacv1.Role) field.ErrorList {
	errs := objectMeta(&r.ObjectMeta, true, nameIsPathSegment)
	return append(errs, policyRules(r.Rules, true)...)
}

func validateRoleUpdate(r, old *rbacv1.Role) field.ErrorList {
	errs := objectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)
	return append(errs, policyRules(r.Rules, true)...)
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := objectMeta(&r.ObjectMeta, false, nameIsPathSegment)
	return append(errs, clusterRoleBody(r)...)
}

func clusterRoleBody(r *rbacv1.ClusterRole) field.ErrorList {
	errs := policyRules(r.Rules, false)
	if r.AggregationRule != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range r.AggregationRule.ClusterRoleSelectors {
			errs = append(errs, labelSelector(&r.AggregationRule.ClusterRoleSelectors[i], p.Index(i))...)
		}
	}
	return errs
}

func validateClusterRoleUpdate(r, old *rbacv1.ClusterRole) field.ErrorList {
	errs := objectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)
	return append(errs, clusterRoleBody(r)...)
}

func policyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		p := field.NewPath("rules").Index(i)
		if len(rule.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(rule.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(rule.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(rule.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func validateRoleBinding(rb *rbacv1.RoleBinding) field.ErrorList {
	errs := objectMeta(&rb.ObjectMeta, true, nameIsPathSegment)
	return append(errs, bindingBody(rb.RoleRef, rb.Subjects, true)...)
}

func validateRoleBindingUpdate(rb, old *rbacv1.RoleBinding) field.ErrorList {
	errs := objectMetaUpdate(&rb.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, bindingBody(rb.RoleRef, rb.Subjects, true)...)
	return append(errs, roleRefUnchanged(rb.RoleRef, old.RoleRef)...)
}

func validateClusterRoleBinding(rb *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := objectMeta(&rb.ObjectMeta, false, nameIsPathSegment)
	return append(errs, bindingBody(rb.RoleRef, rb.Subjects, false)...)
}

func validateClusterRoleBindingUpdate(rb, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := objectMetaUpdate(&rb.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, bindingBody(rb.RoleRef, rb.Subjects, false)...)
	return append(errs, roleRefUnchanged(rb.RoleRef, old.RoleRef)...)
}

// roleRefUnchanged: a binding's meaning is its role; swapping the role under
// existing subjects would bypass the escalation check done at create time.
func roleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

func bindingBody(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	if namespaced {
		errs = append(errs, enum(ref.Kind, false, rp.Child("kind"), "Role", "ClusterRole")...)
	} else {
		errs = append(errs, enum(ref.Kind, false, rp.Child("kind"), "ClusterRole")...)
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else {
		errs = append(errs, msgs(rp.Child("name"), ref.Name, nameIsPathSegment(ref.Name, false))...)
	}
	for i, s := range subjects {
		errs = append(errs, subject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

func subject(s rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			errs = append(errs, msgs(p.Child("name"), s.Name, nameIsDNSSubdomain(s.Name, false))...)
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A cluster-wide binding cannot infer which namespace the account is in.
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}
