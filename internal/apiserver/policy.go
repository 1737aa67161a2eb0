package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
	"github.com/kijabi/kijabi/internal/storage"
)

// ValidatingAdmissionPolicies: each policy bound by ValidatingAdmissionPolicyBindings is
// evaluated, as kube-apiserver's ValidatingAdmissionPolicy plugin evaluates it, where the
// validating webhooks run (after mutating admission and validation, before them), on every
// create, update, delete and connection the webhooks see. Policies and bindings are read
// from the watch cache at each write and compiled once per stored revision (as webhook
// configurations are, see webhook_match.go); when no binding exists a write pays nothing.
//
// For each policy whose matchConstraints match the request, each binding of it whose
// matchResources match, and each parameter object the binding's paramRef selects: the
// match conditions must all hold, then every validation is evaluated; one that is false is
// a failure that the binding's validationActions turn into a denial (Deny), a warning
// (Warn) or nothing (Audit: there is no audit log). A policy that cannot be applied — an
// expression that does not compile or fails at runtime, an unknown paramKind, a missing
// parameter with parameterNotFoundAction Deny — fails the request only under failurePolicy
// Fail. The first denial, in policy and binding name order, is the answer:
//
//	ValidatingAdmissionPolicy 'NAME' with binding 'BINDING' denied request: MESSAGE
//
// with the validation's reason (Invalid, 422, when it gives none). Audit annotations are
// compiled and evaluated (their failures count) but not recorded. Expressions cannot use
// the authorizer variable.

var (
	policyGroupResources  = admissionConfig + "/validatingadmissionpolicies"
	bindingGroupResources = admissionConfig + "/validatingadmissionpolicybindings"
)

// policyState holds the compiled policies and bindings, validating and mutating
// (mutatingpolicy.go).
type policyState struct {
	mu       sync.Mutex
	policies map[string]*compiledPolicy  // by storage key
	bindings map[string]*compiledBinding // by storage key
	mutating mutatingPolicyState
}

type compiledPolicy struct {
	revision int64
	policy   *admissionregistrationv1.ValidatingAdmissionPolicy
	compiler *kcel.AdmissionCompiler
	match    *policyMatcher
	// matchErr is a misconfiguration of matchConstraints.
	matchErr        error
	matchConditions []compiledExpression
	validations     []compiledValidation
	audits          []compiledExpression
}

type compiledExpression struct {
	name string
	prog *kcel.Program
	// err is why the expression does not compile, worded as at evaluation.
	err error
}

type compiledValidation struct {
	v       admissionregistrationv1.Validation
	expr    compiledExpression
	message *compiledExpression
}

type compiledBinding struct {
	revision int64
	binding  *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	// match is nil when the binding has no matchResources (it matches everything its
	// policy does).
	match    *policyMatcher
	matchErr error
}

// policyMatcher is a policy's matchConstraints or a binding's matchResources.
type policyMatcher struct {
	namespaceSelector, objectSelector labels.Selector
	selectorErr                       error
	rules, exclude                    []admissionregistrationv1.NamedRuleWithOperations
	equivalent                        bool
}

var errNilSelector = "a nil %s selector was passed, please ensure selectors are initialized properly"

func newPolicyMatcher(m *admissionregistrationv1.MatchResources) (*policyMatcher, error) {
	if m.NamespaceSelector == nil {
		return nil, fmt.Errorf(errNilSelector, "namespace")
	}
	if m.ObjectSelector == nil {
		return nil, fmt.Errorf(errNilSelector, "object")
	}
	pm := &policyMatcher{rules: m.ResourceRules, exclude: m.ExcludeResourceRules,
		equivalent: m.MatchPolicy != nil && *m.MatchPolicy == admissionregistrationv1.Equivalent}
	pm.namespaceSelector, pm.selectorErr = metav1.LabelSelectorAsSelector(m.NamespaceSelector)
	if pm.selectorErr == nil {
		pm.objectSelector, pm.selectorErr = metav1.LabelSelectorAsSelector(m.ObjectSelector)
	}
	return pm, nil
}

// matches decides whether the request matches, and as which resource and kind (another
// served version of a custom resource, with matchPolicy Equivalent). Selectors are
// applied first; their errors count only for requests the rules match.
func (m *policyMatcher) matches(ctx context.Context, a *admissionAttributes, nsLabels namespaceLabeler) (bool, *webhookInvocation, error) {
	nsMatch, nsErr := matchNamespaceSelector(ctx, a, m.namespaceSelector, m.selectorErr, nsLabels)
	if nsErr == nil && !nsMatch {
		return false, nil, nil
	}
	objMatch, objErr := true, error(nil)
	if m.selectorErr != nil {
		objErr = apierrors.NewInternalError(m.selectorErr)
	} else if !m.objectSelector.Empty() {
		objMatch = selects(m.objectSelector, a.object) || selects(m.objectSelector, a.oldObject)
	}
	if objErr == nil && !objMatch {
		return false, nil, nil
	}
	if inv := m.matchRules(m.exclude, a); inv != nil {
		return false, nil, nil
	}
	inv := &webhookInvocation{resource: a.resource, kind: a.kind}
	if len(m.rules) > 0 {
		if inv = m.matchRules(m.rules, a); inv == nil {
			return false, nil, nil
		}
	}
	if nsErr != nil {
		return false, nil, nsErr
	}
	if objErr != nil {
		return false, nil, objErr
	}
	return true, inv, nil
}

func (m *policyMatcher) matchRules(rules []admissionregistrationv1.NamedRuleWithOperations, a *admissionAttributes) *webhookInvocation {
	named := func(r *admissionregistrationv1.NamedRuleWithOperations) bool {
		return len(r.ResourceNames) == 0 || contains(r.ResourceNames, a.name)
	}
	for i := range rules {
		if ruleMatches(&rules[i].RuleWithOperations, a, a.resource) && named(&rules[i]) {
			return &webhookInvocation{resource: a.resource, kind: a.kind}
		}
	}
	if !m.equivalent {
		return nil
	}
	for i := range rules {
		for _, v := range a.equivalentVersions {
			gvr := a.resource.GroupResource().WithVersion(v)
			if ruleMatches(&rules[i].RuleWithOperations, a, gvr) && named(&rules[i]) {
				return &webhookInvocation{resource: gvr, kind: a.kind.GroupKind().WithVersion(v)}
			}
		}
	}
	return nil
}

// compilePolicy compiles a policy's expressions as kube-apiserver does: variables first,
// then match conditions, validations, messages and audit annotations, all able to use the
// variables. Failures are kept, to be reported when the policy applies.
func compilePolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy, revision int64) *compiledPolicy {
	cp := &compiledPolicy{revision: revision, policy: p}
	if p.Spec.MatchConstraints == nil {
		cp.matchErr = errors.New("policy contained no match constraints, a required field")
	} else {
		cp.match, cp.matchErr = newPolicyMatcher(p.Spec.MatchConstraints)
	}
	params := p.Spec.ParamKind != nil
	compiler, err := kcel.NewAdmissionCompiler(params, len(p.Spec.Variables) > 0)
	if err != nil {
		cp.matchErr = err
		return cp
	}
	cp.compiler = compiler
	for _, v := range p.Spec.Variables {
		_ = compiler.CompileVariable(v.Name, v.Expression) // failures surface where the variable is read
	}
	compile := func(name, expr string, want []*types.Type) compiledExpression {
		prog, err := compiler.Compile(expr, want...)
		if err != nil {
			return compiledExpression{name: name, err: fmt.Errorf("compilation error: %w", err)}
		}
		return compiledExpression{name: name, prog: prog}
	}
	for _, mc := range p.Spec.MatchConditions {
		cp.matchConditions = append(cp.matchConditions, compile(mc.Name, mc.Expression, kcel.BoolResult))
	}
	for _, v := range p.Spec.Validations {
		cv := compiledValidation{v: v, expr: compile("", v.Expression, kcel.BoolResult)}
		if v.MessageExpression != "" {
			m := compile("", v.MessageExpression, kcel.StringResult)
			cv.message = &m
		}
		cp.validations = append(cp.validations, cv)
	}
	for _, aa := range p.Spec.AuditAnnotations {
		cp.audits = append(cp.audits, compile(aa.Key, aa.ValueExpression, kcel.StringOrNullResult))
	}
	return cp
}

func compileBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, revision int64) *compiledBinding {
	cb := &compiledBinding{revision: revision, binding: b}
	if b.Spec.MatchResources != nil {
		cb.match, cb.matchErr = newPolicyMatcher(b.Spec.MatchResources)
	}
	return cb
}

// mayHavePolicies is false when no binding of a validating or mutating policy exists,
// which the watch caches tell without a read (a policy without bindings does nothing).
func (s *Server) mayHavePolicies() bool {
	return s.mayHaveBindings(bindingGroupResources) || s.mayHaveBindings(mutatingBindingGroupResources)
}

func (s *Server) mayHaveBindings(groupResource string) bool {
	res := s.byGroupResource[groupResource]
	if res == nil || res.store == nil {
		return false
	}
	n, ok := res.store.CachedLen()
	return !ok || n > 0
}

// boundPolicy is a policy with the bindings that name it, in name order.
type boundPolicy struct {
	policy   *compiledPolicy
	bindings []*compiledBinding
}

// boundPolicies returns the policies that have bindings, by name, compiling what changed
// since the last request.
func (s *Server) boundPolicies(ctx context.Context) ([]boundPolicy, error) {
	if !s.mayHaveBindings(bindingGroupResources) {
		return nil, nil
	}
	pres, bres := s.byGroupResource[policyGroupResources], s.byGroupResource[bindingGroupResources]
	if pres == nil || bres == nil || pres.store == nil {
		return nil, nil
	}
	blist, err := bres.store.List(ctx, bres.store.Prefix(""), storage.ListOptions{Stale: true, Stored: true})
	if err != nil {
		return nil, storageError(err, bres.gr, "")
	}
	if len(blist.Keys) == 0 {
		return nil, nil
	}
	plist, err := pres.store.List(ctx, pres.store.Prefix(""), storage.ListOptions{Stale: true, Stored: true})
	if err != nil {
		return nil, storageError(err, pres.gr, "")
	}
	st := &s.policies
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.policies == nil {
		st.policies, st.bindings = map[string]*compiledPolicy{}, map[string]*compiledBinding{}
	}
	policies, err := refreshCompiled(pres, plist, st.policies, func(c *compiledPolicy) int64 { return c.revision }, compilePolicy)
	if err != nil {
		return nil, err
	}
	bindings, err := refreshCompiled(bres, blist, st.bindings, func(c *compiledBinding) int64 { return c.revision }, compileBinding)
	if err != nil {
		return nil, err
	}
	byName := map[string]*compiledPolicy{}
	for _, cp := range policies {
		byName[cp.policy.Name] = cp
	}
	bound := map[string][]*compiledBinding{}
	for _, cb := range bindings {
		bound[cb.binding.Spec.PolicyName] = append(bound[cb.binding.Spec.PolicyName], cb)
	}
	var out []boundPolicy
	for name, bindings := range bound {
		cp := byName[name]
		if cp == nil {
			continue // a binding of a policy that does not exist (yet) does nothing
		}
		sort.Slice(bindings, func(i, j int) bool { return bindings[i].binding.Name < bindings[j].binding.Name })
		out = append(out, boundPolicy{policy: cp, bindings: bindings})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].policy.policy.Name < out[j].policy.policy.Name })
	return out, nil
}

// policyDecision is a denial (or a failure to apply a policy under failurePolicy Fail).
type policyDecision struct {
	policy, binding string
	message         string
	reason          metav1.StatusReason
}

// runValidatingPolicies evaluates the bound policies matching the request; the first
// denial fails it. Warnings go to the client.
func (s *Server) runValidatingPolicies(ctx context.Context, a *admissionAttributes) error {
	if a.resource.Group == admissionConfig {
		return nil // the admission configuration itself is exempt, as from webhooks
	}
	policies, err := s.boundPolicies(ctx)
	if err != nil || len(policies) == 0 {
		return err
	}
	ev := newPolicyRun(s, a)
	var denied []policyDecision
	for _, bp := range policies {
		d, err := ev.run(ctx, bp)
		if err != nil {
			return err
		}
		denied = append(denied, d...)
	}
	if len(denied) == 0 {
		return nil
	}
	return policyDenial(a, denied[0])
}

// policyDenial is kube-apiserver's answer to a denied request: a Forbidden error whose
// reason and code are the validation's (Invalid, 422, by default).
func policyDenial(a *admissionAttributes, d policyDecision) error {
	var message string
	if d.binding != "" {
		message = fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d.policy, d.binding, d.message)
	} else {
		message = fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", d.policy, d.message)
	}
	name := a.name
	if name == "" && a.object != nil {
		if m, err := meta.Accessor(a.object); err == nil {
			name = m.GetName()
		}
	}
	err := apierrors.NewForbidden(a.resource.GroupResource(), name, errors.New(message))
	reason := d.reason
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	err.ErrStatus.Reason = reason
	err.ErrStatus.Code = reasonCode(reason)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Message: message})
	return err
}

func reasonCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return http.StatusForbidden
	case metav1.StatusReasonUnauthorized:
		return http.StatusUnauthorized
	case metav1.StatusReasonRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}

// policyRun is the evaluation of the policies for one request.
type policyRun struct {
	s          *Server
	a          *admissionAttributes
	nsLabels   namespaceLabeler
	namespaces map[string]*corev1.Namespace
	// values are object and oldObject as CEL values, by the kind they are seen as.
	values map[schema.GroupVersionKind]*objectVals
}

type objectVals struct{ object, oldObject ref.Val }

// newPolicyRun starts the evaluation of policies for a request; namespaces are read once.
func newPolicyRun(s *Server, a *admissionAttributes) *policyRun {
	r := &policyRun{s: s, a: a, values: map[schema.GroupVersionKind]*objectVals{}}
	r.nsLabels = func(ctx context.Context, name string) (map[string]string, error) {
		ns, err := r.namespace(ctx, name)
		if err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}
	return r
}

// requestNamespace is the request's Namespace for namespaceObject: nil for cluster-scoped
// requests and for Namespaces themselves (which name themselves as their namespace).
func (r *policyRun) requestNamespace(ctx context.Context) (*corev1.Namespace, error) {
	name := r.a.namespace
	if r.a.kind.Group == "" && r.a.kind.Kind == "Namespace" {
		name = ""
	}
	if name == "" {
		return nil, nil
	}
	return r.namespace(ctx, name)
}

// paramResource finds the served resource of a policy's paramKind; the error is worded as
// upstream's, after "failed to configure policy: ".
func (s *Server) paramResource(pk *admissionregistrationv1.ParamKind) (*resource, error) {
	gv, err := schema.ParseGroupVersion(pk.APIVersion)
	if err != nil {
		return nil, errors.New("failed to parse paramKind APIVersion: " + err.Error())
	}
	gvk := gv.WithKind(pk.Kind)
	res := s.resourceForKind(gvk)
	if res == nil {
		return nil, fmt.Errorf("failed to find resource referenced by paramKind: '%v'", gvk)
	}
	return res, nil
}

func (r *policyRun) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if ns, ok := r.namespaces[name]; ok {
		return ns, nil
	}
	ns, err := r.s.getNamespace(ctx, name)
	if err != nil {
		return nil, err
	}
	if r.namespaces == nil {
		r.namespaces = map[string]*corev1.Namespace{}
	}
	r.namespaces[name] = ns
	return ns, nil
}

// getNamespace reads a Namespace from the watch cache, or from etcd when the cache does not
// hold it (yet).
func (s *Server) getNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	res := s.byGroupResource["/namespaces"]
	key := res.store.Key("", name)
	if obj, ok := res.store.Cached(key); ok {
		return obj.(*corev1.Namespace), nil
	}
	obj, err := res.store.Get(ctx, key)
	if err != nil {
		return nil, storageError(err, namespacesGR, name)
	}
	return obj.(*corev1.Namespace), nil
}

func (r *policyRun) objects(kind schema.GroupVersionKind) (*objectVals, error) {
	if v, ok := r.values[kind]; ok {
		return v, nil
	}
	obj, err := celObject(r.a.object, kind)
	if err != nil {
		return nil, err
	}
	old, err := celObject(r.a.oldObject, kind)
	if err != nil {
		return nil, err
	}
	v := &objectVals{obj, old}
	r.values[kind] = v
	return v, nil
}

// failure is a policy that cannot be applied: a denial under failurePolicy Fail, nothing
// under Ignore.
func failure(cp *compiledPolicy, binding, message string) []policyDecision {
	fp := admissionregistrationv1.Fail
	if cp.policy.Spec.FailurePolicy != nil {
		fp = *cp.policy.Spec.FailurePolicy
	}
	switch fp {
	case admissionregistrationv1.Ignore:
		return nil
	case admissionregistrationv1.Fail:
		return []policyDecision{{policy: cp.policy.Name, binding: binding, message: message}}
	}
	return []policyDecision{{policy: cp.policy.Name, binding: binding, message: fmt.Sprintf("unrecognized failure policy: '%v'", fp)}}
}

// run evaluates one policy with its bindings and returns its denials.
func (r *policyRun) run(ctx context.Context, bp boundPolicy) ([]policyDecision, error) {
	cp := bp.policy
	if cp.matchErr != nil {
		return failure(cp, "", "failed to configure policy: "+cp.matchErr.Error()), nil
	}
	ok, inv, err := cp.match.matches(ctx, r.a, r.nsLabels)
	if err != nil {
		return failure(cp, "", "failed to configure policy: "+err.Error()), nil
	}
	if !ok {
		return nil, nil
	}
	var paramRes *resource
	if pk := cp.policy.Spec.ParamKind; pk != nil {
		if paramRes, err = r.s.paramResource(pk); err != nil {
			return failure(cp, "", "failed to configure policy: "+err.Error()), nil
		}
	}
	var out []policyDecision
	for _, cb := range bp.bindings {
		name := cb.binding.Name
		if cb.matchErr != nil {
			out = append(out, failure(cp, name, "failed to configure binding: "+cb.matchErr.Error())...)
			continue
		}
		if cb.match != nil {
			ok, _, err := cb.match.matches(ctx, r.a, r.nsLabels)
			if err != nil {
				out = append(out, failure(cp, name, "failed to configure binding: "+err.Error())...)
				continue
			}
			if !ok {
				continue
			}
		}
		params, err := r.params(ctx, cp.policy.Spec.ParamKind, cb.binding.Spec.ParamRef, paramRes)
		if err != nil {
			out = append(out, failure(cp, name, "failed to configure binding: "+err.Error())...)
			continue
		}
		if len(params) == 0 {
			continue
		}
		ns, err := r.requestNamespace(ctx)
		if err != nil {
			return nil, err
		}
		vals, err := r.objects(inv.kind)
		if err != nil {
			out = append(out, failure(cp, name, "failed to configure binding: failed to convert object version: "+err.Error())...)
			continue
		}
		for _, param := range params {
			decisions, warnings := r.evaluate(ctx, cp, cb, inv, vals, param, ns)
			for _, w := range warnings {
				r.a.warn(w)
			}
			out = append(out, decisions...)
		}
	}
	return out, nil
}

// params returns the parameter objects of a binding as CEL values: one nil when the policy
// (paramKind) or binding (pref) uses none; none at all when they are missing and
// parameterNotFoundAction is Allow.
func (r *policyRun) params(ctx context.Context, pk *admissionregistrationv1.ParamKind, pref *admissionregistrationv1.ParamRef, res *resource) ([]ref.Val, error) {
	objs, err := r.paramObjects(ctx, pk, pref, res)
	if err != nil {
		return nil, err
	}
	out := make([]ref.Val, 0, len(objs))
	for _, o := range objs {
		if o == nil {
			out = append(out, nil)
			continue
		}
		v, err := celObject(o, res.gvk)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// paramObjects is params as the objects read: one nil when no params are used.
func (r *policyRun) paramObjects(ctx context.Context, pk *admissionregistrationv1.ParamKind, pref *admissionregistrationv1.ParamRef, res *resource) ([]runtime.Object, error) {
	if pk == nil || pref == nil {
		return []runtime.Object{nil}, nil
	}
	ns := ""
	if res.namespaced {
		ns = r.a.namespace
		if pref.Namespace != "" {
			ns = pref.Namespace
		} else if ns == "" {
			return nil, errors.New("cannot use namespaced paramRef in policy binding that matches cluster-scoped resources")
		}
	} else if pref.Namespace != "" {
		return nil, errors.New("paramRef.namespace must not be provided for a cluster-scoped `paramKind`")
	}
	var objs []runtime.Object
	switch {
	case pref.Name != "":
		if pref.Selector != nil {
			return nil, errors.New("paramRef.name and paramRef.selector are mutually exclusive")
		}
		key := res.store.Key(ns, pref.Name)
		obj, ok := res.store.Cached(key)
		if !ok {
			var err error
			obj, err = res.store.Get(ctx, key)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, storageError(err, res.gr, pref.Name)
			}
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	case pref.Selector != nil:
		sel, err := metav1.LabelSelectorAsSelector(pref.Selector)
		if err != nil {
			return nil, err
		}
		list, err := res.store.List(ctx, res.store.Prefix(ns), storage.ListOptions{Stale: true, Filter: func(obj runtime.Object) bool {
			return selects(sel, obj)
		}})
		if err != nil {
			return nil, storageError(err, res.gr, "")
		}
		objs = list.Items
	default:
		return nil, errors.New("one of name or selector must be provided")
	}
	if len(objs) == 0 {
		if a := pref.ParameterNotFoundAction; a != nil && *a == admissionregistrationv1.DenyAction {
			return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
		}
		return nil, nil
	}
	return objs, nil
}

// evaluate runs a policy's expressions for one binding and parameter, and returns the
// denials and warnings its validation actions make of the failures.
func (r *policyRun) evaluate(ctx context.Context, cp *compiledPolicy, cb *compiledBinding, inv *webhookInvocation,
	vals *objectVals, param ref.Val, ns *corev1.Namespace) ([]policyDecision, []string) {
	policy, binding := cp.policy.Name, cb.binding.Name
	hasParams := cp.policy.Spec.ParamKind != nil
	in := &kcel.AdmissionInput{Object: vals.object, OldObject: vals.oldObject, Params: param, HasParams: hasParams,
		Request: celRequest(r.a, inv), Namespace: ns}
	if len(cp.matchConditions) > 0 {
		ev, err := cp.compiler.NewEvaluation(ctx, in, kcel.MatchConditionsBudget)
		if err != nil {
			return r.act(cb, failure(cp, binding, err.Error()))
		}
		ok, err := conditionsHold(ev, cp.matchConditions)
		if err != nil {
			return r.act(cb, failure(cp, binding, err.Error()))
		}
		if !ok {
			return nil, nil
		}
	}
	ev, err := cp.compiler.NewEvaluation(ctx, in, kcel.RuntimeBudget)
	if err != nil {
		return r.act(cb, failure(cp, binding, err.Error()))
	}
	var failures []policyDecision
	for _, v := range cp.validations {
		if v.expr.err != nil {
			failures = append(failures, failure(cp, binding, v.expr.err.Error())...)
			continue
		}
		val, evalErr := ev.Eval(v.expr.prog)
		if evalErr != nil {
			failures = append(failures, failure(cp, binding, evalErr.Detail)...)
			if evalErr.Exhausted {
				break
			}
			continue
		}
		if val == types.True {
			continue
		}
		message := ""
		if v.message != nil && v.message.prog != nil {
			if mv, merr := ev.Eval(v.message.prog); merr == nil {
				message = kcel.TrimMessage(mv)
			} else if merr.Exhausted {
				failures = append(failures, failure(cp, binding, "failed messageExpression: "+merr.Detail)...)
				break
			}
		}
		if message == "" {
			message = strings.TrimSpace(v.v.Message)
		}
		if message == "" {
			message = "failed expression: " + strings.TrimSpace(v.v.Expression)
		}
		reason := metav1.StatusReasonInvalid
		if v.v.Reason != nil {
			reason = *v.v.Reason
		}
		failures = append(failures, policyDecision{policy: policy, binding: binding, message: message, reason: reason})
	}
	// Audit annotations are not recorded, but their failures count.
	for _, aa := range cp.audits {
		if aa.err != nil {
			failures = append(failures, failure(cp, binding, aa.err.Error())...)
			continue
		}
		val, evalErr := ev.Eval(aa.prog)
		if evalErr != nil {
			failures = append(failures, failure(cp, binding, evalErr.Detail)...)
			continue
		}
		if val != types.NullValue && val.Type() != types.StringType {
			failures = append(failures, failure(cp, binding, fmt.Sprintf("valueExpression '%v' resulted in unsupported return type: %v. Return type must be either string or null.",
				aa.prog.Expression, val.Type().TypeName()))...)
		}
	}
	return r.act(cb, failures)
}

// act applies a binding's validation actions to failures: Deny makes them denials, Warn
// warnings; Audit would record them in the audit log, which there is none of.
func (r *policyRun) act(cb *compiledBinding, failures []policyDecision) ([]policyDecision, []string) {
	var denials []policyDecision
	var warnings []string
	for _, f := range failures {
		for _, action := range cb.binding.Spec.ValidationActions {
			switch action {
			case admissionregistrationv1.Deny:
				denials = append(denials, f)
			case admissionregistrationv1.Warn:
				warnings = append(warnings, fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", f.policy, f.binding, f.message))
			}
		}
	}
	return denials, warnings
}

// conditionsHold evaluates match conditions as kube-apiserver does: any false condition
// means no match (even when others failed); otherwise failures are the error, and with
// none all conditions hold.
func conditionsHold(ev *kcel.Evaluation, conds []compiledExpression) (bool, error) {
	var errs []error
	for _, c := range conds {
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		val, err := ev.Eval(c.prog)
		if err != nil {
			if err.Exhausted {
				return false, err
			}
			errs = append(errs, err)
			continue
		}
		if val == types.False {
			return false, nil
		}
	}
	if len(errs) > 0 {
		return false, utilerrors.NewAggregate(errs)
	}
	return true, nil
}

// celObject is obj as a CEL value, seen as kind: apiVersion and kind set (typed objects do
// not always carry them; custom resources matched in another version are shown in it).
func celObject(obj runtime.Object, kind schema.GroupVersionKind) (ref.Val, error) {
	if obj == nil {
		return nil, nil
	}
	var content map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		content = make(map[string]any, len(u.Object)+2)
		for k, v := range u.Object {
			content[k] = v
		}
	} else {
		var err error
		if content, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return nil, err
		}
	}
	if !kind.Empty() {
		content["apiVersion"], content["kind"] = kind.GroupVersion().String(), kind.Kind
	}
	return kcel.ObjectValue(&unstructured.Unstructured{Object: content})
}

// celRequest is the request variable of admission expressions: the request's attributes,
// with the kind and resource it matched as (inv).
func celRequest(a *admissionAttributes, inv *webhookInvocation) *kcel.Request {
	r := &kcel.Request{
		Kind:               metav1.GroupVersionKind(inv.kind),
		Resource:           metav1.GroupVersionResource(inv.resource),
		SubResource:        a.subresource,
		RequestKind:        metav1.GroupVersionKind(a.kind),
		RequestResource:    metav1.GroupVersionResource(a.resource),
		RequestSubResource: a.subresource,
		Name:               a.name,
		Namespace:          a.namespace,
		Operation:          string(a.operation),
		DryRun:             a.dryRun,
		Options:            a.options,
	}
	if a.user != nil {
		r.Username, r.UID, r.Groups, r.Extra = a.user.Name, a.user.UID, a.user.Groups, a.user.Extra
	}
	return r
}

// resourceForKind finds the served resource of a kind (built-in or custom).
func (s *Server) resourceForKind(gvk schema.GroupVersionKind) *resource {
	for _, r := range s.resources {
		if r.gvk == gvk {
			return r
		}
	}
	for _, r := range s.crSnapshot() {
		if r.gvk == gvk {
			return r
		}
	}
	return nil
}

// refreshCompiled brings cache (etcd key → compiled object) in line with the objects of
// list (listed as stored from res): one whose revision moved on is decoded and compiled
// again, and keys no longer listed go. It returns the compiled objects in list order.
func refreshCompiled[T runtime.Object, C any](res *resource, list *storage.ListResult, cache map[string]C,
	revision func(C) int64, compile func(T, int64) C) ([]C, error) {
	out := make([]C, 0, len(list.Keys))
	seen := make(map[string]bool, len(list.Keys))
	for i, key := range list.Keys {
		seen[key] = true
		stored := list.Stored[i]
		c, ok := cache[key]
		if !ok || revision(c) != stored.Revision {
			obj, err := res.store.Decode(stored)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			t, ok := obj.(T)
			if !ok {
				return nil, apierrors.NewInternalError(fmt.Errorf("unexpected %T in %s", obj, res.gr))
			}
			c = compile(t, stored.Revision)
			cache[key] = c
		}
		out = append(out, c)
	}
	for key := range cache {
		if !seen[key] {
			delete(cache, key)
		}
	}
	return out, nil
}
