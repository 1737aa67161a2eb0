package endpoints

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
	pods, svcs, eps := f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Endpoints()
	c := New(client, pods, svcs, eps)
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Pod:
			_ = pods.Informer().GetIndexer().Add(o)
		case *corev1.Service:
			_ = svcs.Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			_ = eps.Informer().GetIndexer().Add(o)
		}
	}
	client.ClearActions()
	return client, c
}

func TestSyncCreatesEndpoints(t *testing.T) {
	client, c := newFixture(mkService(), mkPod("a", "10.1.0.1"), mkPod("b", "10.1.0.2", notReady))
	if err := c.sync(context.Background(), "ns/svc"); err != nil {
		t.Fatal(err)
	}
	ep, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "svc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || ips(ep.Subsets[0].Addresses) != "[10.1.0.1]" || ips(ep.Subsets[0].NotReadyAddresses) != "[10.1.0.2]" {
		t.Errorf("subsets %+v", ep.Subsets)
	}
}

func TestSyncDeletesEndpointsOfDeletedService(t *testing.T) {
	client, c := newFixture(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns"}})
	if err := c.sync(context.Background(), "ns/gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "gone", metav1.GetOptions{}); err == nil {
		t.Error("endpoints of a deleted service kept")
	}
}

func TestSyncLeavesAPIServerEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}}
	client, c := newFixture(ep)
	if err := c.sync(context.Background(), "default/kubernetes"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d actions on default/kubernetes", n)
	}
}

func TestSyncLeavesSelectorlessServices(t *testing.T) {
	svc := mkService(func(s *corev1.Service) { s.Spec.Selector = nil })
	client, c := newFixture(svc, mkPod("a", "10.1.0.1"))
	if err := c.sync(context.Background(), "ns/svc"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d actions", n)
	}
}
