package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestServiceTypeChange checks that changing a Service's type alone (as `kubectl patch`
// or `kubectl edit` users do) drops what the old type needed — node ports, traffic
// policy, allocateLoadBalancerNodePorts — instead of being refused.
func TestServiceTypeChange(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	svcs := srv.Client.CoreV1().Services("default")
	lb := service("lb", corev1.ServiceTypeLoadBalancer, map[string]string{"app": "x"})
	created, err := svcs.Create(ctx, lb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.Ports[0].NodePort == 0 || created.Spec.ExternalTrafficPolicy == "" || created.Spec.AllocateLoadBalancerNodePorts == nil {
		t.Fatalf("LoadBalancer defaults missing: %+v", created.Spec)
	}
	for _, typ := range []string{"NodePort", "ClusterIP"} {
		got, err := svcs.Patch(ctx, "lb", types.MergePatchType, []byte(`{"spec":{"type":"`+typ+`"}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("changing the type to %s: %v", typ, err)
		}
		switch typ {
		case "NodePort":
			if got.Spec.AllocateLoadBalancerNodePorts != nil || got.Spec.Ports[0].NodePort != created.Spec.Ports[0].NodePort {
				t.Errorf("LoadBalancer → NodePort: %+v", got.Spec)
			}
		case "ClusterIP":
			if got.Spec.Ports[0].NodePort != 0 || got.Spec.ExternalTrafficPolicy != "" || got.Spec.ClusterIP != created.Spec.ClusterIP {
				t.Errorf("NodePort → ClusterIP: %+v", got.Spec)
			}
		}
	}
	// The freed node port can be taken by another Service.
	np := service("np", corev1.ServiceTypeNodePort, map[string]string{"app": "y"})
	np.Spec.Ports[0].NodePort = created.Spec.Ports[0].NodePort
	if _, err := svcs.Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Errorf("reusing the released node port: %v", err)
	}
}
