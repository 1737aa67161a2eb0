package apiserver

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
)

func TestPolicyMatcher(t *testing.T) {
	rule := func(ops []admissionregistrationv1.OperationType, names ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{ResourceNames: names, RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments"}}}}
	}
	m, err := newPolicyMatcher(&admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "test"}},
		ObjectSelector:    &metav1.LabelSelector{},
		ResourceRules:     []admissionregistrationv1.NamedRuleWithOperations{rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update})},
		ExcludeResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule([]admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}, "exempt")},
		MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
	})
	if err != nil {
		t.Fatal(err)
	}
	nsLabels := func(_ context.Context, name string) (map[string]string, error) {
		if name == "missing" {
			return nil, apierrors.NewNotFound(namespacesGR, name)
		}
		return map[string]string{"env": name}, nil
	}
	attrs := func(op admissionv1.Operation, ns, name string) *admissionAttributes {
		return &admissionAttributes{operation: op, namespace: ns, name: name,
			kind:     schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			object:   &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}}}
	}
	for _, tc := range []struct {
		name    string
		a       *admissionAttributes
		want    bool
		wantErr string
	}{
		{"matching", attrs(admissionv1.Create, "test", "web"), true, ""},
		{"other namespace", attrs(admissionv1.Create, "prod", "web"), false, ""},
		{"other operation", attrs(admissionv1.Delete, "test", "web"), false, ""},
		{"excluded by name", attrs(admissionv1.Create, "test", "exempt"), false, ""},
		{"missing namespace", attrs(admissionv1.Create, "missing", "web"), false, `namespaces "missing" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, inv, err := m.matches(context.Background(), tc.a, nsLabels)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.want {
				t.Fatalf("matches = %v, %v", ok, err)
			}
			if ok && inv.kind.Kind != "Deployment" {
				t.Errorf("invocation %+v", inv)
			}
		})
	}
	if _, err := newPolicyMatcher(&admissionregistrationv1.MatchResources{ObjectSelector: &metav1.LabelSelector{}}); err == nil ||
		err.Error() != "a nil namespace selector was passed, please ensure selectors are initialized properly" {
		t.Errorf("nil selector: %v", err)
	}
}

func TestPolicyDenial(t *testing.T) {
	a := &admissionAttributes{resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, name: "web"}
	err := policyDenial(a, policyDecision{policy: "p.example.com", binding: "b.example.com", message: "failed expression: object.spec.replicas <= 5"})
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("%T", err)
	}
	st := status.Status()
	want := `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'p.example.com' with binding 'b.example.com' denied request: failed expression: object.spec.replicas <= 5`
	if st.Message != want || st.Code != 422 || st.Reason != metav1.StatusReasonInvalid || len(st.Details.Causes) != 1 {
		t.Errorf("denial: %+v", st)
	}
	err = policyDenial(a, policyDecision{policy: "p", message: "failed to configure policy: x", reason: metav1.StatusReasonForbidden})
	if st := err.(apierrors.APIStatus).Status(); st.Code != 403 || !strings.HasSuffix(st.Message, "ValidatingAdmissionPolicy 'p' denied request: failed to configure policy: x") {
		t.Errorf("denial without binding: %+v", st)
	}
}

func TestConditionsHold(t *testing.T) {
	compiler, err := kcel.NewAdmissionCompiler(false, false)
	if err != nil {
		t.Fatal(err)
	}
	compile := func(exprs ...string) []compiledExpression {
		var out []compiledExpression
		for _, e := range exprs {
			p, err := compiler.Compile(e, kcel.BoolResult...)
			out = append(out, compiledExpression{prog: p, err: err})
		}
		return out
	}
	obj, _ := celObject(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	ev, err := compiler.NewEvaluation(context.Background(), &kcel.AdmissionInput{Object: obj, Request: &kcel.Request{Operation: "CREATE"}}, kcel.MatchConditionsBudget)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		exprs   []string
		want    bool
		wantErr string
	}{
		{[]string{"object.metadata.name == 'web'", "request.operation == 'CREATE'", "object.kind == 'Deployment'"}, true, ""},
		{[]string{"object.metadata.nope == 1", "false"}, false, ""}, // a false condition wins over errors
		{[]string{"object.metadata.nope == 1", "true"}, false, "expression 'object.metadata.nope == 1' resulted in error: no such key: nope"},
	} {
		ok, err := conditionsHold(ev, compile(tc.exprs...))
		if ok != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("%v: %v, %v", tc.exprs, ok, err)
		}
	}
}
