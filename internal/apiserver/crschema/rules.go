package crschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kcel "github.com/kijabi/kijabi/internal/apiserver/cel"
)

// x-kubernetes-validations: CEL rules on schema nodes, with self the node's value and oldSelf
// its previous value (transition rules run only on updates that have one, unless
// optionalOldSelf makes oldSelf an optional). CompileRules compiles a schema's rules once
// (when a definition is served); Rules.Validate runs them on custom resources as
// kube-apiserver does, with the same runtime budget, field paths and messages. CheckRules is
// the definition-time check: fields of each rule, compilation, oldSelf only where old values
// can be correlated, and estimated costs.
//
// Errors a rule reports on an unchanged value (its old value at the same place is equal)
// are dropped, as kube-apiserver's validation ratcheting makes them warnings, unless the
// rule uses oldSelf.

// Rules are the compiled rules of a schema.
type Rules struct{ root *ruleNode }

type ruleNode struct {
	schema *Schema
	t      *kcel.Type
	// initErr is why the node's rules could not be compiled at all.
	initErr error
	rules   []compiledRule
	props   map[string]*ruleNode
	extra   *ruleNode // additionalProperties
	items   *ruleNode
}

type compiledRule struct {
	rule        apiextensionsv1.ValidationRule
	prog        *kcel.Program
	err         *kcel.Error
	message     *kcel.Program
	messageErr  *kcel.Error
	usesOldSelf bool
	// fieldPath is the rule's fieldPath, normalized ("" when none or invalid).
	fieldPath string
}

// CompileRules compiles the rules of a custom resource's schema (s is its root); nil when
// the schema has none.
func CompileRules(s *Schema) *Rules {
	if s == nil || !hasRules(s) {
		return nil
	}
	return &Rules{root: compileNode(s, true)}
}

func hasRules(s *Schema) bool {
	if s == nil {
		return false
	}
	if len(s.XValidations) > 0 {
		return true
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if hasRules(&p) {
			return true
		}
	}
	if s.AdditionalProperties != nil && hasRules(s.AdditionalProperties.Schema) {
		return true
	}
	return s.Items != nil && hasRules(s.Items.Schema)
}

func compileNode(s *Schema, resource bool) *ruleNode {
	n := &ruleNode{schema: s}
	if len(s.XValidations) > 0 {
		n.compile(resource)
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if hasRules(&p) {
			if n.props == nil {
				n.props = map[string]*ruleNode{}
			}
			n.props[k] = compileNode(&p, p.XEmbeddedResource)
		}
	}
	if ap := s.AdditionalProperties; ap != nil && hasRules(ap.Schema) {
		n.extra = compileNode(ap.Schema, ap.Schema.XEmbeddedResource)
	}
	if s.Items != nil && hasRules(s.Items.Schema) {
		n.items = compileNode(s.Items.Schema, s.Items.Schema.XEmbeddedResource)
	}
	return n
}

// compile compiles the node's own rules, in environments where self and oldSelf have the
// node's type (oldSelf an optional of it for optionalOldSelf rules).
func (n *ruleNode) compile(resource bool) {
	n.t = kcel.SchemaType(n.schema, resource, kcel.UniqueTypeName("selfType"))
	if n.t == nil {
		n.initErr = errors.New("failed to convert to declType for CEL validation rules")
		return
	}
	env, err := kcel.NewEnv(kcel.Variable{Name: "self", Type: n.t}, kcel.Variable{Name: "oldSelf", Type: n.t})
	if err != nil {
		n.initErr = err
		return
	}
	optEnv, err := kcel.NewEnv(kcel.Variable{Name: "self", Type: n.t},
		kcel.Variable{Name: "oldSelf", Type: n.t, CELType: types.NewOptionalType(n.t.CELType())})
	if err != nil {
		n.initErr = err
		return
	}
	for _, r := range n.schema.XValidations {
		cr := compiledRule{rule: r}
		e := env
		if r.OptionalOldSelf != nil && *r.OptionalOldSelf {
			e = optEnv
		}
		if strings.TrimSpace(r.Rule) == "" {
			n.rules = append(n.rules, cr)
			continue
		}
		p, err := e.Compile(r.Rule)
		switch {
		case err != nil:
			cr.err = celErr(err, "")
		case !p.OutputType.IsExactType(types.BoolType):
			cr.err = &kcel.Error{Type: kcel.ErrorInvalid, Detail: "cel expression must evaluate to a bool"}
		default:
			cr.prog = p
			cr.usesOldSelf = p.References("oldSelf")
		}
		if cr.err == nil && r.MessageExpression != "" {
			m, err := e.Compile(r.MessageExpression)
			switch {
			case err != nil:
				cr.messageErr = celErr(err, "messageExpression ")
			case !m.OutputType.IsExactType(types.StringType):
				cr.messageErr = &kcel.Error{Type: kcel.ErrorInvalid, Detail: "messageExpression must evaluate to a string"}
			default:
				cr.message = m
			}
		}
		if cr.err == nil && r.FieldPath != "" {
			if p, _, err := validFieldPath(r.FieldPath, n.schema); err == nil {
				cr.fieldPath = p.String()
			}
		}
		n.rules = append(n.rules, cr)
	}
}

// celErr words a compilation error for a rule ("compilation failed: ...") or its message
// expression ("messageExpression compilation failed: ...").
func celErr(err error, prefix string) *kcel.Error {
	var ce *kcel.Error
	if !errors.As(err, &ce) {
		return &kcel.Error{Type: kcel.ErrorInternal, Detail: err.Error()}
	}
	if prefix == "" {
		return ce
	}
	return &kcel.Error{Type: ce.Type, Detail: prefix + ce.Detail}
}

// Validate runs the rules on obj, the content of a custom resource (with apiVersion, kind
// and metadata), and old, its stored version on updates (nil on creates).
func (r *Rules) Validate(ctx context.Context, obj, old map[string]any) field.ErrorList {
	if r == nil {
		return nil
	}
	var oldVal any
	if old != nil {
		oldVal = old
	}
	v := &ruleRun{ctx: ctx, remaining: kcel.RuntimeBudget}
	v.node(r.root, nil, obj, oldVal, old != nil, func() bool { return false })
	return v.errs
}

type ruleRun struct {
	ctx       context.Context
	remaining int64
	errs      field.ErrorList
}

// node validates obj against n's rules and those below. Old values follow correlated
// nodes (object properties, map-list items); unchanged tells whether the node is unchanged
// for ratcheting: a correlated node compares with its own old value, one inside a list that
// is not a map list with its nearest correlated ancestor (computed only when an error
// needs it).
func (v *ruleRun) node(n *ruleNode, path *field.Path, obj, old any, correlated bool, parentUnchanged func() bool) {
	if n == nil || obj == nil || v.remaining < 0 {
		return
	}
	if isNil(old) {
		old = nil
	}
	unchanged := parentUnchanged
	if correlated {
		var done, same bool
		unchanged = func() bool {
			if !done {
				done, same = true, old != nil && equality.Semantic.DeepEqual(obj, old)
			}
			return same
		}
	}
	if len(n.schema.XValidations) > 0 {
		v.rules(n, path, obj, old, unchanged)
		if v.remaining < 0 {
			return
		}
	}
	switch o := obj.(type) {
	case map[string]any:
		oldMap, _ := old.(map[string]any)
		mapOK := correlated && (n.schema.XMapType == nil || *n.schema.XMapType == "granular" || *n.schema.XMapType == "atomic")
		oldOf := func(k string) any {
			if mapOK {
				return oldMap[k]
			}
			return nil
		}
		if n.extra != nil {
			for _, k := range sortedKeys(o) {
				v.node(n.extra, path.Key(k), o[k], oldOf(k), mapOK, unchanged)
			}
		}
		for _, k := range sortedKeys(o) {
			if p, ok := n.props[k]; ok {
				v.node(p, path.Child(k), o[k], oldOf(k), mapOK, unchanged)
			}
		}
	case []any:
		if n.items == nil {
			return
		}
		oldList, _ := old.([]any)
		mapList := correlated && n.schema.XListType != nil && *n.schema.XListType == "map" && len(n.schema.XListMapKeys) > 0
		for i, it := range o {
			var ov any
			if mapList {
				ov = mapListItem(oldList, it, n.schema.XListMapKeys)
			}
			v.node(n.items, path.Index(i), it, ov, mapList, unchanged)
			if v.remaining < 0 {
				return
			}
		}
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mapListItem finds the item of a map list with the same keys as item.
func mapListItem(list []any, item any, keys []string) any {
	m, ok := item.(map[string]any)
	if !ok {
		return nil
	}
	for _, o := range list {
		om, ok := o.(map[string]any)
		if !ok {
			continue
		}
		same := true
		for _, k := range keys {
			if !reflect.DeepEqual(om[k], m[k]) {
				same = false
				break
			}
		}
		if same {
			return om
		}
	}
	return nil
}

const outOfBudget = "validation failed due to running out of cost budget, no further validation rules will be run"

func (v *ruleRun) rules(n *ruleNode, path *field.Path, obj, old any, unchanged func() bool) {
	typeName := n.schema.Type
	if n.initErr != nil {
		v.errs = append(v.errs, field.Invalid(path, typeName, fmt.Sprintf("rule compiler initialization error: %v", n.initErr)))
		return
	}
	if v.remaining <= 0 {
		v.errs = append(v.errs, field.Invalid(path, typeName, outOfBudget))
		v.remaining = -1
		return
	}
	self := kcel.Value(obj, n.t)
	var oldSelf ref.Val
	if old != nil {
		oldSelf = kcel.Value(old, n.t)
	}
	for _, cr := range n.rules {
		if cr.err != nil {
			v.errs = append(v.errs, field.Invalid(path, typeName, fmt.Sprintf("rule compile error: %v", cr.err)))
			continue
		}
		if cr.prog == nil {
			continue // an empty rule
		}
		optional := cr.rule.OptionalOldSelf != nil && *cr.rule.OptionalOldSelf
		if cr.usesOldSelf && old == nil && !optional {
			continue // transition rules need an old value
		}
		act := kcel.Activation{"self": self}
		switch {
		case optional && oldSelf != nil:
			act["oldSelf"] = types.OptionalOf(oldSelf)
		case optional:
			act["oldSelf"] = types.OptionalNone
		case oldSelf != nil:
			act["oldSelf"] = oldSelf
		}
		val, spent, err := cr.prog.Eval(v.ctx, act)
		if spent > math.MaxInt64 || int64(spent) > v.remaining {
			v.errs = append(v.errs, field.Invalid(path, typeName, outOfBudget))
			v.remaining = -1
			return
		}
		v.remaining -= int64(spent)
		if err != nil {
			msg := err.Error()
			switch {
			case strings.HasPrefix(msg, "no such overload"):
				v.errs = append(v.errs, field.Invalid(path, typeName, fmt.Sprintf("'%v': call arguments did not match a supported operator, function or macro signature for rule: %v", err, ruleString(cr.rule))))
			case kcel.IsCostLimitError(err):
				v.errs = append(v.errs, field.Invalid(path, typeName, fmt.Sprintf("'%v': no further validation rules will be run due to call cost exceeds limit for rule: %v", err, ruleString(cr.rule))))
				v.remaining = -1
				return
			default:
				v.errs = append(v.errs, field.Invalid(path, typeName, fmt.Sprintf("%v evaluating rule: %v", err, ruleString(cr.rule))))
			}
			continue
		}
		if val == types.True {
			continue
		}
		at := path
		if cr.fieldPath != "" {
			at = path.Child(cr.fieldPath)
		}
		add := func(e *field.Error) {
			if !cr.usesOldSelf && unchanged() {
				return // ratcheted: the value did not change
			}
			v.errs = append(v.errs, e)
		}
		detail := ""
		if cr.message != nil {
			m, stop := v.message(cr, act)
			if stop != "" {
				add(field.Invalid(at, typeName, stop))
				v.remaining = -1
				return
			}
			detail = m
		}
		if detail == "" {
			detail = ruleMessage(cr.rule)
		}
		var value any = obj
		if n.schema.Type == "object" || n.schema.Type == "array" {
			value = field.OmitValueType{}
		}
		add(errorForReason(at, value, detail, cr.rule.Reason))
	}
}

// message evaluates a rule's messageExpression; "" when it fails (the static message is
// used then). stop is set when the budget runs out, which ends validation.
func (v *ruleRun) message(cr compiledRule, act kcel.Activation) (msg, stop string) {
	val, spent, err := cr.message.Eval(v.ctx, act)
	if spent > math.MaxInt64 || int64(spent) > v.remaining {
		return "", "messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run"
	}
	v.remaining -= int64(spent)
	if err != nil {
		if kcel.IsCostLimitError(err) {
			return "", fmt.Sprintf("no further validation rules will be run due to call cost exceeds limit for messageExpression: %q", cr.rule.MessageExpression)
		}
		return "", ""
	}
	s, ok := val.Value().(string)
	if !ok {
		return "", ""
	}
	s = strings.TrimSpace(s)
	if s == "" || len(s) > kcel.MaxMessageExpressionLength || strings.Contains(s, "\n") {
		return "", ""
	}
	return s, ""
}

func errorForReason(p *field.Path, value any, detail string, reason *apiextensionsv1.FieldValueErrorReason) *field.Error {
	if reason != nil {
		switch *reason {
		case apiextensionsv1.FieldValueForbidden:
			return field.Forbidden(p, detail)
		case apiextensionsv1.FieldValueRequired:
			return field.Required(p, detail)
		case apiextensionsv1.FieldValueDuplicate:
			return field.Duplicate(p, value)
		}
	}
	return field.Invalid(p, value, detail)
}

func ruleMessage(r apiextensionsv1.ValidationRule) string {
	if r.Message != "" {
		return strings.TrimSpace(r.Message)
	}
	return "failed rule: " + ruleString(r)
}

func ruleString(r apiextensionsv1.ValidationRule) string {
	if r.Message != "" {
		return strings.TrimSpace(r.Message)
	}
	return strings.TrimSpace(r.Rule)
}

// validFieldPath resolves a rule's fieldPath (".a.b", ".a['b.c']") against the node's
// schema.
func validFieldPath(jsonPath string, s *Schema) (*field.Path, *Schema, error) {
	var p *field.Path
	step := func(name string) error {
		switch {
		case len(s.Properties) > 0:
			prop, ok := s.Properties[name]
			if !ok {
				return errors.New("does not refer to a valid field")
			}
			p, s = p.Child(name), &prop
		case s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
			p, s = p.Key(name), s.AdditionalProperties.Schema
		default:
			return errors.New("does not refer to a valid field")
		}
		return nil
	}
	rest := jsonPath
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, nil, errors.New("unexpected end of JSON path")
			}
			if err := step(rest[:end]); err != nil {
				return nil, nil, err
			}
			rest = rest[end:]
		case '[':
			if len(rest) < 2 || rest[1] != '\'' {
				return nil, nil, fmt.Errorf("expected single quoted string but got %s", rest[1:])
			}
			var name strings.Builder
			i := 2
			for ; i < len(rest) && rest[i] != '\''; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						name.WriteByte('\n')
					case 't':
						name.WriteByte('\t')
					case '\'', '\\':
						name.WriteByte(rest[i])
					default:
						return nil, nil, fmt.Errorf("invalid string literal: invalid escape char \\%c", rest[i])
					}
					continue
				}
				name.WriteByte(rest[i])
			}
			if i+1 >= len(rest) || rest[i+1] != ']' {
				return nil, nil, errors.New("unexpected end of JSON path")
			}
			if err := step(name.String()); err != nil {
				return nil, nil, err
			}
			rest = rest[i+2:]
		default:
			return nil, nil, fmt.Errorf("expected [ or . but got: %s", rest)
		}
	}
	return p, s, nil
}

// Definition-time checks.

var supportedReasons = []string{string(apiextensionsv1.FieldValueDuplicate), string(apiextensionsv1.FieldValueForbidden),
	string(apiextensionsv1.FieldValueInvalid), string(apiextensionsv1.FieldValueRequired)}

var newlines = regexp.MustCompile(`[\n\r]+`)

// internalRule is how kube-apiserver prints a rule as an invalid value: its internal type,
// which has no JSON names.
type internalRule struct {
	Rule              string
	Message           string
	MessageExpression string
	Reason            *string
	FieldPath         string
	OptionalOldSelf   *bool
}

type internalRuleValue struct{ internalRule }

func (v internalRuleValue) MarshalJSON() ([]byte, error) { return json.Marshal(v.internalRule) }

func ruleValue(r apiextensionsv1.ValidationRule) any {
	ir := internalRule{Rule: r.Rule, Message: r.Message, MessageExpression: r.MessageExpression, FieldPath: r.FieldPath, OptionalOldSelf: r.OptionalOldSelf}
	if r.Reason != nil {
		s := string(*r.Reason)
		ir.Reason = &s
	}
	return internalRuleValue{ir}
}

// CheckRules checks the x-kubernetes-validations of a schema (at path, its
// openAPIV3Schema) as kube-apiserver checks a CustomResourceDefinition: each rule's fields,
// that it compiles, that oldSelf is used only where values can be correlated, and that its
// estimated cost (times how often it can run) is within the limits.
func CheckRules(path *field.Path, s *Schema) field.ErrorList {
	if !hasRules(s) {
		return nil
	}
	c := &ruleCheck{}
	c.node(path, s, true, nil, 1, true)
	if c.total > kcel.StaticCRDCostLimit {
		for _, e := range c.expensive {
			c.errs = append(c.errs, field.Forbidden(e.path, "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"))
		}
		c.errs = append(c.errs, field.Forbidden(path, costMessage("x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema", c.total, kcel.StaticCRDCostLimit)))
	}
	return c.errs
}

type ruleCheck struct {
	errs      field.ErrorList
	total     uint64
	expensive []ruleCost
}

type ruleCost struct {
	path *field.Path
	cost uint64
}

func (c *ruleCheck) observe(p *field.Path, cost uint64) {
	if math.MaxUint64-c.total < cost {
		c.total = math.MaxUint64
	} else {
		c.total += cost
	}
	if cost < kcel.StaticCRDCostLimit/100 {
		return
	}
	c.expensive = append(c.expensive, ruleCost{p, cost})
	sort.SliceStable(c.expensive, func(i, j int) bool { return c.expensive[i].cost > c.expensive[j].cost })
	if len(c.expensive) > 4 {
		c.expensive = c.expensive[:4]
	}
}

func costMessage(what string, cost, limit uint64) string {
	return fmt.Sprintf("%s exceeds budget by factor of %s (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)",
		what, kcel.CostFactor(cost, limit))
}

// node checks the rules of s and below; uncorrelatable is the path of the list whose items
// cannot be matched to old ones (oldSelf is refused below it); cardinality is how many
// times s can occur in an object (0: unbounded).
func (c *ruleCheck) node(p *field.Path, s *Schema, resource bool, uncorrelatable *field.Path, cardinality uint64, bounded bool) {
	if len(s.XValidations) > 0 {
		c.rules(p, s, resource, uncorrelatable, cardinality, bounded)
	}
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	mapOK := s.XMapType == nil || *s.XMapType == "granular" || *s.XMapType == "atomic"
	for _, k := range names {
		prop := s.Properties[k]
		if !hasRules(&prop) {
			continue
		}
		u := uncorrelatable
		if u == nil && !mapOK {
			u = p
		}
		c.node(p.Child("properties").Key(k), &prop, prop.XEmbeddedResource, u, cardinality, bounded)
	}
	if ap := s.AdditionalProperties; ap != nil && hasRules(ap.Schema) {
		card, b := multiply(cardinality, bounded, s.MaxProperties)
		c.node(p.Child("additionalProperties"), ap.Schema, ap.Schema.XEmbeddedResource, uncorrelatable, card, b)
	}
	if s.Items != nil && hasRules(s.Items.Schema) {
		u := uncorrelatable
		if u == nil && (s.XListType == nil || *s.XListType != "map") {
			u = p
		}
		card, b := multiply(cardinality, bounded, s.MaxItems)
		c.node(p.Child("items"), s.Items.Schema, s.Items.Schema.XEmbeddedResource, u, card, b)
	}
}

func multiply(card uint64, bounded bool, max *int64) (uint64, bool) {
	if !bounded || max == nil {
		return 0, false
	}
	m := uint64(0)
	if *max > 0 {
		m = uint64(*max)
	}
	return kcel.SafeMultiply(card, m), true
}

func (c *ruleCheck) rules(p *field.Path, s *Schema, resource bool, uncorrelatable *field.Path, cardinality uint64, bounded bool) {
	vp := p.Child("x-kubernetes-validations")
	schemaErrs := false
	for i, r := range s.XValidations {
		rp := vp.Index(i)
		msg := strings.TrimSpace(r.Message)
		switch {
		case strings.TrimSpace(r.Rule) == "":
			c.errs = append(c.errs, field.Required(rp.Child("rule"), "rule is not specified"))
			schemaErrs = true
		case r.Message != "" && msg == "":
			c.errs = append(c.errs, field.Invalid(rp.Child("message"), r.Message, "must be non-empty if specified"))
			schemaErrs = true
		case newlines.MatchString(msg):
			c.errs = append(c.errs, field.Invalid(rp.Child("message"), r.Message, "must not contain line breaks"))
			schemaErrs = true
		case newlines.MatchString(strings.TrimSpace(r.Rule)) && msg == "":
			c.errs = append(c.errs, field.Required(rp.Child("message"), "message must be specified if rule contains line breaks"))
			schemaErrs = true
		}
		if r.MessageExpression != "" && strings.TrimSpace(r.MessageExpression) == "" {
			c.errs = append(c.errs, field.Required(rp.Child("messageExpression"), "messageExpression must be non-empty if specified"))
			schemaErrs = true
		}
		if r.Reason != nil && !contains(supportedReasons, string(*r.Reason)) {
			c.errs = append(c.errs, field.NotSupported(rp.Child("reason"), *r.Reason, supportedReasons))
			schemaErrs = true
		}
		if r.FieldPath != "" {
			switch {
			case strings.TrimSpace(r.FieldPath) == "":
				c.errs = append(c.errs, field.Invalid(rp.Child("fieldPath"), r.FieldPath, "must be non-empty if specified"))
				schemaErrs = true
			case newlines.MatchString(r.FieldPath):
				c.errs = append(c.errs, field.Invalid(rp.Child("fieldPath"), r.FieldPath, "must not contain line breaks"))
				schemaErrs = true
			}
			if _, _, err := validFieldPath(r.FieldPath, s); err != nil {
				c.errs = append(c.errs, field.Invalid(rp.Child("fieldPath"), r.FieldPath, "must be a valid path"))
				schemaErrs = true
			}
		}
	}
	if schemaErrs {
		return // rules of a node with such errors are not compiled, as upstream
	}
	n := &ruleNode{schema: s}
	n.compile(resource)
	if n.initErr != nil {
		c.errs = append(c.errs, field.InternalError(vp, fmt.Errorf("internal error: failed to construct type information for x-kubernetes-validations rules: %s", n.initErr)))
		return
	}
	if !bounded {
		cardinality = uint64(kcel.MaxRequestSizeBytes / (n.t.MinSize + 1))
	}
	for i, cr := range n.rules {
		rp := vp.Index(i)
		if cr.prog != nil {
			cost := kcel.SafeMultiply(cr.prog.MaxCost, cardinality)
			if cost > kcel.StaticCostLimit {
				c.errs = append(c.errs, field.Forbidden(rp.Child("rule"), costMessage("estimated rule cost", cost, kcel.StaticCostLimit)))
			}
			c.observe(rp.Child("rule"), cost)
		}
		if cr.err != nil {
			if cr.err.Type == kcel.ErrorRequired {
				c.errs = append(c.errs, field.Required(rp.Child("rule"), cr.err.Detail))
			} else {
				c.errs = append(c.errs, field.Invalid(rp.Child("rule"), ruleValue(cr.rule), cr.err.Detail))
			}
		}
		if cr.messageErr != nil {
			c.errs = append(c.errs, field.Invalid(rp.Child("messageExpression"), ruleValue(cr.rule), cr.messageErr.Detail))
		} else if cr.message != nil {
			cost := kcel.SafeMultiply(cr.message.MaxCost, cardinality)
			if cost > kcel.StaticCostLimit {
				c.errs = append(c.errs, field.Forbidden(rp.Child("messageExpression"), costMessage("estimated messageExpression cost", cost, kcel.StaticCostLimit)))
			}
			c.observe(rp.Child("messageExpression"), cost)
		}
		if cr.usesOldSelf {
			if uncorrelatable != nil {
				c.errs = append(c.errs, field.Invalid(rp.Child("rule"), cr.rule.Rule, fmt.Sprintf("oldSelf cannot be used on the uncorrelatable portion of the schema within %v", uncorrelatable)))
			}
		} else if cr.err == nil && cr.rule.OptionalOldSelf != nil {
			c.errs = append(c.errs, field.Invalid(rp.Child("optionalOldSelf"), *cr.rule.OptionalOldSelf, "may not be set if oldSelf is not used in rule"))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
