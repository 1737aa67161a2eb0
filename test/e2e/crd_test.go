package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/testserver"
)

const crontabCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: CronTabSpec is what the cron tab runs.
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image:
                type: string
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
              mode:
                type: string
                enum: [fast, slow]
                default: fast
          status:
            type: object
            properties:
              phase:
                type: string
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

const crontabs = `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
  namespace: crons
spec:
  cronSpec: "0 3 * * *"
  image: backup:1
  replicas: 3
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: hourly
  namespace: crons
spec:
  cronSpec: "0 * * * *"
  image: report:1
`

var crontabGVR = schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "crontabs"}

func pollUntil(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func applyStdin(t *testing.T, s *testserver.Server, manifest string, args ...string) testserver.Result {
	t.Helper()
	return s.KubectlIn(t, strings.NewReader(manifest), nil, append([]string{"apply", "-f", "-"}, args...)...)
}

func TestCRD(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	ext, err := apiextensionsclient.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}

	if r := applyStdin(t, s, crontabCRD); r.Err != nil {
		t.Fatalf("applying the CRD: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	pollUntil(t, "the CRD to be established", 10*time.Second, func() (bool, error) {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return crd.Status.AcceptedNames.Kind == "CronTab" && len(crd.Status.StoredVersions) == 1 && crd.Status.StoredVersions[0] == "v1", nil
			}
		}
		return false, nil
	})
	s.MustKubectl(t, "wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=20s")

	// Discovery lists it with its short name and category.
	wantMatch(t, "api-resources", s.MustKubectl(t, "api-resources", "--api-group=stable.example.com"),
		`^crontabs\s+ct\s+stable.example.com/v1\s+true\s+CronTab$`)
	s.MustKubectl(t, "create", "namespace", "crons")

	if r := applyStdin(t, s, crontabs); r.Err != nil {
		t.Fatalf("applying crontabs: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	out := s.MustKubectl(t, "get", "ct", "-n", "crons")
	wantMatch(t, "get with printer columns", out, `^NAME\s+SPEC\s+REPLICAS\s+AGE$`, `^nightly\s+0 3 \* \* \*\s+3\s+\S+$`, `^hourly\s+0 \* \* \* \*\s+1\s+\S+$`)
	wantMatch(t, "get all", s.MustKubectl(t, "get", "all", "-n", "crons"), `crontab.stable.example.com/nightly`)

	// Defaults, generation and the other served version.
	got, err := dyn.Resource(crontabGVR).Namespace("crons").Get(ctx, "hourly", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mode, _, _ := unstructured.NestedString(got.Object, "spec", "mode"); mode != "fast" {
		t.Fatalf("spec.mode not defaulted: %v", got.Object["spec"])
	}
	if got.GetGeneration() != 1 || got.GetUID() == "" {
		t.Fatalf("generation %d uid %q", got.GetGeneration(), got.GetUID())
	}
	beta, err := dyn.Resource(schema.GroupVersionResource{Group: "stable.example.com", Version: "v1beta1", Resource: "crontabs"}).Namespace("crons").Get(ctx, "hourly", metav1.GetOptions{})
	if err != nil || beta.GetAPIVersion() != "stable.example.com/v1beta1" {
		t.Fatalf("v1beta1: %v %v", err, beta)
	}

	// kubectl explain reads the published schema.
	wantMatch(t, "explain", s.MustKubectl(t, "explain", "crontabs.spec"), `CronTabSpec is what the cron tab runs`, `replicas\s+<integer>`)

	// Invalid objects are refused with field causes; nothing is stored.
	bad := strings.Replace(strings.Split(crontabs, "---")[0], "replicas: 3", "replicas: 20", 1)
	bad = strings.Replace(bad, "name: nightly", "name: broken", 1)
	r := applyStdin(t, s, bad)
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10") {
		t.Fatalf("invalid crontab: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	_, err = dyn.Resource(crontabGVR).Namespace("crons").Get(ctx, "broken", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("invalid crontab stored: %v", err)
	}
	missing := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "stable.example.com/v1", "kind": "CronTab",
		"metadata": map[string]any{"name": "nospec"}, "spec": map[string]any{"image": "x", "mode": "medium"}}}
	_, err = dyn.Resource(crontabGVR).Namespace("crons").Create(ctx, missing, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("missing cronSpec: %v", err)
	}
	causes := map[string]bool{}
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		causes[c.Field] = true
	}
	if !causes["spec.cronSpec"] || !causes["spec.mode"] {
		t.Fatalf("causes: %v", err.(apierrors.APIStatus).Status().Details.Causes)
	}

	// Unknown fields are pruned, or refused under Strict.
	unknown := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "stable.example.com/v1", "kind": "CronTab",
		"metadata": map[string]any{"name": "extra"}, "spec": map[string]any{"cronSpec": "* * * * *", "colour": "red"}}}
	_, err = dyn.Resource(crontabGVR).Namespace("crons").Create(ctx, unknown, metav1.CreateOptions{FieldValidation: "Strict"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "spec.colour"`) {
		t.Fatalf("strict unknown field: %v", err)
	}
	created, err := dyn.Resource(crontabGVR).Namespace("crons").Create(ctx, unknown, metav1.CreateOptions{FieldValidation: "Ignore"})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedString(created.Object, "spec", "colour"); found {
		t.Fatalf("unknown field kept: %v", created.Object["spec"])
	}

	// An informer sees creations, status updates and deletions.
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "crons", nil)
	informer := factory.ForResource(crontabGVR).Informer()
	var mu sync.Mutex
	seen := map[string]string{}
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			mu.Lock()
			defer mu.Unlock()
			seen[obj.(*unstructured.Unstructured).GetName()] = "added"
		},
		UpdateFunc: func(_, obj any) {
			u := obj.(*unstructured.Unstructured)
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			mu.Lock()
			defer mu.Unlock()
			seen[u.GetName()] = "phase=" + phase
		},
		DeleteFunc: func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				mu.Lock()
				defer mu.Unlock()
				seen[u.GetName()] = "deleted"
			}
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	seenIs := func(name, want string) func() (bool, error) {
		return func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return seen[name] == want, nil
		}
	}
	pollUntil(t, "the informer to list nightly", 10*time.Second, seenIs("nightly", "added"))

	// With a status subresource, the object's endpoint ignores status and /status ignores
	// the rest; generation moves on spec changes only.
	nightly, err := dyn.Resource(crontabGVR).Namespace("crons").Get(ctx, "nightly", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(nightly.Object, "Running", "status", "phase")
	_ = unstructured.SetNestedField(nightly.Object, "ignored:2", "spec", "image")
	updated, err := dyn.Resource(crontabGVR).Namespace("crons").UpdateStatus(ctx, nightly, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img, _, _ := unstructured.NestedString(updated.Object, "spec", "image"); img != "backup:1" || updated.GetGeneration() != 1 {
		t.Fatalf("status update changed spec: %v generation %d", updated.Object["spec"], updated.GetGeneration())
	}
	pollUntil(t, "the informer to see the status", 10*time.Second, seenIs("nightly", "phase=Running"))
	patched, err := dyn.Resource(crontabGVR).Namespace("crons").Patch(ctx, "nightly", types.MergePatchType,
		[]byte(`{"spec":{"replicas":4},"status":{"phase":"Ignored"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if phase, _, _ := unstructured.NestedString(patched.Object, "status", "phase"); phase != "Running" || patched.GetGeneration() != 2 {
		t.Fatalf("main endpoint patch: status %v generation %d", patched.Object["status"], patched.GetGeneration())
	}
	_, err = dyn.Resource(crontabGVR).Namespace("crons").Patch(ctx, "nightly", types.StrategicMergePatchType,
		[]byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{})
	if !apierrors.IsUnsupportedMediaType(err) {
		t.Fatalf("strategic merge patch: %v", err)
	}
	// Server-side apply and field selectors.
	s.MustKubectl(t, "apply", "--server-side", "-f", writeTemp(t, strings.Replace(strings.Split(crontabs, "---")[1], "report:1", "report:2", 1)))
	wantMatch(t, "field selector", s.MustKubectl(t, "get", "crontabs", "-n", "crons", "--field-selector", "metadata.name=hourly", "-o", "jsonpath={.items[*].spec.image}"), `^report:2$`)

	s.MustKubectl(t, "delete", "crontab", "hourly", "-n", "crons")
	pollUntil(t, "the informer to see the deletion", 10*time.Second, seenIs("hourly", "deleted"))

	// Deleting the definition deletes its objects and stops serving it.
	s.MustKubectl(t, "delete", "crd", "crontabs.stable.example.com", "--timeout=30s")
	pollUntil(t, "the CRD to go", 20*time.Second, func() (bool, error) {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	pollUntil(t, "discovery to drop the group", 10*time.Second, func() (bool, error) {
		_, err := s.Client.Discovery().ServerResourcesForGroupVersion("stable.example.com/v1")
		return apierrors.IsNotFound(err), err
	})
	// Recreated, the definition starts empty.
	if r := applyStdin(t, s, crontabCRD); r.Err != nil {
		t.Fatalf("re-applying the CRD: %v\n%s", r.Err, r.Stderr)
	}
	pollUntil(t, "the recreated CRD to serve an empty list", 10*time.Second, func() (bool, error) {
		l, err := dyn.Resource(crontabGVR).Namespace("crons").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, err
	})
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCRDValidation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	bad := strings.Replace(crontabCRD, "name: crontabs.stable.example.com", "name: crontabs.example.com", 1)
	r := applyStdin(t, s, bad)
	if r.Err == nil || !strings.Contains(r.Stderr, `metadata.name: Invalid value: "crontabs.example.com": must be spec.names.plural+"."+spec.group`) {
		t.Fatalf("bad name: %v\n%s", r.Err, r.Stderr)
	}
	noDot := strings.ReplaceAll(crontabCRD, "stable.example.com", "stable")
	r = applyStdin(t, s, noDot)
	if r.Err == nil || !strings.Contains(r.Stderr, `spec.group: Invalid value: "stable": should be a domain with at least one dot`) {
		t.Fatalf("group without a dot: %v\n%s", r.Err, r.Stderr)
	}
	twoStorage := strings.Replace(crontabCRD, "storage: false", "storage: true", 1)
	r = applyStdin(t, s, twoStorage)
	if r.Err == nil || !strings.Contains(r.Stderr, "must have exactly one version marked as storage version") {
		t.Fatalf("two storage versions: %v\n%s", r.Err, r.Stderr)
	}
	untyped := strings.Replace(crontabCRD, "              image:\n                type: string\n", "              image:\n                description: no type\n", 1)
	r = applyStdin(t, s, untyped)
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[image].type: Required value: must not be empty for specified object fields") {
		t.Fatalf("untyped field: %v\n%s", r.Err, r.Stderr)
	}
}

// TestCRDRestartAndNamespace checks that custom resources persist across a restart and go
// with their namespace.
func TestCRDRestartAndNamespace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	func() {
		s := testserver.Start(t, testserver.Options{DataDir: dir})
		if r := applyStdin(t, s, crontabCRD); r.Err != nil {
			t.Fatalf("applying the CRD: %v\n%s", r.Err, r.Stderr)
		}
		s.MustKubectl(t, "wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=20s")
		s.MustKubectl(t, "create", "namespace", "crons")
		if r := applyStdin(t, s, crontabs); r.Err != nil {
			t.Fatalf("applying crontabs: %v\n%s", r.Err, r.Stderr)
		}
		s.Stop()
	}()
	s := testserver.Start(t, testserver.Options{DataDir: dir, Controllers: true})
	wantMatch(t, "after restart", s.MustKubectl(t, "get", "crontabs", "-n", "crons"), `^nightly\s`, `^hourly\s`)
	s.MustKubectl(t, "delete", "namespace", "crons", "--wait=false")
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the namespace's crontabs to go", 60*time.Second, func() (bool, error) {
		l, err := dyn.Resource(crontabGVR).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, err
	})
}

const helmCRDChartCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.charts.example.com
spec:
  group: charts.example.com
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
            properties:
              size: {type: integer, default: 1}
`

func TestHelmCRDs(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	h := newHelm(t, s)
	chart := filepath.Join(h.dir, "widgets")
	for name, content := range map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
		"crds/widgets.yaml":      helmCRDChartCRD,
		"templates/widget.yaml":  "apiVersion: charts.example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  size: 3\n",
		"templates/default.yaml": "apiVersion: charts.example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}-default\nspec: {}\n",
	} {
		p := filepath.Join(chart, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantMatch(t, "install", h.must("install", "w", chart, "--namespace", "widgets", "--create-namespace", "--wait"), `^STATUS: deployed$`)
	wantMatch(t, "widgets", s.MustKubectl(t, "get", "widgets", "-n", "widgets", "-o", "custom-columns=NAME:.metadata.name,SIZE:.spec.size"),
		`^w\s+3$`, `^w-default\s+1$`)
	h.must("uninstall", "w", "--namespace", "widgets")
}
