package servicelb

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestOurs(t *testing.T) {
	for _, tc := range []struct {
		typ   corev1.ServiceType
		class *string
		want  bool
	}{
		{corev1.ServiceTypeLoadBalancer, nil, true},
		{corev1.ServiceTypeLoadBalancer, ptr.To(LoadBalancerClass), true},
		{corev1.ServiceTypeLoadBalancer, ptr.To("example.com/other"), false},
		{corev1.ServiceTypeNodePort, nil, false},
		{corev1.ServiceTypeClusterIP, nil, false},
	} {
		svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: tc.typ, LoadBalancerClass: tc.class}}
		if got := ours(svc); got != tc.want {
			t.Errorf("ours(%s, %v) = %v", tc.typ, ptr.Deref(tc.class, "<nil>"), got)
		}
	}
}

func TestRequestedAddrs(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{LoadBalancerIP: "10.0.0.9"}}
	if got, err := requestedAddrs(svc); err != nil || fmt.Sprint(got) != "[10.0.0.9]" {
		t.Errorf("spec.loadBalancerIP: %v, %v", got, err)
	}
	svc.Annotations = map[string]string{AnnotationLoadBalancerIPs: "10.0.0.7, fd00::7"}
	if got, err := requestedAddrs(svc); err != nil || fmt.Sprint(got) != "[10.0.0.7 fd00::7]" {
		t.Errorf("annotation: %v, %v", got, err)
	}
	svc.Annotations[AnnotationLoadBalancerIPs] = "bogus"
	if _, err := requestedAddrs(svc); err == nil {
		t.Error("bogus annotation accepted")
	}
}

func TestServiceFamilies(t *testing.T) {
	if got := serviceFamilies(&corev1.Service{}); fmt.Sprint(got) != "[IPv4]" {
		t.Errorf("default %v", got)
	}
	if got := serviceFamilies(&corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "fd00::1"}}); fmt.Sprint(got) != "[IPv6]" {
		t.Errorf("from cluster IP %v", got)
	}
	fams := []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	if got := serviceFamilies(&corev1.Service{Spec: corev1.ServiceSpec{IPFamilies: fams}}); fmt.Sprint(got) != "[IPv6 IPv4]" {
		t.Errorf("spec %v", got)
	}
}

func TestElectNodeAndNodeAddrs(t *testing.T) {
	gone := mkNode("a", "10.1.0.1", true)
	gone.DeletionTimestamp = &metav1.Time{}
	nodes := []*corev1.Node{mkNode("c", "10.1.0.3", true), mkNode("b", "10.1.0.2", false), gone,
		mkNode("d", "10.1.0.0", true), mkNode("e", "fd00::e", true)}
	if got := electNode(nodes); got != "c" {
		t.Errorf("elected %q, want c", got)
	}
	if got := electNode(nodes[1:3]); got != "" {
		t.Errorf("elected %q among no Ready nodes", got)
	}
	got := nodeAddrs(nodes, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol})
	if fmt.Sprint(got) != "[fd00::e 10.1.0.0 10.1.0.3]" {
		t.Errorf("node addresses %v", got)
	}
}

func TestSameIngress(t *testing.T) {
	want := ingressFor(nil)
	if !sameIngress(nil, want) {
		t.Error("empty")
	}
	have := []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}
	if !sameIngress(have, ingressFor(mustAddrs("10.0.0.1"))) {
		t.Error("an unset ipMode is VIP")
	}
	have[0].IPMode = ptr.To(corev1.LoadBalancerIPModeProxy)
	if sameIngress(have, ingressFor(mustAddrs("10.0.0.1"))) {
		t.Error("Proxy is not VIP")
	}
}
