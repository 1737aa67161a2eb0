package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/server"
	"github.com/kijabi/kijabi/internal/testserver"
)

// BenchmarkStartToReady measures `kijabi server` start-up (embedded etcd, certificates, API)
// on a fresh data dir, until the first request succeeds.
func BenchmarkStartToReady(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		start := time.Now()
		r, err := server.Start(context.Background(), server.Config{DataDir: dir, BindAddress: "127.0.0.1",
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		cfg, _ := r.RESTConfig()
		c := kubernetes.NewForConfigOrDie(cfg)
		if _, err := c.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/ready")
		r.Stop()
	}
}

// BenchmarkAPIThroughput runs create, get, list, update and delete phases over 5,000 pods with
// 16 concurrent clients and reports per-phase throughput and latency percentiles.
func BenchmarkAPIThroughput(b *testing.B) {
	const objects, clients = 5000, 16
	s := testserver.Start(b)
	cfg := rest.CopyConfig(s.Config)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	pods := c.CoreV1().Pods("default")
	pod := func(i int) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox:latest"}}}}
	}
	phase := func(name string, n int, op func(i int) error) {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					t0 := time.Now()
					if err := op(i); err != nil {
						b.Errorf("%s %d: %v", name, i, err)
						return
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(n)/el.Seconds(), name+"/s")
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	for iter := 0; iter < b.N; iter++ {
		phase("create", objects, func(i int) error { _, err := pods.Create(ctx, pod(i), metav1.CreateOptions{}); return err })
		phase("get", objects, func(i int) error { _, err := pods.Get(ctx, fmt.Sprintf("p-%05d", i), metav1.GetOptions{}); return err })
		phase("list500", 100, func(i int) error {
			_, err := pods.List(ctx, metav1.ListOptions{Limit: 500})
			return err
		})
		phase("update", objects, func(i int) error {
			p, err := pods.Get(ctx, fmt.Sprintf("p-%05d", i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Labels["v"] = "2"
			_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		})
		phase("delete", objects, func(i int) error { return pods.Delete(ctx, fmt.Sprintf("p-%05d", i), metav1.DeleteOptions{}) })
	}
}
