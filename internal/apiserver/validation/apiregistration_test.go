package validation

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

func validAPIService() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.k8s.io", ResourceVersion: "1"},
		Spec: apiregistrationv1.APIServiceSpec{Group: "metrics.k8s.io", Version: "v1beta1", GroupPriorityMinimum: 100, VersionPriority: 100,
			InsecureSkipTLSVerify: true, Service: &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server", Port: ptr.To[int32](443)}},
	}
}

func TestAPIService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(a *apiregistrationv1.APIService)
		want   []wantErr
	}{
		{name: "valid remote"},
		{name: "valid local", mutate: func(a *apiregistrationv1.APIService) {
			a.Spec.Service, a.Spec.InsecureSkipTLSVerify = nil, false
		}},
		{name: "the core group", mutate: func(a *apiregistrationv1.APIService) {
			a.Name, a.Spec.Group, a.Spec.Version, a.Spec.Service, a.Spec.InsecureSkipTLSVerify = "v1.", "", "v1", nil, false
		}},
		{name: "name is not version.group", mutate: func(a *apiregistrationv1.APIService) { a.Name = "metrics" },
			want: []wantErr{{"metadata.name", field.ErrorTypeInvalid, "must be `spec.version+\".\"+spec.group`: \"v1beta1.metrics.k8s.io\""}}},
		{name: "name is not a path segment", mutate: func(a *apiregistrationv1.APIService) { a.Name = "v1/x" },
			want: []wantErr{{"metadata.name", field.ErrorTypeInvalid, "may not contain '/'"}}},
		{name: "only v1 may have no group", mutate: func(a *apiregistrationv1.APIService) { a.Name, a.Spec.Group = "v1beta1.", "" },
			want: []wantErr{{"spec.group", field.ErrorTypeRequired, "only v1 may have an empty group and it better be legacy kube"}}},
		{name: "bad group and version", mutate: func(a *apiregistrationv1.APIService) {
			a.Name, a.Spec.Group, a.Spec.Version = "V1.Metrics_io", "Metrics_io", "V1"
		}, want: []wantErr{
			{"spec.group", field.ErrorTypeInvalid, "a lowercase RFC 1123 subdomain"},
			{"spec.version", field.ErrorTypeInvalid, "a DNS-1035 label"},
		}},
		{name: "priorities out of range", mutate: func(a *apiregistrationv1.APIService) {
			a.Spec.GroupPriorityMinimum, a.Spec.VersionPriority = 20001, 0
		}, want: []wantErr{
			{"spec.groupPriorityMinimum", field.ErrorTypeInvalid, "must be positive and less than 20000"},
			{"spec.versionPriority", field.ErrorTypeInvalid, "must be positive and less than 1000"},
		}},
		{name: "priorities at their bounds", mutate: func(a *apiregistrationv1.APIService) {
			a.Spec.GroupPriorityMinimum, a.Spec.VersionPriority = 20000, 1000
		}},
		{name: "local with TLS settings", mutate: func(a *apiregistrationv1.APIService) {
			a.Spec.Service, a.Spec.CABundle = nil, []byte("pem")
		}, want: []wantErr{
			{"spec.caBundle", field.ErrorTypeInvalid, "local APIServices may not have a caBundle"},
			{"spec.insecureSkipTLSVerify", field.ErrorTypeInvalid, "local APIServices may not have insecureSkipTLSVerify"},
		}},
		{name: "service without name and namespace", mutate: func(a *apiregistrationv1.APIService) {
			a.Spec.Service = &apiregistrationv1.ServiceReference{Port: ptr.To[int32](0)}
		}, want: []wantErr{
			{"spec.service.namespace", field.ErrorTypeRequired, ""},
			{"spec.service.name", field.ErrorTypeRequired, ""},
			{"spec.service.port", field.ErrorTypeInvalid, "port is not valid: must be between 1 and 65535, inclusive"},
		}},
		{name: "both caBundle and insecureSkipTLSVerify", mutate: func(a *apiregistrationv1.APIService) { a.Spec.CABundle = []byte("pem") },
			want: []wantErr{{"spec.insecureSkipTLSVerify", field.ErrorTypeInvalid, "may not be true if caBundle is present"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := validAPIService()
			if tc.mutate != nil {
				tc.mutate(a)
			}
			checkErrs(t, ValidateCreate(a), tc.want...)
		})
	}
}

func TestAPIServiceUpdates(t *testing.T) {
	old := validAPIService()
	a := old.DeepCopy()
	a.Spec.VersionPriority = 0
	checkErrs(t, ValidateUpdate(a, old), wantErr{"spec.versionPriority", field.ErrorTypeInvalid, "must be positive and less than 1000"})

	a = old.DeepCopy()
	a.Status.Conditions = []apiregistrationv1.APIServiceCondition{{Type: apiregistrationv1.Available, Status: "Maybe"}}
	checkErrs(t, ValidateStatusUpdate(a, old), wantErr{"status.conditions[0].status", field.ErrorTypeNotSupported, `supported values: "True", "False", "Unknown"`})
	a.Status.Conditions[0].Status = apiregistrationv1.ConditionFalse
	checkErrs(t, ValidateStatusUpdate(a, old))
}
