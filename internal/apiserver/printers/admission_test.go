package printers

import (
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	for res, obj := range map[string]runtime.Object{
		"validatingadmissionpolicies":       &admissionregistrationv1.ValidatingAdmissionPolicy{},
		"validatingadmissionpolicybindings": &admissionregistrationv1.ValidatingAdmissionPolicyBinding{},
		"mutatingadmissionpolicies":         &admissionregistrationv1.MutatingAdmissionPolicy{},
		"mutatingadmissionpolicybindings":   &admissionregistrationv1.MutatingAdmissionPolicyBinding{},
	} {
		zeroObjects[schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: res}] = []runtime.Object{obj}
	}
}

func TestAdmissionPrinters(t *testing.T) {
	created := metav1.NewTime(now.Add(-2 * time.Hour))
	wh := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "deny", CreationTimestamp: created},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "a.example.com"}, {Name: "b.example.com"}}}
	p, _ := For("admissionregistration.k8s.io", "validatingwebhookconfigurations")
	if got := strings.Join(columnNames(p), ","); got != "Name,Webhooks,Age" {
		t.Errorf("webhook columns: %s", got)
	}
	if cells := p.Cells(wh, now); cells[0] != "deny" || cells[1] != int64(2) || cells[2] != "120m" {
		t.Errorf("webhook cells: %v", cells)
	}

	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "replicas", CreationTimestamp: created},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:   &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
		}}
	p, _ = For("admissionregistration.k8s.io", "validatingadmissionpolicies")
	if got := strings.Join(columnNames(p), ","); got != "Name,Validations,ParamKind,Age" {
		t.Errorf("policy columns: %s", got)
	}
	if cells := p.Cells(vap, now); cells[1] != int64(1) || cells[2] != "v1/ConfigMap" {
		t.Errorf("policy cells: %v", cells)
	}

	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "replicas",
			ParamRef: &admissionregistrationv1.ParamRef{Name: "limits"}}}
	p, _ = For("admissionregistration.k8s.io", "validatingadmissionpolicybindings")
	if got := strings.Join(columnNames(p), ","); got != "Name,PolicyName,ParamRef,Age" {
		t.Errorf("binding columns: %s", got)
	}
	if cells := p.Cells(b, now); cells[1] != "replicas" || cells[2] != "*/limits" {
		t.Errorf("binding cells: %v", cells)
	}
	b.Spec.ParamRef = nil
	if cells := p.Cells(b, now); cells[2] != "<unset>" {
		t.Errorf("binding without params: %v", cells)
	}
}
