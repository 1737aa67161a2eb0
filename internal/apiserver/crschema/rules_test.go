package crschema

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const rulesSchema = `{"type":"object","properties":{
 "spec":{"type":"object",
  "x-kubernetes-validations":[
   {"rule":"self.minReplicas <= self.replicas","message":"replicas should be greater than or equal to minReplicas"},
   {"rule":"self.replicas <= 10","messageExpression":"'must be at most 10, not ' + string(self.replicas)","fieldPath":".replicas","reason":"FieldValueForbidden"},
   {"rule":"!has(oldSelf.mode) || self.mode == oldSelf.mode","message":"mode is immutable"},
   {"rule":"oldSelf.hasValue() || self.replicas > 0","optionalOldSelf":true,"message":"new objects need replicas"}
  ],
  "properties":{
   "replicas":{"type":"integer","x-kubernetes-validations":[{"rule":"self >= 0"}]},
   "minReplicas":{"type":"integer"},
   "mode":{"type":"string"},
   "namespace":{"type":"string","x-kubernetes-validations":[{"rule":"self != 'kube-system'"}]},
   "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],"items":{"type":"object","required":["name"],
     "properties":{"name":{"type":"string"},"port":{"type":"integer","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"port is immutable"}]}}}}
  }}}}`

func schemaOf(t *testing.T, s string) *Schema {
	t.Helper()
	var out Schema
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestRulesValidate(t *testing.T) {
	s := schemaOf(t, rulesSchema)
	if errs := CheckRules(field.NewPath("spec", "validation", "openAPIV3Schema"), s); len(errs) > 0 {
		t.Fatalf("CheckRules: %v", errs)
	}
	rules := CompileRules(s)
	for _, tc := range []struct {
		name     string
		obj, old string
		want     []string
	}{
		{name: "valid", obj: `{"spec":{"replicas":3,"minReplicas":1}}`},
		{name: "message", obj: `{"spec":{"replicas":3,"minReplicas":5}}`,
			want: []string{"spec: Invalid value: replicas should be greater than or equal to minReplicas"}},
		{name: "messageExpression, fieldPath and reason", obj: `{"spec":{"replicas":11,"minReplicas":1}}`,
			want: []string{"spec.replicas: Forbidden: must be at most 10, not 11"}},
		{name: "failed rule without message", obj: `{"spec":{"replicas":-1,"minReplicas":-5}}`,
			want: []string{"spec: Invalid value: new objects need replicas", "spec.replicas: Invalid value: -1: failed rule: self >= 0"}},
		{name: "escaped property", obj: `{"spec":{"replicas":1,"minReplicas":1,"namespace":"kube-system"}}`,
			want: []string{`spec.namespace: Invalid value: "kube-system": failed rule: self != 'kube-system'`}},
		{name: "transition rule on update", obj: `{"spec":{"replicas":1,"minReplicas":1,"mode":"b"}}`, old: `{"spec":{"replicas":1,"minReplicas":1,"mode":"a"}}`,
			want: []string{"spec: Invalid value: mode is immutable"}},
		{name: "transition rules skip creates", obj: `{"spec":{"replicas":1,"minReplicas":1,"mode":"b","ports":[{"name":"a","port":2}]}}`},
		{name: "map list items correlate by key", obj: `{"spec":{"replicas":1,"minReplicas":1,"ports":[{"name":"b","port":3},{"name":"a","port":2}]}}`,
			old:  `{"spec":{"replicas":1,"minReplicas":1,"ports":[{"name":"a","port":1}]}}`,
			want: []string{"spec.ports[1].port: Invalid value: 2: port is immutable"}},
		{name: "ratcheting: an unchanged invalid value is let through", obj: `{"spec":{"replicas":3,"minReplicas":5,"mode":"x"}}`,
			old: `{"spec":{"replicas":3,"minReplicas":5,"mode":"x"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var obj, old map[string]any
			if err := utiljson.Unmarshal([]byte(tc.obj), &obj); err != nil {
				t.Fatal(err)
			}
			if tc.old != "" {
				if err := utiljson.Unmarshal([]byte(tc.old), &old); err != nil {
					t.Fatal(err)
				}
			}
			got := errStrings(rules.Validate(context.Background(), obj, old))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCheckRules(t *testing.T) {
	root := field.NewPath("spec", "validation", "openAPIV3Schema")
	for _, tc := range []struct {
		name, schema string
		want         []string
	}{
		{"does not compile", `{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"self.replicas <"}],"properties":{"replicas":{"type":"integer"}}}}}`,
			[]string{`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.replicas \u003c","Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:16: Syntax error:`}},
		{"undefined field", `{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"self.nope > 1"}],"properties":{"replicas":{"type":"integer"}}}}}`,
			[]string{`compilation failed: ERROR: <input>:1:5: undefined field 'nope'`}},
		{"not a bool", `{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"self.replicas"}],"properties":{"replicas":{"type":"integer"}}}}}`,
			[]string{`x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.replicas",`, `: cel expression must evaluate to a bool`}},
		{"bad messageExpression", `{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"true","messageExpression":"1"}]}}}`,
			[]string{`x-kubernetes-validations[0].messageExpression: Invalid value: {"Rule":"true","Message":"","MessageExpression":"1",`, `: messageExpression must evaluate to a string`}},
		{"rule fields", `{"type":"object","x-kubernetes-validations":[{"rule":" "},{"rule":"true","reason":"Nope"},{"rule":"true","fieldPath":".nope"}]}`,
			[]string{`x-kubernetes-validations[0].rule: Required value: rule is not specified`,
				`x-kubernetes-validations[1].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"`,
				`x-kubernetes-validations[2].fieldPath: Invalid value: ".nope": must be a valid path`}},
		{"oldSelf in an atomic list", `{"type":"object","properties":{"l":{"type":"array","maxItems":5,"items":{"type":"string","maxLength":5,"x-kubernetes-validations":[{"rule":"self == oldSelf"}]}}}}`,
			[]string{`properties[l].items.x-kubernetes-validations[0].rule: Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable portion of the schema within spec.validation.openAPIV3Schema.properties[l]`}},
		{"optionalOldSelf without oldSelf", `{"type":"object","x-kubernetes-validations":[{"rule":"true","optionalOldSelf":true}]}`,
			[]string{`x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule`}},
		{"cost", `{"type":"object","properties":{"l":{"type":"array","items":{"type":"string"},"x-kubernetes-validations":[{"rule":"self.all(a, self.all(b, a == b))"}]}}}`,
			[]string{`properties[l].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`,
				`spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x`}},
		{"bounded cost", `{"type":"object","properties":{"l":{"type":"array","maxItems":10,"items":{"type":"string","maxLength":10},"x-kubernetes-validations":[{"rule":"self.all(a, self.all(b, a == b))"}]}}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(errStrings(CheckRules(root, schemaOf(t, tc.schema))), "\n")
			if len(tc.want) == 0 && got != "" {
				t.Errorf("unexpected errors:\n%s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors lack %q:\n%s", w, got)
				}
			}
		})
	}
}
