package simnode

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/testutil"
)

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{Nodes: 1}, "Client"},
		{"no nodes", Config{Nodes: 0}, "Nodes"},
		{"bad prefix", Config{Nodes: 1, NamePrefix: "Sim_"}, "invalid node name"},
		{"lease", Config{Nodes: 1, LeaseDuration: 1500 * time.Millisecond}, "whole number"},
		{"renew", Config{Nodes: 1, RenewInterval: time.Minute}, "RenewInterval"},
		{"node cidr", Config{Nodes: 300, NodeCIDR: "10.1.1.0/24"}, "room for 254"},
		{"pod cidr", Config{Nodes: 5, PodCIDR: "10.1.0.0/22"}, "room for 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no client" {
				tc.cfg.Client = startFake(t, Config{}).client
			}
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestNodeNames(t *testing.T) {
	e := startFake(t, Config{Nodes: 3, NamePrefix: "x-"})
	got := e.c.NodeNames()
	want := []string{"x-0000", "x-0001", "x-0002"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("NodeNames = %v, want %v", got, want)
	}
}

func TestNodeRegistration(t *testing.T) {
	taint := corev1.Taint{Key: "sim", Value: "yes", Effect: corev1.TaintEffectNoSchedule}
	e := startFake(t, Config{
		Nodes:    2,
		Labels:   map[string]string{"zone": "z1", corev1.LabelInstanceTypeStable: "big"},
		Taints:   []corev1.Taint{taint},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")},
	})
	e.run(t)
	var nd *corev1.Node
	testutil.Poll(t, 10*time.Second, "sim-0001 Ready", func() (bool, error) {
		var err error
		nd, err = getNode(e.client, "sim-0001")
		return err == nil && nodeReady(nd), err
	})

	for k, v := range map[string]string{
		corev1.LabelHostname:           "sim-0001",
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         "amd64",
		corev1.LabelInstanceTypeStable: "big",
		"zone":                         "z1",
	} {
		if nd.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, nd.Labels[k], v)
		}
	}
	if len(nd.Spec.Taints) != 1 || nd.Spec.Taints[0] != taint {
		t.Errorf("taints = %v", nd.Spec.Taints)
	}
	for name, want := range map[corev1.ResourceName]string{"cpu": "8", "memory": "256Gi", "ephemeral-storage": "100Gi", "pods": "110"} {
		for what, list := range map[string]corev1.ResourceList{"capacity": nd.Status.Capacity, "allocatable": nd.Status.Allocatable} {
			if q := list[name]; q.Cmp(resource.MustParse(want)) != 0 {
				t.Errorf("%s %s = %s, want %s", what, name, q.String(), want)
			}
		}
	}
	wantConds := map[corev1.NodeConditionType][2]string{
		corev1.NodeReady:          {"True", "KubeletReady"},
		corev1.NodeMemoryPressure: {"False", "KubeletHasSufficientMemory"},
		corev1.NodeDiskPressure:   {"False", "KubeletHasNoDiskPressure"},
		corev1.NodePIDPressure:    {"False", "KubeletHasSufficientPID"},
	}
	for typ, want := range wantConds {
		c := findNodeCondition(nd.Status.Conditions, typ)
		if c == nil || string(c.Status) != want[0] || c.Reason != want[1] || c.Message == "" {
			t.Errorf("condition %s = %+v, want %v", typ, c, want)
			continue
		}
		if !c.LastHeartbeatTime.Time.Equal(testStart) || !c.LastTransitionTime.Time.Equal(testStart) {
			t.Errorf("condition %s times = %v/%v, want %v", typ, c.LastHeartbeatTime, c.LastTransitionTime, testStart)
		}
	}
	if r := findNodeCondition(nd.Status.Conditions, corev1.NodeReady); r.Message != "kubelet is posting ready status" {
		t.Errorf("Ready message %q", r.Message)
	}
	wantAddrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.200.0.2"}, {Type: corev1.NodeHostName, Address: "sim-0001"}}
	if len(nd.Status.Addresses) != 2 || nd.Status.Addresses[0] != wantAddrs[0] || nd.Status.Addresses[1] != wantAddrs[1] {
		t.Errorf("addresses = %v, want %v", nd.Status.Addresses, wantAddrs)
	}
	info := nd.Status.NodeInfo
	if info.KubeletVersion != "v1.37.2-kijabi-sim" || info.ContainerRuntimeVersion != "simulated://1.0" ||
		info.OperatingSystem != "linux" || info.Architecture != "amd64" || info.OSImage == "" || info.MachineID == "" || info.BootID == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if nd.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("daemonEndpoints = %+v", nd.Status.DaemonEndpoints)
	}

	var first *corev1.Node
	if first, _ = getNode(e.client, "sim-0000"); first == nil || first.Status.Addresses[0].Address != "10.200.0.1" {
		t.Errorf("sim-0000 addresses: %v", first)
	}

	testutil.Poll(t, 10*time.Second, "sim-0001 lease", func() (bool, error) {
		l, err := getLease(e.client, "sim-0001")
		if err != nil {
			return false, err
		}
		if *l.Spec.HolderIdentity != "sim-0001" || *l.Spec.LeaseDurationSeconds != 40 || !renewTime(l).Equal(testStart) {
			t.Fatalf("lease spec = %+v", l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != nd.UID {
			t.Fatalf("lease owners = %+v (node uid %q)", l.OwnerReferences, nd.UID)
		}
		return true, nil
	})
}

// A Node that exists already (an earlier run) is adopted, keeping its spec.
func TestNodeAdopted(t *testing.T) {
	existing := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "sim-0000", UID: "old-uid", ResourceVersion: "5"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.99.0.0/24"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		}}},
	}
	e := startFake(t, Config{}, existing)
	e.run(t)
	testutil.Poll(t, 10*time.Second, "sim-0000 Ready", func() (bool, error) {
		nd, err := getNode(e.client, "sim-0000")
		return err == nil && nodeReady(nd) && nd.Spec.PodCIDR == "10.99.0.0/24", err
	})
}
