package apiserver_test

import (
	"context"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestDeleteCollection checks deletecollection as kubectl, the namespace controller and
// client-go's DeleteCollection use it: only what the selectors pick, in the namespace
// asked (or cluster-wide), objects with finalizers left terminating, and the deleted
// objects in the answer.
func TestDeleteCollection(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	c := srv.Client
	for _, ns := range []string{"a", "b"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, cm := range []struct {
			name, tier string
			finalizer  bool
		}{{"web-1", "web", false}, {"web-2", "web", true}, {"db-1", "db", false}} {
			obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.name, Labels: map[string]string{"tier": cm.tier}}}
			if cm.finalizer {
				obj.Finalizers = []string{"example.com/hold"}
			}
			if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var deleted corev1.ConfigMapList
	err := c.CoreV1().RESTClient().Delete().Namespace("a").Resource("configmaps").
		Param("labelSelector", "tier=web").Do(ctx).Into(&deleted)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range deleted.Items {
		names = append(names, cm.Namespace+"/"+cm.Name)
		if cm.Name == "web-2" && cm.DeletionTimestamp == nil {
			t.Errorf("the answer's web-2 has no deletionTimestamp")
		}
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != "a/web-1" || names[1] != "a/web-2" {
		t.Fatalf("deletecollection tier=web in a answered %v", names)
	}
	left := func(ns string) []string {
		list, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, cm := range list.Items {
			if cm.Name == "kube-root-ca.crt" {
				continue
			}
			s := cm.Name
			if cm.DeletionTimestamp != nil {
				s += " (terminating)"
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	if got := left("a"); len(got) != 2 || got[0] != "db-1" || got[1] != "web-2 (terminating)" {
		t.Errorf("left in a: %v", got)
	}
	if got := left("b"); len(got) != 3 {
		t.Errorf("b was touched: %v", got)
	}

	// Cluster-scoped, with a field selector.
	for _, name := range []string{"low", "high"} {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: 10}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SchedulingV1().PriorityClasses().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "metadata.name=low"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SchedulingV1().PriorityClasses().Get(ctx, "low", metav1.GetOptions{}); err == nil {
		t.Error("priorityclass low survived its deletecollection")
	}
	if _, err := c.SchedulingV1().PriorityClasses().Get(ctx, "high", metav1.GetOptions{}); err != nil {
		t.Errorf("priorityclass high: %v", err)
	}
}
