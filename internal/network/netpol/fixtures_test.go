package netpol

import (
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const testNode = "node-a"

type podOpt func(*v1.Pod)

func mkPod(ns, name, ip string, labels map[string]string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, UID: types.UID("uid-" + ns + "-" + name)},
		Spec: v1.PodSpec{
			NodeName:   testNode,
			Containers: []v1.Container{{Name: "main"}},
		},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *v1.Pod) { p.Spec.NodeName = n } }
func hostNet() podOpt        { return func(p *v1.Pod) { p.Spec.HostNetwork = true } }
func phase(ph v1.PodPhase) podOpt {
	return func(p *v1.Pod) { p.Status.Phase = ph }
}

// cport adds a named container port (protocol "" is TCP, as the API defaults it).
func cport(name string, proto v1.Protocol, port int32) podOpt {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{Name: name, Protocol: proto, ContainerPort: port})
	}
}

func mkNS(name string, labels map[string]string) *v1.Namespace {
	l := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range labels {
		l[k] = v
	}
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

type npOpt func(*networkingv1.NetworkPolicy)

// mkPolicy makes a policy; types nil leaves policyTypes to the default.
func mkPolicy(ns, name string, sel map[string]string, types []networkingv1.PolicyType, opts ...npOpt) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, PolicyTypes: types},
	}
	for _, o := range opts {
		o(np)
	}
	return np
}

var (
	ingressOnly = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egressOnly  = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both        = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
)

func allowFrom(peers []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) npOpt {
	return func(np *networkingv1.NetworkPolicy) {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports})
	}
}

func allowTo(peers []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) npOpt {
	return func(np *networkingv1.NetworkPolicy) {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports})
	}
}

func peers(p ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer { return p }

func podPeer(l map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: l}}
}

func nsPeer(nsLabels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels}}
}

func nsPodPeer(nsLabels, podLabels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels},
		PodSelector:       &metav1.LabelSelector{MatchLabels: podLabels},
	}
}

func blockPeer(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func port(proto v1.Protocol, p int) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(int32(p)))}
}

func portRange(proto v1.Protocol, first, last int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(first)), EndPort: ptr.To(last)}
}

func namedPolicyPort(proto v1.Protocol, name string) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromString(name))}
}

func protoOnly(proto v1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto)}
}

// unprotocoled is a port without protocol, as a client may send it (the API defaults
// it to TCP).
func unprotocoled(p int) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(int32(p)))}
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// world is the cluster the model tests share.
func world() ([]*v1.Pod, []*v1.Namespace) {
	pods := []*v1.Pod{
		mkPod("prod", "web", "10.244.0.10", lbl("app", "web"), cport("http", "", 8080), cport("metrics", v1.ProtocolTCP, 9090), cport("dns", v1.ProtocolUDP, 5353)),
		mkPod("prod", "db", "10.244.0.11", lbl("app", "db"), cport("pg", v1.ProtocolTCP, 5432)),
		mkPod("prod", "client", "10.244.0.12", lbl("role", "client")),
		mkPod("prod", "other", "10.244.0.13", lbl("role", "other")),
		mkPod("prod", "done", "10.244.0.14", lbl("role", "client"), phase(v1.PodSucceeded)),
		mkPod("prod", "hostnet", "10.0.0.1", lbl("app", "web", "role", "client"), hostNet()),
		mkPod("dev", "client", "10.244.0.20", lbl("role", "client")),
		mkPod("dev", "tool", "10.244.1.21", lbl("role", "tool"), onNode("node-b"), cport("http", v1.ProtocolTCP, 8081)),
		mkPod("other", "x", "10.244.0.30", nil),
		mkPod("prod", "pending", "", lbl("app", "web")),
	}
	namespaces := []*v1.Namespace{
		mkNS("prod", lbl("team", "a")),
		mkNS("dev", lbl("team", "b")),
		mkNS("other", nil),
	}
	return pods, namespaces
}
