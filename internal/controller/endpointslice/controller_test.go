package endpointslice

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

type fixture struct {
	client *fake.Clientset
	c      *Controller
}

func newFixture(objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	pods, svcs, nodeInf, slices := f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Nodes(), f.Discovery().V1().EndpointSlices()
	c := New(client, pods, svcs, nodeInf, slices)
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Pod:
			_ = pods.Informer().GetIndexer().Add(o)
		case *corev1.Service:
			_ = svcs.Informer().GetIndexer().Add(o)
		case *corev1.Node:
			_ = nodeInf.Informer().GetIndexer().Add(o)
		case *discoveryv1.EndpointSlice:
			_ = slices.Informer().GetIndexer().Add(o)
		}
	}
	n := 0
	client.PrependReactor("create", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if s.Name == "" {
			n++
			s.Name = fmt.Sprintf("%s%05d", s.GenerateName, n)
		}
		return false, nil, nil
	})
	client.ClearActions()
	return &fixture{client: client, c: c}
}

func node1() *corev1.Node {
	n, _ := nodes("n1")
	return n
}

func TestSyncCreatesSlice(t *testing.T) {
	f := newFixture(mkService(), node1(), mkPod("a", "10.1.0.1"), mkPod("b", "10.1.0.2"), mkPod("c", "10.1.0.3", notReady))
	if err := f.c.sync(context.Background(), "ns/svc"); err != nil {
		t.Fatal(err)
	}
	list, err := f.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Endpoints) != 3 {
		t.Fatalf("slices %+v", list.Items)
	}
	ready := 0
	for _, ep := range list.Items[0].Endpoints {
		if *ep.Conditions.Ready {
			ready++
		}
	}
	if ready != 2 {
		t.Errorf("%d ready endpoints, want 2", ready)
	}
}

func TestSyncLeavesSelectorlessServices(t *testing.T) {
	svc := mkService(func(s *corev1.Service) { s.Spec.Selector = nil })
	f := newFixture(svc, node1(), mkPod("a", "10.1.0.1"))
	if err := f.c.sync(context.Background(), "ns/svc"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.client.Actions()); n != 0 {
		t.Errorf("%d actions, want none: %v", n, f.client.Actions())
	}
}

func TestSyncWaitsForStaleCache(t *testing.T) {
	f := newFixture(mkService(), node1(), mkPod("a", "10.1.0.1"))
	if err := f.c.sync(context.Background(), "ns/svc"); err != nil {
		t.Fatal(err)
	}
	// The informer has not seen the created slice yet: a second sync must not create another.
	if err := f.c.sync(context.Background(), "ns/svc"); err != errStaleCache {
		t.Fatalf("second sync: %v, want stale cache", err)
	}
	list, _ := f.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Errorf("%d slices", len(list.Items))
	}
}
