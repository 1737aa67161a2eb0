package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// mutatingPolicies are the policies and bindings of TestMutatingAdmissionPolicy, each bound
// in namespaces with a label of its own:
//
//   - add-labels (mutate=yes): an apply configuration labels Deployments and Pods, unless
//     they carry skip-mutation (a match condition);
//   - default-min-ready (mutate=yes): sets a Deployment's minReadySeconds when unset, and
//     every container's imagePullPolicy (a list merged by its key, name);
//   - scale-cap (mutate=yes): caps deployments/scale writes at 3 replicas;
//   - annotate (mutate=yes): a JSON patch annotates ConfigMaps, with an escaped key;
//   - team-label (params=yes): the label's value comes from a ConfigMap parameter;
//   - broken-fail and broken-ignore (broken=fail, broken=ignore): an expression that fails
//     at runtime, under each failure policy.
const mutatingPolicies = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: add-labels.example.com}
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  matchConditions:
  - name: not-skipped
    expression: "!('skip-mutation' in object.metadata.?labels.orValue({}))"
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"mutated-by": "policy"}}}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: add-labels-binding.example.com}
spec:
  policyName: add-labels.example.com
  matchResources:
    namespaceSelector: {matchLabels: {mutate: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: default-min-ready.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  variables:
  - {name: containers, expression: object.spec.template.spec.containers}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        has(object.spec.minReadySeconds) ? Object{} : Object{spec: Object.spec{minReadySeconds: 5}}
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
          containers: variables.containers.map(c, Object.spec.template.spec.containers{name: c.name, imagePullPolicy: "Always"})}}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: default-min-ready-binding.example.com}
spec:
  policyName: default-min-ready.example.com
  matchResources:
    namespaceSelector: {matchLabels: {mutate: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: scale-cap.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [UPDATE], resources: [deployments/scale]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'object.spec.replicas > 3 ? Object{spec: Object.spec{replicas: 3}} : Object{}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: scale-cap-binding.example.com}
spec:
  policyName: scale-cap.example.com
  matchResources:
    namespaceSelector: {matchLabels: {mutate: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: annotate.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  mutations:
  - patchType: JSONPatch
    jsonPatch:
      expression: >
        [
          JSONPatch{op: "add", path: "/metadata/annotations",
            value: has(object.metadata.annotations) ? object.metadata.annotations : {}},
          JSONPatch{op: "add", path: "/metadata/annotations/" + jsonpatch.escapeKey("example.com/patched"), value: "yes"}
        ]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: annotate-binding.example.com}
spec:
  policyName: annotate.example.com
  matchResources:
    namespaceSelector: {matchLabels: {mutate: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: team-label.example.com}
spec:
  failurePolicy: Fail
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"team": params.data.team}}}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: team-label-binding.example.com}
spec:
  policyName: team-label.example.com
  paramRef: {name: team-config, namespace: default, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector: {matchLabels: {params: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: broken-fail.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"x": object.data.missing}}}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: broken-fail-binding.example.com}
spec:
  policyName: broken-fail.example.com
  matchResources:
    namespaceSelector: {matchLabels: {broken: fail}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: broken-ignore.example.com}
spec:
  failurePolicy: Ignore
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"x": object.data.missing}}}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: broken-ignore-binding.example.com}
spec:
  policyName: broken-ignore.example.com
  matchResources:
    namespaceSelector: {matchLabels: {broken: ignore}}
`

func TestMutatingAdmissionPolicy(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"map-apply": {"mutate": "yes"}, "map-params": {"params": "yes"}, "map-plain": nil,
		"map-fail": {"broken": "fail"}, "map-ignore": {"broken": "ignore"},
	} {
		if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if r := applyStdin(t, s, mutatingPolicies); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	// Policies apply once the watch caches have them: wait for the last one applied.
	testutil.Poll(t, 30*time.Second, "the policies to apply", func() (bool, error) {
		r := s.Kubectl(t, "create", "configmap", "probe", "-n", "map-ignore", "--dry-run=server", "-o", "name")
		r2 := s.Kubectl(t, "create", "configmap", "probe", "-n", "map-apply", "--dry-run=server", "-o", "jsonpath={.metadata.annotations}")
		return r.Err == nil && strings.Contains(r2.Stdout, "example.com/patched"), nil
	})

	t.Run("apply configuration", func(t *testing.T) {
		s.MustKubectl(t, "create", "deployment", "web", "-n", "map-apply", "--image=busybox")
		out := s.MustKubectl(t, "get", "deployment", "web", "-n", "map-apply", "-o",
			`jsonpath={.metadata.labels.mutated-by} {.spec.minReadySeconds} {.spec.template.spec.containers[0].imagePullPolicy} {.metadata.labels.app}`)
		if out != "policy 5 Always web" {
			t.Errorf("mutated deployment: %q", out)
		}
		// A value already set is kept (the policy's condition), and the container list is
		// merged by name, not replaced.
		s.MustKubectl(t, "create", "deployment", "two", "-n", "map-apply", "--image=busybox")
		s.MustKubectl(t, "patch", "deployment", "two", "-n", "map-apply", "-p", `{"spec":{"minReadySeconds":9}}`)
		out = s.MustKubectl(t, "get", "deployment", "two", "-n", "map-apply", "-o", "jsonpath={.spec.minReadySeconds} {.spec.template.spec.containers[*].image}")
		if out != "9 busybox" {
			t.Errorf("deployment two: %q", out)
		}
		// A scale is seen as an autoscaling/v1 Scale.
		s.MustKubectl(t, "scale", "deployment", "web", "-n", "map-apply", "--replicas=10")
		if out := s.MustKubectl(t, "get", "deployment", "web", "-n", "map-apply", "-o", "jsonpath={.spec.replicas}"); out != "3" {
			t.Errorf("scaled to %q, want the policy's cap 3", out)
		}
		// Pods too (their namespace needs its service account).
		if _, err := s.Client.CoreV1().ServiceAccounts("map-apply").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
			metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		s.MustKubectl(t, "run", "pod1", "-n", "map-apply", "--image=busybox", "--restart=Never", "--", "sleep", "1d")
		if out := s.MustKubectl(t, "get", "pod", "pod1", "-n", "map-apply", "-o", "jsonpath={.metadata.labels.mutated-by}"); out != "policy" {
			t.Errorf("pod label %q", out)
		}
		// Outside the bound namespaces nothing changes.
		s.MustKubectl(t, "create", "deployment", "plain", "-n", "map-plain", "--image=busybox")
		if out := s.MustKubectl(t, "get", "deployment", "plain", "-n", "map-plain", "-o", "jsonpath={.metadata.labels.mutated-by}{.spec.minReadySeconds}"); out != "" {
			t.Errorf("unbound namespace mutated: %q", out)
		}
	})

	t.Run("match condition", func(t *testing.T) {
		s.MustKubectl(t, "create", "deployment", "skipped", "-n", "map-apply", "--image=busybox")
		s.MustKubectl(t, "label", "deployment", "skipped", "-n", "map-apply", "other=1") // an update: not matched
		r := s.KubectlIn(t, strings.NewReader(`apiVersion: apps/v1
kind: Deployment
metadata: {name: skip, namespace: map-apply, labels: {skip-mutation: "true", app: skip}}
spec:
  selector: {matchLabels: {app: skip}}
  template:
    metadata: {labels: {app: skip}}
    spec: {containers: [{name: c, image: busybox}]}
`), nil, "create", "-f", "-")
		if r.Err != nil {
			t.Fatalf("%v\n%s", r.Err, r.Stderr)
		}
		out := s.MustKubectl(t, "get", "deployment", "skip", "-n", "map-apply", "-o", "jsonpath={.metadata.labels.mutated-by}|{.spec.minReadySeconds}")
		if out != "|5" {
			t.Errorf("skipped policy applied, or the other not: %q", out)
		}
	})

	t.Run("json patch", func(t *testing.T) {
		s.MustKubectl(t, "create", "configmap", "cm", "-n", "map-apply", "--from-literal=a=b")
		out := s.MustKubectl(t, "get", "configmap", "cm", "-n", "map-apply", "-o", `jsonpath={.metadata.annotations.example\.com/patched}`)
		if out != "yes" {
			t.Errorf("annotation %q", out)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out := s.MustKubectl(t, "create", "deployment", "dry", "-n", "map-apply", "--image=busybox", "--dry-run=server", "-o", "jsonpath={.metadata.labels.mutated-by}")
		if out != "policy" {
			t.Errorf("dry run not mutated: %q", out)
		}
		if r := s.Kubectl(t, "get", "deployment", "dry", "-n", "map-apply"); r.Err == nil {
			t.Error("a dry run stored the deployment")
		}
	})

	t.Run("params", func(t *testing.T) {
		want := "policy 'team-label.example.com' with binding 'team-label-binding.example.com' denied request: failed to configure binding: " +
			"no params found for policy binding with `Deny` parameterNotFoundAction"
		r := s.Kubectl(t, "create", "deployment", "noparams", "-n", "map-params", "--image=busybox")
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("create without params: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		s.MustKubectl(t, "create", "configmap", "team-config", "-n", "default", "--from-literal=team=blue")
		s.MustKubectl(t, "create", "deployment", "withparams", "-n", "map-params", "--image=busybox")
		if out := s.MustKubectl(t, "get", "deployment", "withparams", "-n", "map-params", "-o", "jsonpath={.metadata.labels.team}"); out != "blue" {
			t.Errorf("team label %q", out)
		}
		// A changed parameter applies at once.
		s.MustKubectl(t, "patch", "configmap", "team-config", "-n", "default", "-p", `{"data":{"team":"green"}}`)
		s.MustKubectl(t, "create", "deployment", "withparams2", "-n", "map-params", "--image=busybox")
		if out := s.MustKubectl(t, "get", "deployment", "withparams2", "-n", "map-params", "-o", "jsonpath={.metadata.labels.team}"); out != "green" {
			t.Errorf("team label after the change %q", out)
		}
	})

	t.Run("failure policy", func(t *testing.T) {
		want := `policy 'broken-fail.example.com' with binding 'broken-fail-binding.example.com' denied request: ` +
			`expression 'Object{metadata: Object.metadata{labels: {"x": object.data.missing}}}' resulted in error: no such key: missing`
		r := s.Kubectl(t, "create", "configmap", "c1", "-n", "map-fail", "--from-literal=a=b")
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("Fail: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		// Upstream's status: 403 with reason Invalid, the message as it is.
		_, err := s.Client.CoreV1().ConfigMaps("map-fail").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c2"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
		if status, ok := err.(apierrors.APIStatus); !ok || status.Status().Code != 403 || status.Status().Reason != metav1.StatusReasonInvalid ||
			status.Status().Message != want || len(status.Status().Details.Causes) != 1 {
			t.Errorf("client-go create: %#v", err)
		}
		s.MustKubectl(t, "create", "configmap", "c1", "-n", "map-ignore", "--from-literal=a=b")
	})

	t.Run("refused on write", func(t *testing.T) {
		r := applyStdin(t, s, `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: bad.example.com}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration: {expression: 'Object{spec: '}
  - patchType: JSONPatch
    jsonPatch: {expression: '[1]'}
`)
		for _, want := range []string{
			`The MutatingAdmissionPolicy "bad.example.com" is invalid:`,
			`spec.mutations[0].applyConfiguration.expression: Invalid value: "Object{spec: ": compilation failed: ERROR: <input>:1:14: Syntax error`,
			`spec.mutations[1].jsonPatch.expression: Invalid value: "[1]": must evaluate to list(JSONPatch) but got list(int)`,
		} {
			if r.Err == nil || !strings.Contains(r.Stderr, want) {
				t.Errorf("bad policy: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
			}
		}
	})
}
