package validation

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func validWebhookConfiguration() *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-admission", ResourceVersion: "1"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.nginx.ingress.kubernetes.io",
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"},
					Resources: []string{"ingresses"}, Scope: ptr.To(admissionregistrationv1.AllScopes)},
			}},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "ingress-nginx", Name: "ingress-nginx-controller-admission", Path: ptr.To("/networking/v1/ingresses"), Port: ptr.To[int32](443)}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](10),
			NamespaceSelector:       &metav1.LabelSelector{},
			ObjectSelector:          &metav1.LabelSelector{},
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

func TestValidatingWebhookConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *admissionregistrationv1.ValidatingWebhookConfiguration)
		want   []wantErr
	}{
		{"valid", func(*admissionregistrationv1.ValidatingWebhookConfiguration) {}, nil},
		{"name not qualified", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { c.Webhooks[0].Name = "validate" },
			[]wantErr{{"webhooks[0].name", field.ErrorTypeInvalid, "should be a domain with at least three segments separated by dots"}}},
		{"sideEffects missing", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { c.Webhooks[0].SideEffects = nil },
			[]wantErr{{"webhooks[0].sideEffects", field.ErrorTypeRequired, "must specify one of None, NoneOnDryRun"}}},
		{"sideEffects Unknown", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].SideEffects = ptr.To(admissionregistrationv1.SideEffectClassUnknown)
		}, []wantErr{{"webhooks[0].sideEffects", field.ErrorTypeNotSupported, `supported values: "None", "NoneOnDryRun"`}}},
		{"timeout", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].TimeoutSeconds = ptr.To[int32](31)
		},
			[]wantErr{{"webhooks[0].timeoutSeconds", field.ErrorTypeInvalid, "the timeout value must be between 1 and 30 seconds"}}},
		{"failure policy", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.FailurePolicyType("Maybe"))
		}, []wantErr{{"webhooks[0].failurePolicy", field.ErrorTypeNotSupported, `"Fail", "Ignore"`}}},
		{"no client", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].ClientConfig.Service = nil
		},
			[]wantErr{{"webhooks[0].clientConfig", field.ErrorTypeRequired, "exactly one of url or service is required"}}},
		{"http url", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To("http://example.com/x?a=b")}
		}, []wantErr{
			{"webhooks[0].clientConfig.url", field.ErrorTypeInvalid, "'https' is the only allowed URL scheme"},
			{"webhooks[0].clientConfig.url", field.ErrorTypeInvalid, "query parameters are not permitted in the URL"},
		}},
		{"service path", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].ClientConfig.Service.Path = ptr.To("validate")
			c.Webhooks[0].ClientConfig.Service.Port = ptr.To[int32](0)
		}, []wantErr{
			{"webhooks[0].clientConfig.service.path", field.ErrorTypeInvalid, "must start with a '/'"},
			{"webhooks[0].clientConfig.service.port", field.ErrorTypeInvalid, "port is not valid"},
		}},
		{"review versions", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].AdmissionReviewVersions = []string{"v2"}
		},
			[]wantErr{{"webhooks[0].admissionReviewVersions", field.ErrorTypeInvalid, "must include at least one of v1, v1beta1"}}},
		{"duplicate webhook", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks = append(c.Webhooks, c.Webhooks[0])
		}, []wantErr{{"webhooks[1].name", field.ErrorTypeDuplicate, ""}}},
		{"rules", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			r := &c.Webhooks[0].Rules[0]
			r.Operations = []admissionregistrationv1.OperationType{"*", "PATCH"}
			r.APIGroups = nil
			r.Resources = []string{"*", "pods", "deployments/*", "deployments/scale"}
			r.Scope = ptr.To(admissionregistrationv1.ScopeType("Global"))
		}, []wantErr{
			{"webhooks[0].rules[0].operations", field.ErrorTypeInvalid, "if '*' is present, must not specify other operations"},
			{"webhooks[0].rules[0].operations[1]", field.ErrorTypeNotSupported, `"CONNECT"`},
			{"webhooks[0].rules[0].apiGroups", field.ErrorTypeRequired, ""},
			{"webhooks[0].rules[0].resources", field.ErrorTypeInvalid, "if '*' is present, must not specify other resources without subresources"},
			{"webhooks[0].rules[0].resources[3]", field.ErrorTypeInvalid, "if 'deployments/*' is present, must not specify deployments/scale"},
			{"webhooks[0].rules[0].scope", field.ErrorTypeNotSupported, `"*", "Cluster", "Namespaced"`},
		}},
		{"selector", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Near"}}}
		}, []wantErr{{"webhooks[0].namespaceSelector.matchExpressions[0].operator", field.ErrorTypeInvalid, ""}}},
		{"match conditions", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "a", Expression: " "}, {Name: "a", Expression: "true"}}
		}, []wantErr{
			{"webhooks[0].matchConditions[0].expression", field.ErrorTypeRequired, ""},
			{"webhooks[0].matchConditions[1].name", field.ErrorTypeDuplicate, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validWebhookConfiguration()
			tc.mutate(c)
			checkErrs(t, ValidateCreate(c), tc.want...)
		})
	}
}

func TestWebhookConfigurationUpdateKeepsWhatItHad(t *testing.T) {
	// A configuration stored with side effects Unknown (through v1beta1) may be updated with
	// them; a new one may not, and neither may one that had none.
	old := validWebhookConfiguration()
	old.Webhooks[0].SideEffects = ptr.To(admissionregistrationv1.SideEffectClassUnknown)
	upd := old.DeepCopy()
	upd.Labels = map[string]string{"a": "b"}
	checkErrs(t, ValidateUpdate(upd, old))
	checkErrs(t, ValidateCreate(upd), wantErr{"webhooks[0].sideEffects", field.ErrorTypeNotSupported, ""})
	clean := validWebhookConfiguration()
	checkErrs(t, ValidateUpdate(upd, clean), wantErr{"webhooks[0].sideEffects", field.ErrorTypeNotSupported, ""})

	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "m", ResourceVersion: "1"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "m.example.com", SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"}, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:8443/m")},
			ReinvocationPolicy: ptr.To(admissionregistrationv1.ReinvocationPolicyType("Always"))}}}
	checkErrs(t, ValidateCreate(m), wantErr{"webhooks[0].reinvocationPolicy", field.ErrorTypeNotSupported, `"IfNeeded", "Never"`})
}

func TestAdmissionPolicies(t *testing.T) {
	rules := []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
	}}}
	match := &admissionregistrationv1.MatchResources{ResourceRules: rules, MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{}}
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "replicas", ResourceVersion: "1"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail), MatchConstraints: match,
			Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
		}}
	checkErrs(t, ValidateCreate(vap))
	bad := vap.DeepCopy()
	bad.Spec.Validations = nil
	bad.Spec.FailurePolicy = nil
	bad.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1"}
	checkErrs(t, ValidateCreate(bad),
		wantErr{"spec.validations", field.ErrorTypeRequired, "validations or auditAnnotations must contain at least one item"},
		wantErr{"spec.failurePolicy", field.ErrorTypeRequired, ""},
		wantErr{"spec.paramKind.kind", field.ErrorTypeRequired, ""})

	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", ResourceVersion: "1"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "replicas",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	checkErrs(t, ValidateCreate(binding))
	binding.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Warn}
	binding.Spec.ParamRef = &admissionregistrationv1.ParamRef{}
	checkErrs(t, ValidateCreate(binding),
		wantErr{"spec.validationActions", field.ErrorTypeInvalid, "must not contain both Deny and Warn"},
		wantErr{"spec.paramRef", field.ErrorTypeRequired, "one of name or selector must be specified"},
		wantErr{"spec.paramRef.parameterNotFoundAction", field.ErrorTypeRequired, ""})

	mp := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sidecar", ResourceVersion: "1"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{FailurePolicy: ptr.To(admissionregistrationv1.Fail), MatchConstraints: match,
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "add", path: "/metadata/labels/a", value: "b"}]`}}}}}
	checkErrs(t, ValidateCreate(mp))
	// Mutations compile: an apply configuration must build an Object, a JSON patch a list
	// of JSONPatch.
	mp.Spec.Mutations = append(mp.Spec.Mutations,
		admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
			ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{spec: Object.spec{replicas: 3}}`}},
		admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
			ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `{"spec": 1}`}},
		admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
			JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[]`}},
		admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
			JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "add", path: }]`}})
	checkErrs(t, ValidateCreate(mp),
		wantErr{"spec.mutations[2].applyConfiguration.expression", field.ErrorTypeInvalid, "must evaluate to Object but got map(string, int)"},
		wantErr{"spec.mutations[3].jsonPatch.expression", field.ErrorTypeInvalid, "must evaluate to list(JSONPatch) but got list(dyn)"},
		wantErr{"spec.mutations[4].jsonPatch.expression", field.ErrorTypeInvalid, "compilation failed: ERROR: <input>:1:29: Syntax error"})
	mp.Spec.Mutations = mp.Spec.Mutations[:1]
	mp.Spec.Mutations[0].PatchType = "Merge"
	checkErrs(t, ValidateCreate(mp), wantErr{"spec.mutations[0].patchType", field.ErrorTypeNotSupported, ""})

	// Status writes check the status only.
	withStatus := vap.DeepCopy()
	withStatus.Status.TypeChecking = &admissionregistrationv1.TypeChecking{ExpressionWarnings: []admissionregistrationv1.ExpressionWarning{{FieldRef: "spec.validations[0]"}}}
	checkErrs(t, ValidateStatusUpdate(withStatus, vap), wantErr{"status.typeChecking.expressionWarnings[0].warning", field.ErrorTypeRequired, ""})
}
