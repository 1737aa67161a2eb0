package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// celPolicies are the policies and bindings of TestCELValidatingAdmissionPolicy: a fixed
// limit bound in namespaces labelled environment=test (Deny) and environment=staging (Warn),
// and a limit read from a ConfigMap bound in namespaces labelled limits=from-params.
const celPolicies = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: demo-policy.example.com
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.replicas <= 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: demo-binding-test.example.com
spec:
  policyName: demo-policy.example.com
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: test
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: demo-binding-staging.example.com
spec:
  policyName: demo-policy.example.com
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: staging
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replica-limit.example.com
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: v1
    kind: ConfigMap
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments", "deployments/scale"]
  variables:
  - name: limit
    expression: "int(params.data.maxReplicas)"
  - name: replicas
    expression: "request.subResource == 'scale' ? object.spec.replicas : object.spec.replicas"
  matchConditions:
  - name: not-exempt
    expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"
  validations:
  - expression: "variables.replicas <= variables.limit"
    messageExpression: "'replicas must be at most ' + string(variables.limit) + ', not ' + string(variables.replicas)"
    reason: Forbidden
  - expression: "object.metadata.name.matches('^[a-z]+$')"
    message: "names are lowercase letters only"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replica-limit-binding.example.com
spec:
  policyName: replica-limit.example.com
  validationActions: [Deny]
  paramRef:
    name: replica-limit
    namespace: default
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchLabels:
        limits: from-params
`

func TestCELValidatingAdmissionPolicy(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"vap-test": {"environment": "test"}, "vap-staging": {"environment": "staging"},
		"vap-free": nil, "vap-params": {"limits": "from-params"},
	} {
		if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if r := applyStdin(t, s, celPolicies); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}

	t.Run("deny", func(t *testing.T) {
		want := `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'demo-policy.example.com' with binding 'demo-binding-test.example.com' denied request: failed expression: object.spec.replicas <= 5`
		testutil.Poll(t, 30*time.Second, "the policy to deny", func() (bool, error) {
			r := s.Kubectl(t, "create", "deployment", "web", "-n", "vap-test", "--image=busybox", "--replicas=6", "--dry-run=server")
			return r.Err != nil && strings.Contains(r.Stderr, want), nil
		})
		r := s.Kubectl(t, "create", "deployment", "web", "-n", "vap-test", "--image=busybox", "--replicas=6")
		if r.Err == nil || !strings.Contains(r.Stderr, "error: failed to create deployment: "+want) {
			t.Errorf("create of 6 replicas: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		// The status is upstream's: 422 Invalid (the validation gives no reason), with the
		// message as its cause.
		_, err := s.Client.AppsV1().Deployments("vap-test").Create(ctx, celDeployment("web", 6, nil), metav1.CreateOptions{})
		if status, ok := err.(apierrors.APIStatus); !ok || status.Status().Code != 422 || status.Status().Reason != metav1.StatusReasonInvalid ||
			status.Status().Details == nil || len(status.Status().Details.Causes) != 1 || !strings.Contains(status.Status().Details.Causes[0].Message, "failed expression") {
			t.Errorf("client-go create: %#v", err)
		}
		s.MustKubectl(t, "create", "deployment", "web", "-n", "vap-test", "--image=busybox", "--replicas=5")
		// Updates are checked too (scale is an update of deployments/scale, which the rule
		// does not name: allowed).
		r = s.Kubectl(t, "patch", "deployment", "web", "-n", "vap-test", "-p", `{"spec":{"replicas":7}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, "denied request: failed expression: object.spec.replicas <= 5") {
			t.Errorf("patch to 7 replicas: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("namespaceSelector", func(t *testing.T) {
		s.MustKubectl(t, "create", "deployment", "big", "-n", "vap-free", "--image=busybox", "--replicas=10")
	})

	t.Run("warn", func(t *testing.T) {
		r := s.Kubectl(t, "create", "deployment", "warned", "-n", "vap-staging", "--image=busybox", "--replicas=8")
		want := `Warning: Validation failed for ValidatingAdmissionPolicy 'demo-policy.example.com' with binding 'demo-binding-staging.example.com': failed expression: object.spec.replicas <= 5`
		if r.Err != nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("create with a Warn binding: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		if out := s.MustKubectl(t, "get", "deployment", "warned", "-n", "vap-staging", "-o", "jsonpath={.spec.replicas}"); out != "8" {
			t.Errorf("replicas %q", out)
		}
	})

	t.Run("params", func(t *testing.T) {
		// Without its ConfigMap the binding denies (parameterNotFoundAction Deny).
		r := s.Kubectl(t, "create", "deployment", "noparams", "-n", "vap-params", "--image=busybox", "--replicas=1")
		want := `ValidatingAdmissionPolicy 'replica-limit.example.com' with binding 'replica-limit-binding.example.com' denied request: failed to configure binding: no params found for policy binding with ` + "`Deny`" + ` parameterNotFoundAction`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("create without params: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		s.MustKubectl(t, "create", "configmap", "replica-limit", "-n", "default", "--from-literal=maxReplicas=3")
		r = s.Kubectl(t, "create", "deployment", "large", "-n", "vap-params", "--image=busybox", "--replicas=4")
		want = `deployments.apps "large" is forbidden: ValidatingAdmissionPolicy 'replica-limit.example.com' with binding 'replica-limit-binding.example.com' denied request: replicas must be at most 3, not 4`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("create over the param's limit: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		_, err := s.Client.AppsV1().Deployments("vap-params").Create(ctx, celDeployment("large", 4, nil), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("reason Forbidden gives 403: %v", err)
		}
		s.MustKubectl(t, "create", "deployment", "small", "-n", "vap-params", "--image=busybox", "--replicas=3")
		// A static message.
		r = s.Kubectl(t, "create", "deployment", "web2", "-n", "vap-params", "--image=busybox", "--replicas=1")
		if r.Err == nil || !strings.Contains(r.Stderr, "denied request: names are lowercase letters only") {
			t.Errorf("create of web2: %v\n%s", r.Err, r.Stderr)
		}
		// The match condition exempts labelled deployments.
		if _, err := s.Client.AppsV1().Deployments("vap-params").Create(ctx, celDeployment("exempted", 9, map[string]string{"exempt": "yes"}), metav1.CreateOptions{}); err != nil {
			t.Errorf("an exempt deployment was refused: %v", err)
		}
		// The param is read as it changes.
		s.MustKubectl(t, "patch", "configmap", "replica-limit", "-n", "default", "-p", `{"data":{"maxReplicas":"10"}}`)
		testutil.Poll(t, 30*time.Second, "the new limit to apply", func() (bool, error) {
			return s.Kubectl(t, "create", "deployment", "large", "-n", "vap-params", "--image=busybox", "--replicas=4", "--dry-run=server").Err == nil, nil
		})
		// Scaling is an update of deployments/scale, seen as an autoscaling/v1 Scale.
		r = s.Kubectl(t, "scale", "deployment", "small", "-n", "vap-params", "--replicas=11")
		if r.Err == nil || !strings.Contains(r.Stderr, "denied request: replicas must be at most 10, not 11") {
			t.Errorf("scale over the limit: %v\n%s", r.Err, r.Stderr)
		}
		s.MustKubectl(t, "scale", "deployment", "small", "-n", "vap-params", "--replicas=2")
	})

	t.Run("badInput", func(t *testing.T) {
		bad := strings.Replace(strings.SplitN(celPolicies, "---\n", 2)[0], "demo-policy.example.com", "bad-policy.example.com", 1)
		bad = strings.Replace(bad, `"object.spec.replicas <= 5"`, `"object.spec.replicas <"`, 1)
		r := applyStdin(t, s, bad)
		want := `spec.validations[0].expression: Invalid value: "object.spec.replicas <": compilation failed: ERROR: <input>:1:23: Syntax error:`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("a policy that does not compile: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		wrongType := strings.Replace(bad, `"object.spec.replicas <"`, `"object.spec.replicas + 1"`, 1)
		r = applyStdin(t, s, wrongType)
		if want := `spec.validations[0].expression: Invalid value: "object.spec.replicas + 1": must evaluate to bool but got int`; r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("a policy of the wrong type: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
		}
		// The server is still serving.
		s.MustKubectl(t, "get", "validatingadmissionpolicies")
	})
}

// TestCELStoredPolicyThatDoesNotCompile: a policy stored before expressions were compiled
// (written to etcd directly here) applies its failure policy: Fail refuses the requests it
// matches with the compiler's message, Ignore lets them through.
func TestCELStoredPolicyThatDoesNotCompile(t *testing.T) {
	t.Parallel()
	etcd := testserver.StartEtcd(t)
	s := testserver.Start(t, testserver.Options{EtcdServers: []string{etcd}})
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "stored.example.com", UID: types.UID("7e57ab1e-0000-4000-8000-000000000002"), CreationTimestamp: metav1.Now(), Generation: 1},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{}, MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.data.size() >"}},
		},
	}
	policy.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy"))
	const key = "/registry/admissionregistration.k8s.io/validatingadmissionpolicies/stored.example.com"
	putStored(ctx, t, etcd, key, policy)
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "stored-binding.example.com"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "stored.example.com", ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `configmaps "probe" is forbidden: ValidatingAdmissionPolicy 'stored.example.com' with binding 'stored-binding.example.com' denied request: compilation error: compilation failed: ERROR: <input>:1:21: Syntax error:`
	testutil.Poll(t, 30*time.Second, "the broken policy to refuse", func() (bool, error) {
		r := s.Kubectl(t, "create", "configmap", "probe", "--from-literal=a=b")
		return r.Err != nil && strings.Contains(r.Stderr, want), nil
	})
	// An update must compile, as upstream: the patch is refused.
	r := s.Kubectl(t, "patch", "validatingadmissionpolicy", "stored.example.com", "--type=merge", "-p", `{"spec":{"failurePolicy":"Ignore"}}`)
	if r.Err == nil || !strings.Contains(r.Stderr, `spec.validations[0].expression: Invalid value: "object.data.size() >": compilation failed`) {
		t.Errorf("patch of the broken policy: %v\n%s", r.Err, r.Stderr)
	}
	policy.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
	putStored(ctx, t, etcd, key, policy)
	testutil.Poll(t, 30*time.Second, "failurePolicy Ignore to let requests through", func() (bool, error) {
		return s.Kubectl(t, "create", "configmap", "probe", "--from-literal=a=b").Err == nil, nil
	})
}

func celDeployment(name string, replicas int32, labels map[string]string) *appsv1.Deployment {
	sel := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
}

// TestCELWebhookMatchConditions: a webhook is called only when all its match conditions
// hold; a condition that fails to evaluate follows the failure policy; one that does not
// compile is refused when the configuration is written.
func TestCELWebhookMatchConditions(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	backend := newWebhookBackend(t)
	ca := base64.StdEncoding.EncodeToString(backend.caBundle)
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mc", Labels: map[string]string{"webhook": "on"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podRules := `{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"]}`
	conditions := `  failurePolicy: Fail
  matchConditions:
  - name: not-skipped
    expression: "!has(object.metadata.labels) || !('webhook-skip' in object.metadata.labels)"
  - name: by-users
    expression: "request.userInfo.username != 'system:serviceaccount:mc:robot' && request.operation == 'CREATE'"
`
	cfg := webhookConfig("ValidatingWebhookConfiguration", "conditional", "conditional.webhook.test", "url: "+backend.URL+"/validate", ca, podRules, conditions)
	if r := applyStdin(t, s, cfg); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	want := `admission webhook "conditional.webhook.test" denied the request: pods labelled webhook-test=deny are refused`
	testutil.Poll(t, 30*time.Second, "the webhook to be called", func() (bool, error) {
		r := s.Kubectl(t, "run", "probe", "-n", "mc", "--image=busybox", "--restart=Never", "--labels=webhook-test=deny", "--dry-run=server")
		return r.Err != nil && strings.Contains(r.Stderr, want), nil
	})
	calls := backend.calls.Load()
	// A false condition skips the webhook: the pod it would refuse is created.
	s.MustKubectl(t, "run", "skipped", "-n", "mc", "--image=busybox", "--restart=Never", "--labels=webhook-test=deny,webhook-skip=yes")
	if n := backend.calls.Load(); n != calls {
		t.Errorf("the webhook was called %d times for a request its conditions exclude", n-calls)
	}
	r := s.Kubectl(t, "run", "refused", "-n", "mc", "--image=busybox", "--restart=Never", "--labels=webhook-test=deny")
	if r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("a matching request: %v\n%s", r.Err, r.Stderr)
	}

	// A condition that fails to evaluate: Fail refuses (403, with the evaluation error),
	// Ignore skips the webhook.
	failing := webhookConfig("ValidatingWebhookConfiguration", "failing", "failing.webhook.test", "url: "+backend.URL+"/validate", ca,
		`{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"]}`, `  failurePolicy: Fail
  matchConditions:
  - name: needs-a-key
    expression: "object.data['missing'] == 'x'"
`)
	if r := applyStdin(t, s, failing); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	wantErr := `configmaps "cm" is forbidden: expression 'object.data['missing'] == 'x'' resulted in error: no such key: missing`
	testutil.Poll(t, 30*time.Second, "the failing condition to refuse", func() (bool, error) {
		r := s.Kubectl(t, "create", "configmap", "cm", "-n", "mc", "--from-literal=a=b")
		return r.Err != nil && strings.Contains(r.Stderr, wantErr), nil
	})
	s.MustKubectl(t, "patch", "validatingwebhookconfiguration", "failing", "--type=json", "-p", `[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]`)
	testutil.Poll(t, 30*time.Second, "failurePolicy Ignore to skip the webhook", func() (bool, error) {
		return s.Kubectl(t, "create", "configmap", "cm", "-n", "mc", "--from-literal=a=b").Err == nil, nil
	})

	// A condition that does not compile is refused, as upstream refuses it.
	broken := strings.Replace(cfg, "name: conditional", "name: broken", 1)
	broken = strings.Replace(broken, `"request.userInfo.username != 'system:serviceaccount:mc:robot' && request.operation == 'CREATE'"`, `"request.nope == 1"`, 1)
	r = applyStdin(t, s, broken)
	if want := `webhooks[0].matchConditions[1].expression: Invalid value: "request.nope == 1": compilation failed: ERROR: <input>:1:8: undefined field 'nope'`; r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("a condition that does not compile: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
	}
}

const celWidgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.cel.example.com
spec:
  group: cel.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.replicas <= self.maxReplicas"
              message: "replicas must not exceed maxReplicas"
            - rule: "self.mode == oldSelf.mode"
              message: "mode is immutable"
            - rule: "!has(self.image) || self.image.startsWith('registry.example.com/')"
              messageExpression: "'image ' + self.image + ' is not from registry.example.com'"
              fieldPath: .image
              reason: FieldValueForbidden
            properties:
              replicas:
                type: integer
                x-kubernetes-validations:
                - rule: "self >= 0"
              maxReplicas:
                type: integer
              mode:
                type: string
              image:
                type: string
              size:
                type: string
                x-kubernetes-validations:
                - rule: "isQuantity(self) && quantity(self).compareTo(quantity('1Gi')) <= 0"
                  message: "size must be a quantity of at most 1Gi"
`

// TestCELCRDValidationRules: a CRD's x-kubernetes-validations refuse bad custom resources
// with field errors and let good ones through; transition rules see the old object; a rule
// that does not compile makes the CRD invalid.
func TestCELCRDValidationRules(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if r := applyStdin(t, s, celWidgetCRD); r.Err != nil {
		t.Fatalf("apply CRD: %v\n%s", r.Err, r.Stderr)
	}
	testutil.Poll(t, 30*time.Second, "widgets to be served", func() (bool, error) {
		r := s.Kubectl(t, "get", "widgets")
		return r.Err == nil, nil
	})
	widget := func(name, spec string) string {
		return "apiVersion: cel.example.com/v1\nkind: Widget\nmetadata:\n  name: " + name + "\n  namespace: default\nspec: " + spec + "\n"
	}
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"over", `{replicas: 5, maxReplicas: 3, mode: fast}`,
			[]string{`The Widget "over" is invalid: spec: Invalid value: replicas must not exceed maxReplicas`}},
		{"negative", `{replicas: -1, maxReplicas: 3, mode: fast}`,
			[]string{`spec.replicas: Invalid value: -1: failed rule: self >= 0`}},
		{"image", `{replicas: 1, maxReplicas: 3, mode: fast, image: docker.io/busybox}`,
			[]string{`spec.image: Forbidden: image docker.io/busybox is not from registry.example.com`}},
		{"size", `{replicas: 1, maxReplicas: 3, mode: fast, size: 2Gi}`,
			[]string{`spec.size: Invalid value: "2Gi": size must be a quantity of at most 1Gi`}},
		{"two", `{replicas: 5, maxReplicas: 3, mode: fast, size: lots}`,
			[]string{`* spec: Invalid value: replicas must not exceed maxReplicas`, `* spec.size: Invalid value: "lots": size must be a quantity of at most 1Gi`}},
	} {
		r := applyStdin(t, s, widget(tc.name, tc.spec))
		for _, w := range tc.want {
			if r.Err == nil || !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: %v\n%s\nwant: %s", tc.name, r.Err, r.Stderr, w)
			}
		}
	}
	// Good widgets are created; the transition rule does not run on creates.
	if r := applyStdin(t, s, widget("good", `{replicas: 2, maxReplicas: 3, mode: fast, image: registry.example.com/app:1, size: 512Mi}`)); r.Err != nil {
		t.Fatalf("a good widget: %v\n%s", r.Err, r.Stderr)
	}
	// Updates: the transition rule compares with the stored object.
	r := s.Kubectl(t, "patch", "widget", "good", "--type=merge", "-p", `{"spec":{"mode":"slow"}}`)
	if want := `The Widget "good" is invalid: spec: Invalid value: mode is immutable`; r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("changing the mode: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
	}
	s.MustKubectl(t, "patch", "widget", "good", "--type=merge", "-p", `{"spec":{"replicas":3}}`)
	if out := s.MustKubectl(t, "get", "widget", "good", "-o", "jsonpath={.spec.replicas} {.spec.mode}"); out != "3 fast" {
		t.Errorf("widget after the patch: %q", out)
	}

	// A rule that does not compile makes the CRD invalid, at upstream's path (all versions
	// share the schema: spec.validation).
	broken := strings.Replace(strings.Replace(celWidgetCRD, "widgets.cel.example.com", "gadgets.cel.example.com", 1),
		"{plural: widgets, singular: widget, kind: Widget}", "{plural: gadgets, singular: gadget, kind: Gadget}", 1)
	broken = strings.Replace(broken, `"self.replicas <= self.maxReplicas"`, `"self.replicas <= self.maximum"`, 1)
	r = applyStdin(t, s, broken)
	want := `spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.replicas \u003c= self.maximum","Message":"replicas must not exceed maxReplicas","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:22: undefined field 'maximum'`
	if r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("a CRD whose rule does not compile: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
	}
	// An unbounded rule is refused for its estimated cost.
	costly := strings.Replace(strings.Replace(celWidgetCRD, "widgets.cel.example.com", "things.cel.example.com", 1),
		"{plural: widgets, singular: widget, kind: Widget}", "{plural: things, singular: thing, kind: Thing}", 1)
	costly = strings.Replace(costly, `"isQuantity(self) && quantity(self).compareTo(quantity('1Gi')) <= 0"`, `"self.split('').all(a, self.split('').all(b, a <= b))"`, 1)
	r = applyStdin(t, s, costly)
	if want := `spec.validation.openAPIV3Schema.properties[spec].properties[size].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of`; r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("a costly rule: %v\n%s\nwant: %s", r.Err, r.Stderr, want)
	}
}
