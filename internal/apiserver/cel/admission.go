package cel

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Admission expressions (ValidatingAdmissionPolicy validations, match conditions, variables,
// messages and audit annotations; webhook match conditions) see:
//
//	object, oldObject   the object of the request and the one stored (dyn; null when none)
//	request             the admission request's attributes (kubernetes.AdmissionRequest)
//	namespaceObject     the request's Namespace (kubernetes.Namespace; null when cluster-scoped)
//	params              the binding's parameter object (dyn; policies with a paramKind only)
//	variables           the policy's variables, evaluated lazily, at most once each
//
// The authorizer variable is not declared (no authorization checks from CEL).

// Admission variable names.
const (
	ObjectVar    = "object"
	OldObjectVar = "oldObject"
	RequestVar   = "request"
	NamespaceVar = "namespaceObject"
	ParamsVar    = "params"
	VariablesVar = "variables"
)

func gvkType(name string) *Type {
	return NewObjectType(name, map[string]*Type{"group": StringType, "version": StringType, "kind": StringType}, "group", "version", "kind")
}

func gvrType(name string) *Type {
	return NewObjectType(name, map[string]*Type{"group": StringType, "version": StringType, "resource": StringType}, "group", "version", "resource")
}

// RequestType is the type of request, as kube-apiserver declares it.
func RequestType() *Type {
	gvk, gvr := gvkType("kubernetes.GroupVersionKind"), gvrType("kubernetes.GroupVersionResource")
	user := NewObjectType("kubernetes.UserInfo", map[string]*Type{
		"username": StringType,
		"uid":      StringType,
		"groups":   NewListType(StringType, -1),
		"extra":    NewMapType(NewListType(StringType, -1), -1),
	})
	return NewObjectType("kubernetes.AdmissionRequest", map[string]*Type{
		"kind": gvk, "resource": gvr, "subResource": StringType,
		"requestKind": gvk, "requestResource": gvr, "requestSubResource": StringType,
		"name": StringType, "namespace": StringType, "operation": StringType,
		"userInfo": user, "dryRun": BoolType, "options": DynType,
	}, "kind", "resource", "requestKind", "requestResource", "name", "operation", "userInfo")
}

// NamespaceType is the type of namespaceObject, as kube-apiserver declares it.
func NamespaceType() *Type {
	strings := NewListType(StringType, -1)
	labels := NewMapType(StringType, -1)
	condition := NewObjectType("kubernetes.NamespaceCondition", map[string]*Type{
		"status": StringType, "type": StringType, "lastTransitionTime": TimestampType, "message": StringType, "reason": StringType,
	})
	meta := NewObjectType("kubernetes.NamespaceMetadata", map[string]*Type{
		"name": StringType, "generateName": StringType, "namespace": StringType, "labels": labels, "annotations": labels,
		"UID": StringType, "creationTimestamp": TimestampType, "deletionGracePeriodSeconds": IntType,
		"deletionTimestamp": TimestampType, "generation": IntType, "resourceVersion": StringType, "finalizers": strings,
	})
	return NewObjectType("kubernetes.Namespace", map[string]*Type{
		"metadata": meta,
		"spec":     NewObjectType("kubernetes.NamespaceSpec", map[string]*Type{"finalizers": strings}),
		"status": NewObjectType("kubernetes.NamespaceStatus", map[string]*Type{
			"conditions": NewListType(condition, -1), "phase": StringType,
		}),
	})
}

var (
	requestType   = RequestType()
	namespaceType = NamespaceType()
)

// admissionEnvs are the shared environments of admission expressions without variables,
// with and without params.
var admissionEnvs = sync.OnceValues(func() ([2]*Env, error) {
	var out [2]*Env
	for i, params := range []bool{false, true} {
		e, err := NewEnv(admissionVariables(params, nil)...)
		if err != nil {
			return out, err
		}
		out[i] = e
	}
	return out, nil
})

func admissionVariables(params bool, vars *Type) []Variable {
	out := []Variable{
		{Name: ObjectVar}, {Name: OldObjectVar},
		{Name: RequestVar, Type: requestType}, {Name: NamespaceVar, Type: namespaceType},
	}
	if params {
		out = append(out, Variable{Name: ParamsVar})
	}
	if vars != nil {
		out = append(out, Variable{Name: VariablesVar, Type: vars})
	}
	return out
}

// AdmissionCompiler compiles the expressions of one policy (or webhook): its variables
// first, in order, each seeing those before it, then the expressions that use them.
type AdmissionCompiler struct {
	env  *Env
	vars *Type
	// variables are the compiled variables, by name; a variable that failed to compile
	// has its error.
	variables map[string]compiledVariable
}

type compiledVariable struct {
	prog *Program
	err  error
}

// NewAdmissionCompiler returns a compiler for expressions with (params) or without a params
// variable, and with (variables) or without policy variables.
func NewAdmissionCompiler(params, variables bool) (*AdmissionCompiler, error) {
	return newAdmissionCompiler(params, variables, false, admissionEnvs)
}

// newAdmissionCompiler makes a compiler on one of the shared environments envs returns
// (without, then with params) when there are no policy variables, and otherwise on an
// environment of its own, with (mutation) or without the Object and JSONPatch types.
func newAdmissionCompiler(params, variables, mutation bool, envs func() ([2]*Env, error)) (*AdmissionCompiler, error) {
	if !variables {
		shared, err := envs()
		if err != nil {
			return nil, err
		}
		i := 0
		if params {
			i = 1
		}
		return &AdmissionCompiler{env: shared[i]}, nil
	}
	vt := NewObjectType("kubernetes.variables", map[string]*Type{})
	env, err := newEnvWith(false, mutation, admissionVariables(params, vt)...)
	if err != nil {
		return nil, err
	}
	return &AdmissionCompiler{env: env, vars: vt, variables: map[string]compiledVariable{}}, nil
}

// CompileVariable compiles a policy variable and declares it (with the type it evaluates
// to, or dyn) to the expressions compiled after it.
func (c *AdmissionCompiler) CompileVariable(name, expr string) error {
	if c.vars == nil {
		return &Error{Type: ErrorInternal, Detail: "variable composition is not allowed"}
	}
	p, err := c.env.Compile(expr)
	t := DynType
	if err == nil {
		t = TypeOf(p.OutputType)
	}
	c.vars.AddField(name, t)
	c.variables[name] = compiledVariable{prog: p, err: err}
	return err
}

// Compile compiles an expression that must evaluate to one of want.
func (c *AdmissionCompiler) Compile(expr string, want ...*types.Type) (*Program, error) {
	return c.env.CompileExpecting(expr, want...)
}

// AdmissionInput is what admission expressions are evaluated against.
type AdmissionInput struct {
	// Object, OldObject and Params are CEL values (ObjectValue); nil is null. Params is
	// declared only when HasParams.
	Object, OldObject, Params ref.Val
	HasParams                 bool
	Request                   *Request
	Namespace                 *corev1.Namespace
}

// Request are the admission request's attributes for the request variable.
type Request struct {
	Kind, RequestKind               metav1.GroupVersionKind
	Resource, RequestResource       metav1.GroupVersionResource
	SubResource, RequestSubResource string
	Name, Namespace, Operation      string
	Username, UID                   string
	Groups                          []string
	Extra                           map[string][]string
	DryRun                          bool
	Options                         runtime.Object
}

// Evaluation is one evaluation of a policy's (or webhook's) expressions: the variables'
// values and the budget they share.
type Evaluation struct {
	ctx        context.Context
	activation Activation
	variables  *variablesValue
	// remaining is what is left of the runtime budget.
	remaining int64
}

// NewEvaluation prepares the variables for evaluations that may spend budget in total.
func (c *AdmissionCompiler) NewEvaluation(ctx context.Context, in *AdmissionInput, budget int64) (*Evaluation, error) {
	act := Activation{ObjectVar: orNull(in.Object), OldObjectVar: orNull(in.OldObject)}
	if in.HasParams {
		act[ParamsVar] = orNull(in.Params)
	}
	req, err := requestValue(in.Request)
	if err != nil {
		return nil, err
	}
	act[RequestVar] = req
	act[NamespaceVar] = namespaceValue(in.Namespace)
	ev := &Evaluation{ctx: ctx, activation: act, remaining: budget}
	if c.vars != nil {
		ev.variables = &variablesValue{t: c.vars, compiled: c.variables, ev: ev, values: map[string]ref.Val{}}
		act[VariablesVar] = ev.variables
	}
	return ev, nil
}

func orNull(v ref.Val) ref.Val {
	if v == nil {
		return types.NullValue
	}
	return v
}

// Remaining is what is left of the budget.
func (ev *Evaluation) Remaining() int64 { return ev.remaining }

// OutOfBudget is kube-apiserver's message for a spent budget.
const OutOfBudget = "validation failed due to running out of cost budget, no further validation rules will be run"

// Eval evaluates p, charging its cost (and that of the variables it reads for the first
// time) to the budget. An *Error tells why it failed: budget exhausted (Exhausted, after
// which nothing more should be evaluated) or the expression failed.
func (ev *Evaluation) Eval(p *Program) (ref.Val, *EvalError) {
	val, spent, err := p.Eval(ev.ctx, ev.activation)
	if ev.variables != nil {
		spent += ev.variables.takeCost()
	}
	if spent > math.MaxInt64 || int64(spent) > ev.remaining {
		ev.remaining = -1
		return nil, &EvalError{Detail: OutOfBudget, Exhausted: true}
	}
	ev.remaining -= int64(spent)
	if err != nil {
		if IsCostLimitError(err) {
			ev.remaining = -1
			return nil, &EvalError{Detail: fmt.Sprintf("expression '%v' resulted in error: %v", p.Expression, err), Exhausted: true}
		}
		return nil, &EvalError{Detail: fmt.Sprintf("expression '%v' resulted in error: %v", p.Expression, err)}
	}
	return val, nil
}

// EvalError is a failed evaluation.
type EvalError struct {
	Detail string
	// Exhausted is set when the runtime budget is spent.
	Exhausted bool
}

func (e *EvalError) Error() string { return e.Detail }

// variablesValue is the variables variable: each variable is evaluated when first read.
type variablesValue struct {
	t        *Type
	compiled map[string]compiledVariable
	ev       *Evaluation
	values   map[string]ref.Val
	cost     uint64
}

var _ traits.Mapper = (*variablesValue)(nil)

func (v *variablesValue) takeCost() uint64 {
	c := v.cost
	v.cost = 0
	return c
}

func (v *variablesValue) lookup(name string) (ref.Val, bool) {
	if val, ok := v.values[name]; ok {
		return val, true
	}
	cv, ok := v.compiled[name]
	if !ok {
		return nil, false
	}
	var val ref.Val
	if cv.err != nil {
		val = types.NewErr("composited variable %q fails to compile: %v", name, cv.err)
	} else {
		out, spent, err := cv.prog.Eval(v.ev.ctx, v.ev.activation)
		v.cost += spent
		if err != nil {
			val = types.NewErr("composited variable %q fails to evaluate: %v", name, err)
		} else {
			val = out
		}
	}
	v.values[name] = val
	return val, true
}

func (v *variablesValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	return v.lookup(string(k))
}

func (v *variablesValue) Get(key ref.Val) ref.Val {
	if val, ok := v.Find(key); ok {
		return val
	}
	return types.NewErr("no such key: %v", key)
}

func (v *variablesValue) Contains(key ref.Val) ref.Val {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key)
	}
	_, found := v.compiled[string(k)]
	return types.Bool(found)
}

func (v *variablesValue) IsSet(key ref.Val) ref.Val { return v.Contains(key) }

func (v *variablesValue) Size() ref.Val { return types.Int(len(v.compiled)) }

func (v *variablesValue) Iterator() traits.Iterator {
	keys := make([]string, 0, len(v.compiled))
	for k := range v.compiled {
		keys = append(keys, k)
	}
	return &stringIterator{keys: keys}
}

func (v *variablesValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("variables cannot be converted to %v", typeDesc)
}

func (v *variablesValue) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return v.t.CELType()
	}
	return types.NewErr("type conversion error from '%s' to '%s'", v.t.Name(), t.TypeName())
}

func (v *variablesValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(*variablesValue)
	return types.Bool(ok && v == o)
}
func (v *variablesValue) Type() ref.Type { return v.t.CELType() }
func (v *variablesValue) Value() any     { return v }

// requestValue builds the request variable.
func requestValue(r *Request) (ref.Val, error) {
	if r == nil {
		return types.NullValue, nil
	}
	groups := make([]any, len(r.Groups))
	for i, g := range r.Groups {
		groups[i] = g
	}
	extra := map[string]any{}
	for k, vs := range r.Extra {
		l := make([]any, len(vs))
		for i, s := range vs {
			l[i] = s
		}
		extra[k] = l
	}
	var options any
	if r.Options != nil {
		o, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r.Options)
		if err != nil {
			return nil, fmt.Errorf("failed to prepare request variable for evaluation: %w", err)
		}
		options = o
	}
	gvk := func(k metav1.GroupVersionKind) map[string]any {
		return map[string]any{"group": k.Group, "version": k.Version, "kind": k.Kind}
	}
	gvr := func(r metav1.GroupVersionResource) map[string]any {
		return map[string]any{"group": r.Group, "version": r.Version, "resource": r.Resource}
	}
	m := map[string]any{
		"kind": gvk(r.Kind), "resource": gvr(r.Resource), "subResource": r.SubResource,
		"requestKind": gvk(r.RequestKind), "requestResource": gvr(r.RequestResource), "requestSubResource": r.RequestSubResource,
		"name": r.Name, "namespace": r.Namespace, "operation": r.Operation,
		"userInfo": map[string]any{"username": r.Username, "uid": r.UID, "groups": groups, "extra": extra},
		"dryRun":   r.DryRun,
		"options":  options,
	}
	return Value(m, requestType), nil
}

// namespaceValue builds namespaceObject: the fields kube-apiserver exposes of the Namespace.
func namespaceValue(ns *corev1.Namespace) ref.Val {
	if ns == nil {
		return types.NullValue
	}
	strs := func(in []string) []any {
		out := make([]any, len(in))
		for i, s := range in {
			out[i] = s
		}
		return out
	}
	smap := func(in map[string]string) map[string]any {
		out := make(map[string]any, len(in))
		for k, v := range in {
			out[k] = v
		}
		return out
	}
	ts := func(t *metav1.Time) any {
		if t == nil || t.IsZero() {
			return nil
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	meta := map[string]any{
		"name": ns.Name, "generateName": ns.GenerateName, "namespace": ns.Namespace,
		"labels": smap(ns.Labels), "annotations": smap(ns.Annotations), "UID": string(ns.UID),
		"generation": ns.Generation, "resourceVersion": ns.ResourceVersion, "finalizers": strs(ns.Finalizers),
	}
	if v := ts(&ns.CreationTimestamp); v != nil {
		meta["creationTimestamp"] = v
	}
	if v := ts(ns.DeletionTimestamp); v != nil {
		meta["deletionTimestamp"] = v
	}
	if ns.DeletionGracePeriodSeconds != nil {
		meta["deletionGracePeriodSeconds"] = *ns.DeletionGracePeriodSeconds
	}
	specFinalizers := make([]any, len(ns.Spec.Finalizers))
	for i, f := range ns.Spec.Finalizers {
		specFinalizers[i] = string(f)
	}
	conds := make([]any, 0, len(ns.Status.Conditions))
	for _, c := range ns.Status.Conditions {
		cm := map[string]any{"status": string(c.Status), "type": string(c.Type), "message": c.Message, "reason": c.Reason}
		if v := ts(&c.LastTransitionTime); v != nil {
			cm["lastTransitionTime"] = v
		}
		conds = append(conds, cm)
	}
	m := map[string]any{
		"metadata": meta,
		"spec":     map[string]any{"finalizers": specFinalizers},
		"status":   map[string]any{"conditions": conds, "phase": string(ns.Status.Phase)},
	}
	return Value(m, namespaceType)
}

// TrimMessage checks a message a messageExpression produced: trimmed, at most 5 KiB and on
// one line, else "" (kube-apiserver then falls back to the static message).
func TrimMessage(val ref.Val) string {
	s, ok := val.Value().(string)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if len(s) > MaxMessageExpressionLength || strings.Contains(s, "\n") {
		return ""
	}
	return s
}

// The result types admission expressions must have.
var (
	BoolResult         = []*types.Type{types.BoolType}
	StringResult       = []*types.Type{types.StringType}
	StringOrNullResult = []*types.Type{types.StringType, types.NullType}
)
