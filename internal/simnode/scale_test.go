package simnode_test

import (
	"context"
	"fmt"
	"github.com/kijabi/kijabi/internal/simnode"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

type countingTransport struct {
	next  http.RoundTripper
	count *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.count.Add(1)
	return c.next.RoundTrip(r)
}

// TestScale runs KIJABI_SIMNODE_SCALE nodes (e.g. 1000) with ten pods each against the real
// API server and reports time, API requests and memory. It is opt-in: it takes minutes.
func TestScale(t *testing.T) {
	nodes, _ := strconv.Atoi(os.Getenv("KIJABI_SIMNODE_SCALE"))
	if nodes <= 0 {
		t.Skip("set KIJABI_SIMNODE_SCALE=<nodes> to run")
	}
	s := testserver.Start(t)
	cfg := rest.CopyConfig(s.Config)
	var requests atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, count: &requests} })
	cfg.QPS, cfg.Burst = 2000, 4000
	simClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := simnode.New(simnode.Config{Client: simClient, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	start := time.Now()
	testutil.Poll(t, 10*time.Minute, "all nodes Ready", func() (bool, error) {
		list, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if simnode.NodeReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == nodes, nil
	})
	t.Logf("%d nodes Ready after %v, %d requests", nodes, time.Since(start), requests.Load())

	start, before := time.Now(), requests.Load()
	pods := nodes * 10
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < pods; i += 8 {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i)},
					Spec: corev1.PodSpec{
						NodeName:   c.NodeNames()[i%nodes],
						Containers: []corev1.Container{{Name: "c", Image: "pause"}},
					},
				}
				if _, err := s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testutil.Poll(t, 10*time.Minute, "all pods Running", func() (bool, error) {
		list, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		running := 0
		for i := range list.Items {
			if list.Items[i].Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == pods, nil
	})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d pods Running after %v, %d requests by the nodes meanwhile; heap %d MiB (whole test process, server included), %d goroutines",
		pods, time.Since(start), requests.Load()-before, ms.HeapAlloc>>20, runtime.NumGoroutine())
}
