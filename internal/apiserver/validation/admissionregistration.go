package validation

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
)

// admissionregistration.k8s.io/v1: webhook configurations, validating and mutating
// admission policies and their bindings, checked as kube-apiserver checks them. The CEL
// expressions of webhooks' match conditions and of ValidatingAdmissionPolicies (match
// conditions, variables, validations, messages, audit annotations) are compiled, and one
// that does not compile, or has the wrong type, is refused with the compiler's message, as
// upstream refuses it; MutatingAdmissionPolicies' mutations must build an Object (apply
// configuration) or a list of JSONPatch.

// admissionReviewVersions are the AdmissionReview versions the server speaks.
var admissionReviewVersions = []string{"v1", "v1beta1"}

var (
	failurePolicies      = []string{string(admissionregistrationv1.Fail), string(admissionregistrationv1.Ignore)}
	matchPolicies        = []string{string(admissionregistrationv1.Equivalent), string(admissionregistrationv1.Exact)}
	reinvocationPolicies = []string{string(admissionregistrationv1.IfNeededReinvocationPolicy), string(admissionregistrationv1.NeverReinvocationPolicy)}
	ruleScopes           = []string{"*", string(admissionregistrationv1.ClusterScope), string(admissionregistrationv1.NamespacedScope)}
	ruleOperations       = []string{"*", "CONNECT", "CREATE", "DELETE", "UPDATE"}
	// noSideEffects are the classes a new webhook may declare; the other two are accepted
	// only on updates of configurations that already use them (written through v1beta1).
	noSideEffects  = []string{string(admissionregistrationv1.SideEffectClassNone), string(admissionregistrationv1.SideEffectClassNoneOnDryRun)}
	allSideEffects = []string{string(admissionregistrationv1.SideEffectClassNone), string(admissionregistrationv1.SideEffectClassNoneOnDryRun),
		string(admissionregistrationv1.SideEffectClassSome), string(admissionregistrationv1.SideEffectClassUnknown)}
	validationActions = []string{string(admissionregistrationv1.Audit), string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn)}
	policyReasons     = []string{"Forbidden", "Invalid", "RequestEntityTooLarge"}
	patchTypes        = []string{string(admissionregistrationv1.PatchTypeApplyConfiguration), string(admissionregistrationv1.PatchTypeJSONPatch)}
)

// webhookOptions relax the rules for configurations that were valid when written: an
// update may keep what the configuration already had.
type webhookOptions struct {
	allowSideEffects      bool // Some and Unknown
	allowUnknownVersions  bool // admissionReviewVersions without v1 or v1beta1
	allowDuplicateNames   bool
	allowInvalidSelectors bool
	// ignoreMatchConditions skips the match conditions of an update that does not change
	// them (they compiled when written).
	ignoreMatchConditions bool
}

func newWebhookOptions() webhookOptions { return webhookOptions{} }

// webhookFields are what validating and mutating webhooks share.
type webhookFields struct {
	name                    string
	rules                   []admissionregistrationv1.RuleWithOperations
	failurePolicy           *admissionregistrationv1.FailurePolicyType
	matchPolicy             *admissionregistrationv1.MatchPolicyType
	sideEffects             *admissionregistrationv1.SideEffectClass
	timeoutSeconds          *int32
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
	clientConfig            admissionregistrationv1.WebhookClientConfig
	admissionReviewVersions []string
	matchConditions         []admissionregistrationv1.MatchCondition
}

func validatingFields(w *admissionregistrationv1.ValidatingWebhook) webhookFields {
	return webhookFields{w.Name, w.Rules, w.FailurePolicy, w.MatchPolicy, w.SideEffects, w.TimeoutSeconds,
		w.NamespaceSelector, w.ObjectSelector, w.ClientConfig, w.AdmissionReviewVersions, w.MatchConditions}
}

func mutatingFields(w *admissionregistrationv1.MutatingWebhook) webhookFields {
	return webhookFields{w.Name, w.Rules, w.FailurePolicy, w.MatchPolicy, w.SideEffects, w.TimeoutSeconds,
		w.NamespaceSelector, w.ObjectSelector, w.ClientConfig, w.AdmissionReviewVersions, w.MatchConditions}
}

func validateValidatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) field.ErrorList {
	return validatingConfiguration(c, newWebhookOptions())
}

func validateValidatingWebhookConfigurationUpdate(c, old *admissionregistrationv1.ValidatingWebhookConfiguration) field.ErrorList {
	var oldHooks []webhookFields
	for i := range old.Webhooks {
		oldHooks = append(oldHooks, validatingFields(&old.Webhooks[i]))
	}
	var newHooks []webhookFields
	for i := range c.Webhooks {
		newHooks = append(newHooks, validatingFields(&c.Webhooks[i]))
	}
	opts := optionsFrom(oldHooks)
	opts.ignoreMatchConditions = sameMatchConditions(newHooks, oldHooks)
	errs := objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)
	return append(errs, validatingConfigurationBody(c, opts)...)
}

// sameMatchConditions tells whether an update leaves every webhook's match conditions as
// they were.
func sameMatchConditions(hooks, old []webhookFields) bool {
	if len(hooks) != len(old) {
		return false
	}
	for i := range hooks {
		if !reflect.DeepEqual(hooks[i].matchConditions, old[i].matchConditions) {
			return false
		}
	}
	return true
}

func validatingConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration, opts webhookOptions) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, validatingConfigurationBody(c, opts)...)
}

func validatingConfigurationBody(c *admissionregistrationv1.ValidatingWebhookConfiguration, opts webhookOptions) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range c.Webhooks {
		p := field.NewPath("webhooks").Index(i)
		f := validatingFields(&c.Webhooks[i])
		errs = append(errs, webhook(f, opts, p)...)
		errs = append(errs, uniqueName(f.name, seen, opts, p)...)
	}
	return errs
}

func validateMutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) field.ErrorList {
	errs := objectMeta(&c.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, mutatingConfigurationBody(c, newWebhookOptions())...)
}

func validateMutatingWebhookConfigurationUpdate(c, old *admissionregistrationv1.MutatingWebhookConfiguration) field.ErrorList {
	var oldHooks []webhookFields
	for i := range old.Webhooks {
		oldHooks = append(oldHooks, mutatingFields(&old.Webhooks[i]))
	}
	var newHooks []webhookFields
	for i := range c.Webhooks {
		newHooks = append(newHooks, mutatingFields(&c.Webhooks[i]))
	}
	opts := optionsFrom(oldHooks)
	opts.ignoreMatchConditions = sameMatchConditions(newHooks, oldHooks)
	errs := objectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta)
	return append(errs, mutatingConfigurationBody(c, opts)...)
}

func mutatingConfigurationBody(c *admissionregistrationv1.MutatingWebhookConfiguration, opts webhookOptions) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range c.Webhooks {
		p := field.NewPath("webhooks").Index(i)
		w := &c.Webhooks[i]
		f := mutatingFields(w)
		errs = append(errs, webhook(f, opts, p)...)
		if w.ReinvocationPolicy != nil && !contains(reinvocationPolicies, string(*w.ReinvocationPolicy)) {
			errs = append(errs, field.NotSupported(p.Child("reinvocationPolicy"), *w.ReinvocationPolicy, reinvocationPolicies))
		}
		errs = append(errs, uniqueName(f.name, seen, opts, p)...)
	}
	return errs
}

// optionsFrom lets an update keep what the stored configuration already relied on.
func optionsFrom(old []webhookFields) webhookOptions {
	opts := newWebhookOptions()
	names := sets.New[string]()
	for _, h := range old {
		if h.sideEffects == nil || !contains(noSideEffects, string(*h.sideEffects)) {
			opts.allowSideEffects = true
		}
		if len(h.admissionReviewVersions) > 0 && !anyIn(h.admissionReviewVersions, admissionReviewVersions) {
			opts.allowUnknownVersions = true
		}
		if names.Has(h.name) {
			opts.allowDuplicateNames = true
		}
		names.Insert(h.name)
		for _, sel := range []*metav1.LabelSelector{h.namespaceSelector, h.objectSelector} {
			if sel != nil && len(labelSelector(sel, nil)) > 0 {
				opts.allowInvalidSelectors = true
			}
		}
	}
	return opts
}

func uniqueName(name string, seen sets.Set[string], opts webhookOptions, p *field.Path) field.ErrorList {
	if opts.allowDuplicateNames || name == "" {
		return nil
	}
	if seen.Has(name) {
		return field.ErrorList{field.Duplicate(p.Child("name"), name)}
	}
	seen.Insert(name)
	return nil
}

func webhook(w webhookFields, opts webhookOptions, p *field.Path) field.ErrorList {
	errs := utilvalidation.IsFullyQualifiedName(p.Child("name"), w.name)
	for i := range w.rules {
		errs = append(errs, ruleWithOperations(&w.rules[i], p.Child("rules").Index(i))...)
	}
	if w.failurePolicy != nil && !contains(failurePolicies, string(*w.failurePolicy)) {
		errs = append(errs, field.NotSupported(p.Child("failurePolicy"), *w.failurePolicy, failurePolicies))
	}
	if w.matchPolicy != nil && !contains(matchPolicies, string(*w.matchPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("matchPolicy"), *w.matchPolicy, matchPolicies))
	}
	allowed := noSideEffects
	if opts.allowSideEffects {
		allowed = allSideEffects
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	switch {
	case w.sideEffects == nil:
		errs = append(errs, field.Required(p.Child("sideEffects"), "must specify one of "+strings.Join(sorted, ", ")))
	case !contains(allowed, string(*w.sideEffects)):
		errs = append(errs, field.NotSupported(p.Child("sideEffects"), *w.sideEffects, sorted))
	}
	if t := w.timeoutSeconds; t != nil && (*t < 1 || *t > 30) {
		errs = append(errs, field.Invalid(p.Child("timeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
	}
	selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidSelectors}
	if w.namespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(w.namespaceSelector, selOpts, p.Child("namespaceSelector"))...)
	}
	if w.objectSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(w.objectSelector, selOpts, p.Child("objectSelector"))...)
	}
	errs = append(errs, clientConfig(&w.clientConfig, p.Child("clientConfig"))...)
	if !opts.ignoreMatchConditions {
		errs = append(errs, matchConditions(w.matchConditions, false, p.Child("matchConditions"))...)
	}
	errs = append(errs, reviewVersions(w.admissionReviewVersions, !opts.allowUnknownVersions, p.Child("admissionReviewVersions"))...)
	return errs
}

func reviewVersions(versions []string, requireKnown bool, p *field.Path) field.ErrorList {
	known := strings.Join(admissionReviewVersions, ", ")
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "must specify one of "+known)}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, v := range versions {
		if seen.Has(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, "duplicate version"))
			continue
		}
		seen.Insert(v)
		errs = append(errs, msgs(p.Index(i), v, utilvalidation.IsDNS1035Label(v))...)
	}
	if requireKnown && !anyIn(versions, admissionReviewVersions) {
		errs = append(errs, field.Invalid(p, versions, "must include at least one of "+known))
	}
	return errs
}

func clientConfig(c *admissionregistrationv1.WebhookClientConfig, p *field.Path) field.ErrorList {
	switch {
	case (c.URL == nil) == (c.Service == nil):
		return field.ErrorList{field.Required(p, "exactly one of url or service is required")}
	case c.URL != nil:
		return webhookURL(*c.URL, p.Child("url"))
	}
	return webhookService(c.Service, p.Child("service"))
}

// webhookURL requires https://host[:port][/path], without user information, query or
// fragment.
func webhookURL(raw string, p *field.Path) field.ErrorList {
	const form = "; desired format: https://host[/path]"
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Required(p, "url must be a valid URL: "+err.Error()+form)}
	}
	var errs field.ErrorList
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(p, u.Scheme, "'https' is the only allowed URL scheme"+form))
	}
	if u.Host == "" {
		errs = append(errs, field.Invalid(p, u.Host, "host must be specified"+form))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(p, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" {
		errs = append(errs, field.Invalid(p, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(p, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

func webhookService(s *admissionregistrationv1.ServiceReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if s.Namespace == "" {
		errs = append(errs, field.Required(p.Child("namespace"), ""))
	}
	port := int32(443)
	if s.Port != nil {
		port = *s.Port
	}
	if problems := utilvalidation.IsValidPortNum(int(port)); len(problems) > 0 {
		errs = append(errs, field.Invalid(p.Child("port"), port, "port is not valid: "+strings.Join(problems, ", ")))
	}
	if s.Path == nil || *s.Path == "" || *s.Path == "/" {
		return errs
	}
	pp, urlPath := p.Child("path"), *s.Path
	if urlPath == "//" {
		return append(errs, field.Invalid(pp, urlPath, "segment[0] may not be empty"))
	}
	if !strings.HasPrefix(urlPath, "/") {
		errs = append(errs, field.Invalid(pp, urlPath, "must start with a '/'"))
	}
	segments := strings.TrimSuffix(strings.TrimPrefix(urlPath, "/"), "/")
	for i, seg := range strings.Split(segments, "/") {
		if seg == "" {
			errs = append(errs, field.Invalid(pp, urlPath, fmt.Sprintf("segment[%d] may not be empty", i)))
			continue
		}
		for _, problem := range utilvalidation.IsDNS1123Subdomain(seg) {
			errs = append(errs, field.Invalid(pp, urlPath, fmt.Sprintf("segment[%d]: %v", i, problem)))
		}
	}
	return errs
}

func ruleWithOperations(r *admissionregistrationv1.RuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Operations) == 0 {
		errs = append(errs, field.Required(p.Child("operations"), ""))
	}
	if len(r.Operations) > 1 {
		for _, op := range r.Operations {
			if op == admissionregistrationv1.OperationAll {
				errs = append(errs, field.Invalid(p.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
				break
			}
		}
	}
	for i, op := range r.Operations {
		if !contains(ruleOperations, string(op)) {
			errs = append(errs, field.NotSupported(p.Child("operations").Index(i), op, ruleOperations))
		}
	}
	return append(errs, rule(&r.Rule, p)...)
}

func rule(r *admissionregistrationv1.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), ""))
	}
	if len(r.APIGroups) > 1 && contains(r.APIGroups, "*") {
		errs = append(errs, field.Invalid(p.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	if len(r.APIVersions) == 0 {
		errs = append(errs, field.Required(p.Child("apiVersions"), ""))
	}
	if len(r.APIVersions) > 1 && contains(r.APIVersions, "*") {
		errs = append(errs, field.Invalid(p.Child("apiVersions"), r.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(p.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, ruleResources(r.Resources, p.Child("resources"))...)
	if r.Scope != nil && !contains(ruleScopes, string(*r.Scope)) {
		errs = append(errs, field.NotSupported(p.Child("scope"), *r.Scope, ruleScopes))
	}
	return errs
}

// ruleResources checks "resource", "resource/subresource" and their wildcards: "*/*" stands
// alone, "*" excludes plain resources, "x/*" excludes "x/y" and "*/y" excludes "x/y".
func ruleResources(resources []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(p, ""))
	}
	anySub := sets.New[string]() // x of x/*
	anyRes := sets.New[string]() // y of */y
	double, single, plain := false, false, false
	for i, rs := range resources {
		if rs == "" {
			errs = append(errs, field.Required(p.Index(i), ""))
			continue
		}
		switch rs {
		case "*/*":
			double = true
		case "*":
			single = true
		}
		res, sub, found := strings.Cut(rs, "/")
		if !found {
			plain = plain || rs != "*"
			continue
		}
		if anySub.Has(res) {
			errs = append(errs, field.Invalid(p.Index(i), rs, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, rs)))
		}
		if anyRes.Has(sub) {
			errs = append(errs, field.Invalid(p.Index(i), rs, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, rs)))
		}
		if sub == "*" {
			anySub.Insert(res)
		}
		if res == "*" {
			anyRes.Insert(sub)
		}
	}
	if len(resources) > 1 && double {
		errs = append(errs, field.Invalid(p, resources, "if '*/*' is present, must not specify other resources"))
	}
	if single && plain {
		errs = append(errs, field.Invalid(p, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return errs
}

// matchConditions checks match conditions and compiles them; their expressions see params
// when the policy has a paramKind (webhooks have none), and never policy variables.
func matchConditions(conds []admissionregistrationv1.MatchCondition, params bool, p *field.Path) field.ErrorList {
	return matchConditionsChecked(conds, true, params, p)
}

func matchConditionsChecked(conds []admissionregistrationv1.MatchCondition, compile, params bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	var compiler *kcel.AdmissionCompiler
	if len(conds) > 64 {
		errs = append(errs, field.TooMany(p, len(conds), 64))
	}
	seen := sets.New[string]()
	for i, c := range conds {
		cp := p.Index(i)
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, field.Required(cp.Child("expression"), ""))
		} else if compile {
			if compiler == nil {
				var err error
				if compiler, err = kcel.NewAdmissionCompiler(params, false); err != nil {
					return append(errs, field.InternalError(cp.Child("expression"), err))
				}
			}
			_, err := compiler.Compile(strings.TrimSpace(c.Expression), kcel.BoolResult...)
			errs = append(errs, celError(cp.Child("expression"), strings.TrimSpace(c.Expression), err)...)
		}
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			errs = append(errs, qualifiedName(c.Name, cp.Child("name"))...)
			if seen.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			seen.Insert(c.Name)
		}
	}
	return errs
}

// Policies.

func validateValidatingAdmissionPolicy(vap *admissionregistrationv1.ValidatingAdmissionPolicy) field.ErrorList {
	errs := objectMeta(&vap.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, validatingPolicySpec(vap, false)...)
}

func validateValidatingAdmissionPolicyUpdate(vap, old *admissionregistrationv1.ValidatingAdmissionPolicy) field.ErrorList {
	errs := objectMetaUpdate(&vap.ObjectMeta, &old.ObjectMeta)
	// Match conditions that did not change (nor the paramKind they may use) compiled when
	// they were written.
	same := reflect.DeepEqual(vap.Spec.ParamKind, old.Spec.ParamKind) && reflect.DeepEqual(vap.Spec.MatchConditions, old.Spec.MatchConditions)
	return append(errs, validatingPolicySpec(vap, same)...)
}

func validateValidatingAdmissionPolicyStatusUpdate(vap, old *admissionregistrationv1.ValidatingAdmissionPolicy) field.ErrorList {
	errs := objectMetaUpdate(&vap.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	if tc := vap.Status.TypeChecking; tc != nil {
		for i, w := range tc.ExpressionWarnings {
			wp := p.Child("typeChecking", "expressionWarnings").Index(i)
			if w.Warning == "" {
				errs = append(errs, field.Required(wp.Child("warning"), ""))
			}
			if strings.TrimSpace(w.FieldRef) == "" {
				errs = append(errs, field.Required(wp.Child("fieldRef"), ""))
			}
		}
	}
	return append(errs, metav1validation.ValidateConditions(vap.Status.Conditions, p.Child("conditions"))...)
}

func validatingPolicySpec(vap *admissionregistrationv1.ValidatingAdmissionPolicy, ignoreMatchConditions bool) field.ErrorList {
	spec, p := &vap.Spec, field.NewPath("spec")
	compiler, err := kcel.NewAdmissionCompiler(spec.ParamKind != nil, len(spec.Variables) > 0)
	if err != nil {
		return field.ErrorList{field.InternalError(p, err)}
	}
	errs := policyCommon(spec.FailurePolicy, spec.ParamKind, spec.MatchConstraints, spec.MatchConditions, spec.Variables, compiler, ignoreMatchConditions, p)
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		const msg = "validations or auditAnnotations must contain at least one item"
		return append(errs, field.Required(p.Child("validations"), msg), field.Required(p.Child("auditAnnotations"), msg))
	}
	for i, v := range spec.Validations {
		vp := p.Child("validations").Index(i)
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), "expression is not specified"))
		} else {
			_, err := compiler.Compile(v.Expression, kcel.BoolResult...)
			errs = append(errs, celError(vp.Child("expression"), v.Expression, err)...)
		}
		if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
			errs = append(errs, field.Invalid(vp.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
		} else if v.MessageExpression != "" {
			_, err := compiler.Compile(v.MessageExpression, kcel.StringResult...)
			errs = append(errs, celError(vp.Child("messageExpression"), v.MessageExpression, err)...)
		}
		msg := strings.TrimSpace(v.Message)
		switch {
		case v.Message != "" && msg == "":
			errs = append(errs, field.Invalid(vp.Child("message"), v.Message, "message must be non-empty if specified"))
		case strings.ContainsAny(msg, "\r\n"):
			errs = append(errs, field.Invalid(vp.Child("message"), v.Message, "message must not contain line breaks"))
		}
		if v.Reason != nil && !contains(policyReasons, string(*v.Reason)) {
			errs = append(errs, field.NotSupported(vp.Child("reason"), *v.Reason, policyReasons))
		}
	}
	if len(spec.AuditAnnotations) > 20 {
		errs = append(errs, field.Invalid(p.Child("auditAnnotations"), spec.AuditAnnotations, "must not have more than 20 auditAnnotations"))
	}
	keys := sets.New[string]()
	for i, a := range spec.AuditAnnotations {
		ap := p.Child("auditAnnotations").Index(i)
		if vap.Name != "" {
			errs = append(errs, qualifiedName(vap.Name+"/"+a.Key, ap.Child("key"))...)
		} else {
			errs = append(errs, field.Invalid(ap.Child("key"), a.Key, "requires metadata.name be non-empty"))
		}
		switch v := strings.TrimSpace(a.ValueExpression); {
		case v == "":
			errs = append(errs, field.Required(ap.Child("valueExpression"), "valueExpression is not specified"))
		case len(v) > 5*1024:
			errs = append(errs, field.Required(ap.Child("valueExpression"), "must not exceed 5120 bytes in length"))
		default:
			_, err := compiler.Compile(a.ValueExpression, kcel.StringOrNullResult...)
			errs = append(errs, celError(ap.Child("valueExpression"), a.ValueExpression, err)...)
		}
		if keys.Has(a.Key) {
			errs = append(errs, field.Duplicate(ap.Child("key"), a.Key))
		}
		keys.Insert(a.Key)
	}
	return errs
}

func validateMutatingAdmissionPolicy(mp *admissionregistrationv1.MutatingAdmissionPolicy) field.ErrorList {
	errs := objectMeta(&mp.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, mutatingPolicySpec(&mp.Spec)...)
}

func validateMutatingAdmissionPolicyUpdate(mp, old *admissionregistrationv1.MutatingAdmissionPolicy) field.ErrorList {
	errs := objectMetaUpdate(&mp.ObjectMeta, &old.ObjectMeta)
	return append(errs, mutatingPolicySpec(&mp.Spec)...)
}

func mutatingPolicySpec(spec *admissionregistrationv1.MutatingAdmissionPolicySpec) field.ErrorList {
	p := field.NewPath("spec")
	compiler, err := kcel.NewMutatingCompiler(spec.ParamKind != nil, len(spec.Variables) > 0)
	if err != nil {
		return field.ErrorList{field.InternalError(p, err)}
	}
	errs := policyCommon(spec.FailurePolicy, spec.ParamKind, spec.MatchConstraints, spec.MatchConditions, spec.Variables, compiler, false, p)
	if len(spec.Mutations) == 0 {
		errs = append(errs, field.Required(p.Child("mutations"), "mutations must contain at least one item"))
	}
	for i, m := range spec.Mutations {
		mp := p.Child("mutations").Index(i)
		switch m.PatchType {
		case "":
			errs = append(errs, field.Required(mp.Child("patchType"), ""))
		case admissionregistrationv1.PatchTypeApplyConfiguration:
			if m.ApplyConfiguration == nil || strings.TrimSpace(m.ApplyConfiguration.Expression) == "" {
				errs = append(errs, field.Required(mp.Child("applyConfiguration", "expression"), "expression is not specified"))
			} else {
				_, err := compiler.Compile(m.ApplyConfiguration.Expression, kcel.ApplyConfigurationResult...)
				errs = append(errs, celError(mp.Child("applyConfiguration", "expression"), m.ApplyConfiguration.Expression, err)...)
			}
			if m.JSONPatch != nil {
				errs = append(errs, field.Forbidden(mp.Child("jsonPatch"), "must not be specified when patchType is ApplyConfiguration"))
			}
		case admissionregistrationv1.PatchTypeJSONPatch:
			if m.JSONPatch == nil || strings.TrimSpace(m.JSONPatch.Expression) == "" {
				errs = append(errs, field.Required(mp.Child("jsonPatch", "expression"), "expression is not specified"))
			} else {
				_, err := compiler.Compile(m.JSONPatch.Expression, kcel.JSONPatchResult...)
				errs = append(errs, celError(mp.Child("jsonPatch", "expression"), m.JSONPatch.Expression, err)...)
			}
			if m.ApplyConfiguration != nil {
				errs = append(errs, field.Forbidden(mp.Child("applyConfiguration"), "must not be specified when patchType is JSONPatch"))
			}
		default:
			errs = append(errs, field.NotSupported(mp.Child("patchType"), m.PatchType, patchTypes))
		}
	}
	if rp := spec.ReinvocationPolicy; rp != "" && !contains(reinvocationPolicies, string(rp)) {
		errs = append(errs, field.NotSupported(p.Child("reinvocationPolicy"), rp, reinvocationPolicies))
	}
	return errs
}

// policyCommon checks what validating and mutating policies share. With a compiler, the
// variables are compiled (in order, each declared to what follows), and the match
// conditions unless ignoreMatchConditions; without one (mutating policies, not enforced)
// expressions are checked for presence only.
func policyCommon(failure *admissionregistrationv1.FailurePolicyType, paramKind *admissionregistrationv1.ParamKind,
	match *admissionregistrationv1.MatchResources, conds []admissionregistrationv1.MatchCondition,
	variables []admissionregistrationv1.Variable, compiler *kcel.AdmissionCompiler, ignoreMatchConditions bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case failure == nil:
		errs = append(errs, field.Required(p.Child("failurePolicy"), ""))
	case !contains(failurePolicies, string(*failure)):
		errs = append(errs, field.NotSupported(p.Child("failurePolicy"), *failure, failurePolicies))
	}
	if paramKind != nil {
		errs = append(errs, validateParamKind(paramKind, p.Child("paramKind"))...)
	}
	if match == nil {
		errs = append(errs, field.Required(p.Child("matchConstraints"), ""))
	} else {
		errs = append(errs, matchResources(match, p.Child("matchConstraints"))...)
		if len(match.ResourceRules) == 0 {
			errs = append(errs, field.Required(p.Child("matchConstraints", "resourceRules"), ""))
		}
	}
	switch {
	case compiler == nil:
		errs = append(errs, matchConditionsChecked(conds, false, false, p.Child("matchConditions"))...)
	case !ignoreMatchConditions:
		errs = append(errs, matchConditions(conds, paramKind != nil, p.Child("matchConditions"))...)
	}
	for i, v := range variables {
		vp := p.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(vp.Child("name"), "name is not specified"))
		} else if !isCELIdentifier(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, "name is not a valid CEL identifier"))
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), "expression is not specified"))
		} else if compiler != nil {
			errs = append(errs, celError(vp.Child("expression"), v.Expression, compiler.CompileVariable(v.Name, v.Expression))...)
		}
	}
	return errs
}

// celError turns a compilation error into kube-apiserver's field error: Invalid with the
// expression as the value and the compiler's message ("compilation failed: ERROR: ...").
func celError(p *field.Path, expr string, err error) field.ErrorList {
	if err == nil {
		return nil
	}
	var ce *kcel.Error
	if !errors.As(err, &ce) {
		return field.ErrorList{field.InternalError(p, fmt.Errorf("unsupported error type: %w", err))}
	}
	switch ce.Type {
	case kcel.ErrorRequired:
		return field.ErrorList{field.Required(p, ce.Detail)}
	case kcel.ErrorInternal:
		return field.ErrorList{field.InternalError(p, ce)}
	}
	return field.ErrorList{field.Invalid(p, expr, ce.Detail)}
}

var celIdentifier = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

var celReserved = sets.New("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
	"function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while")

func isCELIdentifier(s string) bool { return celIdentifier.MatchString(s) && !celReserved.Has(s) }

func validateParamKind(k *admissionregistrationv1.ParamKind, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if k.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	} else {
		group, version := "", k.APIVersion
		switch strings.Count(k.APIVersion, "/") {
		case 0:
		case 1:
			group, version, _ = strings.Cut(k.APIVersion, "/")
		default:
			errs = append(errs, field.Invalid(p.Child("apiVersion"), k.APIVersion, "unexpected GroupVersion string: "+k.APIVersion))
			version = "v"
		}
		if group != "" {
			if problems := utilvalidation.IsDNS1123Subdomain(group); len(problems) > 0 {
				errs = append(errs, field.Invalid(p.Child("apiVersion"), group, strings.Join(problems, ",")))
			}
		}
		if version == "" {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), k.APIVersion, "version must be specified"))
		} else if problems := utilvalidation.IsDNS1035Label(version); len(problems) > 0 {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), version, strings.Join(problems, ",")))
		}
	}
	if k.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else if problems := utilvalidation.IsDNS1035Label(strings.ToLower(k.Kind)); len(problems) > 0 {
		errs = append(errs, field.Invalid(p.Child("kind"), k.Kind, "may have mixed case, but should otherwise match: "+strings.Join(problems, ",")))
	}
	return errs
}

func matchResources(m *admissionregistrationv1.MatchResources, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.MatchPolicy == nil:
		errs = append(errs, field.Required(p.Child("matchPolicy"), ""))
	case !contains(matchPolicies, string(*m.MatchPolicy)):
		errs = append(errs, field.NotSupported(p.Child("matchPolicy"), *m.MatchPolicy, matchPolicies))
	}
	if m.NamespaceSelector == nil {
		errs = append(errs, field.Required(p.Child("namespaceSelector"), ""))
	} else {
		errs = append(errs, labelSelector(m.NamespaceSelector, p.Child("namespaceSelector"))...)
	}
	if m.ObjectSelector == nil {
		errs = append(errs, field.Required(p.Child("objectSelector"), ""))
	} else {
		errs = append(errs, labelSelector(m.ObjectSelector, p.Child("objectSelector"))...)
	}
	for i := range m.ResourceRules {
		errs = append(errs, namedRule(&m.ResourceRules[i], p.Child("resourceRules").Index(i))...)
	}
	for i := range m.ExcludeResourceRules {
		errs = append(errs, namedRule(&m.ExcludeResourceRules[i], p.Child("excludeResourceRules").Index(i))...)
	}
	return errs
}

func namedRule(r *admissionregistrationv1.NamedRuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, name := range r.ResourceNames {
		for _, msg := range path.ValidatePathSegmentName(name, false) {
			errs = append(errs, field.Invalid(p.Child("resourceNames").Index(i), name, msg))
		}
		if seen.Has(name) {
			errs = append(errs, field.Duplicate(p.Child("resourceNames").Index(i), name))
		}
		seen.Insert(name)
	}
	return append(errs, ruleWithOperations(&r.RuleWithOperations, p)...)
}

func validateValidatingAdmissionPolicyBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	errs := objectMeta(&b.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, validatingBindingSpec(&b.Spec)...)
}

func validateValidatingAdmissionPolicyBindingUpdate(b, old *admissionregistrationv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	errs := objectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)
	return append(errs, validatingBindingSpec(&b.Spec)...)
}

func validatingBindingSpec(spec *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec) field.ErrorList {
	p := field.NewPath("spec")
	errs := bindingCommon(spec.PolicyName, spec.ParamRef, spec.MatchResources, p)
	ap := p.Child("validationActions")
	seen := sets.New[string]()
	for i, a := range spec.ValidationActions {
		if !contains(validationActions, string(a)) {
			errs = append(errs, field.NotSupported(ap.Index(i), a, validationActions))
		}
		if seen.Has(string(a)) {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		seen.Insert(string(a))
	}
	if seen.Has(string(admissionregistrationv1.Deny)) && seen.Has(string(admissionregistrationv1.Warn)) {
		errs = append(errs, field.Invalid(ap, spec.ValidationActions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	if seen.Len() == 0 {
		errs = append(errs, field.Required(ap, "at least one validation action is required"))
	}
	return errs
}

func validateMutatingAdmissionPolicyBinding(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) field.ErrorList {
	errs := objectMeta(&b.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, bindingCommon(b.Spec.PolicyName, b.Spec.ParamRef, b.Spec.MatchResources, field.NewPath("spec"))...)
}

func validateMutatingAdmissionPolicyBindingUpdate(b, old *admissionregistrationv1.MutatingAdmissionPolicyBinding) field.ErrorList {
	errs := objectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)
	return append(errs, bindingCommon(b.Spec.PolicyName, b.Spec.ParamRef, b.Spec.MatchResources, field.NewPath("spec"))...)
}

func bindingCommon(policy string, ref *admissionregistrationv1.ParamRef, match *admissionregistrationv1.MatchResources, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if policy == "" {
		errs = append(errs, field.Required(p.Child("policyName"), ""))
	} else {
		errs = append(errs, msgs(p.Child("policyName"), policy, nameIsDNSSubdomain(policy, false))...)
	}
	errs = append(errs, paramRef(ref, p.Child("paramRef"))...)
	if match != nil {
		errs = append(errs, matchResources(match, p.Child("matchResources"))...)
	}
	return errs
}

func paramRef(r *admissionregistrationv1.ParamRef, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if r.Name != "" {
		for _, msg := range path.ValidatePathSegmentName(r.Name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), r.Name, msg))
		}
		if r.Selector != nil {
			errs = append(errs, field.Forbidden(p.Child("name"), "name and selector are mutually exclusive"))
		}
	}
	if r.Selector != nil {
		errs = append(errs, labelSelector(r.Selector, p.Child("selector"))...)
		if r.Name != "" {
			errs = append(errs, field.Forbidden(p.Child("selector"), "name and selector are mutually exclusive"))
		}
	}
	if r.Name == "" && r.Selector == nil {
		errs = append(errs, field.Required(p, "one of name or selector must be specified"))
	}
	actions := []string{string(admissionregistrationv1.DenyAction), string(admissionregistrationv1.AllowAction)}
	switch a := r.ParameterNotFoundAction; {
	case a == nil || *a == "":
		errs = append(errs, field.Required(p.Child("parameterNotFoundAction"), ""))
	case !contains(actions, string(*a)):
		errs = append(errs, field.NotSupported(p.Child("parameterNotFoundAction"), *a, actions))
	}
	return errs
}

func anyIn(list, of []string) bool {
	for _, x := range list {
		if contains(of, x) {
			return true
		}
	}
	return false
}
