package validation

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestIngress(t *testing.T) {
	valid := func() *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: meta("web", "default"), Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{Host: "*.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
			}}}},
		}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []wantErr
	}{
		{"valid", func(*networkingv1.Ingress) {}, nil},
		{"no rules or backend", func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, []wantErr{{"spec", field.ErrorTypeInvalid, "either `defaultBackend` or `rules`"}}},
		{"ip host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }, []wantErr{{"spec.rules[0].host", field.ErrorTypeInvalid, "not an IP"}}},
		{"relative path", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "api" },
			[]wantErr{{"spec.rules[0].http.paths[0].path", field.ErrorTypeInvalid, "absolute"}}},
		{"pathType missing", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil },
			[]wantErr{{"spec.rules[0].http.paths[0].pathType", field.ErrorTypeRequired, ""}}},
		{"port name and number", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http" },
			[]wantErr{{"spec.rules[0].http.paths[0].backend", field.ErrorTypeInvalid, "cannot set both port name & port number"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := valid()
			tc.mutate(i)
			checkErrs(t, ValidateCreate(i), tc.want...)
		})
	}

	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx", ResourceVersion: "1"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}
	checkErrs(t, ValidateCreate(ic))
	ic2 := ic.DeepCopy()
	ic2.Spec.Controller = "example.com/other"
	checkErrs(t, ValidateUpdate(ic2, ic), wantErr{"spec.controller", field.ErrorTypeInvalid, "immutable"})
}

func TestRBAC(t *testing.T) {
	role := &rbacv1.Role{ObjectMeta: meta("reader", "default"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}
	checkErrs(t, ValidateCreate(role))
	bad := role.DeepCopy()
	bad.Rules[0].Verbs = nil
	bad.Rules = append(bad.Rules, rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}})
	checkErrs(t, ValidateCreate(bad),
		wantErr{"rules[0].verbs", field.ErrorTypeRequired, ""},
		wantErr{"rules[1].nonResourceURLs", field.ErrorTypeInvalid, "namespaced rules"})

	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:reader"}}
	checkErrs(t, ValidateCreate(cr))

	rb := &rbacv1.RoleBinding{ObjectMeta: meta("read", "default"),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}, {Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}
	checkErrs(t, ValidateCreate(rb))
	badRB := rb.DeepCopy()
	badRB.RoleRef.Kind = "Group"
	badRB.Subjects[1].Kind = "Robot"
	checkErrs(t, ValidateCreate(badRB),
		wantErr{"roleRef.kind", field.ErrorTypeNotSupported, ""},
		wantErr{"subjects[1].kind", field.ErrorTypeNotSupported, ""})
	moved := rb.DeepCopy()
	moved.RoleRef.Name = "admin"
	checkErrs(t, ValidateUpdate(moved, rb), wantErr{"roleRef", field.ErrorTypeInvalid, "cannot change roleRef"})

	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}}}
	checkErrs(t, ValidateCreate(crb), wantErr{"subjects[0].namespace", field.ErrorTypeRequired, ""})
}

func TestPriorityClassAndPDB(t *testing.T) {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", ResourceVersion: "1"}, Value: 1000}
	checkErrs(t, ValidateCreate(pc))
	tooHigh := pc.DeepCopy()
	tooHigh.Value = 2000000000
	checkErrs(t, ValidateCreate(tooHigh), wantErr{"value", field.ErrorTypeForbidden, "maximum allowed value"})
	changed := pc.DeepCopy()
	changed.Value = 5
	checkErrs(t, ValidateUpdate(changed, pc), wantErr{"value", field.ErrorTypeForbidden, "may not be changed"})

	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: meta("web", "default"), Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: appLabels}}}
	checkErrs(t, ValidateCreate(pdb))
	both := pdb.DeepCopy()
	both.Spec.MaxUnavailable = ptr.To(intstr.FromString("10%"))
	checkErrs(t, ValidateCreate(both), wantErr{"spec", field.ErrorTypeInvalid, "cannot be both set"})
}
