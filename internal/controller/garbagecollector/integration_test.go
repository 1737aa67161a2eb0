package garbagecollector_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/garbagecollector"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func start(t *testing.T) kubernetes.Interface {
	s := testserver.Start(t)
	meta, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	gc := garbagecollector.New(s.Client, meta, s.Client.Discovery(), garbagecollector.WithDiscoveryPeriod(2*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); gc.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Client
}

// createRSWithPods creates a ReplicaSet and n pods it owns (blockOwnerDeletion, as the
// ReplicaSet controller sets it); finalizers go on the pods.
func createRSWithPods(t *testing.T, client kubernetes.Interface, name string, n int, finalizers ...string) *appsv1.ReplicaSet {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(n)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
	}
	rs, err := client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	for i := range n {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + string(rune('a'+i)), Namespace: "default", Labels: labels,
				OwnerReferences: []metav1.OwnerReference{ref}, Finalizers: finalizers},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		}
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

func podsOf(client kubernetes.Interface, app string) ([]corev1.Pod, error) {
	l, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func rsGone(client kubernetes.Interface, name string) func() (bool, error) {
	return func() (bool, error) {
		_, err := client.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func TestIntegrationBackgroundDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := start(t)
	ctx := context.Background()
	createRSWithPods(t, client, "bg", 3)
	// An orphan and a pod with another, living owner are left alone.
	keeper := createRSWithPods(t, client, "keep", 1)
	if err := client.AppsV1().ReplicaSets("default").Delete(ctx, "bg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the ReplicaSet's pods to be collected", func() (bool, error) {
		pods, err := podsOf(client, "bg")
		return err == nil && len(pods) == 0, err
	})
	pods, err := podsOf(client, "keep")
	if err != nil || len(pods) != 1 || pods[0].DeletionTimestamp != nil || pods[0].OwnerReferences[0].UID != keeper.UID {
		t.Errorf("a pod with a living owner was touched: %+v, %v", pods, err)
	}
}

func TestIntegrationForegroundDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := start(t)
	ctx := context.Background()
	createRSWithPods(t, client, "fg", 2, "example.com/hold")
	if err := client.AppsV1().ReplicaSets("default").Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	// The pods are being deleted (held by their finalizer); the owner waits for them.
	testutil.Poll(t, 30*time.Second, "the pods to be deleted", func() (bool, error) {
		pods, err := podsOf(client, "fg")
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				return false, nil
			}
		}
		return len(pods) == 2, nil
	})
	rs, err := client.AppsV1().ReplicaSets("default").Get(ctx, "fg", metav1.GetOptions{})
	if err != nil || rs.DeletionTimestamp == nil {
		t.Fatalf("owner should still be visible, terminating: %+v, %v", rs, err)
	}
	// Release the pods: then the owner goes.
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": nil}})
	for _, name := range []string{"fg-a", "fg-b"} {
		if _, err := client.CoreV1().Pods("default").Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Poll(t, 30*time.Second, "the owner to go after its dependents", rsGone(client, "fg"))
}

func TestIntegrationOrphanDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := start(t)
	ctx := context.Background()
	createRSWithPods(t, client, "or", 2)
	if err := client.AppsV1().ReplicaSets("default").Delete(ctx, "or", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the owner to go", rsGone(client, "or"))
	pods, err := podsOf(client, "or")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 {
		t.Fatalf("%d pods left, want 2", len(pods))
	}
	for _, p := range pods {
		if len(p.OwnerReferences) != 0 || p.DeletionTimestamp != nil {
			t.Errorf("pod %s: ownerReferences %v, deletionTimestamp %v", p.Name, p.OwnerReferences, p.DeletionTimestamp)
		}
	}
}
