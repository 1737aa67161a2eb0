package printers

import (
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Admission policies and their bindings, as kube-apiserver prints them.

func paramKindCell(k *admissionregistrationv1.ParamKind) string {
	if k == nil {
		return "<unset>"
	}
	return k.APIVersion + "/" + k.Kind
}

// paramRefCell names a binding's parameters: namespace/name (a name without namespace may be
// of any namespace: */name), or the selector.
func paramRefCell(r *admissionregistrationv1.ParamRef) string {
	switch {
	case r == nil:
		return "<unset>"
	case r.Name != "" && r.Namespace != "":
		return r.Namespace + "/" + r.Name
	case r.Name != "":
		return "*/" + r.Name
	case r.Selector != nil:
		return r.Selector.String()
	}
	return "<unset>"
}

func validatingAdmissionPolicyPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
		column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
		ageColumn(),
	}, func(p *admissionregistrationv1.ValidatingAdmissionPolicy, now time.Time) []interface{} {
		return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKindCell(p.Spec.ParamKind), since(p.CreationTimestamp, now)}
	})
}

func mutatingAdmissionPolicyPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Mutations", "integer", "Mutation indicates the number of mutations rules defined in this configuration"),
		column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
		ageColumn(),
	}, func(p *admissionregistrationv1.MutatingAdmissionPolicy, now time.Time) []interface{} {
		return []interface{}{p.Name, int64(len(p.Spec.Mutations)), paramKindCell(p.Spec.ParamKind), since(p.CreationTimestamp, now)}
	})
}

func policyBindingColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
		column("ParamRef", "string", "ParamRef indicates the param resource which sets the configration param"),
		ageColumn(),
	}
}

func validatingAdmissionPolicyBindingPrinter() Printer {
	return typed(policyBindingColumns(), func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, now time.Time) []interface{} {
		return []interface{}{b.Name, b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), since(b.CreationTimestamp, now)}
	})
}

func mutatingAdmissionPolicyBindingPrinter() Printer {
	return typed(policyBindingColumns(), func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding, now time.Time) []interface{} {
		return []interface{}{b.Name, b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), since(b.CreationTimestamp, now)}
	})
}
