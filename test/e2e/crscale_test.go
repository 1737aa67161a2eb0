package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kijabi/kijabi/internal/testserver"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer}
              color: {type: string}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
`

// TestCustomResourceScale drives the scale subresource of a custom resource as users and
// the autoscaler do: kubectl scale, kubectl get --subresource=scale, the status paths, bad
// input, and a HorizontalPodAutoscaler targeting the custom resource.
func TestCustomResourceScale(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := context.Background()
	if r := applyStdin(t, s, widgetCRD); r.Err != nil {
		t.Fatalf("applying the CRD: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	s.MustKubectl(t, "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s")

	// Discovery advertises widgets/scale as autoscaling/v1 Scale, as kube-apiserver does.
	res, err := s.Client.Discovery().ServerResourcesForGroupVersion("example.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res.APIResources {
		if r.Name == "widgets/scale" {
			found = r.Group == "autoscaling" && r.Version == "v1" && r.Kind == "Scale"
		}
	}
	if !found {
		t.Fatalf("discovery does not list widgets/scale as autoscaling/v1 Scale: %+v", res.APIResources)
	}

	s.MustKubectl(t, "create", "namespace", "w")
	if r := applyStdin(t, s, `apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: w}
spec: {replicas: 1, color: blue}
`); r.Err != nil {
		t.Fatalf("creating the widget: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	// A missing status reads as zero replicas and no selector.
	if out := s.MustKubectl(t, "get", "widget", "w1", "-n", "w", "--subresource=scale", "-o", "jsonpath={.kind} {.apiVersion} {.spec.replicas} {.status.replicas}"); out != "Scale autoscaling/v1 1 0" {
		t.Fatalf("scale of w1 = %q", out)
	}
	wantMatch(t, "kubectl scale", s.MustKubectl(t, "scale", "widget", "w1", "-n", "w", "--replicas=4"), `^widget.example.com/w1 scaled$`)
	if out := s.MustKubectl(t, "get", "widget", "w1", "-n", "w", "-o", "jsonpath={.spec.replicas} {.spec.color}"); out != "4 blue" {
		t.Fatalf("after scaling, spec = %q; want replicas 4 and the rest kept", out)
	}
	// --current-replicas is a precondition kubectl checks against the Scale.
	if r := s.Kubectl(t, "scale", "widget", "w1", "-n", "w", "--current-replicas=2", "--replicas=5"); r.Err == nil ||
		!strings.Contains(r.Stderr, "Expected replicas to be 2, was 4") {
		t.Fatalf("scale with a wrong --current-replicas: err=%v\n%s", r.Err, r.Stderr)
	}

	// The status paths feed the Scale's status.
	s.MustKubectl(t, "patch", "widget", "w1", "-n", "w", "--subresource=status", "--type=merge", "-p", `{"status":{"replicas":4,"selector":"app=w1"}}`)
	if out := s.MustKubectl(t, "get", "widget", "w1", "-n", "w", "--subresource=scale", "-o", "jsonpath={.status.replicas} {.status.selector}"); out != "4 app=w1" {
		t.Fatalf("scale status = %q", out)
	}

	// Bad input changes nothing.
	dyn := dynamic.NewForConfigOrDie(s.Config)
	widgets := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("w")
	if r := s.Kubectl(t, "patch", "widget", "w1", "-n", "w", "--subresource=scale", "--type=merge", "-p", `{"spec":{"replicas":-1}}`); r.Err == nil ||
		!strings.Contains(r.Stderr, "spec.replicas: Invalid value: -1: must be greater than or equal to 0") {
		t.Fatalf("negative replicas: err=%v\n%s", r.Err, r.Stderr)
	}
	stale := s.MustKubectl(t, "get", "widget", "w1", "-n", "w", "-o", "jsonpath={.metadata.resourceVersion}")
	s.MustKubectl(t, "label", "widget", "w1", "-n", "w", "touched=yes")
	staleScale := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling/v1", "kind": "Scale",
		"metadata": map[string]any{"name": "w1", "namespace": "w", "resourceVersion": stale},
		"spec":     map[string]any{"replicas": int64(7)},
	}}
	if _, err := widgets.Update(ctx, staleScale, metav1.UpdateOptions{}, "scale"); !apierrors.IsConflict(err) {
		t.Fatalf("scale update at a stale resourceVersion: %v; want a conflict", err)
	}
	u, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); n != 4 {
		t.Fatalf("refused scales changed replicas to %d", n)
	}

	// The autoscaler reaches custom resources through their scale subresource: below its
	// minimum, it scales the widget up without needing metrics.
	s.MustKubectl(t, "autoscale", "widget", "w1", "-n", "w", "--min=6", "--max=8", "--cpu=50%")
	pollUntil(t, "the autoscaler to scale the widget to its minimum", 60*time.Second, func() (bool, error) {
		u, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		return n == 6, nil
	})
	wantMatch(t, "hpa events", s.MustKubectl(t, "events", "-n", "w", "--for=hpa/w1"),
		`SuccessfulRescale\s+HorizontalPodAutoscaler/w1\s+New size: 6; reason: Current number of replicas below Spec.MinReplicas`)
}
