package cel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Limits, as kube-apiserver v1.37 sets them.
const (
	// PerCallLimit is the runtime cost one expression may spend (roughly 0.1s).
	PerCallLimit = 1000000
	// RuntimeBudget is what all the expressions of one policy binding (per param) or of
	// one custom resource may spend together (roughly 1s).
	RuntimeBudget = 10000000
	// MatchConditionsBudget is what the match conditions of one webhook or policy may spend.
	MatchConditionsBudget = 2500000
	// CheckFrequency is how many comprehension iterations run between checks for
	// cancellation.
	CheckFrequency = 100
	// MaxRequestSizeBytes bounds the size of any value, for static cost estimates.
	MaxRequestSizeBytes = int64(3 * 1024 * 1024)
	// MaxMessageExpressionLength is the longest message a messageExpression may produce.
	MaxMessageExpressionLength = 5 * 1024
	// StaticCostLimit is the largest estimated cost of one CRD validation rule, and
	// StaticCRDCostLimit of all the rules of a CRD schema together.
	StaticCostLimit    = 10000000
	StaticCRDCostLimit = 100000000
)

// ErrorType classifies an Error as Kubernetes does.
type ErrorType string

const (
	ErrorInvalid  ErrorType = "RuleInvalid"
	ErrorRequired ErrorType = "RuleRequired"
	ErrorInternal ErrorType = "InternalError"
)

// Error is a compilation or evaluation failure; Detail is its message as kube-apiserver
// words it.
type Error struct {
	Type   ErrorType
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// ErrOutOfBudget marks a runtime cost overrun.
var ErrOutOfBudget = errors.New("out of budget")

var baseEnv = sync.OnceValues(func() (*gocel.Env, error) {
	return gocel.NewEnv(
		gocel.HomogeneousAggregateLiterals(),
		gocel.EagerlyValidateDeclarations(true),
		gocel.DefaultUTCTimeZone(true),
		gocel.CrossTypeNumericComparisons(true),
		gocel.OptionalTypes(),
		gocel.ASTValidators(
			gocel.ValidateDurationLiterals(),
			gocel.ValidateTimestampLiterals(),
			gocel.ValidateRegexLiterals(),
			gocel.ValidateHomogeneousAggregateLiterals(),
		),
		// has() costs nothing, as Kubernetes has always estimated it.
		gocel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		ext.Lists(ext.ListsVersion(3)),
		gocel.Lib(listsLib{}),
		gocel.Lib(regexLib{}),
		gocel.Lib(urlLib{}),
		gocel.Lib(quantityLib{}),
		gocel.Lib(netLib{}),
		gocel.Lib(formatLib{}),
		gocel.Lib(semverLib{}),
	)
})

// BaseEnv is the environment every Kubernetes expression starts from: the standard
// functions, the cel-go extensions Kubernetes enables (strings v2, sets, two-variable
// comprehensions, lists v3, optional types) and Kubernetes' own libraries (lists, regex,
// URLs, quantities, IPs and CIDRs, named formats, semantic versions), without variables.
func BaseEnv() *gocel.Env {
	env, err := baseEnv()
	if err != nil {
		panic(fmt.Sprintf("CEL base environment misconfigured: %v", err))
	}
	return env
}

// Variable declares a variable of an environment: its Type (nil: dyn), or, for types the
// Type model does not describe (oldSelf as an optional), its CEL type.
type Variable struct {
	Name    string
	Type    *Type
	CELType *types.Type
}

// Env is an environment with variables, compiling expressions into Programs.
type Env struct {
	env  *gocel.Env
	vars map[string]*Type
	// cache holds compiled programs by expression; nil for environments whose types still
	// change (policy variables, added as they compile).
	cache *programCache
}

// NewEnv extends the base environment with variables.
func NewEnv(vars ...Variable) (*Env, error) {
	return newEnv(true, vars...)
}

func newEnv(cacheable bool, vars ...Variable) (*Env, error) {
	return newEnvWith(cacheable, false, vars...)
}

// newEnvWith is newEnv, with (mutation) or without the Object and JSONPatch types and the
// jsonpatch functions of MutatingAdmissionPolicy mutations (mutation.go).
func newEnvWith(cacheable, mutation bool, vars ...Variable) (*Env, error) {
	base := BaseEnv()
	e := &Env{vars: map[string]*Type{}}
	var decls []*Type
	opts := make([]gocel.EnvOption, 0, len(vars)+2)
	for _, v := range vars {
		t := v.Type
		if t == nil {
			t = DynType
		}
		e.vars[v.Name] = t
		decls = append(decls, t)
		ct := v.CELType
		if ct == nil {
			ct = t.CELType()
		}
		opts = append(opts, gocel.Variable(v.Name, ct))
	}
	p := newProvider(base.CELTypeProvider(), base.CELTypeAdapter(), decls...)
	if mutation {
		mp := &mutationProvider{Provider: p}
		opts = append(opts, gocel.CustomTypeProvider(mp), gocel.CustomTypeAdapter(mp), jsonPatchLib())
	} else {
		opts = append(opts, gocel.CustomTypeProvider(p), gocel.CustomTypeAdapter(p))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, err
	}
	e.env = env
	if cacheable {
		e.cache = &programCache{entries: map[string]*Program{}}
	}
	return e, nil
}

// Program is a compiled expression.
type Program struct {
	Expression string
	// OutputType is the type the checker found the expression to have.
	OutputType *types.Type
	// MaxCost is the static estimate of the expression's cost.
	MaxCost uint64
	refs    map[string]bool
	prog    gocel.Program
}

// References tells whether the expression refers to the variable.
func (p *Program) References(name string) bool { return p.refs[name] }

// Compile parses and checks expr and plans its evaluation. Compilation failures are an
// *Error worded as Kubernetes words them ("compilation failed: ERROR: <input>:1:5: ...").
func (e *Env) Compile(expr string) (*Program, error) {
	if e.cache != nil {
		if p, ok := e.cache.get(expr); ok {
			return p, nil
		}
	}
	ast, issues := e.env.Compile(expr)
	if issues != nil && issues.Err() != nil {
		return nil, &Error{Type: ErrorInvalid, Detail: "compilation failed: " + issues.String()}
	}
	prog, err := e.env.Program(ast,
		gocel.EvalOptions(gocel.OptOptimize, gocel.OptTrackCost),
		gocel.CostLimit(PerCallLimit),
		gocel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
		gocel.InterruptCheckFrequency(CheckFrequency),
	)
	if err != nil {
		return nil, &Error{Type: ErrorInvalid, Detail: "program instantiation failed: " + err.Error()}
	}
	p := &Program{Expression: expr, OutputType: ast.OutputType(), prog: prog, refs: map[string]bool{}}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name != "" {
			p.refs[r.Name] = true
		}
	}
	est, err := e.env.EstimateCost(ast, &sizeEstimator{vars: e.vars})
	if err != nil {
		return nil, &Error{Type: ErrorInternal, Detail: "cost estimation failed: " + err.Error()}
	}
	p.MaxCost = est.Max
	if e.cache != nil {
		e.cache.put(expr, p)
	}
	return p, nil
}

// CompileExpecting compiles expr and checks that its type is one of want, with
// kube-apiserver's wording for admission expressions ("must evaluate to bool but got int").
func (e *Env) CompileExpecting(expr string, want ...*types.Type) (*Program, error) {
	p, err := e.Compile(expr)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if p.OutputType.IsExactType(w) || w.IsExactType(types.AnyType) {
			return p, nil
		}
	}
	if len(want) == 1 {
		return nil, &Error{Type: ErrorInvalid, Detail: fmt.Sprintf("must evaluate to %v but got %v", want[0], p.OutputType)}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = w.String()
	}
	return nil, &Error{Type: ErrorInvalid, Detail: fmt.Sprintf("must evaluate to one of [%s] but got %v", strings.Join(names, " "), p.OutputType)}
}

// Eval evaluates the program against vars and returns the result and the runtime cost
// spent (also on failure).
func (p *Program) Eval(ctx context.Context, vars interpreter.Activation) (ref.Val, uint64, error) {
	val, details, err := p.prog.ContextEval(ctx, vars)
	var spent uint64
	if details != nil && details.ActualCost() != nil {
		spent = *details.ActualCost()
	} else if err == nil {
		return nil, 0, fmt.Errorf("runtime cost could not be calculated for expression: %v", p.Expression)
	}
	return val, spent, err
}

// IsCostLimitError tells whether an evaluation error is the per-expression cost limit.
func IsCostLimitError(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "operation cancelled: actual cost limit exceeded")
}

// Activation resolves variables by name.
type Activation map[string]any

func (a Activation) ResolveName(name string) (any, bool) {
	v, ok := a[name]
	return v, ok
}

func (a Activation) Parent() interpreter.Activation { return nil }

// TypeOf converts a CEL type to a Type: scalars, and lists and maps of them; anything else
// is dyn (as policy variables are declared to later expressions).
func TypeOf(t *types.Type) *Type {
	if t == nil {
		return DynType
	}
	switch t.Kind() {
	case types.BoolKind:
		return BoolType
	case types.IntKind:
		return IntType
	case types.DoubleKind:
		return DoubleType
	case types.StringKind:
		return StringType
	case types.BytesKind:
		return &Type{Kind: KindBytes, MinSize: 2, MaxElements: MaxRequestSizeBytes - 2}
	case types.DurationKind:
		return &Type{Kind: KindDuration, MinSize: 3, MaxElements: maxDurationSize}
	case types.TimestampKind:
		return TimestampType
	case types.ListKind:
		if ps := t.Parameters(); len(ps) == 1 {
			return NewListType(TypeOf(ps[0]), -1)
		}
	case types.MapKind:
		if ps := t.Parameters(); len(ps) == 2 && ps[0].Kind() == types.StringKind {
			return NewMapType(TypeOf(ps[1]), -1)
		}
	}
	if t.Kind() != types.DynKind && t.Kind() != types.AnyKind {
		if t.HasTrait(traits.ContainerType) {
			return DynType
		}
		return &Type{Kind: KindDyn, MinSize: 1, celType: t}
	}
	return DynType
}

// sizeEstimator bounds the size of values reachable from typed variables.
type sizeEstimator struct {
	vars map[string]*Type
}

func (s *sizeEstimator) EstimateSize(node cost.AstNode) *cost.SizeEstimate {
	path := node.Path()
	if len(path) == 0 {
		return nil
	}
	t := s.vars[path[0]]
	for _, step := range path[1:] {
		if t == nil {
			return nil
		}
		switch step {
		case "@items", "@values":
			t = t.Elem
		case "@keys":
			if t.Kind != KindMap {
				return nil
			}
			t = StringType
		default:
			f, ok := t.Field(step)
			if !ok {
				return nil
			}
			t = f.Type
		}
	}
	if t == nil || t.Kind == KindDyn || t.Kind == KindIntOrString && t.MaxElements <= 0 {
		return nil
	}
	// Objects and scalars other than strings and bytes have no elements: 0, as Kubernetes
	// estimates them.
	return &cost.SizeEstimate{Min: 0, Max: uint64(nonNegative(t.MaxElements))}
}

// maxFormattedSize bounds the strings conversions produce, so that messages built with
// them ("'at most ' + string(self.max)") are not estimated as unbounded.
var maxFormattedSize = map[string]uint64{
	overloads.IntToString: 20, overloads.UintToString: 20, overloads.DoubleToString: 32, overloads.BoolToString: 5,
	overloads.TimestampToString: 40, overloads.DurationToString: 40,
}

func (s *sizeEstimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if max, ok := maxFormattedSize[overloadID]; ok {
		size := cost.SizeEstimate{Min: 1, Max: max}
		return cost.NewCallEstimate(cost.FixedCostEstimate(cost.CallCost), &size)
	}
	return nil
}

// programCache keeps the programs of an immutable environment by expression.
type programCache struct {
	mu      sync.Mutex
	entries map[string]*Program
}

const programCacheSize = 512

func (c *programCache) get(expr string) (*Program, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.entries[expr]
	return p, ok
}

func (c *programCache) put(expr string, p *Program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= programCacheSize {
		for k := range c.entries { // drop an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[expr] = p
}

// CostFactor reports how far over limit a cost is, in kube-apiserver's words for CRD rules:
// "more than 100x", "1.2x" or, below 1.5, "1.050000x".
func CostFactor(cost, limit uint64) string {
	f := float64(cost) / float64(limit)
	switch {
	case f > 100:
		return "more than 100x"
	case f < 1.5:
		return fmt.Sprintf("%fx", f)
	}
	return fmt.Sprintf("%.1fx", f)
}

// SafeMultiply multiplies costs without overflowing.
func SafeMultiply(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if math.MaxUint64/a < b {
		return math.MaxUint64
	}
	return a * b
}
