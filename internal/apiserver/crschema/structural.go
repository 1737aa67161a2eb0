package crschema

import (
	"fmt"
	"regexp"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var validTypes = []string{"array", "boolean", "integer", "number", "object", "string"}

// ValidateStructural checks that s, a version's openAPIV3Schema, is a structural schema as
// apiextensions.k8s.io/v1 requires: every specified field has a type (unless it is
// x-kubernetes-int-or-string or preserves unknown fields), the root is an object, arrays have
// items, properties and additionalProperties are not combined, metadata at the root
// restricts only name and generateName, and defaults are valid and pruned.
func ValidateStructural(path *field.Path, s *Schema) field.ErrorList {
	var errs field.ErrorList
	if s.Type != "object" {
		if s.Type == "" {
			errs = append(errs, field.Required(path.Child("type"), "must not be empty at the root"))
		} else {
			errs = append(errs, field.Invalid(path.Child("type"), s.Type, "must be object at the root"))
		}
	}
	if s.XEmbeddedResource {
		errs = append(errs, field.Forbidden(path.Child("x-kubernetes-embedded-resource"), "must not be used at the root"))
	}
	if s.XIntOrString {
		errs = append(errs, field.Forbidden(path.Child("x-kubernetes-int-or-string"), "must not be used at the root"))
	}
	if m, ok := s.Properties["metadata"]; ok {
		mp := path.Child("properties").Key("metadata")
		if m.Type != "" && m.Type != "object" {
			errs = append(errs, field.Invalid(mp.Child("type"), m.Type, "must be object"))
		}
		for k := range m.Properties {
			if k != "name" && k != "generateName" {
				errs = append(errs, field.Forbidden(mp.Child("properties").Key(k), "must not be specified, only metadata.name and metadata.generateName can be restricted"))
			}
		}
	}
	errs = append(errs, structural(path, s, true)...)
	return errs
}

func structural(path *field.Path, s *Schema, root bool) field.ErrorList {
	var errs field.ErrorList
	if s.Ref != nil {
		errs = append(errs, field.Forbidden(path.Child("$ref"), "$ref is not supported"))
	}
	if s.Type == "" && !s.XIntOrString && !preserves(s) && !root {
		errs = append(errs, field.Required(path.Child("type"), "must not be empty for specified object fields"))
	}
	if s.Type != "" {
		ok := false
		for _, t := range validTypes {
			ok = ok || t == s.Type
		}
		if !ok {
			errs = append(errs, field.NotSupported(path.Child("type"), s.Type, validTypes))
		}
	}
	if s.XIntOrString && s.Type != "" {
		errs = append(errs, field.Invalid(path.Child("type"), s.Type, "must be empty if x-kubernetes-int-or-string is true"))
	}
	if s.Type == "array" && (s.Items == nil || s.Items.Schema == nil) {
		errs = append(errs, field.Required(path.Child("items"), "must be specified"))
	}
	if s.Items != nil && len(s.Items.JSONSchemas) > 0 {
		errs = append(errs, field.Forbidden(path.Child("items"), "items must be a schema object and not an array"))
	}
	if len(s.Properties) > 0 && s.AdditionalProperties != nil {
		errs = append(errs, field.Forbidden(path.Child("additionalProperties"), "additionalProperties and properties are mutual exclusive"))
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema == nil && !s.AdditionalProperties.Allows {
		errs = append(errs, field.Forbidden(path.Child("additionalProperties"), "must not be false"))
	}
	if s.Pattern != "" {
		if _, err := regexp.Compile(s.Pattern); err != nil {
			errs = append(errs, field.Invalid(path.Child("pattern"), s.Pattern, fmt.Sprintf("must be a valid regular expression: %v", err)))
		}
	}
	if s.Default != nil {
		d := decodeJSON(s.Default)
		if root {
			errs = append(errs, field.Forbidden(path.Child("default"), "must not be set at the root"))
		} else if verrs := validate(path.Child("default"), d, s); len(verrs) > 0 {
			for _, e := range verrs {
				errs = append(errs, field.Invalid(path.Child("default"), e.BadValue, e.ErrorBody()))
			}
		} else if m, ok := d.(map[string]any); ok {
			if pruned := pruneCopy(m, s); len(pruned) > 0 {
				errs = append(errs, field.Invalid(path.Child("default"), string(s.Default.Raw), fmt.Sprintf("must not have unknown fields: %v", pruned)))
			}
		}
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := s.Properties[k]
		if root && k == "metadata" {
			continue
		}
		errs = append(errs, structural(path.Child("properties").Key(k), &p, false)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		errs = append(errs, structural(path.Child("items"), s.Items.Schema, false)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		errs = append(errs, structural(path.Child("additionalProperties"), s.AdditionalProperties.Schema, false)...)
	}
	return errs
}

func pruneCopy(m map[string]any, s *Schema) []string {
	cp := map[string]any{}
	for k, v := range m {
		cp[k] = v
	}
	var pruned []string
	pruneObject("", cp, s, s.XEmbeddedResource, &pruned)
	return pruned
}
