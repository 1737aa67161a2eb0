package endpointslice

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

type podOpt func(*corev1.Pod)

func mkPod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p.DeletionTimestamp = &now
}
func httpPort(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

func mkService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "x"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "a"}, ClusterIP: "10.0.0.10", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func nodes(name string) (*corev1.Node, bool) {
	if name != "n1" {
		return nil, false
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelTopologyZone: "z1"}}}, true
}

func TestShouldPodBeInEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pod         *corev1.Pod
		terminating bool
		want        bool
	}{
		{"running", mkPod("p", "10.1.0.1"), false, true},
		{"no ip", mkPod("p", "", func(p *corev1.Pod) { p.Status.PodIPs = nil }), false, false},
		{"succeeded", mkPod("p", "10.1.0.1", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), true, false},
		{"failed", mkPod("p", "10.1.0.1", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), true, false},
		{"terminating excluded", mkPod("p", "10.1.0.1", terminating), false, false},
		{"terminating included", mkPod("p", "10.1.0.1", terminating), true, true},
	} {
		if got := ShouldPodBeInEndpoints(tc.pod, tc.terminating); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFindPort(t *testing.T) {
	pod := mkPod("p", "10.1.0.1")
	for _, tc := range []struct {
		name    string
		sp      corev1.ServicePort
		want    int32
		wantErr bool
	}{
		{"named", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}, 8080, false},
		{"named, other protocol", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")}, 0, true},
		{"unknown name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")}, 0, true},
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, 9090, false},
		{"unset", corev1.ServicePort{Port: 80}, 80, false},
	} {
		got, err := FindPort(pod, &tc.sp)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: got %d, %v; want %d (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestPodEndpoint(t *testing.T) {
	type conds struct{ ready, serving, terminating bool }
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		svc      *corev1.Service
		want     conds
		hostname string
	}{
		{"ready", mkPod("p", "10.1.0.1"), mkService(), conds{true, true, false}, ""},
		{"not ready", mkPod("p", "10.1.0.1", notReady), mkService(), conds{false, false, false}, ""},
		{"terminating", mkPod("p", "10.1.0.1", terminating), mkService(), conds{false, true, true}, ""},
		{"publish not ready", mkPod("p", "10.1.0.1", notReady),
			mkService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), conds{true, false, false}, ""},
		{"hostname", mkPod("p", "10.1.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "h", "svc" }),
			mkService(), conds{true, true, false}, "h"},
		{"hostname, other subdomain", mkPod("p", "10.1.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "h", "other" }),
			mkService(), conds{true, true, false}, ""},
	} {
		node, _ := nodes("n1")
		ep := PodEndpoint(tc.pod, node, tc.svc, discoveryv1.AddressTypeIPv4)
		got := conds{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
		if got != tc.want || ptr.Deref(ep.Hostname, "") != tc.hostname {
			t.Errorf("%s: conditions %+v hostname %q, want %+v %q", tc.name, got, ptr.Deref(ep.Hostname, ""), tc.want, tc.hostname)
		}
		if ptr.Deref(ep.Zone, "") != "z1" || ptr.Deref(ep.NodeName, "") != "n1" || ep.TargetRef.Name != "p" || ep.Addresses[0] != "10.1.0.1" {
			t.Errorf("%s: endpoint %+v", tc.name, ep)
		}
	}
}

// plan runs desiredEndpoints and reconcile.
func plan(svc *corev1.Service, pods []*corev1.Pod, existing ...*discoveryv1.EndpointSlice) Plan {
	desired, _ := desiredEndpoints(svc, pods, nodes)
	return reconcile(svc, desired, existing)
}

func manyPods(n int, opts ...podOpt) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		out = append(out, mkPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), opts...))
	}
	return out
}

// asExisting turns planned creations into stored slices.
func asExisting(slices []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for i, s := range slices {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("%s%d", s.GenerateName, i)
		s.UID = types.UID(s.Name)
		out = append(out, s)
	}
	return out
}

func sizes(slices []*discoveryv1.EndpointSlice) []int {
	var out []int
	for _, s := range slices {
		out = append(out, len(s.Endpoints))
	}
	return out
}

func TestReconcileCreates(t *testing.T) {
	svc := mkService()
	p := plan(svc, manyPods(3))
	if len(p.Create) != 1 || len(p.Update)+len(p.Delete) != 0 {
		t.Fatalf("plan %+v", p)
	}
	s := p.Create[0]
	if s.GenerateName != "svc-" || s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.Endpoints) != 3 ||
		s.Labels[discoveryv1.LabelServiceName] != "svc" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["team"] != "x" {
		t.Errorf("slice %+v", s)
	}
	if ref := metav1.GetControllerOf(s); ref == nil || ref.UID != "svc-uid" || ref.Kind != "Service" {
		t.Errorf("owner %+v", s.OwnerReferences)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "web" {
		t.Errorf("ports %+v", s.Ports)
	}
}

func TestReconcileSplitsAt100(t *testing.T) {
	p := plan(mkService(), manyPods(250))
	if got := sizes(p.Create); fmt.Sprint(got) != "[100 100 50]" {
		t.Errorf("slice sizes %v", got)
	}
}

func TestReconcileSplitsByPorts(t *testing.T) {
	pods := append(manyPods(2), mkPod("other", "10.2.0.1", httpPort(9090)))
	p := plan(mkService(), pods)
	if len(p.Create) != 2 {
		t.Fatalf("want 2 slices, got %d", len(p.Create))
	}
	for _, s := range p.Create {
		want := map[int32]int{8080: 2, 9090: 1}[*s.Ports[0].Port]
		if len(s.Endpoints) != want {
			t.Errorf("port %d: %d endpoints, want %d", *s.Ports[0].Port, len(s.Endpoints), want)
		}
	}
}

func TestReconcileSteadyState(t *testing.T) {
	svc := mkService()
	pods := manyPods(150)
	existing := asExisting(plan(svc, pods).Create)
	if p := plan(svc, pods, existing...); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
		t.Errorf("steady state wants changes: %+v", p)
	}
	// One pod turns not ready: one slice changes.
	pods[120] = mkPod(pods[120].Name, pods[120].Status.PodIP, notReady)
	p := plan(svc, pods, existing...)
	if len(p.Create)+len(p.Delete) != 0 || len(p.Update) != 1 {
		t.Fatalf("plan %+v", p)
	}
	// One pod goes, another comes: the new one fills the slice that changes anyway.
	pods = append(manyPods(150)[1:], mkPod("new", "10.9.0.1"))
	p = plan(svc, pods, existing...)
	if len(p.Create)+len(p.Delete) != 0 || len(p.Update) != 1 || len(p.Update[0].Endpoints) != 100 {
		t.Errorf("plan: create %d update %v delete %d", len(p.Create), sizes(p.Update), len(p.Delete))
	}
}

func TestReconcilePlaceholder(t *testing.T) {
	svc := mkService()
	p := plan(svc, nil)
	if len(p.Create) != 1 || len(p.Create[0].Endpoints) != 0 || len(p.Create[0].Ports) != 0 {
		t.Fatalf("plan %+v", p)
	}
	existing := asExisting(p.Create)
	if p := plan(svc, nil, existing...); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
		t.Errorf("placeholder not kept: %+v", p)
	}
	// Pods arrive: the placeholder goes, a real slice comes.
	p = plan(svc, manyPods(1), existing...)
	if len(p.Create) != 1 || len(p.Delete) != 1 {
		t.Errorf("plan %+v", p)
	}
	// All pods go: slices are emptied into one placeholder.
	full := asExisting(plan(svc, manyPods(150)).Create)
	p = plan(svc, nil, full...)
	if len(p.Create) != 1 || len(p.Delete) != 2 {
		t.Errorf("create %d delete %d", len(p.Create), len(p.Delete))
	}
}

func TestReconcileDeletesForeignAndRelabels(t *testing.T) {
	svc := mkService()
	existing := asExisting(plan(svc, manyPods(3)).Create)
	old := existing[0].DeepCopy()
	old.Name, old.UID = "svc-old", "old"
	old.OwnerReferences[0].UID = "previous-incarnation"
	svc2 := mkService(func(s *corev1.Service) { s.Labels = map[string]string{"team": "y"} })
	p := plan(svc2, manyPods(3), existing[0], old)
	if len(p.Delete) != 1 || p.Delete[0].Name != "svc-old" || len(p.Update) != 1 || p.Update[0].Labels["team"] != "y" || len(p.Create) != 0 {
		t.Errorf("plan: create %d update %d delete %d", len(p.Create), len(p.Update), len(p.Delete))
	}
}

func TestDesiredSkipsUnknownNodes(t *testing.T) {
	pods := []*corev1.Pod{mkPod("a", "10.1.0.1"), mkPod("b", "10.1.0.2", func(p *corev1.Pod) { p.Spec.NodeName = "gone" })}
	g, skipped := desiredEndpoints(mkService(), pods, nodes)
	if len(skipped) != 1 || skipped[0] != "b" || len(g) != 1 {
		t.Errorf("skipped %v groups %d", skipped, len(g))
	}
	g, skipped = desiredEndpoints(mkService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), pods, nodes)
	n := 0
	for _, gr := range g {
		n += len(gr.endpoints)
	}
	if len(skipped) != 0 || n != 2 {
		t.Errorf("publishNotReady: skipped %v, %d endpoints", skipped, n)
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{UID: "a", ResourceVersion: "10"}}
	if tr.stale("k", nil) {
		t.Error("untracked service is stale")
	}
	tr.wrote("k", s)
	if !tr.stale("k", nil) {
		t.Error("created slice missing from cache is not stale")
	}
	old := s.DeepCopy()
	old.ResourceVersion = "9"
	if !tr.stale("k", []*discoveryv1.EndpointSlice{old}) || tr.stale("k", []*discoveryv1.EndpointSlice{s}) {
		t.Error("resourceVersion comparison")
	}
	tr.deleted("k", s)
	if !tr.stale("k", []*discoveryv1.EndpointSlice{s}) || tr.stale("k", nil) {
		t.Error("deletion tracking")
	}
	tr.observedGone("k", "a")
	if tr.stale("k", []*discoveryv1.EndpointSlice{s}) {
		t.Error("forgotten slice still tracked")
	}
}
