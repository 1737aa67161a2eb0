package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
)

// apiServicePrinter is the aggregator's table of APIServices: where each is served (Local,
// or the Service as namespace/name) and whether it is available ("False (Reason)" when not).
func apiServicePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Service", "string", "The reference to the service that hosts this API endpoint."),
		column("Available", "string", "Whether this service is available."),
		ageColumn(),
	}, func(a *apiregistrationv1.APIService, now time.Time) []interface{} {
		service := "Local"
		if svc := a.Spec.Service; svc != nil {
			service = svc.Namespace + "/" + svc.Name
		}
		return []interface{}{a.Name, service, availableCell(a), since(a.CreationTimestamp, now)}
	})
}

func availableCell(a *apiregistrationv1.APIService) string {
	c := a.Condition(apiregistrationv1.Available)
	switch {
	case c == nil:
		return string(apiregistrationv1.ConditionUnknown)
	case c.Status != apiregistrationv1.ConditionTrue && c.Reason != "":
		return string(c.Status) + " (" + c.Reason + ")"
	}
	return string(c.Status)
}
