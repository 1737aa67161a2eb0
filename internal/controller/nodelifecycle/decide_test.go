package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func base() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func nodeWithReady(status corev1.ConditionStatus, heartbeat time.Time) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: metav1.NewTime(base().Add(-time.Hour))}}
	if status != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status,
			LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(heartbeat)}}
	}
	return n
}

func leaseRenewed(at time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: at}}}
}

func TestObserve(t *testing.T) {
	now := base().Add(time.Minute)
	hb := base()
	prev := &health{probe: base(), hasReady: true, readyHeartbeat: metav1.NewTime(hb), leaseRenew: base()}
	tests := []struct {
		name      string
		prev      *health
		node      *corev1.Node
		lease     *coordinationv1.Lease
		wantProbe time.Time
	}{
		{"first sight counts as heard from now", nil, nodeWithReady(corev1.ConditionTrue, hb), nil, now},
		{"first sight without Ready: from creation", nil, nodeWithReady("", hb), nil, base().Add(-time.Hour)},
		{"first sight without Ready but with a lease", nil, nodeWithReady("", hb), leaseRenewed(base()), now},
		{"nothing new", prev, nodeWithReady(corev1.ConditionTrue, hb), leaseRenewed(base()), base()},
		{"nothing new, no lease", prev, nodeWithReady(corev1.ConditionTrue, hb), nil, base()},
		{"lease renewed", prev, nodeWithReady(corev1.ConditionTrue, hb), leaseRenewed(base().Add(10 * time.Second)), now},
		{"lease renew time went back", prev, nodeWithReady(corev1.ConditionTrue, hb), leaseRenewed(base().Add(-time.Second)), base()},
		{"status heartbeat", prev, nodeWithReady(corev1.ConditionTrue, hb.Add(time.Minute)), leaseRenewed(base()), now},
		{"our own Unknown keeps the heartbeat: not heard from", prev, nodeWithReady(corev1.ConditionUnknown, hb), leaseRenewed(base()), base()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := observe(tt.prev, tt.node, tt.lease, now)
			if !h.probe.Equal(tt.wantProbe) {
				t.Errorf("probe = %v, want %v", h.probe, tt.wantProbe)
			}
		})
	}
}

func TestExpiredAndGrace(t *testing.T) {
	grace, startup := 40*time.Second, time.Minute
	tests := []struct {
		name        string
		node        *corev1.Node
		probe, now  time.Time
		wantExpired bool
	}{
		{"renewed just now", nodeWithReady(corev1.ConditionTrue, base()), base(), base(), false},
		{"at the grace period exactly", nodeWithReady(corev1.ConditionTrue, base()), base(), base().Add(grace), false},
		{"past the grace period", nodeWithReady(corev1.ConditionTrue, base()), base(), base().Add(grace + time.Millisecond), true},
		{"never posted status: startup grace", nodeWithReady("", base()), base(), base().Add(50 * time.Second), false},
		{"never posted status: past startup grace", nodeWithReady("", base()), base(), base().Add(61 * time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gracePeriodFor(tt.node, grace, startup)
			got, deadline := expired(tt.probe, tt.now, g)
			if got != tt.wantExpired {
				t.Errorf("expired = %v, want %v", got, tt.wantExpired)
			}
			if !deadline.Equal(tt.probe.Add(g)) {
				t.Errorf("deadline = %v", deadline)
			}
		})
	}
}

func TestMarkUnknown(t *testing.T) {
	now := base().Add(time.Minute)
	created := metav1.NewTime(base().Add(-time.Hour))
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.NewTime(base()), LastTransitionTime: metav1.NewTime(base())}
	mem := corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"}
	net := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse}

	t.Run("all kubelet conditions become Unknown, others stay", func(t *testing.T) {
		in := []corev1.NodeCondition{ready, mem, net}
		out, changed := markUnknown(in, created, now)
		if !changed {
			t.Fatal("not changed")
		}
		if in[0].Status != corev1.ConditionTrue {
			t.Error("input modified")
		}
		r := findCondition(out, corev1.NodeReady)
		if r.Status != corev1.ConditionUnknown || r.Reason != ReasonNodeStatusUnknown || r.Message != MessageNodeStatusUnknown ||
			!r.LastTransitionTime.Time.Equal(now) || !r.LastHeartbeatTime.Time.Equal(base()) {
			t.Errorf("Ready = %+v", r)
		}
		if m := findCondition(out, corev1.NodeMemoryPressure); m.Status != corev1.ConditionUnknown || m.Reason != ReasonNodeStatusUnknown {
			t.Errorf("MemoryPressure = %+v", m)
		}
		for _, ct := range []corev1.NodeConditionType{corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			c := findCondition(out, ct)
			if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != ReasonNodeStatusNeverUpdated ||
				c.Message != MessageNodeStatusNeverUpdated || !c.LastHeartbeatTime.Equal(&created) {
				t.Errorf("%s = %+v", ct, c)
			}
		}
		if n := findCondition(out, corev1.NodeNetworkUnavailable); n.Status != corev1.ConditionFalse {
			t.Errorf("NetworkUnavailable = %+v", n)
		}
	})
	t.Run("already Unknown: no change", func(t *testing.T) {
		out, _ := markUnknown([]corev1.NodeCondition{ready, mem}, created, now)
		if _, changed := markUnknown(out, created, now.Add(time.Minute)); changed {
			t.Error("changed again")
		}
	})
}

func TestDesiredTaints(t *testing.T) {
	now := base()
	earlier := &metav1.Time{Time: base().Add(-time.Minute)}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: earlier}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: earlier}
	other := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	cond := func(s corev1.ConditionStatus) *corev1.NodeCondition {
		return &corev1.NodeCondition{Type: corev1.NodeReady, Status: s}
	}
	tests := []struct {
		name        string
		taints      []corev1.Taint
		ready       *corev1.NodeCondition
		wantKeys    []string
		wantChanged bool
	}{
		{"ready: nothing", []corev1.Taint{other}, cond(corev1.ConditionTrue), []string{"dedicated"}, false},
		{"unknown: unreachable added", []corev1.Taint{other}, cond(corev1.ConditionUnknown), []string{"dedicated", corev1.TaintNodeUnreachable}, true},
		{"unknown, already tainted", []corev1.Taint{unreachable}, cond(corev1.ConditionUnknown), []string{corev1.TaintNodeUnreachable}, false},
		{"false: not-ready replaces unreachable", []corev1.Taint{unreachable}, cond(corev1.ConditionFalse), []string{corev1.TaintNodeNotReady}, true},
		{"recovered: both go", []corev1.Taint{unreachable, other, notReady}, cond(corev1.ConditionTrue), []string{"dedicated"}, true},
		{"no Ready condition yet", []corev1.Taint{other}, nil, []string{"dedicated"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed := desiredTaints(tt.taints, tt.ready, now)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			var keys []string
			for _, tn := range out {
				keys = append(keys, tn.Key)
				if tn.Key == corev1.TaintNodeUnreachable || tn.Key == corev1.TaintNodeNotReady {
					if tn.TimeAdded == nil {
						t.Errorf("%s without timeAdded", tn.Key)
					} else if tt.wantChanged && !tn.TimeAdded.Time.Equal(now) {
						t.Errorf("%s timeAdded %v, want now", tn.Key, tn.TimeAdded)
					} else if !tt.wantChanged && !tn.TimeAdded.Equal(earlier) {
						t.Errorf("%s timeAdded changed to %v", tn.Key, tn.TimeAdded)
					}
				}
			}
			if len(keys) != len(tt.wantKeys) {
				t.Fatalf("taints %v, want %v", keys, tt.wantKeys)
			}
			for i := range keys {
				if keys[i] != tt.wantKeys[i] {
					t.Errorf("taints %v, want %v", keys, tt.wantKeys)
				}
			}
		})
	}
}

func TestEvictionTime(t *testing.T) {
	now := base().Add(time.Minute)
	added := base()
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}
	custom := corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute} // no timeAdded
	tol := func(key string, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	customSeen := base().Add(30 * time.Second)
	addedFn := func(tn corev1.Taint) time.Time { return taintAdded(tn, customSeen) }
	tests := []struct {
		name      string
		taints    []corev1.Taint
		tols      []corev1.Toleration
		wantEvict bool
		wantAt    time.Time
	}{
		{"no taints", nil, nil, false, time.Time{}},
		{"untolerated: at once", []corev1.Taint{unreachable}, nil, true, now},
		{"tolerated for ever", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, false, time.Time{}},
		{"tolerated for 300s from timeAdded", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, true, added.Add(300 * time.Second)},
		{"tolerated for 0s", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](0))}, true, added},
		{"negative counts as 0", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](-5))}, true, added},
		{"first matching toleration is used", []corev1.Taint{unreachable},
			[]corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](10)), tol("", nil)}, true, added.Add(10 * time.Second)},
		{"one of two taints untolerated", []corev1.Taint{unreachable, custom}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, true, now},
		{"earliest of two", []corev1.Taint{unreachable, custom},
			[]corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](100)), tol("maintenance", ptr.To[int64](5))}, true, customSeen.Add(5 * time.Second)},
		{"wildcard toleration", []corev1.Taint{unreachable, custom}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, false, time.Time{}},
		{"NoSchedule toleration does not count", []corev1.Taint{unreachable},
			[]corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, true, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, evict := evictionTime(tt.taints, tt.tols, addedFn, now)
			if evict != tt.wantEvict || (evict && !at.Equal(tt.wantAt)) {
				t.Errorf("evictionTime = %v, %v; want %v, %v", at, evict, tt.wantAt, tt.wantEvict)
			}
		})
	}
}

func TestPodNotReady(t *testing.T) {
	now := base()
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r"}
	out, changed := podNotReady([]corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, ready}, now)
	if !changed || out[1].Status != corev1.ConditionFalse || !out[1].LastTransitionTime.Time.Equal(now) {
		t.Errorf("got %+v, %v", out, changed)
	}
	if _, changed := podNotReady(out, now); changed {
		t.Error("already false: changed")
	}
	if _, changed := podNotReady([]corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}, now); changed {
		t.Error("no Ready condition: changed")
	}
}
