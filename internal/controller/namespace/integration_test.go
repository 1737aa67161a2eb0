package namespace_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/kijabi/kijabi/internal/controller/namespace"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// startController runs the controller against a real API server until the test ends. (The
// server may run its own controller manager, with another instance of this controller: the
// two share the "kubernetes" finalizer, which they must tolerate, as in Kubernetes.)
func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := testserver.Start(t)
	meta, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	ctrl := namespace.New(s.Client, meta, s.Client.Discovery(), factory.Core().V1().Namespaces())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	factory.Start(ctx.Done())
	go func() {
		defer close(done)
		ctrl.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	return s.Client
}

func createContent(t *testing.T, client kubernetes.Interface, ns string, finalizers ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Finalizers: finalizers}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"}, StringData: map[string]string{"password": "hunter2"}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func namespaceGone(client kubernetes.Interface, ns string) func() (bool, error) {
	return func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func assertEmpty(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items)+len(secrets.Items) != 0 {
		t.Errorf("content left in %s: %d configmaps, %d secrets", ns, len(cms.Items), len(secrets.Items))
	}
}

func TestIntegrationNamespaceDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := startController(t)
	ctx := context.Background()
	createContent(t, client, "doomed")

	// Another namespace's content is not touched.
	createContent(t, client, "bystander")

	if err := client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "namespace doomed to go", namespaceGone(client, "doomed"))
	assertEmpty(t, client, "doomed")

	if _, err := client.CoreV1().ConfigMaps("bystander").Get(ctx, "cm", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander configmap: %v", err)
	}
	if _, err := client.CoreV1().Secrets("bystander").Get(ctx, "secret", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander secret: %v", err)
	}
}

func TestIntegrationNamespaceWaitsForFinalizers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := startController(t)
	ctx := context.Background()
	createContent(t, client, "held", "example.com/hold")

	if err := client.CoreV1().Namespaces().Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The namespace stays, saying why.
	var ns *corev1.Namespace
	testutil.Poll(t, 30*time.Second, "the finalizers condition", func() (bool, error) {
		var err error
		ns, err = client.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := findCondition(ns.Status.Conditions, corev1.NamespaceFinalizersRemaining)
		return c != nil && c.Status == corev1.ConditionTrue, nil
	})
	if ns.Status.Phase != corev1.NamespaceTerminating || len(ns.Spec.Finalizers) != 1 {
		t.Errorf("phase %q, finalizers %v", ns.Status.Phase, ns.Spec.Finalizers)
	}
	for ct, msg := range map[corev1.NamespaceConditionType]string{
		corev1.NamespaceContentRemaining:    "Some resources are remaining: configmaps. has 1 resource instances",
		corev1.NamespaceFinalizersRemaining: "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
	} {
		if c := findCondition(ns.Status.Conditions, ct); c == nil || c.Message != msg {
			t.Errorf("%s: %+v, want message %q", ct, c, msg)
		}
	}
	// The configmap is marked, the secret gone.
	cm, err := client.CoreV1().ConfigMaps("held").Get(ctx, "cm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.DeletionTimestamp == nil {
		t.Error("configmap not marked for deletion")
	}
	if _, err := client.CoreV1().Secrets("held").Get(ctx, "secret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret: %v, want NotFound", err)
	}

	// Releasing the configmap releases the namespace (after the controller's requeue delay).
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": nil}})
	if _, err := client.CoreV1().ConfigMaps("held").Patch(ctx, "cm", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 60*time.Second, "namespace held to go", namespaceGone(client, "held"))
	assertEmpty(t, client, "held")
}
