package simnode

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var testStart = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type fakeEnv struct {
	c      *Cluster
	client *fake.Clientset
	clock  *clocktesting.FakeClock
}

// startFake runs a Cluster against a fake clientset and a fake clock until the test ends.
func startFake(t *testing.T, cfg Config, objs ...runtime.Object) *fakeEnv {
	t.Helper()
	client := fake.NewClientset(objs...)
	// Like the API server, give created objects a UID.
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if m, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && m.GetUID() == "" {
			m.SetUID(types.UID("uid-" + m.GetName()))
		}
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(testStart)
	cfg.Client, cfg.Clock = client, clk
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeEnv{c: c, client: client, clock: clk}
}

func (e *fakeEnv) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func getNode(client kubernetes.Interface, name string) (*corev1.Node, error) {
	return client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
}

func getLease(client kubernetes.Interface, name string) (*coordinationv1.Lease, error) {
	return client.CoordinationV1().Leases(NodeLeaseNamespace).Get(context.Background(), name, metav1.GetOptions{})
}

func getPod(client kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	return client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
}

func nodeReady(nd *corev1.Node) bool {
	c := findNodeCondition(nd.Status.Conditions, corev1.NodeReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func renewTime(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

func testPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "app", Image: "registry.example/app:1.2"}},
		},
	}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
