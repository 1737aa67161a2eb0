package e2e

import (
	"bytes"
	"context"
	"fmt"
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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// BenchmarkControlLoopScale measures the control loop at scale with simulated nodes, each
// component in its own process as a user would run them: `kijabi server` and
// `kijabi simnode --nodes NODES` (default 1,000). It reports
//   - scheduling throughput for PODS (default 10,000) bare pending pods,
//   - the time from creating a PODS-replica Deployment to all its pods Running,
//   - the server's RSS at that size.
//
// It also reports the CPU time the server and simnode processes spent in each phase (steadier
// than wall-clock figures on a shared machine). NODES=5000 PODS=50000 gives the large
// configuration. With PROFILE_DIR set, the server's CPU profile of each phase (the first
// PROFILE_SECONDS, default 30) and its heap profile at the end are written there.
func BenchmarkControlLoopScale(b *testing.B) {
	nodes, pods := envInt("NODES", 1000), envInt("PODS", 10000)
	dir := b.TempDir()
	ports := freePortsB(b, 3)
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

	// Bare pods: created as fast as 32 clients can, timed from the first create to the last
	// binding.
	prof.begin("bare")
	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= pods {
					return
				}
				_, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%06d", i)},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resourceQ("10m")}}}}},
				}, metav1.CreateOptions{})
				if err != nil {
					b.Errorf("create: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	// Each check lists every pod in the server, so look five times a second rather than
	// fifty: the server's CPU goes to the work being measured.
	pollEvery(b, 200*time.Millisecond, 30*time.Minute, "all pods bound", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", FieldSelector: "spec.nodeName="})
		return err == nil && len(list.Items) == 0, nil
	})
	el := time.Since(start)
	b.ReportMetric(float64(pods)/el.Seconds(), "pods-scheduled/s")
	b.ReportMetric(created.Seconds(), "s-create-bare")
	prof.end()
	if err := c.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	pollTB(b, 30*time.Minute, "bare pods gone", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
		return err == nil && len(list.Items) == 0, nil
	})

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
