package apiserver_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kijabi/kijabi/internal/testserver"
)

var tokenVolume = regexp.MustCompile(`kube-api-access-[a-z0-9]+`)

// TestCreatesThroughTheServer creates pods through the API: alike ones (their fields
// recorded from the create tracking's cache), a dry run, one that brings managedFields of
// its own; and checks the default PriorityClass as it changes (its remembered answer must
// follow).
func TestCreatesThroughTheServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	pods := srv.Client.CoreV1().Pods("default")
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	}
	fields := func(p *corev1.Pod) string {
		t.Helper()
		if len(p.ManagedFields) != 1 || p.ManagedFields[0].Manager != "tester" || p.ManagedFields[0].Operation != metav1.ManagedFieldsOperationUpdate {
			t.Fatalf("%s: managedFields %+v", p.Name, p.ManagedFields)
		}
		// The service account admission names the token volume at random.
		return tokenVolume.ReplaceAllString(string(p.ManagedFields[0].FieldsV1.Raw), "kube-api-access-*")
	}
	var first string
	for i, name := range []string{"a", "b", "c"} {
		p, err := pods.Create(ctx, pod(name), metav1.CreateOptions{FieldManager: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = fields(p)
		} else if got := fields(p); got != first {
			t.Errorf("%s: fields %s, first pod's %s", name, got, first)
		}
	}
	dry, err := pods.Create(ctx, pod("d"), metav1.CreateOptions{FieldManager: "tester", DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fields(dry); got != first {
		t.Errorf("dry run: fields %s, want %s", got, first)
	}
	own := pod("e")
	own.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "importer", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:app":{}}}}`)}}}
	p, err := pods.Create(ctx, own, metav1.CreateOptions{FieldManager: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fields(p); got != first {
		t.Errorf("with managedFields in the request: fields %s, want %s", got, first)
	}

	// The default PriorityClass: none, then one, then its value changed, then deleted.
	classes := srv.Client.SchedulingV1().PriorityClasses()
	n := 0
	expect := func(what, class string, value int32) {
		t.Helper()
		var last *corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			n++
			p, err := pods.Create(ctx, pod("prio-"+string(rune('a'+n%26))+time.Now().Format("150405.000000")), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				return false, err
			}
			last = p
			return p.Spec.PriorityClassName == class && p.Spec.Priority != nil && *p.Spec.Priority == value, nil
		})
		if err != nil {
			t.Fatalf("%s: pod with class %q priority %v, want %q %d (%v)", what, last.Spec.PriorityClassName, last.Spec.Priority, class, value, err)
		}
	}
	expect("no default class", "", 0)
	pc, err := classes.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "everyday"}, Value: 100, GlobalDefault: true}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect("a default class", "everyday", 100)
	pc.Value = 200
	if _, err := classes.Update(ctx, pc, metav1.UpdateOptions{}); err != nil {
		// The value of a PriorityClass may not change: replace the class instead.
		if err := classes.Delete(ctx, "everyday", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := classes.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "everyday"}, Value: 200, GlobalDefault: true}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expect("the default class replaced", "everyday", 200)
	if err := classes.Delete(ctx, "everyday", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("the default class deleted", "", 0)
}
