// Package crschema applies a CustomResourceDefinition's structural OpenAPI v3 schema to
// custom resources, as kube-apiserver's apiextensions server does: pruning of fields the
// schema does not declare, defaulting, and validation with Kubernetes-style field errors.
//
// Values are JSON as k8s.io/apimachinery decodes it: map[string]any, []any, string, int64,
// float64, bool and nil.
package crschema

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Schema is JSONSchemaProps.
type Schema = apiextensionsv1.JSONSchemaProps

func preserves(s *Schema) bool { return s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields }

// Prune removes from obj, the content of a custom resource (or any object value when root is
// false), every field its schema does not declare, and returns the removed fields' paths
// ("spec.foo", "spec.items[0].bar"), sorted. At the root of a resource and of embedded
// resources apiVersion, kind and metadata always stay.
func Prune(obj map[string]any, s *Schema) []string {
	var pruned []string
	pruneObject("", obj, s, true, &pruned)
	sort.Strings(pruned)
	return pruned
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pruneObject(path string, obj map[string]any, s *Schema, resource bool, pruned *[]string) {
	if s == nil {
		return
	}
	for k, v := range obj {
		if resource && (k == "apiVersion" || k == "kind" || k == "metadata") {
			if k == "metadata" && path != "" {
				if m, ok := v.(map[string]any); ok {
					pruneMetadata(join(path, k), m, pruned)
				}
			}
			continue
		}
		if p, ok := s.Properties[k]; ok {
			pruneValue(join(path, k), v, &p, pruned)
			continue
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			pruneValue(join(path, k), v, s.AdditionalProperties.Schema, pruned)
			continue
		}
		if preserves(s) || (s.AdditionalProperties != nil && s.AdditionalProperties.Allows) {
			continue
		}
		delete(obj, k)
		*pruned = append(*pruned, join(path, k))
	}
}

// embedded metadata keeps only ObjectMeta's fields.
var metaFields = map[string]bool{"name": true, "generateName": true, "namespace": true, "selfLink": true, "uid": true,
	"resourceVersion": true, "generation": true, "creationTimestamp": true, "deletionTimestamp": true,
	"deletionGracePeriodSeconds": true, "labels": true, "annotations": true, "ownerReferences": true,
	"finalizers": true, "managedFields": true}

func pruneMetadata(path string, m map[string]any, pruned *[]string) {
	for k := range m {
		if !metaFields[k] {
			delete(m, k)
			*pruned = append(*pruned, join(path, k))
		}
	}
}

func pruneValue(path string, v any, s *Schema, pruned *[]string) {
	switch t := v.(type) {
	case map[string]any:
		pruneObject(path, t, s, s.XEmbeddedResource, pruned)
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range t {
				pruneValue(fmt.Sprintf("%s[%d]", path, i), it, s.Items.Schema, pruned)
			}
		}
	}
}

// Default sets the schema's defaults on missing fields of obj, recursively, and drops nulls
// of fields that are not nullable (replacing them with the default when there is one).
func Default(obj map[string]any, s *Schema) {
	defaultValue(obj, s)
}

func defaultValue(v any, s *Schema) {
	if s == nil {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for k, p := range s.Properties {
			cur, present := t[k]
			if present && cur == nil && !p.Nullable {
				if p.Default != nil {
					t[k] = decodeJSON(p.Default)
				} else {
					delete(t, k)
				}
				continue
			}
			if !present && p.Default != nil {
				t[k] = decodeJSON(p.Default)
			}
		}
		for k, val := range t {
			if p, ok := s.Properties[k]; ok {
				defaultValue(val, &p)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				defaultValue(val, s.AdditionalProperties.Schema)
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range t {
				if it == nil && !s.Items.Schema.Nullable && s.Items.Schema.Default != nil {
					t[i] = decodeJSON(s.Items.Schema.Default)
					continue
				}
				defaultValue(it, s.Items.Schema)
			}
		}
	}
}

// decodeJSON decodes a schema's JSON value (default, enum) as apimachinery decodes objects.
func decodeJSON(j *apiextensionsv1.JSON) any {
	if j == nil || len(j.Raw) == 0 {
		return nil
	}
	var v any
	if err := utiljson.Unmarshal(j.Raw, &v); err != nil {
		return nil
	}
	return v
}

// Validate validates v at path against s.
func Validate(path *field.Path, v any, s *Schema) field.ErrorList {
	if s == nil {
		return nil
	}
	return validate(path, v, s)
}

func typeName(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, int, int32:
		return "integer"
	case float64:
		if t == math.Trunc(t) && !math.IsInf(t, 0) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func typeError(path *field.Path, v any, want string) *field.Error {
	got := typeName(v)
	return field.Invalid(path, got, fmt.Sprintf("%s in body must be of type %s: %q", path.String(), want, got))
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func validate(path *field.Path, v any, s *Schema) field.ErrorList {
	var errs field.ErrorList
	if v == nil {
		if s.Nullable || preserves(s) && s.Type == "" {
			return nil
		}
		if s.Type != "" {
			return field.ErrorList{typeError(path, v, s.Type)}
		}
		return nil
	}
	switch {
	case s.XIntOrString:
		switch v.(type) {
		case string, int64, int:
		default:
			if typeName(v) != "integer" {
				return field.ErrorList{field.Invalid(path, typeName(v), fmt.Sprintf("%s in body must be of type integer,string: %q", path.String(), typeName(v)))}
			}
		}
	case s.Type == "object":
		if _, ok := v.(map[string]any); !ok {
			return field.ErrorList{typeError(path, v, "object")}
		}
	case s.Type == "array":
		if _, ok := v.([]any); !ok {
			return field.ErrorList{typeError(path, v, "array")}
		}
	case s.Type == "string":
		if _, ok := v.(string); !ok {
			return field.ErrorList{typeError(path, v, "string")}
		}
	case s.Type == "boolean":
		if _, ok := v.(bool); !ok {
			return field.ErrorList{typeError(path, v, "boolean")}
		}
	case s.Type == "integer":
		if typeName(v) != "integer" {
			return field.ErrorList{typeError(path, v, "integer")}
		}
	case s.Type == "number":
		if _, ok := toFloat(v); !ok {
			return field.ErrorList{typeError(path, v, "number")}
		}
	}
	if len(s.Enum) > 0 {
		found := false
		var allowed []string
		for i := range s.Enum {
			e := decodeJSON(&s.Enum[i])
			if equalJSON(e, v) {
				found = true
				break
			}
			allowed = append(allowed, fmt.Sprint(e))
		}
		if !found {
			errs = append(errs, field.NotSupported(path, v, allowed))
		}
	}
	switch t := v.(type) {
	case string:
		errs = append(errs, validateString(path, t, s)...)
	case map[string]any:
		errs = append(errs, validateObject(path, t, s)...)
	case []any:
		errs = append(errs, validateArray(path, t, s)...)
	default:
		if f, ok := toFloat(v); ok {
			errs = append(errs, validateNumber(path, v, f, s)...)
		}
	}
	for i := range s.AllOf {
		errs = append(errs, validate(path, v, &s.AllOf[i])...)
	}
	if len(s.AnyOf) > 0 {
		ok := false
		for i := range s.AnyOf {
			if len(validate(path, v, &s.AnyOf[i])) == 0 {
				ok = true
				break
			}
		}
		if !ok {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body must match at least one schema (anyOf)", path.String())))
		}
	}
	if len(s.OneOf) > 0 {
		n := 0
		for i := range s.OneOf {
			if len(validate(path, v, &s.OneOf[i])) == 0 {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body must match exactly one schema (oneOf)", path.String())))
		}
	}
	if s.Not != nil && len(validate(path, v, s.Not)) == 0 {
		errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should not match the schema (not)", path.String())))
	}
	return errs
}

func equalJSON(a, b any) bool {
	fa, oka := toFloat(a)
	fb, okb := toFloat(b)
	if oka && okb {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func validateNumber(path *field.Path, v any, f float64, s *Schema) field.ErrorList {
	var errs field.ErrorList
	if s.Minimum != nil {
		if s.ExclusiveMinimum && f <= *s.Minimum {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be greater than %v", path.String(), *s.Minimum)))
		} else if f < *s.Minimum {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be greater than or equal to %v", path.String(), *s.Minimum)))
		}
	}
	if s.Maximum != nil {
		if s.ExclusiveMaximum && f >= *s.Maximum {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be less than %v", path.String(), *s.Maximum)))
		} else if f > *s.Maximum {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be less than or equal to %v", path.String(), *s.Maximum)))
		}
	}
	if s.MultipleOf != nil && *s.MultipleOf != 0 {
		if q := f / *s.MultipleOf; q != math.Trunc(q) {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be a multiple of %v", path.String(), *s.MultipleOf)))
		}
	}
	switch s.Format {
	case "int32":
		if f < math.MinInt32 || f > math.MaxInt32 {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body must be of type int32: %q", path.String(), fmt.Sprint(v))))
		}
	}
	return errs
}

var (
	patternMu    sync.Mutex
	patternCache = map[string]*regexp.Regexp{}
)

func compilePattern(p string) (*regexp.Regexp, error) {
	patternMu.Lock()
	defer patternMu.Unlock()
	if re, ok := patternCache[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	patternCache[p] = re
	return re, nil
}

func validateString(path *field.Path, v string, s *Schema) field.ErrorList {
	var errs field.ErrorList
	n := int64(len([]rune(v)))
	if s.MinLength != nil && n < *s.MinLength {
		errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should be at least %d chars long", path.String(), *s.MinLength)))
	}
	if s.MaxLength != nil && n > *s.MaxLength {
		errs = append(errs, field.TooLong(path, v, int(*s.MaxLength)))
	}
	if s.Pattern != "" {
		if re, err := compilePattern(s.Pattern); err == nil && !re.MatchString(v) {
			errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body should match '%s'", path.String(), s.Pattern)))
		}
	}
	if s.Format != "" && !validFormat(s.Format, v) {
		errs = append(errs, field.Invalid(path, v, fmt.Sprintf("%s in body must be of type %s: %q", path.String(), s.Format, v)))
	}
	return errs
}

var (
	uuidRE     = regexp.MustCompile(`^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$`)
	hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})?)*\.?$`)
	emailRE    = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
)

// validFormat checks the string formats Kubernetes supports; unknown formats pass.
func validFormat(format, v string) bool {
	switch format {
	case "date-time", "datetime":
		for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05"} {
			if _, err := time.Parse(layout, v); err == nil {
				return true
			}
		}
		return false
	case "date":
		_, err := time.Parse("2006-01-02", v)
		return err == nil
	case "uuid":
		return uuidRE.MatchString(v)
	case "byte":
		_, err := base64.StdEncoding.DecodeString(v)
		return err == nil
	case "ipv4":
		ip := net.ParseIP(v)
		return ip != nil && ip.To4() != nil && !strings.Contains(v, ":")
	case "ipv6":
		ip := net.ParseIP(v)
		return ip != nil && strings.Contains(v, ":")
	case "cidr":
		_, _, err := net.ParseCIDR(v)
		return err == nil
	case "hostname":
		return len(v) <= 255 && hostnameRE.MatchString(v)
	case "email":
		return emailRE.MatchString(v)
	case "duration":
		_, err := time.ParseDuration(v)
		return err == nil
	}
	return true
}

func validateObject(path *field.Path, v map[string]any, s *Schema) field.ErrorList {
	var errs field.ErrorList
	for _, r := range s.Required {
		if _, ok := v[r]; !ok {
			errs = append(errs, field.Required(path.Child(r), ""))
		}
	}
	if s.MinProperties != nil && int64(len(v)) < *s.MinProperties {
		errs = append(errs, field.Invalid(path, len(v), fmt.Sprintf("%s in body should have at least %d properties", path.String(), *s.MinProperties)))
	}
	if s.MaxProperties != nil && int64(len(v)) > *s.MaxProperties {
		errs = append(errs, field.TooMany(path, len(v), int(*s.MaxProperties)))
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p, ok := s.Properties[k]; ok {
			errs = append(errs, validate(path.Child(k), v[k], &p)...)
		} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			errs = append(errs, validate(path.Key(k), v[k], s.AdditionalProperties.Schema)...)
		}
	}
	if s.XEmbeddedResource {
		errs = append(errs, validateEmbedded(path, v)...)
	}
	return errs
}

func validateEmbedded(path *field.Path, v map[string]any) field.ErrorList {
	var errs field.ErrorList
	if av, _ := v["apiVersion"].(string); av == "" {
		errs = append(errs, field.Required(path.Child("apiVersion"), "must not be empty"))
	}
	if k, _ := v["kind"].(string); k == "" {
		errs = append(errs, field.Required(path.Child("kind"), "must not be empty"))
	}
	if m, ok := v["metadata"]; ok && m != nil {
		if _, ok := m.(map[string]any); !ok {
			errs = append(errs, typeError(path.Child("metadata"), m, "object"))
		}
	}
	return errs
}

func validateArray(path *field.Path, v []any, s *Schema) field.ErrorList {
	var errs field.ErrorList
	if s.MinItems != nil && int64(len(v)) < *s.MinItems {
		errs = append(errs, field.Invalid(path, len(v), fmt.Sprintf("%s in body should have at least %d items", path.String(), *s.MinItems)))
	}
	if s.MaxItems != nil && int64(len(v)) > *s.MaxItems {
		errs = append(errs, field.TooMany(path, len(v), int(*s.MaxItems)))
	}
	if s.UniqueItems || (s.XListType != nil && *s.XListType == "set") {
		for i := range v {
			for j := 0; j < i; j++ {
				if equalJSON(v[i], v[j]) {
					errs = append(errs, field.Duplicate(path.Index(i), v[i]))
					break
				}
			}
		}
	}
	if s.XListType != nil && *s.XListType == "map" && len(s.XListMapKeys) > 0 {
		seen := map[string]bool{}
		for i, it := range v {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			var key bytes.Buffer
			for _, k := range s.XListMapKeys {
				fmt.Fprintf(&key, "%v\x00", m[k])
			}
			if seen[key.String()] {
				errs = append(errs, field.Duplicate(path.Index(i), it))
			}
			seen[key.String()] = true
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		for i, it := range v {
			errs = append(errs, validate(path.Index(i), it, s.Items.Schema)...)
		}
	}
	return errs
}
