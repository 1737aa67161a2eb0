package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// NODES=5000 PODS=50000 gives the large configuration.
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
	start := time.Now()
	pollTB(b, 10*time.Minute, "nodes to register", func() (bool, error) {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		return err == nil && len(list.Items) == nodes, nil
	})
	b.ReportMetric(time.Since(start).Seconds(), "s-nodes-registered")

	// Bare pods: created as fast as 32 clients can, timed from the first create to the last
	// binding.
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
	pollTB(b, 30*time.Minute, "all pods bound", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", FieldSelector: "spec.nodeName="})
		return err == nil && len(list.Items) == 0, nil
	})
	el := time.Since(start)
	b.ReportMetric(float64(pods)/el.Seconds(), "pods-scheduled/s")
	b.ReportMetric(created.Seconds(), "s-create-bare")
	if err := c.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	pollTB(b, 30*time.Minute, "bare pods gone", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
		return err == nil && len(list.Items) == 0, nil
	})

	// A Deployment of PODS replicas, from create to all Running.
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
	b.ReportMetric(rssMiB(server.Process.Pid), "server-rss-MiB")
	b.ReportMetric(rssMiB(sim.Process.Pid), "simnode-rss-MiB")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
