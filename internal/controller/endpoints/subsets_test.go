package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func mkPod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.NewTime(t0)
	p.DeletionTimestamp = &now
}

func mkService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "x"},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
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

func ips(addrs []corev1.EndpointAddress) string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	return fmt.Sprint(out)
}

func TestComputeSubsets(t *testing.T) {
	headless := func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil }
	publish := func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
	otherPort := func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string // per subset: ports ready notReady
	}{
		{"ready and not ready", mkService(), []*corev1.Pod{mkPod("b", "10.1.0.2"), mkPod("a", "10.1.0.1"), mkPod("c", "10.1.0.3", notReady)},
			"[8080] [10.1.0.1 10.1.0.2] [10.1.0.3];"},
		{"terminating left out", mkService(), []*corev1.Pod{mkPod("a", "10.1.0.1"), mkPod("b", "10.1.0.2", terminating)},
			"[8080] [10.1.0.1] [];"},
		{"publish not ready", mkService(publish), []*corev1.Pod{mkPod("a", "10.1.0.1", notReady), mkPod("b", "10.1.0.2", terminating)},
			"[8080] [10.1.0.1 10.1.0.2] [];"},
		{"different ports", mkService(), []*corev1.Pod{mkPod("a", "10.1.0.1"), mkPod("b", "10.1.0.2", otherPort)},
			"[8080] [10.1.0.1] [];[9090] [10.1.0.2] [];"},
		{"no ip, failed", mkService(), []*corev1.Pod{mkPod("a", ""), mkPod("b", "10.1.0.2", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
			""},
		{"unresolvable port", mkService(), []*corev1.Pod{mkPod("a", "10.1.0.1", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			""},
		{"headless without ports", mkService(headless), []*corev1.Pod{mkPod("a", "10.1.0.1")}, "[] [10.1.0.1] [];"},
		{"ipv6 service, ipv4 pod", mkService(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }),
			[]*corev1.Pod{mkPod("a", "10.1.0.1")}, ""},
	} {
		var got string
		for _, s := range computeSubsets(tc.svc, tc.pods) {
			var ports []int32
			for _, p := range s.Ports {
				ports = append(ports, p.Port)
			}
			got += fmt.Sprintf("%v %s %s;", ports, ips(s.Addresses), ips(s.NotReadyAddresses))
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAddressDetails(t *testing.T) {
	pod := mkPod("a", "10.1.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "h", "svc" })
	s := computeSubsets(mkService(), []*corev1.Pod{pod})
	a := s[0].Addresses[0]
	if a.Hostname != "h" || a.NodeName == nil || *a.NodeName != "n1" || a.TargetRef.Name != "a" || a.TargetRef.UID != "uid-a" {
		t.Errorf("address %+v", a)
	}
	if p := s[0].Ports[0]; p.Name != "web" || p.Protocol != corev1.ProtocolTCP {
		t.Errorf("port %+v", p)
	}
}

func subsetsOf(ready, notReady int) []corev1.EndpointSubset {
	s := corev1.EndpointSubset{}
	for i := range ready {
		s.Addresses = append(s.Addresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.0.%d.%d", i/200, i%200)})
	}
	for i := range notReady {
		s.NotReadyAddresses = append(s.NotReadyAddresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.1.%d.%d", i/200, i%200)})
	}
	return []corev1.EndpointSubset{s}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		ready, notReady       int
		cut                   bool
		wantReady, wantNotRdy int
	}{
		{10, 10, false, 10, 10},
		{600, 600, true, 600, 400},
		{1200, 50, true, 1000, 0},
		{1000, 0, false, 1000, 0},
	} {
		s := subsetsOf(tc.ready, tc.notReady)
		cut := truncate(s)
		r, n := countAddresses(s)
		if cut != tc.cut || r != tc.wantReady || n != tc.wantNotRdy {
			t.Errorf("%d/%d: cut %v, %d/%d; want %v, %d/%d", tc.ready, tc.notReady, cut, r, n, tc.cut, tc.wantReady, tc.wantNotRdy)
		}
	}
	// Two subsets share the room in proportion.
	s := append(subsetsOf(900, 0), subsetsOf(300, 0)...)
	truncate(s)
	if len(s[0].Addresses) != 750 || len(s[1].Addresses) != 250 {
		t.Errorf("proportional truncation: %d, %d", len(s[0].Addresses), len(s[1].Addresses))
	}
}

func TestDesiredEndpoints(t *testing.T) {
	svc := mkService()
	subsets := computeSubsets(svc, []*corev1.Pod{mkPod("a", "10.1.0.1")})
	fresh := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"}}
	out, changed := desiredEndpoints(svc, fresh, subsets, t0)
	if !changed || out.Labels["team"] != "x" || out.Annotations[corev1.EndpointsLastChangeTriggerTime] != "2026-01-01T00:00:00Z" {
		t.Fatalf("new endpoints %+v", out)
	}
	if _, ok := out.Labels["endpointslice.kubernetes.io/skip-mirror"]; ok {
		t.Error("skip-mirror label set")
	}
	stored := out.DeepCopy()
	stored.ResourceVersion = "5"
	if _, changed := desiredEndpoints(svc, stored, subsets, time.Time{}); changed {
		t.Error("up-to-date endpoints rewritten")
	}
	headless := mkService(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	out, changed = desiredEndpoints(headless, fresh, subsets, time.Time{})
	if _, ok := out.Labels[corev1.IsHeadlessService]; !changed || !ok {
		t.Errorf("headless label missing: %v", out.Labels)
	}
	over := subsetsOf(1100, 0)
	out, _ = desiredEndpoints(svc, fresh, over, time.Time{})
	if out.Annotations[corev1.EndpointsOverCapacity] != truncated {
		t.Errorf("over-capacity annotation missing: %v", out.Annotations)
	}
}

func TestTriggerTimes(t *testing.T) {
	tt := newTriggerTimes()
	svc := mkService()
	pods := []*corev1.Pod{mkPod("a", "10.1.0.1")}
	got, _ := tt.compute("ns/svc", svc, pods)
	if !got.Equal(svc.CreationTimestamp.Time) {
		t.Errorf("first sync: %v, want service creation", got)
	}
	// Not committed (the sync failed): the next sync reports the same trigger.
	got, commit := tt.compute("ns/svc", svc, pods)
	if !got.Equal(svc.CreationTimestamp.Time) {
		t.Errorf("retried sync: %v, want service creation", got)
	}
	commit()
	if got, _ := tt.compute("ns/svc", svc, pods); !got.IsZero() {
		t.Errorf("nothing changed: %v", got)
	}
	later := t0.Add(time.Minute)
	pods = append(pods, mkPod("b", "10.1.0.2", func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(later) }))
	if got, _ := tt.compute("ns/svc", svc, pods); !got.Equal(later) {
		t.Errorf("pod b became ready: %v, want %v", got, later)
	}
}
