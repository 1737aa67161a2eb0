package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// BenchmarkPodStartup runs `kijabi server --disable-agent` and `kijabi agent` (kubelet on
// its embedded containerd) as separate processes and measures pod startup latency —
// create to Running, as a watch sees it — for single pods one after another and for a
// batch of 30 created at once (image already present), then the agent's and containerd's
// memory with 50 pods running. It runs twice: "kubelet" is an agent with
// --disable-network-addons (the kubelet alone), "agent" the whole agent (kubelet, service
// proxy, cluster DNS, ingress controller, load-balancer announcer).
//
// Besides VmRSS it reports its anonymous and file-backed parts (the latter is mostly the
// binary's text the process touched) and the Go heap in use. With KIJABI_BENCH_PROFILES=DIR
// it saves the agent's CPU profile during the batch and its heap profile at the end there.
func BenchmarkPodStartup(b *testing.B) {
	b.Run("kubelet", func(b *testing.B) { benchPodStartup(b, "--disable-network-addons") })
	b.Run("agent", func(b *testing.B) { benchPodStartup(b) })
}

func benchPodStartup(b *testing.B, agentArgs ...string) {
	dir := b.TempDir()
	ports := freePortsB(b, 5)
	startCommand(b, "server", dir, ports[0], ports[1], ports[2], "--cluster-cidr", "10.251.0.0/16")
	// A client of its own: startCommand's has a 2 s timeout, which would cut the watches.
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	rc.QPS, rc.Burst = 100, 200
	client := kubernetes.NewForConfigOrDie(rc)
	agentDir := filepath.Join(dir, "node")
	pprofAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[4]))
	agent := exec.Command(testserver.Binary(b), append([]string{"agent", "--kubeconfig", filepath.Join(dir, "kubeconfig.yaml"),
		"--data-dir", agentDir, "--kubelet-port", strconv.Itoa(ports[3]), "--cni-bridge", "kjbbench",
		"--node-ip", "127.0.0.1", "--log-level", "warn", "--pprof-address", pprofAddr}, agentArgs...)...)
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Cleanup(func() {
		// The kubelet removes the pods' containers; an agent that stops keeps them.
		_ = client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}, metav1.ListOptions{})
		pollTB(b, 2*time.Minute, "the pods to be removed", func() (bool, error) {
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err == nil && len(pods.Items) == 0, nil
		})
		agent.Process.Signal(os.Interrupt)
		agent.Wait()
		exec.Command("ip", "link", "del", "kjbbench").Run()
	})
	waitNodeReady(b, client)
	// Warm up: the first pod pays for the first CNI call.
	startPods(b, client, "warm", 1)

	var single []time.Duration
	for i := 0; i < 10; i++ {
		single = append(single, startPods(b, client, fmt.Sprintf("single-%d", i), 1)...)
	}
	profiles := os.Getenv("KIJABI_BENCH_PROFILES")
	profiled := make(chan struct{})
	if profiles != "" {
		go func() {
			defer close(profiled)
			saveProfile(b, pprofAddr, "profile?seconds=5", filepath.Join(profiles, b.Name()+"-batch.cpu.pprof"))
		}()
	} else {
		close(profiled)
	}
	batch := startPods(b, client, "batch", 30)
	<-profiled
	startPods(b, client, "fill", 50-30-11)
	p50s, p99s := percentiles(single)
	p50b, p99b := percentiles(batch)
	b.ReportMetric(p50s.Seconds()*1000, "single-p50-ms")
	b.ReportMetric(p99s.Seconds()*1000, "single-p99-ms")
	b.ReportMetric(p50b.Seconds()*1000, "batch30-p50-ms")
	b.ReportMetric(p99b.Seconds()*1000, "batch30-p99-ms")
	mem := settledStatus(agent.Process.Pid, 40*time.Second)
	b.ReportMetric(mem["VmRSS"], "agent-MiB")
	b.ReportMetric(mem["RssAnon"], "agent-anon-MiB")
	b.ReportMetric(mem["RssFile"], "agent-file-MiB")
	if heap := goHeapInuse(pprofAddr); heap > 0 {
		b.ReportMetric(heap, "agent-heap-MiB")
	}
	if profiles != "" {
		saveProfile(b, pprofAddr, "heap", filepath.Join(profiles, b.Name()+"-50pods.heap.pprof"))
	}
	pid, _ := os.ReadFile(filepath.Join(agentDir, "agent", "containerd", "containerd.pid"))
	if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
		b.ReportMetric(rssMiB(n), "containerd-MiB")
	}
}

// procStatus reads the memory lines of /proc/PID/status, in MiB.
func procStatus(pid int) map[string]float64 {
	out := map[string]float64{}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			out[strings.TrimSuffix(f[0], ":")] = kb / 1024
		}
	}
	return out
}

// goHeapInuse is the agent's HeapInuse in MiB, from its pprof endpoint.
func goHeapInuse(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n / (1 << 20)
		}
	}
	return 0
}

// saveProfile fetches /debug/pprof/WHAT from the agent into file.
func saveProfile(b *testing.B, addr, what, file string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + what)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.MkdirAll(filepath.Dir(file), 0o755)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Logf("profile %s: %v", what, err)
	}
}

// startPods creates n pods at once and returns each one's create→Running latency.
func startPods(b *testing.B, client kubernetes.Interface, prefix string, n int) []time.Duration {
	ctx := context.Background()
	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	created := map[string]time.Time{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		created[name] = time.Now()
		_, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers:                    []corev1.Container{{Name: "c", Image: busybox, Command: []string{"sleep", "3600"}}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
	var out []time.Duration
	done := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	for len(done) < n {
		select {
		case ev, open := <-w.ResultChan():
			if !open {
				b.Fatalf("the pod watch ended after %d of %d %s pods", len(done), n, prefix)
			}
			if ev.Type == watch.Error {
				b.Fatalf("pod watch: %v", ev.Object)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if t, mine := created[p.Name]; mine && !done[p.Name] && p.Status.Phase == corev1.PodRunning {
				done[p.Name] = true
				out = append(out, time.Since(t))
			}
		case <-timeout:
			for name := range created {
				if !done[name] {
					p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
					if err == nil {
						b.Logf("%s: node %q phase %s conditions %+v statuses %+v", name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
					}
				}
			}
			b.Fatalf("%d of %d %s pods Running after 2 minutes", len(done), n, prefix)
		}
	}
	return out
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[(len(d)*99+99)/100-1]
}
