package nodelifecycle_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/nodelifecycle"
	"github.com/kijabi/kijabi/internal/simnode"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func taint(n *corev1.Node, key string) *corev1.Taint {
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == key && n.Spec.Taints[i].Effect == corev1.TaintEffectNoExecute {
			return &n.Spec.Taints[i]
		}
	}
	return nil
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func nodeState(ctx context.Context, client kubernetes.Interface, name string, ready corev1.ConditionStatus, tainted bool) func() (bool, error) {
	return func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return readyStatus(n) == ready && (taint(n, corev1.TaintNodeUnreachable) != nil) == tainted, nil
	}
}

// evicted reports whether the pod is gone or being deleted.
func evicted(ctx context.Context, client kubernetes.Interface, name string) func() (bool, error) {
	return func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return p.DeletionTimestamp != nil, nil
	}
}

func TestIntegrationUnreachableNodeEviction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sim, err := simnode.New(simnode.Config{Client: client, Nodes: 2, RenewInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	simDone := make(chan struct{})
	go func() { defer close(simDone); _ = sim.Run(ctx) }()

	f := informers.NewSharedInformerFactory(client, 0)
	lf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(corev1.NamespaceNodeLease))
	c := nodelifecycle.New(client, f.Core().V1().Nodes(), lf.Coordination().V1().Leases(), f.Core().V1().Pods(),
		nodelifecycle.WithGracePeriod(2*time.Second))
	done := make(chan struct{})
	f.Start(ctx.Done())
	lf.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; <-simDone; f.Shutdown(); lf.Shutdown() })

	const victim, bystander = "sim-0000", "sim-0001"
	for _, n := range []string{victim, bystander} {
		testutil.Poll(t, 30*time.Second, n+" to be ready", nodeState(ctx, client, n, corev1.ConditionTrue, false))
	}

	mkPod := func(name, node string, tols ...corev1.Toleration) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{
				NodeName:    node,
				Containers:  []corev1.Container{{Name: "c", Image: "busybox"}},
				Tolerations: tols,
			},
		}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	unreachable := func(secs int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(secs)}
	}
	mkPod("timed", victim, unreachable(1))
	mkPod("immediate", victim, unreachable(0))
	mkPod("patient", victim) // admission's default: 300s
	mkPod("elsewhere", bystander)
	for _, name := range []string{"timed", "immediate", "patient", "elsewhere"} {
		testutil.Poll(t, 30*time.Second, name+" to be ready", func() (bool, error) {
			p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			r := podCondition(p, corev1.PodReady)
			return r != nil && r.Status == corev1.ConditionTrue, nil
		})
	}

	// The victim's kubelet goes silent.
	sim.Pause(victim)
	testutil.Poll(t, 30*time.Second, victim+" to become Unknown and tainted", nodeState(ctx, client, victim, corev1.ConditionUnknown, true))
	n, err := client.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady && (cond.Reason != nodelifecycle.ReasonNodeStatusUnknown || cond.Message != "Kubelet stopped posting node status.") {
			t.Errorf("Ready condition %+v", cond)
		}
	}
	tn := taint(n, corev1.TaintNodeUnreachable)
	if tn.TimeAdded == nil {
		t.Fatal("unreachable taint without timeAdded")
	}
	added := tn.TimeAdded.Time

	testutil.Poll(t, 30*time.Second, "immediate pod to be evicted", evicted(ctx, client, "immediate"))
	testutil.Poll(t, 30*time.Second, "timed pod to be evicted", evicted(ctx, client, "timed"))
	// Still terminating on the silent node, the timed pod shows why it went, and when.
	if p, err := client.CoreV1().Pods("default").Get(ctx, "timed", metav1.GetOptions{}); err == nil {
		dt := podCondition(p, corev1.DisruptionTarget)
		if dt == nil || dt.Status != corev1.ConditionTrue || dt.Reason != nodelifecycle.ReasonDeletionByTaintManager {
			t.Errorf("timed pod DisruptionTarget = %+v", dt)
		} else if dt.LastTransitionTime.Time.Before(added.Add(time.Second)) {
			t.Errorf("timed pod evicted at %v, before its toleration (1s from %v) ran out", dt.LastTransitionTime, added)
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	// The patient pod (300s) stays but is marked not ready; the other node's pod is untouched.
	testutil.Poll(t, 30*time.Second, "patient pod to be marked not ready", func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "patient", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		r := podCondition(p, corev1.PodReady)
		return r != nil && r.Status == corev1.ConditionFalse, nil
	})
	for _, name := range []string{"patient", "elsewhere"} {
		if gone, err := evicted(ctx, client, name)(); err != nil || gone {
			t.Errorf("%s evicted (%v)", name, err)
		}
	}
	if ok, err := nodeState(ctx, client, bystander, corev1.ConditionTrue, false)(); !ok {
		t.Errorf("%s not healthy (%v)", bystander, err)
	}

	// The kubelet comes back: Ready again, taint gone, the patient pod stays.
	sim.Resume(victim)
	testutil.Poll(t, 30*time.Second, victim+" to recover", nodeState(ctx, client, victim, corev1.ConditionTrue, false))
	if gone, err := evicted(ctx, client, "patient")(); err != nil || gone {
		t.Errorf("patient evicted (%v)", err)
	}
}
