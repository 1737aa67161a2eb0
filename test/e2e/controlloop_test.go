package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestDeploymentLifecycle drives the whole control loop the seed describes with the real
// kubectl: kubectl → API server → deployment controller → replicaset controller → scheduler →
// (simulated) kubelets → status back through the API.
func TestDeploymentLifecycle(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 3})
	ctx := context.Background()
	s.MustKubectl(t, "create", "deployment", "web", "--image=kijabi.local/busybox:v1", "--replicas=3")
	s.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	pods := runningPods(t, s, "app=web")
	if len(pods) != 3 {
		t.Fatalf("want 3 running pods, got %d", len(pods))
	}
	nodes := map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.PodIP == "" {
			t.Fatalf("pod %s not placed: node %q ip %q", p.Name, p.Spec.NodeName, p.Status.PodIP)
		}
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) < 2 {
		t.Errorf("3 replicas landed on %d node(s); the scheduler should spread them", len(nodes))
	}

	// A rolling update with the default 25%/25%: at most 4 pods, at least 2 available, at
	// every sample.
	var mu sync.Mutex
	var violations []string
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			list, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				continue
			}
			total, ready := 0, 0
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodRunning {
					continue
				}
				total++
				if podReady(&p) && p.DeletionTimestamp == nil {
					ready++
				}
			}
			mu.Lock()
			if total > 4 {
				violations = append(violations, "total pods "+strconv.Itoa(total))
			}
			if ready < 2 {
				violations = append(violations, "ready pods "+strconv.Itoa(ready))
			}
			mu.Unlock()
		}
	}()
	s.MustKubectl(t, "set", "image", "deployment/web", "busybox=kijabi.local/busybox:v2")
	s.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	close(stop)
	<-sampled
	if len(violations) > 0 {
		t.Fatalf("rolling update broke maxSurge/maxUnavailable: %v", violations[:min(5, len(violations))])
	}
	if out := s.MustKubectl(t, "get", "deployment/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); out != "kijabi.local/busybox:v2" {
		t.Fatalf("image after set image: %q", out)
	}
	history := s.MustKubectl(t, "rollout", "history", "deployment/web")
	if !strings.Contains(history, "1 ") || !strings.Contains(history, "2 ") {
		t.Fatalf("rollout history:\n%s", history)
	}
	s.MustKubectl(t, "rollout", "undo", "deployment/web")
	s.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	if out := s.MustKubectl(t, "get", "deployment/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); out != "kijabi.local/busybox:v1" {
		t.Fatalf("image after undo: %q", out)
	}
	for _, p := range runningPods(t, s, "app=web") {
		if p.Spec.Containers[0].Image != "kijabi.local/busybox:v1" {
			t.Fatalf("pod %s still runs %s after undo", p.Name, p.Spec.Containers[0].Image)
		}
	}

	s.MustKubectl(t, "scale", "deployment/web", "--replicas=5")
	s.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	poll(t, 30*time.Second, "5 running pods", func() (bool, error) { return len(runningPods(t, s, "app=web")) == 5, nil })
	s.MustKubectl(t, "scale", "deployment/web", "--replicas=1")
	poll(t, 30*time.Second, "1 pod left", func() (bool, error) {
		list, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		return err == nil && len(list.Items) == 1, nil
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func runningPods(t *testing.T, s *testserver.Server, selector string) []corev1.Pod {
	t.Helper()
	list, err := s.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestUnschedulableThenScheduled: a pod that fits nowhere reports why, in the scheduler's
// words, and is scheduled as soon as a fitting node appears.
func TestUnschedulableThenScheduled(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 2})
	ctx := context.Background()
	poll(t, 30*time.Second, "2 ready nodes", func() (bool, error) {
		nodes, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(nodes.Items) == 2, nil
	})
	s.MustKubectl(t, "run", "big", "--image=kijabi.local/busybox", "--overrides",
		`{"spec":{"containers":[{"name":"big","image":"kijabi.local/busybox","resources":{"requests":{"cpu":"100"}}}]}}`)
	poll(t, 30*time.Second, "FailedScheduling event", func() (bool, error) {
		out := s.Kubectl(t, "get", "events", "--field-selector", "involvedObject.name=big,reason=FailedScheduling", "-o", "jsonpath={.items[*].message}").Stdout
		return strings.Contains(out, "0/2 nodes are available: 2 Insufficient cpu."), nil
	})
	desc := s.MustKubectl(t, "describe", "pod", "big")
	if !strings.Contains(desc, "FailedScheduling") || !strings.Contains(desc, "Insufficient cpu") {
		t.Fatalf("describe does not explain:\n%s", desc)
	}
	// A node big enough arrives.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "huge", Labels: map[string]string{"kubernetes.io/hostname": "huge"}}}
	created, err := s.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Node IPAM may write the new node at the same time: retry on conflicts, as a kubelet does.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status = corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resourceQ("128"), corev1.ResourceMemory: resourceQ("512Gi"), corev1.ResourcePods: resourceQ("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resourceQ("128"), corev1.ResourceMemory: resourceQ("512Gi"), corev1.ResourcePods: resourceQ("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		}
		_, err = s.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "pod bound to the new node", func() (bool, error) {
		p, err := s.Client.CoreV1().Pods("default").Get(ctx, "big", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "huge", nil
	})
	// The scheduler's events are events.k8s.io/v1 Events, as kube-scheduler's: describe
	// shows who reported them from the reporting controller.
	poll(t, 30*time.Second, "Scheduled event in describe", func() (bool, error) {
		desc := s.MustKubectl(t, "describe", "pod", "big")
		return regexp.MustCompile(`Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default/big to huge`).MatchString(desc), nil
	})
}

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }

// TestCascadingDeletion: deleting a Deployment takes its ReplicaSets and pods with it
// (garbage collector); deleting a namespace removes everything in it (namespace controller);
// a new namespace gets its default ServiceAccount and CA bundle; a Service's endpoints follow
// its ready pods.
func TestCascadingDeletion(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 2})
	ctx := context.Background()
	s.MustKubectl(t, "create", "namespace", "shop")
	poll(t, 30*time.Second, "default ServiceAccount and kube-root-ca.crt", func() (bool, error) {
		_, err1 := s.Client.CoreV1().ServiceAccounts("shop").Get(ctx, "default", metav1.GetOptions{})
		_, err2 := s.Client.CoreV1().ConfigMaps("shop").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err1 == nil && err2 == nil, nil
	})
	s.MustKubectl(t, "-n", "shop", "create", "deployment", "cart", "--image=kijabi.local/busybox", "--replicas=2", "--port=80")
	s.MustKubectl(t, "-n", "shop", "expose", "deployment", "cart", "--port=80")
	s.MustKubectl(t, "-n", "shop", "rollout", "status", "deployment/cart", "--timeout=60s")
	poll(t, 30*time.Second, "endpoints of the service", func() (bool, error) {
		out := s.Kubectl(t, "-n", "shop", "get", "endpointslices", "-l", "kubernetes.io/service-name=cart",
			"-o", "jsonpath={.items[*].endpoints[*].addresses[0]}").Stdout
		return len(strings.Fields(out)) == 2, nil
	})
	s.MustKubectl(t, "-n", "shop", "delete", "deployment", "cart")
	poll(t, 30*time.Second, "replicasets and pods collected", func() (bool, error) {
		rs, _ := s.Client.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{})
		pods, _ := s.Client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		return rs != nil && pods != nil && len(rs.Items) == 0 && len(pods.Items) == 0, nil
	})
	s.MustKubectl(t, "-n", "shop", "create", "configmap", "settings", "--from-literal=a=b")
	s.MustKubectl(t, "delete", "namespace", "shop", "--timeout=60s")
	if r := s.Kubectl(t, "get", "namespace", "shop"); r.Err == nil {
		t.Fatalf("namespace still there after delete --wait:\n%s", r.Stdout)
	}
	cms, _ := s.Client.CoreV1().ConfigMaps("shop").List(ctx, metav1.ListOptions{})
	if len(cms.Items) != 0 {
		t.Fatalf("namespace content left behind: %d configmaps", len(cms.Items))
	}
}
