package crschema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const testSchema = `{"type":"object","properties":{
 "spec":{"type":"object","required":["cronSpec"],"properties":{
  "cronSpec":{"type":"string","pattern":"^\\S+( \\S+){4}$"},
  "replicas":{"type":"integer","minimum":1,"maximum":10,"default":1},
  "mode":{"type":"string","enum":["fast","slow"],"default":"fast"},
  "name":{"type":"string","minLength":2,"maxLength":5},
  "port":{"x-kubernetes-int-or-string":true},
  "tags":{"type":"array","minItems":1,"maxItems":2,"items":{"type":"string"}},
  "note":{"type":"string","nullable":true},
  "when":{"type":"string","format":"date-time"},
  "labels":{"type":"object","additionalProperties":{"type":"string"}},
  "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"known":{"type":"integer","default":7}}},
  "template":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object","properties":{"x":{"type":"string"}}}}}
 }},
 "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}`

func loadSchema(t *testing.T) *Schema {
	t.Helper()
	s := &Schema{}
	if err := json.Unmarshal([]byte(testSchema), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := utiljson.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidate(t *testing.T) {
	s := loadSchema(t)
	for _, tc := range []struct {
		name, in string
		want     []string // substrings of the errors, in order
	}{
		{"valid", `{"spec":{"cronSpec":"* * * * *","replicas":3,"mode":"slow","port":"http","tags":["a"],"note":null,"when":"2024-01-02T03:04:05Z","labels":{"a":"b"}}}`, nil},
		{"int-or-string int", `{"spec":{"cronSpec":"* * * * *","port":80}}`, nil},
		{"required", `{"spec":{}}`, []string{"spec.cronSpec: Required value"}},
		{"type", `{"spec":{"cronSpec":"* * * * *","replicas":"three"}}`, []string{`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`}},
		{"maximum", `{"spec":{"cronSpec":"* * * * *","replicas":20}}`, []string{"spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"}},
		{"minimum", `{"spec":{"cronSpec":"* * * * *","replicas":0}}`, []string{"spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"}},
		{"enum", `{"spec":{"cronSpec":"* * * * *","mode":"medium"}}`, []string{`spec.mode: Unsupported value: "medium": supported values: "fast", "slow"`}},
		{"pattern", `{"spec":{"cronSpec":"nope"}}`, []string{`spec.cronSpec: Invalid value: "nope": spec.cronSpec in body should match`}},
		{"minLength", `{"spec":{"cronSpec":"* * * * *","name":"a"}}`, []string{"spec.name in body should be at least 2 chars long"}},
		{"maxLength", `{"spec":{"cronSpec":"* * * * *","name":"abcdefg"}}`, []string{"spec.name: Too long"}},
		{"minItems", `{"spec":{"cronSpec":"* * * * *","tags":[]}}`, []string{"spec.tags in body should have at least 1 items"}},
		{"maxItems", `{"spec":{"cronSpec":"* * * * *","tags":["a","b","c"]}}`, []string{"spec.tags: Too many"}},
		{"items", `{"spec":{"cronSpec":"* * * * *","tags":[1]}}`, []string{"spec.tags[0]: Invalid value"}},
		{"not nullable", `{"spec":{"cronSpec":"* * * * *","name":null}}`, []string{`spec.name in body must be of type string: "null"`}},
		{"format", `{"spec":{"cronSpec":"* * * * *","when":"yesterday"}}`, []string{"spec.when in body must be of type date-time"}},
		{"int-or-string bool", `{"spec":{"cronSpec":"* * * * *","port":true}}`, []string{"spec.port in body must be of type integer,string"}},
		{"additionalProperties", `{"spec":{"cronSpec":"* * * * *","labels":{"a":1}}}`, []string{"spec.labels[a]: Invalid value"}},
		{"embedded", `{"spec":{"cronSpec":"* * * * *","template":{"spec":{}}}}`, []string{"spec.template.apiVersion: Required value", "spec.template.kind: Required value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(nil, obj(t, tc.in), s)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %d", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: %q does not contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

func TestPrune(t *testing.T) {
	s := loadSchema(t)
	for _, tc := range []struct {
		name, in, out string
		pruned        []string
	}{
		{"unknown spec field", `{"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},"spec":{"cronSpec":"c","colour":"red"}}`,
			`{"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},"spec":{"cronSpec":"c"}}`, []string{"spec.colour"}},
		{"unknown top level", `{"spec":{},"extra":1}`, `{"spec":{}}`, []string{"extra"}},
		{"preserved", `{"spec":{"free":{"anything":{"goes":1}}}}`, `{"spec":{"free":{"anything":{"goes":1}}}}`, nil},
		{"embedded keeps type meta", `{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","bogus":1},"spec":{"x":"y","z":1}}}}`,
			`{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":"y"}}}}`,
			[]string{"spec.template.metadata.bogus", "spec.template.spec.z"}},
		{"array items", `{"spec":{"tags":["a"]},"status":{"phase":"p","bad":true}}`, `{"spec":{"tags":["a"]},"status":{"phase":"p"}}`, []string{"status.bad"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := obj(t, tc.in)
			pruned := Prune(m, s)
			if !reflect.DeepEqual(m, obj(t, tc.out)) {
				t.Errorf("pruned to %v, want %s", m, tc.out)
			}
			if !reflect.DeepEqual(pruned, tc.pruned) {
				t.Errorf("pruned fields %v, want %v", pruned, tc.pruned)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	s := loadSchema(t)
	for _, tc := range []struct{ name, in, out string }{
		{"missing", `{"spec":{"cronSpec":"c"}}`, `{"spec":{"cronSpec":"c","replicas":1,"mode":"fast"}}`},
		{"kept", `{"spec":{"replicas":4,"mode":"slow"}}`, `{"spec":{"replicas":4,"mode":"slow"}}`},
		{"null replaced", `{"spec":{"replicas":null,"mode":"slow"}}`, `{"spec":{"replicas":1,"mode":"slow"}}`},
		{"null dropped", `{"spec":{"replicas":2,"mode":"slow","name":null}}`, `{"spec":{"replicas":2,"mode":"slow"}}`},
		{"nullable kept", `{"spec":{"replicas":2,"mode":"slow","note":null}}`, `{"spec":{"replicas":2,"mode":"slow","note":null}}`},
		{"nested", `{"spec":{"replicas":2,"mode":"slow","free":{}}}`, `{"spec":{"replicas":2,"mode":"slow","free":{"known":7}}}`},
		{"no spec", `{}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := obj(t, tc.in)
			Default(m, s)
			if !reflect.DeepEqual(m, obj(t, tc.out)) {
				t.Errorf("defaulted to %v, want %s", m, tc.out)
			}
		})
	}
}

func TestValidateStructural(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"ok", testSchema, nil},
		{"root not object", `{"type":"string"}`, []string{"openAPIV3Schema.type: Invalid value"}},
		{"missing type", `{"type":"object","properties":{"spec":{"properties":{"a":{"type":"string"}}}}}`,
			[]string{"openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"}},
		{"array without items", `{"type":"object","properties":{"a":{"type":"array"}}}`, []string{"properties[a].items: Required value"}},
		{"metadata restricted", `{"type":"object","properties":{"metadata":{"type":"object","properties":{"labels":{"type":"object"}}}}}`,
			[]string{"properties[metadata].properties[labels]: Forbidden"}},
		{"bad default", `{"type":"object","properties":{"a":{"type":"integer","maximum":3,"default":5}}}`, []string{"properties[a].default: Invalid value"}},
		{"both properties and additionalProperties", `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":{"type":"string"}}}}`,
			[]string{"additionalProperties and properties are mutual exclusive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Schema{}
			if err := json.Unmarshal([]byte(tc.in), s); err != nil {
				t.Fatal(err)
			}
			errs := ValidateStructural(field.NewPath("openAPIV3Schema"), s)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %d", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: %q does not contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}
