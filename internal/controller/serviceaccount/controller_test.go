package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func newFixture(objs ...runtime.Object) (*fake.Clientset, *Controller) {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	ns, sa, cm := f.Core().V1().Namespaces(), f.Core().V1().ServiceAccounts(), f.Core().V1().ConfigMaps()
	c := New(client, ns, sa, cm, []byte("PEM"))
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
			_ = ns.Informer().GetIndexer().Add(o)
		case *corev1.ServiceAccount:
			_ = sa.Informer().GetIndexer().Add(o)
		case *corev1.ConfigMap:
			_ = cm.Informer().GetIndexer().Add(o)
		}
	}
	client.ClearActions()
	return client, c
}

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func TestSyncCreatesBoth(t *testing.T) {
	client, c := newFixture(namespace("ns", corev1.NamespaceActive))
	if err := c.sync(context.Background(), "ns"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.CoreV1().ServiceAccounts("ns").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	cm, err := client.CoreV1().ConfigMaps("ns").Get(ctx, RootCAConfigMapName, metav1.GetOptions{})
	if err != nil || cm.Data[RootCAKey] != "PEM" {
		t.Errorf("configmap %+v, %v", cm, err)
	}
}

func TestSyncTerminatingNamespace(t *testing.T) {
	client, c := newFixture(namespace("ns", corev1.NamespaceTerminating))
	if err := c.sync(context.Background(), "ns"); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "serviceaccounts" {
			t.Errorf("service account action in a terminating namespace: %v", a)
		}
	}
}

func TestSyncNoopWhenPresent(t *testing.T) {
	sa := defaultServiceAccount("ns")
	cm, _ := rootCAConfigMap("ns", nil, []byte("PEM"))
	client, c := newFixture(namespace("ns", corev1.NamespaceActive), sa, cm)
	if err := c.sync(context.Background(), "ns"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d actions: %v", n, client.Actions())
	}
}
