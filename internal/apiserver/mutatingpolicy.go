package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
	"github.com/kijabi/kijabi/internal/storage"
)

// MutatingAdmissionPolicies: each policy bound by MutatingAdmissionPolicyBindings changes
// the objects of the requests it matches, as kube-apiserver's MutatingAdmissionPolicy
// plugin does. They run in the mutating phase, before the mutating webhooks (after the
// built-in admission, before validation), on creates and updates (deletes and
// connections only evaluate their match conditions: there is no object to change).
//
// Matching is the ValidatingAdmissionPolicies' (policy.go): the policy's matchConstraints,
// each binding's matchResources, the binding's paramRef (one evaluation per parameter
// object), then the match conditions. Each mutation is then applied in order to the
// object as the previous one left it:
//
//   - ApplyConfiguration: the expression builds an Object{...}, merged into the object as
//     server-side apply merges (lists by their keys, maps by key; atomic lists, maps and
//     structs may not be set — "may not mutate atomic arrays, maps or structs");
//   - JSONPatch: the expression builds a list of JSONPatch{op, path, from, value}, applied
//     in order (a failed "test" operation leaves the object as it was).
//
// The result is defaulted again, and what the server owns stays as the server set it (as
// after a mutating webhook). A policy that cannot be applied — an expression that does not
// compile or fails, a patch that does not apply, a configuration error — fails the request
// under failurePolicy Fail with upstream's answer, a 403 whose reason is Invalid:
//
//	policy 'NAME' with binding 'BINDING' denied request: MESSAGE
//
// and is skipped under Ignore. reinvocationPolicy IfNeeded runs a policy once more when a
// later policy or a mutating webhook changed the object after it ran.

var (
	mutatingPolicyGroupResources  = admissionConfig + "/mutatingadmissionpolicies"
	mutatingBindingGroupResources = admissionConfig + "/mutatingadmissionpolicybindings"
)

// mutatingPolicyState holds the compiled mutating policies and bindings (guarded by
// policyState.mu) and the type converter of built-in kinds for apply configurations.
type mutatingPolicyState struct {
	policies map[string]*compiledMutatingPolicy  // by storage key
	bindings map[string]*compiledMutatingBinding // by storage key
	once     sync.Once
	builtin  managedfields.TypeConverter
}

type compiledMutatingPolicy struct {
	revision        int64
	policy          *admissionregistrationv1.MutatingAdmissionPolicy
	compiler        *kcel.AdmissionCompiler
	match           *policyMatcher
	matchErr        error
	matchConditions []compiledExpression
	// mutations are the compiled expressions of spec.mutations, in order.
	mutations []compiledExpression
}

type compiledMutatingBinding struct {
	revision int64
	binding  *admissionregistrationv1.MutatingAdmissionPolicyBinding
	match    *policyMatcher // nil: matches wherever the policy does
	matchErr error
}

type boundMutatingPolicy struct {
	policy   *compiledMutatingPolicy
	bindings []*compiledMutatingBinding
}

// compileMutatingPolicy compiles a policy's variables, match conditions and mutations;
// failures are kept, to be reported when the policy applies.
func compileMutatingPolicy(p *admissionregistrationv1.MutatingAdmissionPolicy, revision int64) *compiledMutatingPolicy {
	cp := &compiledMutatingPolicy{revision: revision, policy: p}
	if p.Spec.MatchConstraints == nil {
		cp.matchErr = errors.New("policy contained no match constraints, a required field")
	} else {
		cp.match, cp.matchErr = newPolicyMatcher(p.Spec.MatchConstraints)
	}
	compiler, err := kcel.NewMutatingCompiler(p.Spec.ParamKind != nil, len(p.Spec.Variables) > 0)
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
			return compiledExpression{name: name, err: err} // "compilation failed: ...", as upstream reports it
		}
		return compiledExpression{name: name, prog: prog}
	}
	for _, mc := range p.Spec.MatchConditions {
		cp.matchConditions = append(cp.matchConditions, compile(mc.Name, mc.Expression, kcel.BoolResult))
	}
	for _, m := range p.Spec.Mutations {
		switch {
		case m.PatchType == admissionregistrationv1.PatchTypeApplyConfiguration && m.ApplyConfiguration != nil:
			cp.mutations = append(cp.mutations, compile("", m.ApplyConfiguration.Expression, kcel.ApplyConfigurationResult))
		case m.PatchType == admissionregistrationv1.PatchTypeJSONPatch && m.JSONPatch != nil:
			cp.mutations = append(cp.mutations, compile("", m.JSONPatch.Expression, kcel.JSONPatchResult))
		default:
			cp.mutations = append(cp.mutations, compiledExpression{err: fmt.Errorf("unsupported patch type %q", m.PatchType)})
		}
	}
	return cp
}

func compileMutatingBinding(b *admissionregistrationv1.MutatingAdmissionPolicyBinding, revision int64) *compiledMutatingBinding {
	cb := &compiledMutatingBinding{revision: revision, binding: b}
	if b.Spec.MatchResources != nil {
		cb.match, cb.matchErr = newPolicyMatcher(b.Spec.MatchResources)
	}
	return cb
}

// boundMutatingPolicies returns the mutating policies that have bindings, by name,
// compiling what changed since the last request.
func (s *Server) boundMutatingPolicies(ctx context.Context) ([]boundMutatingPolicy, error) {
	if !s.mayHaveBindings(mutatingBindingGroupResources) {
		return nil, nil
	}
	pres, bres := s.byGroupResource[mutatingPolicyGroupResources], s.byGroupResource[mutatingBindingGroupResources]
	if pres == nil || pres.store == nil {
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
	s.policies.mu.Lock()
	defer s.policies.mu.Unlock()
	st := &s.policies.mutating
	if st.policies == nil {
		st.policies, st.bindings = map[string]*compiledMutatingPolicy{}, map[string]*compiledMutatingBinding{}
	}
	policies, err := refreshCompiled(pres, plist, st.policies, func(c *compiledMutatingPolicy) int64 { return c.revision }, compileMutatingPolicy)
	if err != nil {
		return nil, err
	}
	bindings, err := refreshCompiled(bres, blist, st.bindings, func(c *compiledMutatingBinding) int64 { return c.revision }, compileMutatingBinding)
	if err != nil {
		return nil, err
	}
	byName := map[string]*compiledMutatingPolicy{}
	for _, cp := range policies {
		byName[cp.policy.Name] = cp
	}
	bound := map[string][]*compiledMutatingBinding{}
	for _, cb := range bindings {
		bound[cb.binding.Spec.PolicyName] = append(bound[cb.binding.Spec.PolicyName], cb)
	}
	var out []boundMutatingPolicy
	for name, bindings := range bound {
		cp := byName[name]
		if cp == nil {
			continue
		}
		sort.Slice(bindings, func(i, j int) bool { return bindings[i].binding.Name < bindings[j].binding.Name })
		out = append(out, boundMutatingPolicy{policy: cp, bindings: bindings})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].policy.policy.Name < out[j].policy.policy.Name })
	return out, nil
}

// reinvocation tracks, for one kind of mutating admission (policies or webhooks), who ran
// with reinvocationPolicy IfNeeded since the object last changed (invoked) and who must
// run again because it changed after them (reinvoke).
type reinvocation struct {
	invoked, reinvoke map[string]bool
}

func newReinvocation() *reinvocation {
	return &reinvocation{invoked: map[string]bool{}, reinvoke: map[string]bool{}}
}

// changed records that the object changed: who ran before must run again.
func (r *reinvocation) changed() {
	for k := range r.invoked {
		r.reinvoke[k] = true
	}
	r.invoked = map[string]bool{}
}

// runMutatingAdmission is the mutating phase of dynamic admission: the mutating policies,
// then the mutating webhooks; when either changed the object, the policies and webhooks
// with reinvocationPolicy IfNeeded that ran before a change run once more, in the same
// order, as kube-apiserver's admission chain reinvokes its mutating plugins.
func (s *Server) runMutatingAdmission(ctx context.Context, a *admissionAttributes) error {
	policies, err := s.boundMutatingPolicies(ctx)
	if err != nil {
		return err
	}
	hooks, err := s.webhookHooks(ctx, true)
	if err != nil {
		return err
	}
	nsLabels := cachedNamespaceLabels(s.namespaceLabels)
	if len(policies) == 0 {
		if len(hooks) == 0 {
			return nil
		}
		return s.mutateWith(ctx, hooks, a, nsLabels)
	}
	return s.mutatingPhase(ctx, newPolicyRun(s, a), policies, hooks, nsLabels)
}

func (s *Server) mutatingPhase(ctx context.Context, run *policyRun, policies []boundMutatingPolicy, hooks []*webhookHook, nsLabels namespaceLabeler) error {
	a := run.a
	pr, wr := newReinvocation(), newReinvocation()
	policiesChanged, err := s.mutatingPolicyPass(ctx, run, policies, pr, false)
	if err != nil {
		return err
	}
	hooksChanged, err := s.mutatingWebhookPass(ctx, hooks, a, nsLabels, wr, false)
	if err != nil {
		return err
	}
	if !policiesChanged && !hooksChanged {
		return nil
	}
	if hooksChanged {
		pr.changed() // the object changed since the policies' last output
	}
	if len(pr.reinvoke) > 0 {
		changed, err := s.mutatingPolicyPass(ctx, run, policies, pr, true)
		if err != nil {
			return err
		}
		if changed {
			wr.changed() // the object changed since the webhooks' last output
		}
	}
	if len(wr.reinvoke) > 0 {
		_, err = s.mutatingWebhookPass(ctx, hooks, a, nsLabels, wr, true)
	}
	return err
}

// mutatingPolicyError is a policy that could not be applied.
type mutatingPolicyError struct {
	policy  *compiledMutatingPolicy
	binding string
	err     error
	reason  metav1.StatusReason
}

// mutatingInvocation is one policy, binding and parameter to apply.
type mutatingInvocation struct {
	policy   *compiledMutatingPolicy
	binding  *compiledMutatingBinding
	inv      *webhookInvocation
	param    runtime.Object
	paramVal ref.Val
}

// key tells invocations apart for reinvocation: policy, binding and parameter.
func (i *mutatingInvocation) key() string {
	k := i.policy.policy.Name + "\x00" + i.binding.binding.Name
	if i.param != nil {
		if m, err := meta.Accessor(i.param); err == nil {
			k += "\x00" + m.GetNamespace() + "/" + m.GetName()
		}
	}
	return k
}

// mutatingPolicyPass applies the matching policies once (again: only those marked for
// reinvocation) and tells whether they changed the object.
func (s *Server) mutatingPolicyPass(ctx context.Context, run *policyRun, policies []boundMutatingPolicy, re *reinvocation, again bool) (bool, error) {
	a := run.a
	clear(run.values) // webhooks may have changed the object since the last pass
	var failures []mutatingPolicyError
	configErr := func(cp *compiledMutatingPolicy, binding string, err error) {
		failures = append(failures, mutatingPolicyError{policy: cp, binding: binding, err: err})
	}
	var invocations []*mutatingInvocation
	for _, bp := range policies {
		cp := bp.policy
		if cp.matchErr != nil {
			configErr(cp, "", fmt.Errorf("failed to configure policy: %w", cp.matchErr))
			continue
		}
		ok, inv, err := cp.match.matches(ctx, a, run.nsLabels)
		if err != nil {
			configErr(cp, "", fmt.Errorf("failed to configure policy: %w", err))
			continue
		}
		if !ok {
			continue
		}
		var paramRes *resource
		if pk := cp.policy.Spec.ParamKind; pk != nil {
			if paramRes, err = s.paramResource(pk); err != nil {
				configErr(cp, "", fmt.Errorf("failed to configure policy: %w", err))
				continue
			}
		}
		for _, cb := range bp.bindings {
			name := cb.binding.Name
			if cb.matchErr != nil {
				configErr(cp, name, fmt.Errorf("failed to configure binding: %w", cb.matchErr))
				continue
			}
			if cb.match != nil {
				ok, _, err := cb.match.matches(ctx, a, run.nsLabels)
				if err != nil {
					configErr(cp, name, fmt.Errorf("failed to configure binding: %w", err))
					continue
				}
				if !ok {
					continue
				}
			}
			params, err := run.paramObjects(ctx, cp.policy.Spec.ParamKind, cb.binding.Spec.ParamRef, paramRes)
			if err != nil {
				configErr(cp, name, fmt.Errorf("failed to configure binding: %w", err))
				continue
			}
			for _, p := range params {
				mi := &mutatingInvocation{policy: cp, binding: cb, inv: inv, param: p}
				if p != nil {
					if mi.paramVal, err = celObject(p, paramRes.gvk); err != nil {
						return false, apierrors.NewInternalError(err)
					}
				}
				invocations = append(invocations, mi)
			}
		}
	}
	changedAny := false
	if len(invocations) > 0 {
		ns, err := run.requestNamespace(ctx)
		if err != nil {
			if _, ok := err.(apierrors.APIStatus); ok {
				return false, err
			}
			return false, apierrors.NewNotFound(namespacesGR, a.namespace)
		}
		for _, mi := range invocations {
			cp := mi.policy
			fail := func(err error) {
				failures = append(failures, mutatingPolicyError{policy: cp, binding: mi.binding.binding.Name, err: err, reason: metav1.StatusReasonInvalid})
			}
			if len(cp.matchConditions) > 0 {
				vals, err := run.objects(mi.inv.kind)
				if err != nil {
					fail(err)
					continue
				}
				ev, err := cp.compiler.NewEvaluation(ctx, s.mutationInput(a, mi, ns, vals.object, vals.oldObject), kcel.MatchConditionsBudget)
				if err != nil {
					fail(err)
					continue
				}
				ok, err := conditionsHold(ev, cp.matchConditions)
				if err != nil {
					fail(err)
					continue
				}
				if !ok {
					continue
				}
			}
			key := mi.key()
			if again && !re.reinvoke[key] {
				continue
			}
			changed := false
			for i := range cp.mutations {
				if a.object == nil || a.apply == nil || a.operation == admissionv1.Connect {
					continue // nothing to change
				}
				c, err := s.applyMutation(ctx, run, mi, i, ns)
				if err != nil {
					var status apierrors.APIStatus
					if errors.As(err, &status) {
						return changedAny, err
					}
					fail(err)
					continue
				}
				if c {
					changed = true
					clear(run.values) // the CEL views of the object are stale
				}
			}
			if changed {
				changedAny = true
				re.changed()
			}
			if cp.policy.Spec.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy {
				re.invoked[key] = true
			}
		}
	}
	return changedAny, mutatingPolicyDenial(a, failures)
}

func (s *Server) mutationInput(a *admissionAttributes, mi *mutatingInvocation, ns *corev1.Namespace, object, oldObject ref.Val) *kcel.AdmissionInput {
	return &kcel.AdmissionInput{Object: object, OldObject: oldObject, Params: mi.paramVal,
		HasParams: mi.policy.policy.Spec.ParamKind != nil, Request: celRequest(a, mi.inv), Namespace: ns}
}

// mutatingPolicyDenial is upstream's answer to policies that could not be applied, once
// those with failurePolicy Ignore are left out: a Forbidden status with the first
// failure's message and reason, every failure as a cause.
func mutatingPolicyDenial(a *admissionAttributes, failures []mutatingPolicyError) error {
	var err *apierrors.StatusError
	for _, f := range failures {
		fp := admissionregistrationv1.Fail
		if f.policy.policy.Spec.FailurePolicy != nil {
			fp = *f.policy.policy.Spec.FailurePolicy
		}
		if fp == admissionregistrationv1.Ignore {
			continue
		}
		var message string
		if f.binding != "" {
			message = fmt.Sprintf("policy '%s' with binding '%s' denied request: %s", f.policy.policy.Name, f.binding, f.err.Error())
		} else {
			message = fmt.Sprintf("policy %q denied request: %s", f.policy.policy.Name, f.err.Error())
		}
		if err == nil {
			name := a.name
			if name == "" && a.object != nil {
				if m, merr := meta.Accessor(a.object); merr == nil {
					name = m.GetName()
				}
			}
			err = apierrors.NewForbidden(a.resource.GroupResource(), name, errors.New("admission request denied by policy"))
			err.ErrStatus.Message = message
			if f.reason != "" {
				err.ErrStatus.Reason = f.reason
			}
		}
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Message: message})
	}
	if err == nil {
		return nil
	}
	return err
}

// applyMutation evaluates mutation i of an invocation against the object as it is now and
// applies what it built; it tells whether the object changed.
func (s *Server) applyMutation(ctx context.Context, run *policyRun, mi *mutatingInvocation, i int, ns *corev1.Namespace) (bool, error) {
	a, cp := run.a, mi.policy
	m := cp.mutations[i]
	if m.err != nil {
		return false, m.err
	}
	vals, err := run.objects(mi.inv.kind)
	if err != nil {
		return false, err
	}
	ev, err := cp.compiler.NewEvaluation(ctx, s.mutationInput(a, mi, ns, vals.object, vals.oldObject), kcel.RuntimeBudget)
	if err != nil {
		return false, err
	}
	val, evalErr := ev.Eval(m.prog)
	if evalErr != nil {
		return false, evalErr
	}
	current, err := encodeForWebhook(a.object, mi.inv.kind)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch cp.policy.Spec.Mutations[i].PatchType {
	case admissionregistrationv1.PatchTypeApplyConfiguration:
		cfg, err := kcel.ApplyConfiguration(val)
		if err != nil {
			return false, err
		}
		tc := s.mutationTypeConverter(a.object)
		if patched, err = mergeApplyConfiguration(tc, current, cfg); err != nil {
			return false, fmt.Errorf("error applying patch: %w", err)
		}
	case admissionregistrationv1.PatchTypeJSONPatch:
		ops, err := kcel.JSONPatchOperations(val)
		if err != nil {
			return false, err
		}
		if patched, err = applyJSONPatch(current, ops); err != nil {
			return false, err
		}
		if patched == nil {
			return false, nil // a test operation failed: no change
		}
	}
	changed, err := a.apply(patched)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return changed, err
		}
		return false, apierrors.NewInternalError(err)
	}
	return changed, nil
}

// mutationTypeConverter is the type converter of apply configurations for obj: the
// OpenAPI schemas of built-in kinds; custom resources are merged as kijabi's server-side
// apply merges them (maps by key, lists atomic).
func (s *Server) mutationTypeConverter(obj runtime.Object) managedfields.TypeConverter {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return managedfields.NewDeducedTypeConverter()
	}
	st := &s.policies.mutating
	st.once.Do(func() {
		st.builtin = kindFallbackConverter{applyconfigurations.NewTypeConverter(s.scheme), managedfields.NewDeducedTypeConverter()}
	})
	return st.builtin
}

// kindFallbackConverter converts with the OpenAPI schemas of built-in kinds, and kinds they
// do not describe (autoscaling/v1 Scale) as kijabi's server-side apply does custom
// resources.
type kindFallbackConverter struct {
	managedfields.TypeConverter
	deduced managedfields.TypeConverter
}

func (c kindFallbackConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	tv, err := c.TypeConverter.ObjectToTyped(obj, opts...)
	if err != nil && strings.Contains(err.Error(), "no type found matching") {
		return c.deduced.ObjectToTyped(obj, opts...)
	}
	return tv, err
}

// mergeApplyConfiguration merges an apply configuration into an object (JSON of the kind
// the policy matched) with server-side apply's merge, and returns the result as JSON.
func mergeApplyConfiguration(tc managedfields.TypeConverter, current []byte, cfg map[string]any) ([]byte, error) {
	var live map[string]any
	if err := utiljson.Unmarshal(current, &live); err != nil {
		return nil, err
	}
	liveObj := &unstructured.Unstructured{Object: live}
	patchObj := &unstructured.Unstructured{Object: cfg}
	patchObj.SetGroupVersionKind(liveObj.GroupVersionKind())
	patchTyped, err := tc.ObjectToTyped(patchObj)
	if err != nil {
		return nil, fmt.Errorf("failed to convert patch object to typed object: %w", err)
	}
	if atomics := findAtomics(nil, patchTyped.Schema(), patchTyped.TypeRef(), patchTyped.AsValue()); len(atomics) > 0 {
		return nil, fmt.Errorf("invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: %v", strings.Join(atomics, ", "))
	}
	liveTyped, err := tc.ObjectToTyped(liveObj)
	if err != nil {
		return nil, fmt.Errorf("failed to convert original object to typed object: %w", err)
	}
	merged, err := liveTyped.Merge(patchTyped)
	if err != nil {
		return nil, fmt.Errorf("failed to merge patch: %w", err)
	}
	out, err := tc.TypedToObject(merged)
	if err != nil {
		return nil, fmt.Errorf("failed to convert typed object to object: %w", err)
	}
	return json.Marshal(out)
}

// findAtomics lists the paths of the atomic lists, maps and structs an apply configuration
// sets: setting one would replace it whole, dropping what the configuration does not
// repeat, so upstream refuses them.
func findAtomics(path []fieldpath.PathElement, s *smdschema.Schema, tr smdschema.TypeRef, v value.Value) []string {
	atom, ok := s.Resolve(tr)
	if !ok {
		return nil
	}
	var out []string
	switch {
	case v.IsMap() && atom.Map != nil:
		if atom.Map.ElementRelationship == smdschema.Atomic {
			out = append(out, pathString(path))
		}
		v.AsMap().Iterate(func(key string, val value.Value) bool {
			if f, ok := atom.Map.FindField(key); ok {
				k := key
				out = append(out, findAtomics(append(path[:len(path):len(path)], fieldpath.PathElement{FieldName: &k}), s, f.Type, val)...)
			}
			return true
		})
	case v.IsList() && atom.List != nil:
		if atom.List.ElementRelationship == smdschema.Atomic {
			out = append(out, pathString(path))
		}
		l := v.AsList()
		for i := 0; i < l.Length(); i++ {
			idx := i
			out = append(out, findAtomics(append(path[:len(path):len(path)], fieldpath.PathElement{Index: &idx}), s, atom.List.ElementType, l.At(i))...)
		}
	}
	return out
}

func pathString(path []fieldpath.PathElement) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteString(p.String())
	}
	return b.String()
}

// applyJSONPatch applies the operations a JSONPatch expression built to an object (JSON);
// nil when a test operation failed, which leaves the object unchanged.
func applyJSONPatch(current []byte, ops []kcel.JSONPatchOperation) ([]byte, error) {
	raw := make([]map[string]any, 0, len(ops))
	for _, op := range ops {
		o := map[string]any{"op": op.Op, "path": op.Path}
		if op.From != "" {
			o["from"] = op.From
		}
		if op.HasValue {
			o["value"] = op.Value
		}
		raw = append(raw, o)
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("JSONPath valueExpression evaluated to a type that could not marshal to JSON: %w", err)
	}
	patch, err := jsonpatch.DecodePatch(data)
	if err != nil {
		return nil, fmt.Errorf("JSONPath: %w", err)
	}
	patched, err := patch.Apply(current)
	if err != nil {
		if errors.Is(err, jsonpatch.ErrTestFailed) {
			return nil, nil
		}
		return nil, fmt.Errorf("JSONPath: %w", err)
	}
	return patched, nil
}
