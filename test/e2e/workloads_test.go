package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/simnode"
	"github.com/kijabi/kijabi/internal/testserver"
)

func apply(t *testing.T, s *testserver.Server, manifest string) {
	t.Helper()
	r := s.KubectlIn(t, strings.NewReader(manifest), nil, "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}

// TestDaemonSetStatefulSetJob covers the other workload controllers end to end, through
// kubectl, on simulated nodes.
func TestDaemonSetStatefulSetJob(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 3})
	ctx := context.Background()
	poll(t, 30*time.Second, "3 nodes", func() (bool, error) {
		n, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(n.Items) == 3, nil
	})
	s.MustKubectl(t, "taint", "node", "sim-0002", "dedicated=db:NoSchedule")

	t.Run("DaemonSet", func(t *testing.T) {
		apply(t, s, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: kijabi.local/busybox}]
`)
		s.MustKubectl(t, "rollout", "status", "daemonset/agent", "--timeout=60s")
		nodes := func() map[string]bool {
			out := s.MustKubectl(t, "get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}")
			m := map[string]bool{}
			for _, n := range strings.Fields(out) {
				m[n] = true
			}
			return m
		}
		got := nodes()
		if len(got) != 2 || !got["sim-0000"] || !got["sim-0001"] || got["sim-0002"] {
			t.Fatalf("daemon pods on %v, want sim-0000 and sim-0001 (sim-0002 is tainted)", got)
		}
		s.MustKubectl(t, "taint", "node", "sim-0002", "dedicated=db:NoSchedule-")
		poll(t, 60*time.Second, "a daemon pod on the untainted node", func() (bool, error) { return nodes()["sim-0002"], nil })
	})

	t.Run("StatefulSet", func(t *testing.T) {
		apply(t, s, `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: kijabi.local/busybox
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`)
		// Pods are created in order: web-1 only once web-0 runs, and so on.
		w, err := s.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		s.MustKubectl(t, "rollout", "status", "statefulset/web", "--timeout=90s")
		var order []string
		seen := map[string]bool{}
		timeout := time.After(20 * time.Second)
		for len(order) < 3 {
			select {
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && !seen[p.Name] {
					seen[p.Name] = true
					order = append(order, p.Name)
				}
			case <-timeout:
				t.Fatalf("saw only %v", order)
			}
		}
		if fmt.Sprint(order) != "[web-0 web-1 web-2]" {
			t.Fatalf("pods created in order %v", order)
		}
		for i := 0; i < 3; i++ {
			claim := fmt.Sprintf("data-web-%d", i)
			poll(t, 60*time.Second, claim+" bound", func() (bool, error) {
				pvc, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claim, metav1.GetOptions{})
				return err == nil && pvc.Status.Phase == corev1.ClaimBound, nil
			})
		}
		s.MustKubectl(t, "scale", "statefulset/web", "--replicas=1")
		poll(t, 60*time.Second, "scale down to web-0", func() (bool, error) {
			out := s.Kubectl(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").Stdout
			return out == "web-0", nil
		})
		if _, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-web-2", metav1.GetOptions{}); err != nil {
			t.Fatalf("claims outlive their pods: %v", err)
		}
	})

	t.Run("Job", func(t *testing.T) {
		apply(t, s, `apiVersion: batch/v1
kind: Job
metadata: {name: crunch}
spec:
  completions: 4
  parallelism: 2
  template:
    metadata:
      annotations: {simnode.kijabi.io/run-seconds: "1"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: kijabi.local/busybox}]
`)
		maxActive := 0
		poll(t, 90*time.Second, "job complete", func() (bool, error) {
			pods, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "job-name=crunch"})
			if err != nil {
				return false, nil
			}
			active := 0
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
					active++
				}
			}
			maxActive = max(maxActive, active)
			out := s.Kubectl(t, "get", "job", "crunch", "-o", "jsonpath={.status.succeeded}/{.status.conditions[?(@.type==\"Complete\")].status}").Stdout
			return out == "4/True", nil
		})
		if maxActive > 2 {
			t.Fatalf("saw %d active pods with parallelism 2", maxActive)
		}
	})
}

// TestNodeFailure: a node that stops heartbeating is marked unreachable and tainted, and its
// pods are evicted after their toleration and recreated elsewhere by their owner.
func TestNodeFailure(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true, NodeMonitorGracePeriod: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes, err := simnode.New(simnode.Config{Client: s.Client, Nodes: 2, RenewInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go nodes.Run(ctx)
	apply(t, s, `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers: [{name: app, image: kijabi.local/busybox}]
`)
	s.MustKubectl(t, "rollout", "status", "deployment/app", "--timeout=60s")
	nodes.Pause("sim-0000")
	poll(t, 60*time.Second, "sim-0000 unreachable", func() (bool, error) {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, "sim-0000", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoExecute {
				return true, nil
			}
		}
		return false, nil
	})
	poll(t, 90*time.Second, "all pods running on sim-0001", func() (bool, error) {
		pods := runningPods(t, s, "app=app")
		if len(pods) != 2 {
			return false, nil
		}
		for _, p := range pods {
			if p.Spec.NodeName != "sim-0001" {
				return false, nil
			}
		}
		return true, nil
	})
}
