package openapi

import (
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Custom resources have no Go type: their definitions come from the JSON schema of their
// CustomResourceDefinition version (Resource.Schema), named as upstream names them
// (reversed group, version, kind: "com.example.stable.v1.CronTab").

func customName(gvk schema.GroupVersionKind) string {
	parts := strings.Split(gvk.Group, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".") + "." + gvk.Version + "." + gvk.Kind
}

// schemaKeywords are the validation keywords kept from a custom schema: those both OpenAPI
// v2 and v3 accept. nullable, anyOf, oneOf, allOf and not are dropped, as upstream does for
// the published documents.
var schemaKeywords = map[string]bool{"enum": true, "minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true,
	"uniqueItems": true, "multipleOf": true, "maxProperties": true, "minProperties": true, "title": true}

// customNode converts a JSON schema into a node.
func customNode(m map[string]any) *node {
	n := &node{}
	for k, v := range m {
		switch k {
		case "type":
			n.typ, _ = v.(string)
		case "format":
			n.format, _ = v.(string)
		case "description":
			n.description, _ = v.(string)
		case "default":
			n.def, n.hasDef = v, true
		case "required":
			if l, ok := v.([]any); ok {
				for _, r := range l {
					if s, ok := r.(string); ok {
						n.required = append(n.required, s)
					}
				}
			}
		case "items":
			if im, ok := v.(map[string]any); ok {
				n.items = customNode(im)
			}
		case "additionalProperties":
			if am, ok := v.(map[string]any); ok {
				n.additional = customNode(am)
			}
		case "properties":
			if pm, ok := v.(map[string]any); ok {
				n.props = map[string]*node{}
				for name, p := range pm {
					if ps, ok := p.(map[string]any); ok {
						n.props[name] = customNode(ps)
					}
				}
			}
		default:
			if schemaKeywords[k] || (strings.HasPrefix(k, "x-kubernetes-") && k != "x-kubernetes-validations") {
				n.setExt(k, v)
			}
		}
	}
	if n.typ == "" && n.ext["x-kubernetes-int-or-string"] == true {
		n.oneOf = []string{"integer", "string"}
	}
	sort.Strings(n.required)
	return n
}

// defineCustom defines a custom resource's object and list, and returns their names.
func (pb *pathBuilder) defineCustom(r Resource) (string, string, error) {
	objectMeta, err := pb.b.define(reflect.TypeOf(metav1.ObjectMeta{}))
	if err != nil {
		return "", "", err
	}
	listMeta, err := pb.b.define(reflect.TypeOf(metav1.ListMeta{}))
	if err != nil {
		return "", "", err
	}
	gvk := pb.gv.WithKind(r.Kind)
	obj := customNode(r.Schema)
	obj.typ = "object"
	if obj.props == nil {
		obj.props = map[string]*node{}
	}
	obj.props["apiVersion"] = &node{typ: "string", description: "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}
	obj.props["kind"] = &node{typ: "string", description: "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}
	obj.props["metadata"] = &node{ref: objectMeta, description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}
	obj.setExt("x-kubernetes-group-version-kind", []any{gvkMap(gvk)})
	name := customName(gvk)
	pb.b.defs[name] = obj
	listGVK := pb.gv.WithKind(r.Kind + "List")
	list := &node{typ: "object", description: r.Kind + "List is a list of " + r.Kind, required: []string{"items"}, props: map[string]*node{
		"apiVersion": obj.props["apiVersion"],
		"kind":       obj.props["kind"],
		"metadata":   {ref: listMeta, description: "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"},
		"items":      {typ: "array", description: "List of " + strings.ToLower(r.Kind) + "s.", items: &node{ref: name}},
	}}
	list.setExt("x-kubernetes-group-version-kind", []any{gvkMap(listGVK)})
	listName := customName(listGVK)
	pb.b.defs[listName] = list
	pb.roots = append(pb.roots, name, listName)
	return name, listName, nil
}
