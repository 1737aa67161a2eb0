package servicelb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/controller/servicelb"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func createLoadBalancer(t *testing.T, client kubernetes.Interface, name string, mods ...func(*corev1.Service)) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	for _, m := range mods {
		m(svc)
	}
	if _, err := client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationNodeAddresses runs the whole control plane with two simulated nodes and
// no pool: a LoadBalancer Service gets the nodes' InternalIPs, as kubectl shows.
func TestIntegrationNodeAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	srv := testserver.Start(t, testserver.Options{Controllers: true, SimulatedNodes: 2})
	createLoadBalancer(t, srv.Client, "web")
	var out string
	testutil.Poll(t, 60*time.Second, "kubectl to show the nodes' addresses as EXTERNAL-IP", func() (bool, error) {
		r := srv.Kubectl(t, "get", "svc", "web", "-n", "default")
		out = r.Stdout
		return strings.Contains(out, "10.200.0.1,10.200.0.2"), r.Err
	})
	if !strings.Contains(out, "EXTERNAL-IP") || !strings.Contains(out, "LoadBalancer") {
		t.Errorf("kubectl get svc:\n%s", out)
	}
	svc, err := srv.Client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
			t.Errorf("ingress %+v without ipMode VIP", ing)
		}
	}
	if _, ok := svc.Annotations[servicelb.AnnotationLoadBalancerNode]; ok {
		t.Errorf("node annotation in node-addresses mode: %v", svc.Annotations)
	}
	// Back to ClusterIP: the ingress goes.
	r := srv.Kubectl(t, "patch", "svc", "web", "-n", "default", "-p", `{"spec":{"type":"ClusterIP","allocateLoadBalancerNodePorts":null,"externalTrafficPolicy":null}}`)
	if r.Err != nil {
		t.Fatalf("kubectl patch: %v\n%s", r.Err, r.Stderr)
	}
	testutil.Poll(t, 30*time.Second, "the ingress to be cleared", func() (bool, error) {
		svc, err := srv.Client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && len(svc.Status.LoadBalancer.Ingress) == 0, err
	})
}

// TestIntegrationPool runs its own controller with a pool against a control plane with two
// simulated nodes: addresses come from the pool, are never shared, are released with the
// Service, and the first Ready node by name answers for them.
func TestIntegrationPool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	srv := testserver.Start(t, testserver.Options{SimulatedNodes: 2})
	client := srv.Client
	pool, err := servicelb.ParsePool("192.0.2.10-192.0.2.11")
	if err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(client, 0)
	c := servicelb.New(client, f.Core().V1().Services(), f.Core().V1().Nodes(), servicelb.WithPool(pool))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	ingressOf := func(name string) (string, string, error) {
		svc, err := client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		var ips []string
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ips = append(ips, ing.IP)
		}
		return strings.Join(ips, ","), svc.Annotations[servicelb.AnnotationLoadBalancerNode], nil
	}
	wantIngress := func(name, ip, node string) {
		t.Helper()
		testutil.Poll(t, 30*time.Second, name+" to get "+ip+" on "+node, func() (bool, error) {
			got, n, err := ingressOf(name)
			return got == ip && n == node, err
		})
	}
	createLoadBalancer(t, client, "a", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.0.2.11" })
	wantIngress("a", "192.0.2.11", "sim-0000")
	createLoadBalancer(t, client, "b")
	wantIngress("b", "192.0.2.10", "sim-0000")
	createLoadBalancer(t, client, "c")
	testutil.Poll(t, 30*time.Second, "an AllocationFailed event for c", func() (bool, error) {
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=c"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == servicelb.EventAllocationFailed {
				return true, nil
			}
		}
		return false, nil
	})
	if got, _, err := ingressOf("c"); err != nil || got != "" {
		t.Fatalf("c got %q (%v) from an exhausted pool", got, err)
	}
	out := srv.MustKubectl(t, "get", "svc", "-n", "default")
	if !strings.Contains(out, "192.0.2.11") || !strings.Contains(out, "<pending>") {
		t.Errorf("kubectl get svc:\n%s", out)
	}
	if err := client.CoreV1().Services("default").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantIngress("c", "192.0.2.11", "sim-0000")
}
