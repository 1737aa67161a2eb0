package cel

import (
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Kind is what a value described by a Type holds.
type Kind uint8

const (
	// KindDyn values are converted as they come (JSON decoded by apimachinery), without a
	// declared type: unknown fields, objects without a schema.
	KindDyn Kind = iota
	KindBool
	KindInt
	KindDouble
	KindString
	KindBytes     // string with format byte (base64)
	KindDuration  // string with format duration
	KindTimestamp // string with format date or date-time
	KindIntOrString
	KindObject // fixed properties
	KindMap    // additionalProperties: string keys, values of Elem
	KindList   // items of Elem
)

// Type is the CEL type of a structural schema node (or of a value kijabi describes by hand,
// like the admission request): what the type checker knows of it, how JSON values of it
// become CEL values, and how large they can be, for cost estimates.
type Type struct {
	Kind Kind
	// Format of strings: "date", "date-time", "duration", "byte" pick the Kind; others are
	// kept for reference.
	Format string
	// Fields of an object, by property name.
	Fields map[string]*Field
	// Elem is the type of a list's items or a map's values.
	Elem *Type
	// ListType is x-kubernetes-list-type ("atomic", "set", "map"; "" is atomic) and MapKeys
	// x-kubernetes-list-map-keys.
	ListType string
	MapKeys  []string
	Nullable bool
	// MaxElements bounds the length of a string or bytes, or the size of a list or map;
	// MinSize is the smallest a value can be when serialized as JSON. Both feed cost
	// estimates.
	MaxElements int64
	MinSize     int64

	name    string
	byCEL   map[string]*Field
	celType *types.Type
}

// Field is a property of an object type.
type Field struct {
	// Name is the property name; CELName the identifier expressions use (escaped).
	Name, CELName string
	Type          *Type
	Required      bool
}

// Simple types.
var (
	DynType       = &Type{Kind: KindDyn, MinSize: 1, celType: types.DynType}
	BoolType      = &Type{Kind: KindBool, MinSize: 4, celType: types.BoolType}
	IntType       = &Type{Kind: KindInt, MinSize: 1, celType: types.IntType}
	DoubleType    = &Type{Kind: KindDouble, MinSize: 1, celType: types.DoubleType}
	StringType    = &Type{Kind: KindString, MinSize: 2, MaxElements: MaxRequestSizeBytes - 2, celType: types.StringType}
	TimestampType = &Type{Kind: KindTimestamp, Format: "date-time", MinSize: 21, MaxElements: 32, celType: types.TimestampType}
)

// NewObjectType returns an object type named name with fields (by property name).
func NewObjectType(name string, fields map[string]*Type, required ...string) *Type {
	t := &Type{Kind: KindObject, Fields: map[string]*Field{}, MinSize: 2}
	req := map[string]bool{}
	for _, r := range required {
		req[r] = true
	}
	for n, ft := range fields {
		esc, ok := Escape(n)
		if !ok {
			continue
		}
		t.Fields[n] = &Field{Name: n, CELName: esc, Type: ft, Required: req[n]}
	}
	t.setName(name)
	return t
}

// NewListType returns a list of elem, of at most maxItems (-1: no known bound).
func NewListType(elem *Type, maxItems int64) *Type {
	if maxItems < 0 {
		maxItems = (MaxRequestSizeBytes - 2) / (elem.MinSize + 1)
	}
	return &Type{Kind: KindList, Elem: elem, MaxElements: maxItems, MinSize: 2}
}

// NewMapType returns a map of string keys to elem, of at most maxProperties (-1: no known
// bound).
func NewMapType(elem *Type, maxProperties int64) *Type {
	if maxProperties < 0 {
		maxProperties = (MaxRequestSizeBytes - 2) / (elem.MinSize + 6)
	}
	return &Type{Kind: KindMap, Elem: elem, MaxElements: maxProperties, MinSize: 2}
}

// CELType is the type the checker sees.
func (t *Type) CELType() *types.Type {
	if t == nil {
		return types.DynType
	}
	if t.celType != nil {
		return t.celType
	}
	switch t.Kind {
	case KindBool:
		return types.BoolType
	case KindInt:
		return types.IntType
	case KindDouble:
		return types.DoubleType
	case KindString:
		return types.StringType
	case KindBytes:
		return types.BytesType
	case KindDuration:
		return types.DurationType
	case KindTimestamp:
		return types.TimestampType
	case KindObject:
		return types.NewObjectType(t.name)
	case KindMap:
		return types.NewMapType(types.StringType, t.Elem.CELType())
	case KindList:
		return types.NewListType(t.Elem.CELType())
	}
	return types.DynType
}

// Name is an object type's CEL type name.
func (t *Type) Name() string { return t.name }

// Field returns the field an expression names (escaped, or a reserved word as written).
func (t *Type) Field(celName string) (*Field, bool) {
	if t == nil || t.Kind != KindObject {
		return nil, false
	}
	if f, ok := t.byCEL[celName]; ok {
		return f, true
	}
	if reservedWords[celName] {
		f, ok := t.byCEL["__"+celName+"__"]
		return f, ok
	}
	return nil, false
}

// AddField adds a field to an object type (variables of a policy are added one by one, as
// each compiles).
func (t *Type) AddField(name string, ft *Type) {
	f := &Field{Name: name, CELName: name, Type: ft}
	if esc, ok := Escape(name); ok {
		f.CELName = esc
	}
	t.Fields[name] = f
	t.byCEL[f.CELName] = f
}

// setName names an object type and, after it, the object types it contains (by path), and
// indexes the fields by their CEL names.
func (t *Type) setName(name string) {
	switch t.Kind {
	case KindObject:
		if t.name != "" {
			return // named already (a type built by hand)
		}
		t.name = name
		t.celType = types.NewObjectType(name)
		t.byCEL = make(map[string]*Field, len(t.Fields))
		for _, f := range t.Fields {
			t.byCEL[f.CELName] = f
			f.Type.setName(name + "." + f.CELName)
		}
	case KindList:
		t.Elem.setName(name + ".@idx")
	case KindMap:
		t.Elem.setName(name + ".@elem")
	}
}

// objectTypes lists t and the object types it contains, by name.
func (t *Type) objectTypes(into map[string]*Type) {
	if t == nil {
		return
	}
	switch t.Kind {
	case KindObject:
		into[t.name] = t
		for _, f := range t.Fields {
			f.Type.objectTypes(into)
		}
	case KindList, KindMap:
		t.Elem.objectTypes(into)
	}
}

var typeNameSeq atomic.Uint64

// UniqueTypeName returns a fresh type name with prefix: the names of a schema's types change
// whenever it is compiled anew, so that expressions cannot come to depend on them.
func UniqueTypeName(prefix string) string {
	return prefix + strconv.FormatUint(typeNameSeq.Add(1), 10)
}

// SchemaType converts a structural schema to a CEL type named name; resource marks the root of
// a resource (custom resource or embedded), whose apiVersion, kind, metadata.name and
// metadata.generateName are always declared. Nodes without a type (other than
// int-or-string) have no CEL type: nil, and the properties holding them are not declared.
func SchemaType(s *apiextensionsv1.JSONSchemaProps, resource bool, name string) *Type {
	t := schemaType(s, resource)
	if t != nil {
		t.setName(name)
	}
	return t
}

const (
	nameMaxLength = 253
	// longest RFC 3339 timestamp (9999-12-31T23:59:59.999999999Z) with its quotes.
	maxDatetimeSize = 32
	maxDurationSize = 32
	dateSize        = 12
)

func schemaType(s *apiextensionsv1.JSONSchemaProps, resource bool) *Type {
	if s == nil {
		return nil
	}
	if s.XIntOrString {
		t := &Type{Kind: KindIntOrString, MinSize: 1, Nullable: s.Nullable}
		if s.MaxLength != nil {
			t.MaxElements = nonNegative(*s.MaxLength) * 4
		} else {
			t.MaxElements = MaxRequestSizeBytes - 2
		}
		return t
	}
	if resource {
		s = withTypeMeta(s)
	}
	switch s.Type {
	case "array":
		if s.Items == nil || s.Items.Schema == nil {
			return nil
		}
		elem := schemaType(s.Items.Schema, s.Items.Schema.XEmbeddedResource)
		if elem == nil {
			return nil
		}
		max := int64(-1)
		if s.MaxItems != nil {
			max = nonNegative(*s.MaxItems)
		}
		t := NewListType(elem, max)
		t.Nullable = s.Nullable
		if s.XListType != nil {
			t.ListType = *s.XListType
		}
		t.MapKeys = s.XListMapKeys
		return t
	case "object":
		if ap := s.AdditionalProperties; ap != nil && ap.Schema != nil {
			elem := schemaType(ap.Schema, ap.Schema.XEmbeddedResource)
			if elem == nil {
				return nil
			}
			max := int64(-1)
			if s.MaxProperties != nil {
				max = nonNegative(*s.MaxProperties)
			}
			t := NewMapType(elem, max)
			t.Nullable = s.Nullable
			return t
		}
		t := &Type{Kind: KindObject, Fields: map[string]*Field{}, MinSize: 2, Nullable: s.Nullable}
		required := map[string]bool{}
		for _, r := range s.Required {
			required[r] = true
		}
		names := make([]string, 0, len(s.Properties))
		for n := range s.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := s.Properties[n]
			ft := schemaType(&p, p.XEmbeddedResource)
			if ft == nil {
				continue
			}
			if esc, ok := Escape(n); ok {
				t.Fields[n] = &Field{Name: n, CELName: esc, Type: ft, Required: required[n]}
			}
			if required[n] && p.Default == nil {
				t.MinSize += int64(len(n)) + ft.MinSize + 4
			}
		}
		return t
	case "string":
		t := &Type{Kind: KindString, Format: s.Format, MinSize: 2, Nullable: s.Nullable}
		switch s.Format {
		case "byte":
			t.Kind = KindBytes
			if s.MaxLength != nil {
				t.MaxElements = nonNegative(*s.MaxLength)
			} else {
				t.MaxElements = MaxRequestSizeBytes - 2
			}
			return t
		case "duration":
			t.Kind, t.MinSize, t.MaxElements = KindDuration, 3, maxDurationSize
			return t
		case "date":
			t.Kind, t.MinSize, t.MaxElements = KindTimestamp, dateSize, dateSize
			return t
		case "date-time":
			t.Kind, t.MinSize, t.MaxElements = KindTimestamp, 21, maxDatetimeSize
			return t
		}
		switch {
		case s.MaxLength != nil:
			t.MaxElements = nonNegative(*s.MaxLength) * 4
		case len(s.Enum) > 0:
			for i := range s.Enum {
				var v any
				if err := utiljson.Unmarshal(s.Enum[i].Raw, &v); err == nil {
					if str, ok := v.(string); ok && int64(len(str)) > t.MaxElements {
						t.MaxElements = int64(len(str))
					}
				}
			}
		default:
			t.MaxElements = MaxRequestSizeBytes - 2
		}
		return t
	case "boolean":
		return &Type{Kind: KindBool, MinSize: 4, Nullable: s.Nullable}
	case "number":
		return &Type{Kind: KindDouble, MinSize: 1, Nullable: s.Nullable}
	case "integer":
		return &Type{Kind: KindInt, MinSize: 1, Nullable: s.Nullable}
	}
	return nil
}

func nonNegative(v int64) int64 {
	if v < 0 {
		return 0
	}
	return v
}

// withTypeMeta returns s with apiVersion, kind and metadata (name and generateName, capped at
// the length names may have) declared, as they always are at the root of a resource.
func withTypeMeta(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	out := *s
	out.Type = "object"
	out.Properties = make(map[string]apiextensionsv1.JSONSchemaProps, len(s.Properties)+3)
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	out.Properties["apiVersion"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	out.Properties["kind"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	meta := s.Properties["metadata"]
	capped := func(p apiextensionsv1.JSONSchemaProps, max int64) apiextensionsv1.JSONSchemaProps {
		p.Type = "string"
		if p.MaxLength == nil || *p.MaxLength > max {
			p.MaxLength = &max
		}
		return p
	}
	out.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"name":         capped(meta.Properties["name"], nameMaxLength),
		"generateName": capped(meta.Properties["generateName"], nameMaxLength-1),
	}}
	return &out
}

// Provider tells the type checker and the interpreter about kijabi's object types, and
// leaves everything else to the environment's own provider.
type Provider struct {
	base    types.Provider
	adapter types.Adapter
	objects map[string]*Type
}

func newProvider(base types.Provider, adapter types.Adapter, decls ...*Type) *Provider {
	p := &Provider{base: base, adapter: adapter, objects: map[string]*Type{}}
	if bp, ok := base.(*Provider); ok {
		// Extending an environment that already has kijabi types: keep them.
		p.base, p.adapter = bp.base, bp.adapter
		for k, v := range bp.objects {
			p.objects[k] = v
		}
	}
	for _, t := range decls {
		t.objectTypes(p.objects)
	}
	return p
}

var _ types.Provider = (*Provider)(nil)
var _ types.Adapter = (*Provider)(nil)

func (p *Provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p *Provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p *Provider) FindStructType(name string) (*types.Type, bool) {
	if t, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(t.CELType()), true
	}
	return p.base.FindStructType(name)
}

func (p *Provider) FindStructFieldNames(name string) ([]string, bool) {
	t, ok := p.objects[name]
	if !ok {
		return p.base.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(t.byCEL))
	for n := range t.byCEL {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

func (p *Provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	t, ok := p.objects[name]
	if !ok {
		return p.base.FindStructFieldType(name, field)
	}
	f, ok := t.Field(field)
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: f.Type.CELType()}, true
}

func (p *Provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("cannot create values of type %s", name)
	}
	return p.base.NewValue(name, fields)
}

func (p *Provider) NativeToValue(v any) ref.Val { return p.adapter.NativeToValue(v) }

func (t *Type) String() string {
	switch t.Kind {
	case KindObject:
		return t.name
	case KindList:
		return fmt.Sprintf("list(%s)", t.Elem)
	case KindMap:
		return fmt.Sprintf("map(string, %s)", t.Elem)
	}
	return t.CELType().String()
}
