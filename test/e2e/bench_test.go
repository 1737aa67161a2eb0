package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/server"
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

// rssMiB reads a process's resident set size.
func rssMiB(pid int) float64 { return procStatus(pid)["VmRSS"] }

// settledStatus waits (up to within) until a kijabi process has paged out the binary's
// start-up pages (see internal/procmem; its passes run 2 s and 30 s after start), so that
// figures show what it keeps, and returns its /proc status memory lines in MiB.
func settledStatus(pid int, within time.Duration) map[string]float64 {
	deadline := time.Now().Add(within)
	for {
		m := procStatus(pid)
		if m["RssFile"] < 40 || time.Now().After(deadline) {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkAPIThroughput runs `kijabi apiserver` as its own process (embedded etcd with fsync,
// no controllers or scheduler, so only the API is measured)
// and drives create, get, list, update and delete phases over 5,000 pods with CLIENTS
// concurrent clients (default 16), with 100 watchers on the namespace during the update phase.
// It reports throughput, latency percentiles, watch delivery delay and the server's RSS.
func BenchmarkAPIThroughput(b *testing.B) {
	clients := 16
	if c, err := strconv.Atoi(os.Getenv("CLIENTS")); err == nil && c > 0 {
		clients = c
	}
	const objects, watchers = 5000, 100
	dir := b.TempDir()
	ports := freePortsB(b, 3)
	cmd := startAPIServerB(b, dir, ports)
	cfg, err := clientcmd.BuildConfigFromFlags("", dir+"/kubeconfig.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c := kubernetes.NewForConfigOrDie(cfg)
	// Each client has its own connection, as separate client processes have (CONNECTIONS=1:
	// all share one, as the goroutines of one client-go program do). client-go shares one
	// transport between equal configurations; a dialer of their own gives each its own.
	conns := clients
	if n, err := strconv.Atoi(os.Getenv("CONNECTIONS")); err == nil && n > 0 {
		conns = min(n, clients)
	}
	b.ReportMetric(float64(conns), "connections")
	clientPods := make([]typedcorev1.PodInterface, conns)
	for i := range clientPods {
		ccfg := rest.CopyConfig(cfg)
		if conns > 1 {
			ccfg.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
		}
		clientPods[i] = kubernetes.NewForConfigOrDie(ccfg).CoreV1().Pods("default")
	}
	ctx := context.Background()
	idle := settledStatus(cmd.Process.Pid, 10*time.Second)
	b.ReportMetric(idle["VmRSS"], "idle-rss-MiB")
	b.ReportMetric(idle["RssAnon"], "idle-anon-MiB")
	pods := c.CoreV1().Pods("default")
	pod := func(i int) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox:latest"}}}}
	}
	// phase runs op for 0 ≤ i < n from the clients; op is given its client's pods.
	phase := func(name string, n int, op func(pods typedcorev1.PodInterface, i int) error) {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func(pods typedcorev1.PodInterface) {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					t0 := time.Now()
					if err := op(pods, i); err != nil {
						b.Errorf("%s %d: %v", name, i, err)
						return
					}
					lat[i] = time.Since(t0)
				}
			}(clientPods[w%conns])
		}
		wg.Wait()
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(n)/el.Seconds(), name+"/s")
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	for iter := 0; iter < b.N; iter++ {
		createProf := profileServer(b, c, "create", 2)
		phase("create", objects, func(pods typedcorev1.PodInterface, i int) error {
			_, err := pods.Create(ctx, pod(i), metav1.CreateOptions{})
			return err
		})
		<-createProf
		b.ReportMetric(rssMiB(cmd.Process.Pid), "rss-5k-pods-MiB")
		getProf := profileServer(b, c, "get", 1)
		phase("get", objects, func(pods typedcorev1.PodInterface, i int) error {
			_, err := pods.Get(ctx, fmt.Sprintf("p-%05d", i), metav1.GetOptions{})
			return err
		})
		<-getProf
		phase("list", 50, func(pods typedcorev1.PodInterface, i int) error {
			_, err := pods.List(ctx, metav1.ListOptions{})
			return err
		})
		phase("list500", 100, func(pods typedcorev1.PodInterface, i int) error {
			_, err := pods.List(ctx, metav1.ListOptions{Limit: 500})
			return err
		})

		// 100 watchers follow the namespace through the update phase; each must see every
		// update, in order.
		list, _ := pods.List(ctx, metav1.ListOptions{Limit: 1})
		var acked sync.Map // resourceVersion → ack time
		delays := make([][]time.Duration, watchers)
		var wwg sync.WaitGroup
		wctx, cancel := context.WithCancel(ctx)
		ready := make(chan struct{}, watchers)
		for w := 0; w < watchers; w++ {
			wi, err := pods.Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
			if err != nil {
				b.Fatal(err)
			}
			ready <- struct{}{}
			wwg.Add(1)
			go func(w int, wi watch.Interface) {
				defer wwg.Done()
				defer wi.Stop()
				last := int64(0)
				for len(delays[w]) < objects {
					ev, ok := <-wi.ResultChan()
					if !ok {
						b.Errorf("watcher %d closed after %d events", w, len(delays[w]))
						return
					}
					p, isPod := ev.Object.(*corev1.Pod)
					if !isPod || ev.Type != watch.Modified {
						continue
					}
					rv, _ := strconv.ParseInt(p.ResourceVersion, 10, 64)
					if rv <= last {
						b.Errorf("watcher %d: out of order %d after %d", w, rv, last)
					}
					last = rv
					now := time.Now()
					var d time.Duration
					if at, ok := acked.Load(p.ResourceVersion); ok {
						d = now.Sub(at.(time.Time))
					}
					delays[w] = append(delays[w], max(d, 0))
				}
			}(w, wi)
		}
		profileDone := profileServer(b, c, "update", 10)
		phase("update", objects, func(pods typedcorev1.PodInterface, i int) error {
			p, err := pods.Get(ctx, fmt.Sprintf("p-%05d", i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Labels["v"] = "2"
			out, err := pods.Update(ctx, p, metav1.UpdateOptions{})
			if err == nil {
				acked.Store(out.ResourceVersion, time.Now())
			}
			return err
		})
		wwg.Wait()
		cancel()
		<-profileDone
		var all []time.Duration
		for _, d := range delays {
			all = append(all, d...)
		}
		if len(all) > 0 {
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "watch-delay-p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "watch-delay-p99-ms")
		}
		phase("create-more", objects, func(pods typedcorev1.PodInterface, i int) error {
			_, err := pods.Create(ctx, pod(objects+i), metav1.CreateOptions{})
			return err
		})
		mem := procStatus(cmd.Process.Pid)
		if prefix := os.Getenv("BENCH_PROFILE"); prefix != "" {
			// Which mappings the resident pages belong to.
			if smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", cmd.Process.Pid)); err == nil {
				_ = os.WriteFile(prefix+"-10k.smaps", smaps, 0o644)
			}
		}
		b.ReportMetric(mem["VmRSS"], "rss-10k-pods-MiB")
		b.ReportMetric(mem["RssAnon"], "anon-10k-pods-MiB")
		<-profileServer(b, c, "heap", 0)
		phase("delete", 2*objects, func(pods typedcorev1.PodInterface, i int) error {
			return pods.Delete(ctx, fmt.Sprintf("p-%05d", i), metav1.DeleteOptions{})
		})
	}
}

// profileServer captures a CPU profile of the server over the given seconds (a heap profile
// when seconds is 0) into $BENCH_PROFILE-<phase>.pprof when BENCH_PROFILE is set; the
// returned channel closes when done.
func profileServer(b *testing.B, c kubernetes.Interface, phase string, seconds int) <-chan struct{} {
	done := make(chan struct{})
	path := os.Getenv("BENCH_PROFILE")
	if path == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		req := c.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds))
		if seconds == 0 {
			req = c.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap")
		}
		data, err := req.DoRaw(context.Background())
		if err != nil {
			b.Logf("profile: %v", err)
			return
		}
		os.WriteFile(path+"-"+phase+".pprof", data, 0o644)
		if seconds == 0 {
			// The text form ends with the runtime's memory statistics.
			if text, err := c.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("debug", "1").DoRaw(context.Background()); err == nil {
				if i := strings.Index(string(text), "# runtime.MemStats"); i >= 0 {
					os.WriteFile(path+"-memstats.txt", text[i:], 0o644)
				}
			}
		}
	}()
	return done
}
