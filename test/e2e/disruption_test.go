package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestDisruptionBudgets: a PodDisruptionBudget's status follows its pods, the eviction API
// refuses what would break the budget (429, as kubectl drain expects) and uses up allowed
// disruptions, and `kubectl drain` empties a node one budget-respecting eviction at a time.
func TestDisruptionBudgets(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 2})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()

	k.run("create", "deployment", "web", "--image=kijabi.local/busybox", "--replicas=3")
	k.run("rollout", "status", "deployment/web", "--timeout=60s")
	k.run("create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=2")
	allowed := func(want int32) {
		t.Helper()
		poll(t, 30*time.Second, "disruptionsAllowed", func() (bool, error) {
			pdb, err := s.Client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.DisruptionsAllowed == want &&
				pdb.Status.CurrentHealthy == 3, err
		})
	}
	allowed(1)
	out := k.run("get", "pdb", "web")
	wantMatch(t, "kubectl get pdb", out, `^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE$`, `^web\s+2\s+N/A\s+1\s+\d+s$`)
	pdb, _ := s.Client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if pdb.Status.DesiredHealthy != 2 || pdb.Status.ExpectedPods != 3 {
		t.Errorf("status: desired %d expected %d, want 2 and 3", pdb.Status.DesiredHealthy, pdb.Status.ExpectedPods)
	}

	pods := runningPods(t, s, "app=web")
	evict := func(name string) error {
		return s.Client.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
	}
	// A dry run changes nothing.
	if err := s.Client.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pods[0].Name, Namespace: "default"},
		DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}}); err != nil {
		t.Fatalf("dry-run eviction: %v", err)
	}
	// The first eviction uses the one allowed disruption; the second, right after, is refused.
	if err := evict(pods[0].Name); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	err := evict(pods[1].Name)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("second eviction: want 429, got %v", err)
	}
	if st, ok := err.(apierrors.APIStatus); !ok || len(st.Status().Details.Causes) == 0 ||
		st.Status().Details.Causes[0].Type != policyv1.DisruptionBudgetCause ||
		!strings.HasPrefix(st.Status().Details.Causes[0].Message, "The disruption budget web needs 2 healthy pods") {
		t.Errorf("second eviction's cause: %+v", err)
	}
	if p, err := s.Client.CoreV1().Pods("default").Get(ctx, pods[1].Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("a refused eviction touched the pod: %v", err)
	}
	// Once the replacement is ready, a disruption is allowed again.
	allowed(1)

	// A pod under two budgets cannot be evicted.
	k.run("create", "poddisruptionbudget", "web-too", "--selector=app=web", "--max-unavailable=1")
	err = evict(pods[1].Name)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Errorf("eviction under two budgets: %v", err)
	}
	k.run("delete", "pdb", "web-too")

	// kubectl drain evicts a node's pods one at a time as the budget allows.
	pods = runningPods(t, s, "app=web")
	node := pods[0].Spec.NodeName
	r := k.runIn("", nil, "drain", node, "--ignore-daemonsets", "--timeout=90s")
	if r.Err != nil {
		t.Fatalf("kubectl drain: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
	}
	wantMatch(t, "kubectl drain", r.Stdout, `^node/`+node+` cordoned$`, `^node/`+node+` drained$`)
	n, err := s.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("drained node not cordoned: %v", err)
	}
	poll(t, 60*time.Second, "pods off the drained node and ready", func() (bool, error) {
		list, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range list.Items {
			if p.Spec.NodeName == node && p.DeletionTimestamp == nil {
				return false, nil
			}
			if p.DeletionTimestamp == nil && podIsReady(&p) {
				ready++
			}
		}
		return ready == 3, nil
	})
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestAutoscalerBounds: `kubectl autoscale` keeps a Deployment within its bounds (there are
// no resource metrics to scale on yet) and reports it in the autoscaler's status.
func TestAutoscalerBounds(t *testing.T) {
	t.Parallel()
	// The autoscaler looks again every 2 s instead of every 15 s: the test waits for two
	// passes after a rescale.
	s := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 1, HPASyncPeriod: 2 * time.Second})
	k := &kubectlSession{t: t, s: s, dir: t.TempDir()}
	ctx := context.Background()

	k.run("create", "deployment", "api", "--image=kijabi.local/busybox", "--replicas=1")
	k.run("autoscale", "deployment/api", "--min=2", "--max=3", "--cpu=80%")
	replicas := func(want int32) {
		t.Helper()
		poll(t, 60*time.Second, "deployment replicas", func() (bool, error) {
			d, err := s.Client.AppsV1().Deployments("default").Get(ctx, "api", metav1.GetOptions{})
			return err == nil && *d.Spec.Replicas == want && d.Status.Replicas == want, err
		})
	}
	replicas(2)
	// The autoscaler writes its status on its next pass after the rescale.
	poll(t, 90*time.Second, "autoscaler status", func() (bool, error) {
		hpa, err := s.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "api", metav1.GetOptions{})
		return err == nil && hpa.Status.CurrentReplicas == 2 && hpa.Status.DesiredReplicas == 2 && hpa.Status.LastScaleTime != nil, err
	})
	out := k.run("get", "hpa", "api")
	wantMatch(t, "kubectl get hpa", out, `^api\s+Deployment/api\s+cpu: <unknown>/80%\s+2\s+3\s+2\s+\d+s$`)
	out = k.run("describe", "hpa", "api")
	wantMatch(t, "kubectl describe hpa", out, `SuccessfulRescale\s+.*New size: 2; reason: Current number of replicas below Spec.MinReplicas`,
		`ScalingActive\s+False\s+FailedGetResourceMetric`)

	// Scaled past the maximum by hand, it is brought back at the next sync.
	k.run("scale", "deployment/api", "--replicas=5")
	replicas(3)
}
