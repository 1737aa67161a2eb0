package overlay

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, cidr, mac, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	if mac != "" || ip != "" {
		n.Annotations = map[string]string{AnnotationBackendType: BackendVXLAN, AnnotationVTEPMAC: mac, AnnotationPublicIP: ip}
	}
	return n
}

func TestDesired(t *testing.T) {
	const macA, macB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	deleting := node("b", "10.244.2.0/24", macB, "192.168.0.2")
	deleting.DeletionTimestamp = &metav1.Time{}
	otherBackend := node("b", "10.244.2.0/24", macB, "192.168.0.2")
	otherBackend.Annotations[AnnotationBackendType] = "host-gw"
	legacyOnly := node("b", "", macB, "192.168.0.2")
	legacyOnly.Spec.PodCIDR = "10.244.2.0/24"
	dualStack := node("b", "", macB, "192.168.0.2")
	dualStack.Spec.PodCIDRs = []string{"fd00:10:244:2::/64", "10.244.2.0/24"}
	v6Only := node("b", "fd00:10:244:2::/64", macB, "192.168.0.2")
	unmasked := node("b", "10.244.2.7/24", macB, "192.168.0.2")

	stateB := State{
		Routes: []Route{{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0")}},
		Neighs: []Neigh{{IP: netip.MustParseAddr("10.244.2.0"), MAC: macB}},
		FDB:    []FDB{{MAC: macB, Dst: netip.MustParseAddr("192.168.0.2")}},
	}
	tests := []struct {
		name  string
		nodes []*corev1.Node
		self  string
		want  State
	}{
		{name: "no nodes", want: State{}},
		{name: "only self", nodes: []*corev1.Node{node("a", "10.244.1.0/24", macA, "192.168.0.1")}, self: "a", want: State{}},
		{
			name:  "one peer",
			nodes: []*corev1.Node{node("a", "10.244.1.0/24", macA, "192.168.0.1"), node("b", "10.244.2.0/24", macB, "192.168.0.2")},
			self:  "a", want: stateB,
		},
		{
			name: "two peers sorted by name",
			nodes: []*corev1.Node{
				node("c", "10.244.3.0/24", "02:00:00:00:00:0c", "192.168.0.3"),
				node("a", "10.244.1.0/24", macA, "192.168.0.1"),
				node("b", "10.244.2.0/24", macB, "192.168.0.2"),
			},
			self: "a",
			want: State{
				Routes: []Route{
					{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0")},
					{Dst: netip.MustParsePrefix("10.244.3.0/24"), Via: netip.MustParseAddr("10.244.3.0")},
				},
				Neighs: []Neigh{{IP: netip.MustParseAddr("10.244.2.0"), MAC: macB}, {IP: netip.MustParseAddr("10.244.3.0"), MAC: "02:00:00:00:00:0c"}},
				FDB: []FDB{
					{MAC: macB, Dst: netip.MustParseAddr("192.168.0.2")},
					{MAC: "02:00:00:00:00:0c", Dst: netip.MustParseAddr("192.168.0.3")},
				},
			},
		},
		{name: "peer without podCIDR", nodes: []*corev1.Node{node("b", "", macB, "192.168.0.2")}, self: "a", want: State{}},
		{name: "peer without annotations (not yet up, or simulated)", nodes: []*corev1.Node{node("b", "10.244.2.0/24", "", "")}, self: "a", want: State{}},
		{name: "peer with a bad MAC", nodes: []*corev1.Node{node("b", "10.244.2.0/24", "zz", "192.168.0.2")}, self: "a", want: State{}},
		{name: "peer with a bad address", nodes: []*corev1.Node{node("b", "10.244.2.0/24", macB, "nowhere")}, self: "a", want: State{}},
		{name: "peer with an IPv6 address", nodes: []*corev1.Node{node("b", "10.244.2.0/24", macB, "fd00::2")}, self: "a", want: State{}},
		{name: "peer of another backend", nodes: []*corev1.Node{otherBackend}, self: "a", want: State{}},
		{name: "peer being deleted", nodes: []*corev1.Node{deleting}, self: "a", want: State{}},
		{name: "legacy spec.podCIDR", nodes: []*corev1.Node{legacyOnly}, self: "a", want: stateB},
		{name: "dual stack takes the IPv4 range", nodes: []*corev1.Node{dualStack}, self: "a", want: stateB},
		{name: "IPv6-only peer", nodes: []*corev1.Node{v6Only}, self: "a", want: State{}},
		{name: "unmasked podCIDR", nodes: []*corev1.Node{unmasked}, self: "a", want: stateB},
		{
			name:  "peer overlapping self's range",
			nodes: []*corev1.Node{node("a", "10.244.2.0/24", macA, "192.168.0.1"), node("b", "10.244.2.0/24", macB, "192.168.0.2")},
			self:  "a", want: State{},
		},
		{
			name:  "two peers claiming one range: the first by name",
			nodes: []*corev1.Node{node("c", "10.244.2.0/24", "02:00:00:00:00:0c", "192.168.0.3"), node("b", "10.244.2.0/24", macB, "192.168.0.2")},
			self:  "a", want: stateB,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var selfCIDR netip.Prefix
			for _, n := range tt.nodes {
				if n.Name == tt.self {
					selfCIDR, _ = PodCIDR(n)
				}
			}
			got := Desired(Peers(tt.nodes, tt.self, selfCIDR))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Desired =\n%+v\nwant\n%+v", got, tt.want)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Equal is false for %+v", got)
			}
		})
	}
}

func TestStableMAC(t *testing.T) {
	a, b := StableMAC("node-a"), StableMAC("node-b")
	if a.String() != StableMAC("node-a").String() {
		t.Errorf("StableMAC is not stable: %s, %s", a, StableMAC("node-a"))
	}
	if a.String() == b.String() {
		t.Errorf("two nodes share the MAC %s", a)
	}
	for _, m := range []string{a.String(), b.String()} {
		mac := StableMAC(m)
		if mac[0]&1 != 0 || mac[0]&2 == 0 {
			t.Errorf("%s is not a locally administered unicast MAC", mac)
		}
	}
}

func TestRelevantChange(t *testing.T) {
	base := node("b", "10.244.2.0/24", "02:00:00:00:00:0b", "192.168.0.2")
	heartbeat := base.DeepCopy()
	heartbeat.ResourceVersion = "2"
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	heartbeat.Annotations["other"] = "x"
	newMAC := base.DeepCopy()
	newMAC.Annotations[AnnotationVTEPMAC] = "02:00:00:00:00:0c"
	newCIDR := base.DeepCopy()
	newCIDR.Spec.PodCIDRs = []string{"10.244.9.0/24"}
	tests := []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"status only", heartbeat, false},
		{"VTEP MAC", newMAC, true},
		{"podCIDRs", newCIDR, true},
	}
	for _, tt := range tests {
		if got := relevantChange(base, tt.cur); got != tt.want {
			t.Errorf("%s: relevantChange = %v, want %v", tt.name, got, tt.want)
		}
	}
}
