package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// Two components share the informers: one ending its term (Shutdown) drops its handlers but
// stops nothing the other reads, and a later term can add the same index again.
func TestSharedInformerSessions(t *testing.T) {
	client := fake.NewClientset()
	stop := make(chan struct{})
	shared := newSharedInformers(informers.NewSharedInformerFactory(client, 0), stop)
	defer func() { close(stop); shared.wait() }()
	ctx := context.Background()

	count := func(f informers.SharedInformerFactory) *atomic.Int32 {
		var n atomic.Int32
		if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { n.Add(1) },
		}); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	index := cache.Indexers{"byNode": func(obj any) ([]string, error) { return []string{obj.(*corev1.Pod).Spec.NodeName}, nil }}
	createPod := func(name string) {
		t.Helper()
		if _, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, n *atomic.Int32, want int32) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return n.Load() == want, nil
		})
		if err != nil {
			t.Fatalf("%s: saw %d pods, want %d", what, n.Load(), want)
		}
	}

	a, b := shared.session(), shared.session()
	seenA, seenB := count(a), count(b)
	if err := a.Core().V1().Pods().Informer().AddIndexers(index); err != nil {
		t.Fatal(err)
	}
	a.Start(nil)
	b.Start(nil)
	a.WaitForCacheSync(stop)
	createPod("one")
	waitFor("a", seenA, 1)
	waitFor("b", seenB, 1)

	// a's term ends and a new one begins with the same code.
	a.Shutdown()
	createPod("two")
	waitFor("b after a's shutdown", seenB, 2)
	if n := seenA.Load(); n != 1 {
		t.Errorf("a's old handler saw %d pods after Shutdown, want 1", n)
	}
	again := count(a)
	if err := a.Core().V1().Pods().Informer().AddIndexers(index); err != nil {
		t.Errorf("adding the same index in a new term: %v", err)
	}
	a.Start(nil)
	waitFor("a's new handler (replayed)", again, 2)
	if objs, err := a.Core().V1().Pods().Informer().GetIndexer().ByIndex("byNode", ""); err != nil || len(objs) != 2 {
		t.Errorf("index: %d pods, %v", len(objs), err)
	}
}
