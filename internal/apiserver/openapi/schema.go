package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// node is a schema in a form neutral to OpenAPI v2 and v3; render turns it
// into either.
type node struct {
	ref         string   // definition name when this is a reference
	typ         string   // OpenAPI type; "" for untyped
	format      string   // OpenAPI format
	oneOf       []string // v3 only: alternative simple types
	description string
	items       *node
	additional  *node
	props       map[string]*node
	required    []string
	def         any
	hasDef      bool
	ext         map[string]any
}

func (n *node) setExt(k string, v any) {
	if n.ext == nil {
		n.ext = map[string]any{}
	}
	n.ext[k] = v
}

// Interfaces that apimachinery types use to describe their JSON form.
type (
	schemaTyper  interface{ OpenAPISchemaType() []string }
	schemaFormat interface{ OpenAPISchemaFormat() string }
	v3OneOfTyper interface{ OpenAPIV3OneOfTypes() []string }
	modelNamer   interface{ OpenAPIModelName() string }
	swaggerDocer interface{ SwaggerDoc() map[string]string }
)

// schemaBuilder turns Go types into definitions.
type schemaBuilder struct {
	defs  map[string]*node
	names map[reflect.Type]string
	types map[string]reflect.Type
	smd   *smdschema.Schema // may be nil
	// extraGVKs are kinds used from built-in prototypes, not from the scheme.
	extraGVKs map[reflect.Type]schema.GroupVersionKind
}

func newSchemaBuilder(smd *smdschema.Schema) *schemaBuilder {
	return &schemaBuilder{
		defs:      map[string]*node{},
		names:     map[reflect.Type]string{},
		types:     map[string]reflect.Type{},
		smd:       smd,
		extraGVKs: map[reflect.Type]schema.GroupVersionKind{},
	}
}

// definitionName returns the upstream-style definition name of a named type.
func definitionName(t reflect.Type) string {
	if v, ok := reflect.New(t).Elem().Interface().(modelNamer); ok {
		if n := v.OpenAPIModelName(); n != "" {
			return n
		}
	}
	return friendlyName(t.PkgPath(), t.Name())
}

// friendlyName turns "k8s.io/api/core/v1" + "Pod" into "io.k8s.api.core.v1.Pod".
func friendlyName(pkgPath, typeName string) string {
	parts := strings.Split(pkgPath, "/")
	if len(parts) > 0 && strings.Contains(parts[0], ".") {
		host := strings.Split(parts[0], ".")
		for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
			host[i], host[j] = host[j], host[i]
		}
		parts[0] = strings.Join(host, ".")
	}
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], "-", "_")
	}
	return strings.Join(parts, ".") + "." + typeName
}

// selfDescribed reports whether t (or *t) declares its own OpenAPI type.
func selfDescribed(t reflect.Type) (schemaTyper, bool) {
	v, ok := reflect.New(t).Elem().Interface().(schemaTyper)
	if !ok {
		v, ok = reflect.New(t).Interface().(schemaTyper)
	}
	return v, ok
}

// define ensures a definition exists for the named type t and returns its name.
func (b *schemaBuilder) define(t reflect.Type) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		return name, nil
	}
	if t.Name() == "" {
		return "", fmt.Errorf("openapi: cannot define anonymous type %v", t)
	}
	name := definitionName(t)
	if other, ok := b.types[name]; ok && other != t {
		return "", fmt.Errorf("openapi: types %v and %v both map to definition %q", other, t, name)
	}
	n := &node{}
	b.names[t] = name
	b.types[name] = t
	b.defs[name] = n

	docs := typeDocs(t)
	n.description = docs[""]

	if st, ok := selfDescribed(t); ok {
		if ts := st.OpenAPISchemaType(); len(ts) > 0 {
			n.typ = ts[0]
		}
		if f, ok := st.(schemaFormat); ok {
			n.format = f.OpenAPISchemaFormat()
		}
		if o, ok := st.(v3OneOfTyper); ok {
			n.oneOf = o.OpenAPIV3OneOfTypes()
		}
		return name, nil
	}
	if t.Kind() != reflect.Struct {
		inline, err := b.schemaFor(t, false)
		if err != nil {
			return "", err
		}
		inline.description = n.description
		*n = *inline
		return name, nil
	}
	n.typ = "object"
	var smdMap *smdschema.Map
	if b.smd != nil {
		if td, ok := b.smd.FindNamedType(name); ok && td.Map != nil {
			smdMap = td.Map
			if td.Map.ElementRelationship == smdschema.Atomic {
				n.setExt("x-kubernetes-map-type", "atomic")
			}
		}
	}
	if err := b.addFields(n, t, docs, smdMap); err != nil {
		return "", err
	}
	sort.Strings(n.required)
	return name, nil
}

// typeDocs returns the SwaggerDoc of t, or nil.
func typeDocs(t reflect.Type) map[string]string {
	if d, ok := reflect.New(t).Elem().Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	if d, ok := reflect.New(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// addFields adds the JSON-visible fields of struct type t to n.
func (b *schemaBuilder) addFields(n *node, t reflect.Type, docs map[string]string, smdMap *smdschema.Map) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if err := b.addFields(n, et, typeDocs(et), smdMap); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = f.Name
		}
		p, err := b.schemaFor(f.Type, false)
		if err != nil {
			return fmt.Errorf("%v.%s: %w", t, f.Name, err)
		}
		p.description = docs[name]
		// Upstream marks optional fields with +optional; pointers to scalars
		// without omitempty are such fields in practice (GRPCAction.service,
		// TypedObjectReference.apiGroup), pointers to structs are not
		// (DeploymentSpec.selector).
		scalarPtr := f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() != reflect.Struct
		optional := hasOpt(opts, "omitempty") || hasOpt(opts, "omitzero") || scalarPtr
		if !optional {
			n.required = append(n.required, name)
		}
		if s := f.Tag.Get("patchStrategy"); s != "" {
			p.setExt("x-kubernetes-patch-strategy", s)
		}
		mergeKey := f.Tag.Get("patchMergeKey")
		if mergeKey != "" {
			p.setExt("x-kubernetes-patch-merge-key", mergeKey)
		}

		var smdField *smdschema.StructField
		if smdMap != nil {
			if sf, ok := smdMap.FindField(name); ok {
				smdField = &sf
			}
		}
		b.applyMergeSemantics(p, smdField, mergeKey)

		switch {
		case smdField != nil && smdField.Default != nil:
			p.def, p.hasDef = plainJSON(smdField.Default), true
		case smdField != nil:
			// The embedded schema knows the field and says it has no default.
		default:
			p.def, p.hasDef = zeroDefault(f.Type, !optional)
		}
		if n.props == nil {
			n.props = map[string]*node{}
		}
		n.props[name] = p
	}
	return nil
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// applyMergeSemantics sets the list/map extensions of property p.
func (b *schemaBuilder) applyMergeSemantics(p *node, sf *smdschema.StructField, mergeKey string) {
	if sf != nil && b.smd != nil {
		if atom, ok := b.smd.Resolve(sf.Type); ok {
			switch {
			case p.typ == "array" && atom.List != nil:
				switch {
				case atom.List.ElementRelationship == smdschema.Associative && len(atom.List.Keys) > 0:
					p.setExt("x-kubernetes-list-type", "map")
					p.setExt("x-kubernetes-list-map-keys", append([]string(nil), atom.List.Keys...))
				case atom.List.ElementRelationship == smdschema.Associative:
					p.setExt("x-kubernetes-list-type", "set")
				default:
					p.setExt("x-kubernetes-list-type", "atomic")
				}
				return
			case p.typ == "object" && p.additional != nil && atom.Map != nil:
				if atom.Map.ElementRelationship == smdschema.Atomic {
					p.setExt("x-kubernetes-map-type", "atomic")
				}
				return
			}
		}
	}
	if p.typ == "array" {
		if mergeKey != "" {
			p.setExt("x-kubernetes-list-type", "map")
			p.setExt("x-kubernetes-list-map-keys", []string{mergeKey})
		} else {
			p.setExt("x-kubernetes-list-type", "atomic")
		}
	}
}

// zeroDefault returns the default upstream publishes for a field or element
// of type t: {} for non-pointer structs and, when required, the zero value
// of scalars.
func zeroDefault(t reflect.Type, required bool) (any, bool) {
	if t.Kind() == reflect.Struct {
		return map[string]any{}, true
	}
	if !required {
		return nil, false
	}
	switch t.Kind() {
	case reflect.String:
		return "", true
	case reflect.Bool:
		return false, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return 0, true
	}
	return nil, false
}

// plainJSON converts YAML-decoded values (map[interface{}]interface{}) into
// values encoding/json accepts.
func plainJSON(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = plainJSON(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plainJSON(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plainJSON(e)
		}
		return s
	}
	return v
}

// schemaFor returns the schema of a value of type t. elem marks slice/map
// elements, which get zero defaults when they are not pointers.
func (b *schemaBuilder) schemaFor(t reflect.Type, elem bool) (*node, error) {
	n, err := b.schemaForType(t)
	if err != nil {
		return nil, err
	}
	if elem {
		n.def, n.hasDef = zeroDefault(t, true)
	}
	return n, nil
}

func (b *schemaBuilder) schemaForType(t reflect.Type) (*node, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, ok := selfDescribed(t); ok {
		name, err := b.define(t)
		return &node{ref: name}, err
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.PkgPath() == "time" && t.Name() == "Time" {
			return &node{typ: "string", format: "date-time"}, nil
		}
		name, err := b.define(t)
		return &node{ref: name}, err
	case reflect.String:
		return &node{typ: "string"}, nil
	case reflect.Bool:
		return &node{typ: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return &node{typ: "integer", format: "int32"}, nil
	case reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return &node{typ: "integer", format: "int64"}, nil
	case reflect.Float32:
		return &node{typ: "number", format: "float"}, nil
	case reflect.Float64:
		return &node{typ: "number", format: "double"}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &node{typ: "string", format: "byte"}, nil
		}
		items, err := b.schemaFor(t.Elem(), true)
		if err != nil {
			return nil, err
		}
		return &node{typ: "array", items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("openapi: map key of %v is not a string", t)
		}
		vals, err := b.schemaFor(t.Elem(), true)
		if err != nil {
			return nil, err
		}
		return &node{typ: "object", additional: vals}, nil
	case reflect.Interface:
		return &node{}, nil
	}
	return nil, fmt.Errorf("openapi: unsupported type %v", t)
}

// addGVKs sets x-kubernetes-group-version-kind on every definition whose Go
// type is registered in scheme.
func (b *schemaBuilder) addGVKs(scheme *runtime.Scheme) {
	gvks := map[string][]schema.GroupVersionKind{}
	for t, gvk := range b.extraGVKs {
		if name, ok := b.names[t]; ok {
			gvks[name] = append(gvks[name], gvk)
		}
	}
	for gvk, t := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || gvk.Version == "" {
			continue
		}
		if name, ok := b.names[t]; ok {
			gvks[name] = append(gvks[name], gvk)
		}
	}
	for name, list := range gvks {
		sort.Slice(list, func(i, j int) bool {
			a, c := list[i], list[j]
			if a.Group != c.Group {
				return a.Group < c.Group
			}
			if a.Version != c.Version {
				return a.Version < c.Version
			}
			return a.Kind < c.Kind
		})
		out := make([]any, 0, len(list))
		for _, g := range list {
			out = append(out, gvkMap(g))
		}
		b.defs[name].setExt("x-kubernetes-group-version-kind", out)
	}
}

func gvkMap(g schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": g.Group, "version": g.Version, "kind": g.Kind}
}

// refs calls fn for every definition that n references directly.
func (n *node) refs(fn func(string)) {
	if n == nil {
		return
	}
	if n.ref != "" {
		fn(n.ref)
	}
	n.items.refs(fn)
	n.additional.refs(fn)
	for _, p := range n.props {
		p.refs(fn)
	}
}

// closure returns the definitions reachable from roots.
func (b *schemaBuilder) closure(roots []string) map[string]*node {
	out := map[string]*node{}
	var visit func(string)
	visit = func(name string) {
		if _, ok := out[name]; ok {
			return
		}
		d, ok := b.defs[name]
		if !ok {
			return
		}
		out[name] = d
		d.refs(visit)
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}

// render returns n as an OpenAPI v2 (v3=false) or v3 schema object.
func (n *node) render(v3 bool) map[string]any {
	m := map[string]any{}
	if n.description != "" {
		m["description"] = n.description
	}
	if n.hasDef {
		m["default"] = n.def
	}
	for k, v := range n.ext {
		m[k] = v
	}
	if n.ref != "" {
		ref := map[string]any{"$ref": refPrefix(v3) + n.ref}
		if len(m) == 0 {
			return ref
		}
		if v3 {
			m["allOf"] = []any{ref}
		} else {
			m["$ref"] = ref["$ref"]
		}
		return m
	}
	if v3 && len(n.oneOf) > 0 {
		alts := make([]any, 0, len(n.oneOf))
		for _, t := range n.oneOf {
			alts = append(alts, map[string]any{"type": t})
		}
		m["oneOf"] = alts
	} else if n.typ != "" {
		m["type"] = n.typ
	}
	if n.format != "" {
		m["format"] = n.format
	}
	if n.items != nil {
		m["items"] = n.items.render(v3)
	}
	if n.additional != nil {
		m["additionalProperties"] = n.additional.render(v3)
	}
	if len(n.props) > 0 {
		props := make(map[string]any, len(n.props))
		for k, p := range n.props {
			props[k] = p.render(v3)
		}
		m["properties"] = props
	}
	if len(n.required) > 0 {
		m["required"] = n.required
	}
	return m
}

func refPrefix(v3 bool) string {
	if v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}
