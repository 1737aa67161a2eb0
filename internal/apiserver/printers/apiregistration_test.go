package printers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

func init() {
	zeroObjects[schema.GroupResource{Group: "apiregistration.k8s.io", Resource: "apiservices"}] = []runtime.Object{&apiregistrationv1.APIService{}}
}

func TestAPIServicePrinter(t *testing.T) {
	p, ok := For("apiregistration.k8s.io", "apiservices")
	if !ok {
		t.Fatal("no printer for apiservices")
	}
	if got := strings.Join(columnNames(p), ","); got != "Name,Service,Available,Age" {
		t.Errorf("columns: %s", got)
	}
	created := metav1.NewTime(now.Add(-3 * time.Hour))
	local := &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1.apps", CreationTimestamp: created},
		Spec: apiregistrationv1.APIServiceSpec{Group: "apps", Version: "v1"}}
	local.SetCondition(apiregistrationv1.LocalAvailable(created))
	remote := &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com", CreationTimestamp: created},
		Spec: apiregistrationv1.APIServiceSpec{Group: "wardle.example.com", Version: "v1alpha1",
			Service: &apiregistrationv1.ServiceReference{Namespace: "wardle", Name: "api", Port: ptr(int32(443))}}}
	remote.SetCondition(apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionFalse,
		Reason: "ServiceNotFound", Message: `service/api in "wardle" is not present`})
	noReason := remote.DeepCopy()
	noReason.Status.Conditions[0].Reason = ""
	unknown := remote.DeepCopy()
	unknown.Status.Conditions = nil
	for _, tc := range []struct {
		obj  *apiregistrationv1.APIService
		want []interface{}
	}{
		{local, []interface{}{"v1.apps", "Local", "True", "3h"}},
		{remote, []interface{}{"v1alpha1.wardle.example.com", "wardle/api", "False (ServiceNotFound)", "3h"}},
		{noReason, []interface{}{"v1alpha1.wardle.example.com", "wardle/api", "False", "3h"}},
		{unknown, []interface{}{"v1alpha1.wardle.example.com", "wardle/api", "Unknown", "3h"}},
	} {
		got := p.Cells(tc.obj, now)
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s: cells %v, want %v", tc.obj.Name, got, tc.want)
				break
			}
		}
	}
}
