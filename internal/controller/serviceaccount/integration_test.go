package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/kijabi/kijabi/internal/controller/serviceaccount"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func TestIntegrationServiceAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	f := informers.NewSharedInformerFactory(client, 0)
	c := serviceaccount.New(client, f.Core().V1().Namespaces(), f.Core().V1().ServiceAccounts(), f.Core().V1().ConfigMaps(), []byte("CA-PEM"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hasSA := func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	}
	testutil.Poll(t, 30*time.Second, "default service account", hasSA)
	testutil.Poll(t, 30*time.Second, "root CA configmap", func() (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == "CA-PEM", err
	})
	// System namespaces get them too.
	testutil.Poll(t, 30*time.Second, "kube-system's default service account", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})

	// Deleted, it comes back.
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "default service account to be re-created", hasSA)

	// A tampered ConfigMap is put back.
	cm, err := client.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["ca.crt"] = "forged"
	if _, err := client.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "root CA to be restored", func() (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("team-a").Get(ctx, serviceaccount.RootCAConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == "CA-PEM", err
	})
}
