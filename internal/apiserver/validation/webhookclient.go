package validation

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// WebhookClientConfig validates where a webhook is called (exactly one of an https URL or
// a Service), as for admission webhooks; CustomResourceDefinitions' conversion webhooks
// are checked by the same rules.
func WebhookClientConfig(c *admissionregistrationv1.WebhookClientConfig, p *field.Path) field.ErrorList {
	return clientConfig(c, p)
}
