package cel

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMutationExpressions(t *testing.T) {
	obj, err := ObjectValue(&unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec":     map[string]any{"replicas": int64(1), "containers": []any{map[string]any{"name": "c"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, expr string
		jsonPatch  bool
		want       any    // map (apply configuration) or []JSONPatchOperation
		compileErr string // expected compilation error (substring)
		applyErr   string // expected error extracting the result (substring)
	}{
		{name: "apply nested", expr: `Object{spec: Object.spec{replicas: 3}}`,
			want: map[string]any{"spec": map[string]any{"replicas": int64(3)}}},
		{name: "apply labels from object", expr: `Object{metadata: Object.metadata{labels: {"team": object.metadata.name + "-x"}}}`,
			want: map[string]any{"metadata": map[string]any{"labels": map[string]any{"team": "web-x"}}}},
		{name: "apply list of objects", expr: `Object{spec: Object.spec{containers: [Object.spec.containers{name: "c", image: "busybox"}]}}`,
			want: map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}},
		{name: "apply empty", expr: `Object{}`, want: map[string]any{}},
		{name: "apply wrong nested type name", expr: `Object{spec: Object.metadata{replicas: 3}}`,
			applyErr: `type mismatch: unexpected type name "Object.metadata", expected "Object.spec"`},
		{name: "apply wrong result type", expr: `{"spec": 1}`, compileErr: "must evaluate to Object but got map(string, int)"},
		{name: "apply syntax error", expr: `Object{spec: `, compileErr: "compilation failed: ERROR: <input>:1:14: Syntax error"},
		{name: "jsonpatch add", jsonPatch: true, expr: `[JSONPatch{op: "add", path: "/spec/replicas", value: 2}]`,
			want: []JSONPatchOperation{{Op: "add", Path: "/spec/replicas", Value: int64(2), HasValue: true}}},
		{name: "jsonpatch escapeKey", jsonPatch: true,
			expr: `[JSONPatch{op: "add", path: "/metadata/labels/" + jsonpatch.escapeKey("example.com/a~b"), value: "x"}]`,
			want: []JSONPatchOperation{{Op: "add", Path: "/metadata/labels/example.com~1a~0b", Value: "x", HasValue: true}}},
		{name: "jsonpatch object value", jsonPatch: true,
			expr: `[JSONPatch{op: "replace", path: "/spec", value: Object.spec{replicas: 4, list: [1, 2]}}]`,
			want: []JSONPatchOperation{{Op: "replace", Path: "/spec", Value: map[string]any{"replicas": int64(4), "list": []any{int64(1), int64(2)}}, HasValue: true}}},
		{name: "jsonpatch remove and move", jsonPatch: true,
			expr: `[JSONPatch{op: "remove", path: "/a"}, JSONPatch{op: "move", from: "/b", path: "/c"}, JSONPatch{op: "add", path: "/d", value: null}]`,
			want: []JSONPatchOperation{{Op: "remove", Path: "/a"}, {Op: "move", From: "/b", Path: "/c"}, {Op: "add", Path: "/d", HasValue: true}}},
		{name: "jsonpatch unknown field", jsonPatch: true, expr: `[JSONPatch{op: "add", pth: "/a"}]`, compileErr: "undefined field 'pth'"},
		{name: "jsonpatch wrong result", jsonPatch: true, expr: `JSONPatch{op: "add", path: "/a"}`, compileErr: "must evaluate to list(JSONPatch) but got JSONPatch"},
		{name: "jsonpatch from object", jsonPatch: true, expr: `object.spec.containers.map(c, JSONPatch{op: "add", path: "/spec/x", value: c.name})`,
			want: []JSONPatchOperation{{Op: "add", Path: "/spec/x", Value: "c", HasValue: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewMutatingCompiler(false, false)
			if err != nil {
				t.Fatal(err)
			}
			want := ApplyConfigurationResult
			if tc.jsonPatch {
				want = JSONPatchResult
			}
			p, err := c.Compile(tc.expr, want...)
			if tc.compileErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.compileErr) {
					t.Fatalf("compile error = %v, want %q", err, tc.compileErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev, err := c.NewEvaluation(context.Background(), &AdmissionInput{Object: obj}, RuntimeBudget)
			if err != nil {
				t.Fatal(err)
			}
			val, evalErr := ev.Eval(p)
			if evalErr != nil {
				t.Fatal(evalErr)
			}
			var got any
			if tc.jsonPatch {
				got, err = JSONPatchOperations(val)
			} else {
				got, err = ApplyConfiguration(val)
			}
			if tc.applyErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.applyErr) {
					t.Fatalf("error = %v, want %q", err, tc.applyErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestMutationTypesOnlyInMutatingPolicies(t *testing.T) {
	c, err := NewAdmissionCompiler(false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(`Object{} == Object{}`); err == nil {
		t.Error("Object{} compiled outside a mutating policy")
	}
}
