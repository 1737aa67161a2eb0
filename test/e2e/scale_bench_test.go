package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// BenchmarkControlLoopScale measures the control loop at scale with simulated nodes, each
// component in its own process as a user may run them: `kijabi server` and `kijabi simnode
// --nodes NODES` (default 1,000). It reports
//   - the scheduling throughput: PODS (default 10,000) bare pods pending for a second
//     scheduler (`kijabi scheduler --scheduler-name bench-scheduler`), then that scheduler
//     started, until the last is bound (pods-scheduled/s);
//   - bare pods created by 32 clients while the server's scheduler runs, from the first
//     create to the last binding (pods-created-and-scheduled/s);
//   - the time from creating a PODS-replica Deployment to all its pods Running;
//   - the server's RSS at that size.
//
// It also reports the CPU time the server, scheduler and simnode processes spent in each
// phase (steadier than wall-clock figures on a shared machine). NODES=5000 PODS=50000 gives
// the large configuration. With PROFILE_DIR set, the server's CPU profile of each phase (the
// first PROFILE_SECONDS, default 30), the second scheduler's, the server's request counts and
// its heap profile at the end are written there.
func BenchmarkControlLoopScale(b *testing.B) {
	nodes, pods := envInt("NODES", 1000), envInt("PODS", 10000)
	dir := b.TempDir()
	ports := freePortsB(b, 4)
	// A /24 per node: the default /16 holds 256 nodes, so use a /9 (32,768 nodes).
	server, _ := startCommand(b, "server", dir, ports[0], ports[1], ports[2], "--cluster-cidr", "10.128.0.0/9")
	kubeconfig := dir + "/kubeconfig.yaml"
	sim := exec.Command(testserver.Binary(b), "simnode", "--kubeconfig", kubeconfig, "--nodes", strconv.Itoa(nodes), "--log-level", "warn")
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	prof := newPhaseProfiler(b, c, server.Process.Pid, sim.Process.Pid)
	start := time.Now()
	pollTB(b, 10*time.Minute, "nodes to register", func() (bool, error) {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		return err == nil && len(list.Items) == nodes, nil
	})
	b.ReportMetric(time.Since(start).Seconds(), "s-nodes-registered")

	// Pods of a second scheduler, `kijabi scheduler --scheduler-name bench-scheduler`, wait
	// until it starts: the scheduling throughput is measured on them. Without leader
	// election, so that it starts at once.
	const benchScheduler = "bench-scheduler"
	var sched *exec.Cmd
	startScheduler := func() {
		args := []string{"scheduler", "--kubeconfig", kubeconfig, "--scheduler-name", benchScheduler, "--leader-elect=false", "--log-level", "warn"}
		if prof.dir != "" {
			args = append(args, "--pprof-address", fmt.Sprintf("127.0.0.1:%d", ports[3]))
		}
		sched = exec.Command(testserver.Binary(b), args...)
		sched.Stderr = os.Stderr
		if err := sched.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if sched.ProcessState == nil {
				sched.Process.Kill()
				sched.Wait()
			}
		})
	}
	bound := newBoundCounter(b, c, "default")
	clearPods := func() {
		if err := c.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
		}
		pollTB(b, 30*time.Minute, "bare pods gone", func() (bool, error) {
			list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
			return err == nil && len(list.Items) == 0, nil
		})
	}

	// Bare pods created as fast as 32 clients can while the server's scheduler runs: from
	// the first create to the last binding.
	prof.begin("bare")
	start = time.Now()
	createBarePods(b, c, "bare", "", pods)
	created := time.Since(start)
	bound.wait(b, "bare-", pods)
	el := time.Since(start)
	b.ReportMetric(float64(pods)/el.Seconds(), "pods-created-and-scheduled/s")
	b.ReportMetric(created.Seconds(), "s-create-bare")
	prof.end()
	clearPods()

	// A Deployment of PODS replicas, from create to all Running.
	prof.begin("deploy")
	start = time.Now()
	_, err = c.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(pods)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "big"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "big"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pollTB(b, 30*time.Minute, "deployment available", func() (bool, error) {
		d, err := c.AppsV1().Deployments("default").Get(ctx, "big", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == int32(pods), nil
	})
	b.ReportMetric(time.Since(start).Seconds(), "s-deployment-running")
	prof.end()
	prof.heap()
	b.ReportMetric(rssMiB(server.Process.Pid), "server-rss-MiB")
	// RssFile is mostly etcd's memory-mapped database; RssAnon the Go heap and stacks.
	b.ReportMetric(procStatus(server.Process.Pid)["RssFile"], "server-rss-file-MiB")
	b.ReportMetric(rssMiB(sim.Process.Pid), "simnode-rss-MiB")

	// The Deployment goes before the last phase (its figures above are taken as in earlier
	// runs, after the bare pods only).
	if err := c.AppsV1().Deployments("default").Delete(ctx, "big", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	pollTB(b, 30*time.Minute, "deployment's pods gone", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
		return err == nil && len(list.Items) == 0, nil
	})

	// Scheduling throughput proper: PODS pods pending, then their scheduler started; from
	// its start to the last binding (its start-up, listing the pods and nodes, included).
	start = time.Now()
	createBarePods(b, c, "pending", benchScheduler, pods)
	b.ReportMetric(float64(pods)/time.Since(start).Seconds(), "pods-created/s")
	prof.begin("pending")
	start = time.Now()
	startScheduler()
	schedProfile := prof.fetchLocal(fmt.Sprintf("http://127.0.0.1:%d", ports[3]), "scheduler.pending.cpu.pprof")
	bound.wait(b, "pending-", pods)
	b.ReportMetric(float64(pods)/time.Since(start).Seconds(), "pods-scheduled/s")
	b.ReportMetric(cpuSeconds(sched.Process.Pid), "scheduler-cpu-s-pending")
	schedProfile()
	prof.end()
	sched.Process.Kill()
	sched.Wait()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// phaseProfiler measures the CPU time of the server and simnode processes per phase, and
// with PROFILE_DIR set fetches the server's pprof profiles (GET /debug/pprof/..., as admin):
// consecutive CPU profiles of PROFILE_SECONDS (default 20) through each phase, PHASE.N.cpu.pprof
// (`go tool pprof -proto PHASE.*.cpu.pprof` merges them), and the heap at the end.
type phaseProfiler struct {
	b                 *testing.B
	c                 kubernetes.Interface
	server, sim       int
	dir               string
	seconds           int
	phase             string
	serverCPU, simCPU float64
	stop              chan struct{}
	wg                sync.WaitGroup
}

func newPhaseProfiler(b *testing.B, c kubernetes.Interface, server, sim int) *phaseProfiler {
	return &phaseProfiler{b: b, c: c, server: server, sim: sim, dir: os.Getenv("PROFILE_DIR"), seconds: envInt("PROFILE_SECONDS", 20)}
}

func (p *phaseProfiler) begin(phase string) {
	p.phase = phase
	p.serverCPU, p.simCPU = cpuSeconds(p.server), cpuSeconds(p.sim)
	if p.dir == "" {
		return
	}
	p.metrics(phase + ".begin.metrics.txt")
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for i := 0; ; i++ {
			p.fetch("profile", "seconds="+strconv.Itoa(p.seconds), fmt.Sprintf("%s.%02d.cpu.pprof", phase, i))
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}()
}

// end reports the phase's CPU time and waits for the profile in progress.
func (p *phaseProfiler) end() {
	p.b.ReportMetric(cpuSeconds(p.server)-p.serverCPU, "server-cpu-s-"+p.phase)
	p.b.ReportMetric(cpuSeconds(p.sim)-p.simCPU, "simnode-cpu-s-"+p.phase)
	if p.stop != nil {
		p.metrics(p.phase + ".end.metrics.txt")
		close(p.stop)
		p.wg.Wait()
		p.stop = nil
	}
}

func (p *phaseProfiler) heap() {
	if p.dir != "" {
		p.fetch("heap", "gc=1", "heap.pprof")
	}
}

// metrics saves the server's /metrics (request counts by verb and resource, among others).
func (p *phaseProfiler) metrics(file string) {
	data, err := p.c.CoreV1().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").Do(context.Background()).Raw()
	if err == nil {
		err = os.WriteFile(filepath.Join(p.dir, file), data, 0o644)
	}
	if err != nil {
		p.b.Logf("metrics: %v", err)
	}
}

func (p *phaseProfiler) fetch(name, query, file string) {
	req := p.c.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/"+name).SetHeader("Accept", "*/*").
		Timeout(time.Duration(p.seconds+60) * time.Second)
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		req = req.Param(k, v)
	}
	data, err := req.Do(context.Background()).Raw()
	if err == nil {
		err = os.WriteFile(filepath.Join(p.dir, file), data, 0o644)
	}
	if err != nil {
		p.b.Logf("profile %s: %v", name, err)
	}
}

// fetchLocal fetches, in the background, a CPU profile of PROFILE_SECONDS from the pprof
// endpoint of a process just started (retrying until it listens), into file; the function
// it returns waits for it. It does nothing without PROFILE_DIR.
func (p *phaseProfiler) fetchLocal(base, file string) func() {
	if p.dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, p.seconds)
		var data []byte
		err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			resp, err := http.Get(url)
			if err != nil {
				return false, nil // not listening yet
			}
			defer resp.Body.Close()
			data, err = io.ReadAll(resp.Body)
			return true, err
		})
		if err == nil {
			err = os.WriteFile(filepath.Join(p.dir, file), data, 0o644)
		}
		if err != nil {
			p.b.Logf("profile %s: %v", file, err)
		}
	}()
	return func() { <-done }
}

// cpuSeconds is the user+system CPU time a process has used so far.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start after the last ')'.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// pollEvery is pollTB checking every interval.
func pollEvery(b *testing.B, interval, timeout time.Duration, what string, cond func() (bool, error)) {
	b.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), interval, timeout, true, func(context.Context) (bool, error) {
		return cond()
	})
	if err != nil {
		b.Fatalf("waiting for %s: %v", what, err)
	}
}

// createBarePods creates n pods named PREFIX-NNNNNN in default, for the scheduler named
// scheduler ("" for the default one), from 32 clients at once.
func createBarePods(b *testing.B, c kubernetes.Interface, prefix, scheduler string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := c.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%06d", prefix, i)},
					Spec: corev1.PodSpec{SchedulerName: scheduler, Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resourceQ("10m")}}}}},
				}, metav1.CreateOptions{})
				if err != nil {
					b.Errorf("create: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// boundCounter follows a namespace's pods through an informer (one watch, decoded in the
// benchmark's process) and counts those bound to a node: cheaper for the server than
// listing every pod again and again.
type boundCounter struct {
	mu    sync.Mutex
	bound map[string]bool
}

func newBoundCounter(b *testing.B, c kubernetes.Interface, namespace string) *boundCounter {
	bc := &boundCounter{bound: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	set := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			bc.mu.Lock()
			if p.Spec.NodeName != "" {
				bc.bound[p.Name] = true
			}
			bc.mu.Unlock()
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				bc.mu.Lock()
				delete(bc.bound, p.Name)
				bc.mu.Unlock()
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	b.Cleanup(func() {
		close(stop)
		factory.Shutdown()
	})
	return bc
}

// wait returns once n pods named PREFIX... are bound.
func (bc *boundCounter) wait(b *testing.B, prefix string, n int) {
	pollEvery(b, 20*time.Millisecond, 30*time.Minute, "all pods bound", func() (bool, error) {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		count := 0
		for name := range bc.bound {
			if strings.HasPrefix(name, prefix) {
				count++
			}
		}
		return count >= n, nil
	})
}
