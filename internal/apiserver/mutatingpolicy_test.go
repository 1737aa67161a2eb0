package apiserver

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func applyConfig(expr string) admissionregistrationv1.Mutation {
	return admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
		ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: expr}}
}

func jsonPatchOf(expr string) admissionregistrationv1.Mutation {
	return admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
		JSONPatch: &admissionregistrationv1.JSONPatch{Expression: expr}}
}

type mapOpts struct {
	failure    admissionregistrationv1.FailurePolicyType
	conditions []string
	variables  []admissionregistrationv1.Variable
	reinvoke   bool
	nsLabels   map[string]string // the binding's namespace selector
}

// testMutatingPolicy is a policy on pod creates and updates, bound once (binding NAME-binding).
func testMutatingPolicy(name string, o mapOpts, mutations ...admissionregistrationv1.Mutation) boundMutatingPolicy {
	if o.failure == "" {
		o.failure = admissionregistrationv1.Fail
	}
	p := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy: &o.failure,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{},
				MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}}},
			},
			Variables:          o.variables,
			Mutations:          mutations,
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		}}
	if o.reinvoke {
		p.Spec.ReinvocationPolicy = admissionregistrationv1.IfNeededReinvocationPolicy
	}
	for i, c := range o.conditions {
		p.Spec.MatchConditions = append(p.Spec.MatchConditions, admissionregistrationv1.MatchCondition{Name: "c" + string(rune('0'+i)), Expression: c})
	}
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-binding"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name}}
	if o.nsLabels != nil {
		b.Spec.MatchResources = &admissionregistrationv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.nsLabels}, ObjectSelector: &metav1.LabelSelector{}}
	}
	return boundMutatingPolicy{policy: compileMutatingPolicy(p, 1), bindings: []*compiledMutatingBinding{compileMutatingBinding(b, 1)}}
}

// testPolicyRun evaluates policies for a without reading namespaces: default exists.
func testPolicyRun(s *Server, a *admissionAttributes) *policyRun {
	run := newPolicyRun(s, a)
	run.namespaces = map[string]*corev1.Namespace{"default": {ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"env": "test"}}}}
	return run
}

func TestMutatingPolicies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies []boundMutatingPolicy
		check    func(t *testing.T, pod *corev1.Pod)
		wantErr  string // the whole message
	}{
		{name: "apply configuration adds a label and keeps the others",
			policies: []boundMutatingPolicy{testMutatingPolicy("label", mapOpts{},
				applyConfig(`Object{metadata: Object.metadata{labels: {"team": "a-" + object.metadata.name}}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Labels["team"] != "a-p" || pod.Labels["app"] != "web" {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "apply configuration merges a list by its keys",
			policies: []boundMutatingPolicy{testMutatingPolicy("containers", mapOpts{},
				applyConfig(`Object{spec: Object.spec{containers: [Object.spec.containers{name: "c", image: "nginx"}, Object.spec.containers{name: "side", image: "busybox"}]}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[0].Image != "nginx" || pod.Spec.Containers[1].Name != "side" {
					t.Errorf("containers %+v", pod.Spec.Containers)
				}
				if pod.Spec.Containers[1].TerminationMessagePath != corev1.TerminationMessagePathDefault {
					t.Errorf("the mutated pod was not defaulted: %+v", pod.Spec.Containers[1])
				}
			}},
		{name: "apply configuration sets a default only when unset",
			policies: []boundMutatingPolicy{testMutatingPolicy("default", mapOpts{conditions: []string{"!has(object.spec.priorityClassName)"}},
				applyConfig(`Object{spec: Object.spec{priorityClassName: "low"}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.PriorityClassName != "low" {
					t.Errorf("priorityClassName %q", pod.Spec.PriorityClassName)
				}
			}},
		{name: "a false match condition skips the policy",
			policies: []boundMutatingPolicy{testMutatingPolicy("skip", mapOpts{conditions: []string{"object.metadata.name == 'other'"}},
				applyConfig(`Object{metadata: Object.metadata{labels: {"x": "y"}}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if _, ok := pod.Labels["x"]; ok {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "a binding that does not match skips the policy",
			policies: []boundMutatingPolicy{testMutatingPolicy("prod-only", mapOpts{nsLabels: map[string]string{"env": "prod"}},
				applyConfig(`Object{metadata: Object.metadata{labels: {"x": "y"}}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if _, ok := pod.Labels["x"]; ok {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "variables and several mutations in order",
			policies: []boundMutatingPolicy{testMutatingPolicy("vars", mapOpts{variables: []admissionregistrationv1.Variable{{Name: "team", Expression: "'blue'"}}},
				applyConfig(`Object{metadata: Object.metadata{labels: {"team": variables.team}}}`),
				jsonPatchOf(`[JSONPatch{op: "add", path: "/metadata/labels/copy", value: object.metadata.labels.team}]`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Labels["team"] != "blue" || pod.Labels["copy"] != "blue" {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "json patch with an escaped key",
			policies: []boundMutatingPolicy{testMutatingPolicy("jp", mapOpts{},
				jsonPatchOf(`[JSONPatch{op: "add", path: "/metadata/annotations", value: {}}, JSONPatch{op: "add", path: "/metadata/annotations/" + jsonpatch.escapeKey("example.com/owner"), value: "me"}]`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Annotations["example.com/owner"] != "me" {
					t.Errorf("annotations %v", pod.Annotations)
				}
			}},
		{name: "a failed json patch test changes nothing",
			policies: []boundMutatingPolicy{testMutatingPolicy("test-op", mapOpts{},
				jsonPatchOf(`[JSONPatch{op: "test", path: "/metadata/name", value: "other"}, JSONPatch{op: "add", path: "/metadata/labels/x", value: "y"}]`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if _, ok := pod.Labels["x"]; ok {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "what the server owns stays",
			policies: []boundMutatingPolicy{testMutatingPolicy("uid", mapOpts{},
				applyConfig(`Object{metadata: Object.metadata{uid: "forged"}, status: Object.status{phase: "Running"}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.UID != "uid-1" || pod.Status.Phase != "" {
					t.Errorf("uid %q, status %+v", pod.UID, pod.Status)
				}
			}},
		{name: "runtime error under Fail",
			policies: []boundMutatingPolicy{testMutatingPolicy("broken", mapOpts{},
				applyConfig(`Object{metadata: Object.metadata{labels: {"x": object.metadata.nope}}}`))},
			wantErr: `policy 'broken' with binding 'broken-binding' denied request: expression 'Object{metadata: Object.metadata{labels: {"x": object.metadata.nope}}}' resulted in error: no such key: nope`},
		{name: "runtime error under Ignore",
			policies: []boundMutatingPolicy{testMutatingPolicy("ignored", mapOpts{failure: admissionregistrationv1.Ignore},
				applyConfig(`Object{metadata: Object.metadata{labels: {"x": object.metadata.nope}}}`)),
				testMutatingPolicy("next", mapOpts{}, applyConfig(`Object{metadata: Object.metadata{labels: {"next": "ran"}}}`))},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Labels["next"] != "ran" {
					t.Errorf("labels %v", pod.Labels)
				}
			}},
		{name: "atomic list",
			policies: []boundMutatingPolicy{testMutatingPolicy("atomic", mapOpts{},
				applyConfig(`Object{spec: Object.spec{tolerations: [Object.spec.tolerations{key: "a", operator: "Exists"}]}}`))},
			wantErr: `policy 'atomic' with binding 'atomic-binding' denied request: error applying patch: invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: .spec.tolerations`},
		{name: "type names must follow the field path",
			policies: []boundMutatingPolicy{testMutatingPolicy("names", mapOpts{}, applyConfig(`Object{spec: Object.metadata{}}`))},
			wantErr:  `policy 'names' with binding 'names-binding' denied request: type mismatch: unexpected type name "Object.metadata", expected "Object.spec", which matches field name path from root Object type`},
		{name: "json patch that does not apply",
			policies: []boundMutatingPolicy{testMutatingPolicy("badpath", mapOpts{}, jsonPatchOf(`[JSONPatch{op: "replace", path: "/spec/nothing/here", value: 1}]`))},
			wantErr:  `policy 'badpath' with binding 'badpath-binding' denied request: JSONPath: replace operation does not apply: doc is missing path: /spec/nothing/here: missing value`},
		{name: "match condition error under Fail",
			policies: []boundMutatingPolicy{testMutatingPolicy("cond", mapOpts{conditions: []string{"object.nope == 1"}}, applyConfig(`Object{}`))},
			wantErr:  `policy 'cond' with binding 'cond-binding' denied request: expression 'object.nope == 1' resulted in error: no such key: nope`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testServer()
			a, pod, _ := podCreate(s, map[string]string{"app": "web"})
			err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), tc.policies, nil, noNamespaces)
			if tc.wantErr != "" {
				st, ok := err.(apierrors.APIStatus)
				if !ok {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if status := st.Status(); status.Message != tc.wantErr || status.Code != 403 || status.Reason != metav1.StatusReasonInvalid ||
					len(status.Details.Causes) != 1 || status.Details.Name != "p" || status.Details.Kind != "pods" {
					t.Errorf("status %+v\nwant message %q", status, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, pod)
		})
	}
}

func TestMutatingPolicyReinvocation(t *testing.T) {
	// first (IfNeeded) copies label "source" into "copy"; second sets "source" after it,
	// so first runs again and sees it.
	first := testMutatingPolicy("a-first", mapOpts{reinvoke: true},
		applyConfig(`Object{metadata: Object.metadata{labels: {"copy": object.metadata.?labels.source.orValue("none")}}}`))
	second := testMutatingPolicy("b-second", mapOpts{}, applyConfig(`Object{metadata: Object.metadata{labels: {"source": "set"}}}`))
	s := testServer()
	a, pod, _ := podCreate(s, nil)
	if err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), []boundMutatingPolicy{first, second}, nil, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if pod.Labels["copy"] != "set" {
		t.Errorf("IfNeeded policy not reinvoked: %v", pod.Labels)
	}

	// With Never, it is not.
	first = testMutatingPolicy("a-first", mapOpts{},
		applyConfig(`Object{metadata: Object.metadata{labels: {"copy": object.metadata.?labels.source.orValue("none")}}}`))
	a, pod, _ = podCreate(s, nil)
	if err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), []boundMutatingPolicy{first, second}, nil, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if pod.Labels["copy"] != "none" {
		t.Errorf("Never policy reinvoked: %v", pod.Labels)
	}
}

func TestMutatingPolicyDelete(t *testing.T) {
	// A delete has no object: mutations are not applied, and nothing fails.
	s := testServer()
	_, pod, _ := podCreate(s, nil)
	p := testMutatingPolicy("label", mapOpts{}, applyConfig(`Object{metadata: Object.metadata{labels: {"x": "y"}}}`))
	p.policy.policy.Spec.MatchConstraints.ResourceRules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
	del := &admissionAttributes{operation: admissionv1.Delete, kind: podGVK, resource: podGVR, namespace: "default", name: "p",
		oldObject: pod, warn: func(string) {}}
	if err := s.mutatingPhase(context.Background(), testPolicyRun(s, del), []boundMutatingPolicy{p}, nil, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pod.Labels["x"], "y") {
		t.Error("old object changed")
	}
}

func TestMutatingPoliciesWithWebhooks(t *testing.T) {
	// The policy (IfNeeded) runs before the webhook, which adds a label the policy copies:
	// the policy runs again after it. The webhook (IfNeeded) then runs again too, since the
	// policy's second run changed the object.
	var hookCalls atomic.Int32
	rs := newReviewServer(t, func(req *admissionv1.AdmissionRequest) any {
		hookCalls.Add(1)
		if strings.Contains(string(req.Object.Raw), `"from-hook"`) {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add","path":"/metadata/labels/from-hook","value":"1"}]`),
			PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	})
	hooks := []*webhookHook{testHook("hook.example.com", rs.URL, rs.caBundle, true, hookOpts{reinvoke: true})}
	p := testMutatingPolicy("copy", mapOpts{reinvoke: true},
		applyConfig(`Object{metadata: Object.metadata{labels: {"copy": object.metadata.labels[?"from-hook"].orValue("none")}}}`))
	s := testServer()
	a, pod, _ := podCreate(s, map[string]string{"app": "x"})
	if err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), []boundMutatingPolicy{p}, hooks, noNamespaces); err != nil {
		t.Fatal(err)
	}
	if pod.Labels["copy"] != "1" || pod.Labels["from-hook"] != "1" {
		t.Errorf("labels %v", pod.Labels)
	}
	if n := hookCalls.Load(); n != 2 {
		t.Errorf("webhook called %d times, want 2", n)
	}
}

func TestMutatingPolicyStoredCompileError(t *testing.T) {
	// A stored policy whose expression does not compile (validation refuses it now) fails
	// under Fail with the compiler's message.
	p := testMutatingPolicy("stale", mapOpts{}, applyConfig(`Object{spec: `))
	s := testServer()
	a, _, _ := podCreate(s, nil)
	err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), []boundMutatingPolicy{p}, nil, noNamespaces)
	if err == nil || !strings.HasPrefix(err.Error(), "policy 'stale' with binding 'stale-binding' denied request: compilation failed: ERROR: <input>:1:14: Syntax error") {
		t.Errorf("err %v", err)
	}
}

func TestMutatingPolicyCustomResource(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	res := &resource{resourceDef: resourceDef{group: "example.com", version: "v1", name: "widgets", kind: "Widget", namespaced: true},
		gr: gvr.GroupResource(), gvk: gvk}
	p := testMutatingPolicy("widgets", mapOpts{},
		applyConfig(`Object{metadata: Object.metadata{labels: {"sized": "yes"}}, spec: Object.spec{size: object.spec.size * 2}}`),
		jsonPatchOf(`[JSONPatch{op: "add", path: "/spec/tags/-", value: "patched"}]`))
	p.policy.policy.Spec.MatchConstraints.ResourceRules[0].Rule = admissionregistrationv1.Rule{
		APIGroups: []string{"example.com"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}
	s := testServer()
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default", "uid": "u"},
		"spec":     map[string]any{"size": int64(2), "tags": []any{"a"}}}}
	a := &admissionAttributes{operation: admissionv1.Create, kind: gvk, resource: gvr, namespace: "default", name: "w", object: obj, warn: func(string) {}}
	a.apply = s.patchInto(res, "", obj, nil)
	if err := s.mutatingPhase(context.Background(), testPolicyRun(s, a), []boundMutatingPolicy{p}, nil, noNamespaces); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"size": int64(4), "tags": []any{"a", "patched"}}
	if !reflect.DeepEqual(obj.Object["spec"], want) || obj.GetLabels()["sized"] != "yes" || obj.GetUID() != "u" {
		t.Errorf("object %v", obj.Object)
	}
}

func TestMergeApplyConfiguration(t *testing.T) {
	s := testServer()
	tc := s.mutationTypeConverter(&corev1.Pod{})
	for _, tc2 := range []struct {
		name, current string
		cfg           map[string]any
		want, wantErr string
	}{
		{name: "scale replicas", current: `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":1}}`,
			cfg:  map[string]any{"spec": map[string]any{"replicas": int64(3)}},
			want: `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":3}}`},
		{name: "env merged by name", current: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}}`,
			cfg:  map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "env": []any{map[string]any{"name": "B", "value": "2"}}}}}},
			want: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"name":"c"}]}}`},
		{name: "unknown field", current: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`,
			cfg:     map[string]any{"spec": map[string]any{"nope": int64(1)}},
			wantErr: "failed to convert patch object to typed object: .spec.nope: field not declared in schema"},
	} {
		t.Run(tc2.name, func(t *testing.T) {
			out, err := mergeApplyConfiguration(tc, []byte(tc2.current), tc2.cfg)
			if tc2.wantErr != "" {
				if err == nil || err.Error() != tc2.wantErr {
					t.Fatalf("err %v, want %q", err, tc2.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc2.want {
				t.Errorf("got  %s\nwant %s", out, tc2.want)
			}
		})
	}
}
