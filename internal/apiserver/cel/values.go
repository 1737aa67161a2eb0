package cel

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// Values: JSON as apimachinery decodes it (map[string]any, []any, string, int64, float64,
// bool, nil) becomes CEL values lazily, each map and list converting its members as they are
// read, following the Type when there is one. Lists with x-kubernetes-list-type set or map
// compare (==) without regard to order, and concatenate (+) as the list type says: a set
// keeps one of each element, a map list lets the right side replace the items whose keys it
// repeats.

// Value converts v to a CEL value of type t (nil t: dynamically).
func Value(v any, t *Type) ref.Val {
	if t == nil || t.Kind == KindDyn {
		return dynValue(v)
	}
	if v == nil {
		if t.Nullable {
			return types.NullValue
		}
		return types.NewErr("invalid data, got null for schema with nullable=false")
	}
	switch t.Kind {
	case KindIntOrString:
		if x, ok := v.(string); ok {
			return types.String(x)
		}
		if n, ok := integer(v); ok {
			return types.Int(n)
		}
		return types.NewErr("invalid data, expected XIntOrString value to be either a string or integer")
	case KindObject, KindMap:
		m, ok := v.(map[string]any)
		if !ok {
			return types.NewErr("invalid data, expected a map for the provided schema with type=object")
		}
		return &mapValue{m: m, t: t}
	case KindList:
		l, ok := v.([]any)
		if !ok {
			return types.NewErr("invalid data, expected an array for the provided schema with type=array")
		}
		switch t.ListType {
		case "", "atomic", "set", "map":
		default:
			return types.NewErr("invalid x-kubernetes-list-type, expected 'map', 'set' or 'atomic' but got %s", t.ListType)
		}
		return &listValue{items: l, t: t}
	case KindString, KindBytes, KindDuration, KindTimestamp:
		s, ok := v.(string)
		if !ok {
			return types.NewErr("invalid data, expected string, got %T", v)
		}
		switch t.Kind {
		case KindBytes:
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return types.NewErr("Invalid byte formatted string %s: %v", s, err)
			}
			return types.Bytes(b)
		case KindDuration:
			d, err := strfmt.ParseDuration(s)
			if err != nil {
				return types.NewErr("Invalid duration %s: %v", s, err)
			}
			return types.Duration{Duration: d}
		case KindTimestamp:
			if t.Format == "date" {
				d, err := time.Parse(strfmt.RFC3339FullDate, s)
				if err != nil {
					return types.NewErr("Invalid date formatted string %s: %v", s, err)
				}
				return types.Timestamp{Time: d}
			}
			d, err := strfmt.ParseDateTime(s)
			if err != nil {
				return types.NewErr("Invalid date-time formatted string %s: %v", s, err)
			}
			return types.Timestamp{Time: time.Time(d)}
		}
		return types.String(s)
	case KindInt:
		if n, ok := integer(v); ok {
			return types.Int(n)
		}
		return types.NewErr("invalid data, expected int, got %T", v)
	case KindDouble:
		switch x := v.(type) {
		case float64:
			return types.Double(x)
		case float32:
			return types.Double(x)
		case int64:
			return types.Double(x)
		case int:
			return types.Double(x)
		case int32:
			return types.Double(x)
		}
		return types.NewErr("invalid data, expected float, got %T", v)
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return types.NewErr("invalid data, expected bool, got %T", v)
		}
		return types.Bool(b)
	}
	return types.NewErr("invalid type %v", t)
}

// dynValue converts v without a type. Maps and lists stay lazy through the default adapter.
func dynValue(v any) ref.Val {
	switch x := v.(type) {
	case nil:
		return types.NullValue
	case int:
		return types.Int(x)
	case int32:
		return types.Int(x)
	case float32:
		return types.Double(x)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// ObjectValue converts a typed or unstructured API object to a dynamic CEL value, as
// admission expressions see object, oldObject and params.
func ObjectValue(obj runtime.Object) (ref.Val, error) {
	if obj == nil {
		return types.NullValue, nil
	}
	if u, ok := obj.(runtime.Unstructured); ok {
		return dynValue(u.UnstructuredContent()), nil
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return dynValue(content), nil
}

// mapValue is an object (fixed properties) or a map (additionalProperties).
type mapValue struct {
	m map[string]any
	t *Type
}

var (
	_ traits.Mapper      = (*mapValue)(nil)
	_ traits.FieldTester = (*mapValue)(nil)
)

// property finds the property a key names and its type.
func (v *mapValue) property(key string) (string, *Type, bool) {
	if v.t.Kind == KindMap {
		return key, v.t.Elem, true
	}
	if f, ok := v.t.Field(key); ok {
		return f.Name, f.Type, true
	}
	if _, ok := v.t.Fields[key]; ok {
		// the property name as is (indexing with a string)
		f := v.t.Fields[key]
		return f.Name, f.Type, true
	}
	return "", nil, false
}

func (v *mapValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	name, t, ok := v.property(string(k))
	if !ok {
		return nil, false
	}
	raw, ok := v.m[name]
	if !ok {
		return nil, false
	}
	return Value(raw, t), true
}

func (v *mapValue) Get(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if found {
		return val
	}
	if val != nil {
		return val
	}
	return types.NewErr("no such key: %v", key)
}

func (v *mapValue) IsSet(key ref.Val) ref.Val {
	_, found := v.Find(key)
	return types.Bool(found)
}

func (v *mapValue) Contains(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if !found && val != nil {
		return val
	}
	return types.Bool(found)
}

func (v *mapValue) Size() ref.Val {
	if v.t.Kind == KindMap {
		return types.Int(len(v.m))
	}
	n := 0
	for k := range v.m {
		if _, ok := v.t.Fields[k]; ok {
			n++
		}
	}
	return types.Int(n)
}

// keys are the map's keys, or the object's declared properties that are set (by CEL name).
func (v *mapValue) keys() []string {
	out := make([]string, 0, len(v.m))
	if v.t.Kind == KindMap {
		for k := range v.m {
			out = append(out, k)
		}
		return out
	}
	for k := range v.m {
		if f, ok := v.t.Fields[k]; ok {
			out = append(out, f.CELName)
		}
	}
	return out
}

func (v *mapValue) Iterator() traits.Iterator {
	return &stringIterator{keys: v.keys()}
}

func (v *mapValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if v.Size().Equal(o.Size()) != types.True {
		return types.False
	}
	for _, k := range v.keys() {
		key := types.String(k)
		ov, found := o.Find(key)
		if !found {
			return types.False
		}
		mine, _ := v.Find(key)
		if eq := mine.Equal(ov); eq != types.True {
			return types.False
		}
	}
	return types.True
}

func (v *mapValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	switch {
	case typeDesc.Kind() == reflect.Map || typeDesc.Kind() == reflect.Interface:
		if reflect.TypeOf(v.m).AssignableTo(typeDesc) {
			return v.m, nil
		}
	case typeDesc == reflect.TypeOf(&structpb.Value{}) || typeDesc == reflect.TypeOf(&structpb.Struct{}):
		return types.DefaultTypeAdapter.NativeToValue(v.m).ConvertToNative(typeDesc)
	}
	return nil, fmt.Errorf("type conversion error from map to '%v'", typeDesc)
}

func (v *mapValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return v.Type().(ref.Val)
	case v.Type():
		return v
	}
	if v.t.Kind == KindMap && t.TypeName() == types.MapType.TypeName() {
		return v
	}
	return types.NewErr("type conversion error from '%s' to '%s'", v.Type().TypeName(), t.TypeName())
}

func (v *mapValue) Type() ref.Type {
	if v.t.Kind == KindObject {
		return v.t.CELType()
	}
	return types.MapType
}

func (v *mapValue) Value() any { return v.m }

// listValue is a list of Elem, with the semantics of its x-kubernetes-list-type.
type listValue struct {
	items []any
	t     *Type
}

var _ traits.Lister = (*listValue)(nil)

func (l *listValue) at(i int) ref.Val { return Value(l.items[i], l.t.Elem) }

func (l *listValue) Get(index ref.Val) ref.Val {
	i, ok := index.(types.Int)
	if !ok {
		if d, isDouble := index.(types.Double); isDouble && float64(d) == float64(int64(d)) {
			i, ok = types.Int(int64(d)), true
		} else if u, isUint := index.(types.Uint); isUint {
			i, ok = types.Int(u), true
		}
	}
	if !ok {
		return types.MaybeNoSuchOverloadErr(index)
	}
	if i < 0 || int(i) >= len(l.items) {
		return types.NewErr("index out of bounds: %v", i)
	}
	return l.at(int(i))
}

func (l *listValue) Size() ref.Val { return types.Int(len(l.items)) }

func (l *listValue) Contains(val ref.Val) ref.Val {
	var err ref.Val
	for i := range l.items {
		eq := l.at(i).Equal(val)
		if eq == types.True {
			return types.True
		}
		if types.IsError(eq) && err == nil {
			err = eq
		}
	}
	if err != nil {
		return err
	}
	return types.False
}

func (l *listValue) Iterator() traits.Iterator { return &listIterator{l: l} }

func (l *listValue) values() []ref.Val {
	out := make([]ref.Val, len(l.items))
	for i := range l.items {
		out[i] = l.at(i)
	}
	return out
}

func (l *listValue) Add(other ref.Val) ref.Val {
	o, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	lhs := l.values()
	var rhs []ref.Val
	for it := o.Iterator(); it.HasNext() == types.True; {
		rhs = append(rhs, it.Next())
	}
	switch l.t.ListType {
	case "set":
		for _, r := range rhs {
			if !containsVal(lhs, r) {
				lhs = append(lhs, r)
			}
		}
	case "map":
		for _, r := range rhs {
			replaced := false
			for i, x := range lhs {
				if sameMapKeys(x, r, l.t.MapKeys) {
					lhs[i], replaced = r, true
					break
				}
			}
			if !replaced {
				lhs = append(lhs, r)
			}
		}
	default:
		lhs = append(lhs, rhs...)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, lhs)
}

func containsVal(list []ref.Val, v ref.Val) bool {
	for _, x := range list {
		if x.Equal(v) == types.True {
			return true
		}
	}
	return false
}

// sameMapKeys tells whether two items of a map list have the same keys.
func sameMapKeys(a, b ref.Val, keys []string) bool {
	am, ok1 := a.(traits.Mapper)
	bm, ok2 := b.(traits.Mapper)
	if !ok1 || !ok2 {
		return false
	}
	for _, k := range keys {
		key := types.String(k)
		if esc, ok := Escape(k); ok {
			key = types.String(esc)
		}
		av, found1 := am.Find(key)
		bv, found2 := bm.Find(key)
		if found1 != found2 || (found1 && av.Equal(bv) != types.True) {
			return false
		}
	}
	return true
}

func (l *listValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Lister)
	if !ok {
		return types.False
	}
	if o.Size() != types.Int(len(l.items)) {
		return types.False
	}
	switch l.t.ListType {
	case "set":
		theirs := listVals(o)
		for i := range l.items {
			if !containsVal(theirs, l.at(i)) {
				return types.False
			}
		}
		return types.True
	case "map":
		theirs := listVals(o)
		for i := range l.items {
			mine := l.at(i)
			found := false
			for _, t := range theirs {
				if sameMapKeys(mine, t, l.t.MapKeys) {
					found = mine.Equal(t) == types.True
					break
				}
			}
			if !found {
				return types.False
			}
		}
		return types.True
	}
	for i := range l.items {
		if eq := l.at(i).Equal(o.Get(types.Int(i))); eq != types.True {
			return types.False
		}
	}
	return types.True
}

func listVals(l traits.Lister) []ref.Val {
	var out []ref.Val
	for it := l.Iterator(); it.HasNext() == types.True; {
		out = append(out, it.Next())
	}
	return out
}

func (l *listValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	switch {
	case typeDesc.Kind() == reflect.Slice || typeDesc.Kind() == reflect.Interface:
		if reflect.TypeOf(l.items).AssignableTo(typeDesc) {
			return l.items, nil
		}
		return types.NewRefValList(types.DefaultTypeAdapter, l.values()).ConvertToNative(typeDesc)
	case typeDesc == reflect.TypeOf(&structpb.Value{}) || typeDesc == reflect.TypeOf(&structpb.ListValue{}):
		return types.DefaultTypeAdapter.NativeToValue(l.items).ConvertToNative(typeDesc)
	}
	return nil, fmt.Errorf("type conversion error from list to '%v'", typeDesc)
}

func (l *listValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.ListType
	case types.ListType:
		return l
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.ListType, t.TypeName())
}

func (l *listValue) Type() ref.Type { return types.ListType }
func (l *listValue) Value() any     { return l.items }

// Iterators.

type iteratorBase struct{}

func (iteratorBase) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}
func (iteratorBase) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (iteratorBase) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (iteratorBase) Type() ref.Type                 { return types.IteratorType }
func (iteratorBase) Value() any                     { return nil }

type stringIterator struct {
	iteratorBase
	keys []string
	i    int
}

func (it *stringIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }
func (it *stringIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return nil
	}
	k := it.keys[it.i]
	it.i++
	return types.String(k)
}

type listIterator struct {
	iteratorBase
	l *listValue
	i int
}

func (it *listIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.l.items)) }
func (it *listIterator) Next() ref.Val {
	if it.i >= len(it.l.items) {
		return nil
	}
	v := it.l.at(it.i)
	it.i++
	return v
}

// semanticEqual compares two JSON values as apimachinery does.
func semanticEqual(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }

// integer reads a whole number as unstructured content holds it (JSON numbers may come as
// float64).
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	return 0, false
}
