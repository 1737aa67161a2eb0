package cel

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	gocel "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// MutatingAdmissionPolicy mutations are CEL expressions that build what to change:
//
//	ApplyConfiguration   Object{metadata: Object.metadata{labels: {"a": "b"}}}
//	JSONPatch            [JSONPatch{op: "add", path: "/spec/x", value: 1}]
//
// As in kube-apiserver, object types are not checked against the kind's schema when an
// expression compiles: "Object" and every "Object.<field>.<field>..." name is an object
// type whose fields are all dyn. What a mutation builds is checked when it is applied —
// each nested Object type's name must follow the field path it is set at (Object.spec
// under spec), and the apply configuration is then merged by the kind's schema. JSONPatch
// has the fields op, path, from (strings) and value (dyn). The function
// jsonpatch.escapeKey(string) escapes "~" and "/" for use in a patch path.

const (
	// ObjectTypeName is the root of the types of apply configurations.
	ObjectTypeName = "Object"
	// JSONPatchTypeName is the type of JSON patch operations.
	JSONPatchTypeName = "JSONPatch"
)

var jsonPatchType = types.NewObjectType(JSONPatchTypeName)

// The result types mutations must have.
var (
	ApplyConfigurationResult = []*types.Type{types.NewObjectType(ObjectTypeName)}
	JSONPatchResult          = []*types.Type{types.NewListType(jsonPatchType)}
)

func isObjectTypeName(name string) bool {
	return name == ObjectTypeName || strings.HasPrefix(name, ObjectTypeName+".")
}

// mutationProvider adds the Object and JSONPatch types to an environment's provider.
type mutationProvider struct{ *Provider }

var _ types.Provider = (*mutationProvider)(nil)

func (p *mutationProvider) FindStructType(name string) (*types.Type, bool) {
	if name == JSONPatchTypeName {
		return types.NewTypeTypeWithParam(jsonPatchType), true
	}
	if isObjectTypeName(name) {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Provider.FindStructType(name)
}

func (p *mutationProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == JSONPatchTypeName {
		return []string{"from", "op", "path", "value"}, true
	}
	if isObjectTypeName(name) {
		return nil, true // any field name
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *mutationProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name == JSONPatchTypeName {
		switch field {
		case "op", "path", "from":
			return &types.FieldType{Type: types.StringType}, true
		case "value":
			return &types.FieldType{Type: types.DynType}, true
		}
		return nil, false
	}
	if isObjectTypeName(name) {
		return &types.FieldType{
			Type: types.DynType,
			IsSet: func(target any) bool {
				m, ok := target.(map[string]any)
				if !ok {
					return false
				}
				_, set := m[field]
				return set
			},
			GetFrom: func(target any) (any, error) {
				if m, ok := target.(map[string]any); ok {
					return m[field], nil
				}
				return nil, fmt.Errorf("cannot get field %q", field)
			},
		}, true
	}
	return p.Provider.FindStructFieldType(name, field)
}

func (p *mutationProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == JSONPatchTypeName {
		return newJSONPatchVal(fields)
	}
	if isObjectTypeName(name) {
		return &ObjectVal{typeName: name, fields: fields}
	}
	return p.Provider.NewValue(name, fields)
}

// jsonPatchLib declares jsonpatch.escapeKey.
func jsonPatchLib() gocel.EnvOption {
	escaper := strings.NewReplacer("~", "~0", "/", "~1")
	return gocel.Function("jsonpatch.escapeKey",
		gocel.Overload("string_jsonpatch_escapeKey", []*types.Type{types.StringType}, types.StringType,
			gocel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.String(escaper.Replace(string(s)))
			})))
}

// mutatingEnvs are the shared environments of mutating policies without variables, with
// and without params.
var mutatingEnvs = sync.OnceValues(func() ([2]*Env, error) {
	var out [2]*Env
	for i, params := range []bool{false, true} {
		e, err := newEnvWith(true, true, admissionVariables(params, nil)...)
		if err != nil {
			return out, err
		}
		out[i] = e
	}
	return out, nil
})

// NewMutatingCompiler is NewAdmissionCompiler for MutatingAdmissionPolicies: its
// expressions may also build Object and JSONPatch values.
func NewMutatingCompiler(params, variables bool) (*AdmissionCompiler, error) {
	return newAdmissionCompiler(params, variables, true, mutatingEnvs)
}

// ObjectVal is an Object{...} value: an apply configuration, or part of one.
type ObjectVal struct {
	typeName string
	fields   map[string]ref.Val
}

var _ traits.Zeroer = (*ObjectVal)(nil)

// TypeName is the value's type name ("Object.spec").
func (v *ObjectVal) TypeName() string { return v.typeName }

func (v *ObjectVal) ConvertToNative(typeDesc reflect.Type) (any, error) {
	m, err := nativeJSON(v, nil)
	if err != nil {
		return nil, err
	}
	if reflect.TypeOf(m).AssignableTo(typeDesc) {
		return m, nil
	}
	return nil, fmt.Errorf("unable to convert to %v", typeDesc)
}

func (v *ObjectVal) ConvertToType(t ref.Type) ref.Val {
	if t.TypeName() == v.typeName {
		return v
	}
	if t == types.TypeType {
		return types.NewTypeTypeWithParam(types.NewObjectType(v.typeName))
	}
	return types.NewErr("unsupported conversion into %v", t)
}

func (v *ObjectVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(*ObjectVal)
	if !ok || o.typeName != v.typeName {
		return types.False
	}
	a, err1 := nativeJSON(v, nil)
	b, err2 := nativeJSON(o, nil)
	return types.Bool(err1 == nil && err2 == nil && reflect.DeepEqual(a, b))
}

func (v *ObjectVal) Type() ref.Type    { return types.NewObjectType(v.typeName) }
func (v *ObjectVal) IsZeroValue() bool { return len(v.fields) == 0 }

func (v *ObjectVal) Value() any {
	m, err := nativeJSON(v, nil)
	if err != nil {
		return types.WrapErr(err)
	}
	return m
}

// JSONPatchVal is a JSONPatch{...} value.
type JSONPatchVal struct {
	Op, Path, From string
	// Val is the value; nil when not set.
	Val ref.Val
}

func newJSONPatchVal(fields map[string]ref.Val) ref.Val {
	p := &JSONPatchVal{}
	for name, val := range fields {
		str := func() (string, bool) { s, ok := val.(types.String); return string(s), ok }
		switch name {
		case "op", "path", "from":
			s, ok := str()
			if !ok {
				return types.NewErr("unexpected type %T for JSONPatchType '%s' field", val.Value(), name)
			}
			switch name {
			case "op":
				p.Op = s
			case "path":
				p.Path = s
			default:
				p.From = s
			}
		case "value":
			p.Val = val
		default:
			return types.NewErr("unexpected JSONPatchType field: %s", name)
		}
	}
	return p
}

func (p *JSONPatchVal) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if typeDesc == reflect.TypeOf(p) {
		return p, nil
	}
	return nil, fmt.Errorf("cannot convert to native type: %v", typeDesc)
}

func (p *JSONPatchVal) ConvertToType(t ref.Type) ref.Val {
	if t.TypeName() == JSONPatchTypeName {
		return p
	}
	if t == types.TypeType {
		return types.NewTypeTypeWithParam(jsonPatchType)
	}
	return types.NewErr("unsupported type: %s", t.TypeName())
}

func (p *JSONPatchVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(*JSONPatchVal)
	if !ok || p.Op != o.Op || p.Path != o.Path || p.From != o.From || (p.Val == nil) != (o.Val == nil) {
		return types.False
	}
	if p.Val == nil {
		return types.True
	}
	return p.Val.Equal(o.Val)
}

func (p *JSONPatchVal) Type() ref.Type { return jsonPatchType }
func (p *JSONPatchVal) Value() any     { return p }

// ApplyConfiguration returns what an ApplyConfiguration expression built, as an
// unstructured object, after checking that the types of its nested objects follow their
// field paths (Object.spec under spec).
func ApplyConfiguration(v ref.Val) (map[string]any, error) {
	obj, ok := v.(*ObjectVal)
	if !ok {
		return nil, fmt.Errorf("unsupported return type from ApplyConfiguration expression: %v", v.Type())
	}
	out, err := nativeJSON(obj, []string{obj.typeName})
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// JSONPatchOperation is one operation a JSONPatch expression built.
type JSONPatchOperation struct {
	Op, Path, From string
	// Value is the JSON value (HasValue tells it from a null one).
	Value    any
	HasValue bool
}

// JSONPatchOperations returns the operations a JSONPatch expression built.
func JSONPatchOperations(v ref.Val) ([]JSONPatchOperation, error) {
	list, ok := v.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("type mismatch: JSONPatchType.expression should evaluate to array")
	}
	var out []JSONPatchOperation
	for it := list.Iterator(); it.HasNext() == types.True; {
		item := it.Next()
		p, ok := item.(*JSONPatchVal)
		if !ok {
			return nil, fmt.Errorf("type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got element of %v", item.Type())
		}
		op := JSONPatchOperation{Op: p.Op, Path: p.Path, From: p.From}
		if p.Val != nil {
			var path []string
			if o, ok := p.Val.(*ObjectVal); ok {
				path = []string{o.typeName}
			}
			val, err := nativeJSON(p.Val, path)
			if err != nil {
				if path != nil {
					return nil, err
				}
				return nil, fmt.Errorf("JSONPath valueExpression evaluated to a type that could not marshal to JSON: %w", err)
			}
			op.Value, op.HasValue = val, true
		}
		out = append(out, op)
	}
	return out, nil
}

// nativeJSON converts a CEL value to JSON data (map[string]any, []any, string, int64,
// float64, bool, nil). With a type path, nested Object values must have the type name of
// the field path they are at, as kube-apiserver requires.
func nativeJSON(v ref.Val, path []string) (any, error) {
	switch x := v.(type) {
	case *ObjectVal:
		if path != nil {
			if want := strings.Join(path, "."); x.typeName != want {
				return nil, fmt.Errorf("type mismatch: unexpected type name %q, expected %q, which matches field name path from root Object type", x.typeName, want)
			}
		}
		out := make(map[string]any, len(x.fields))
		for k, f := range x.fields {
			var sub []string
			if path != nil {
				sub = append(append([]string(nil), path...), k)
			}
			c, err := nativeJSON(f, sub)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case *JSONPatchVal:
		return nil, fmt.Errorf("a JSONPatch cannot be a value")
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString([]byte(x)), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return strconv.FormatFloat(x.Duration.Seconds(), 'f', -1, 64) + "s", nil
	case *types.Err:
		return nil, x
	}
	switch x := v.(type) {
	case traits.Lister:
		out := []any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			c, err := nativeJSON(it.Next(), path)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is of type %v, not string", k, k.Type())
			}
			c, err := nativeJSON(x.Get(k), path)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value of type %v", v.Type())
}
