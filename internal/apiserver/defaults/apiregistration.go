package defaults

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

func registerAPIRegistration(s *runtime.Scheme) {
	addWithList(s, defaultAPIService, func(l *apiregistrationv1.APIServiceList) []apiregistrationv1.APIService { return l.Items })
}

// defaultAPIService: an extension server's Service is reached on port 443 unless it says.
func defaultAPIService(a *apiregistrationv1.APIService) {
	if svc := a.Spec.Service; svc != nil && svc.Port == nil {
		svc.Port = ptr.To[int32](443)
	}
}
