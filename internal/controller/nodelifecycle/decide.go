package nodelifecycle

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// Defaults, as upstream's.
const (
	DefaultGracePeriod        = 40 * time.Second
	DefaultStartupGracePeriod = time.Minute
	DefaultMonitorPeriod      = 5 * time.Second
)

// Condition reasons and messages, event reasons.
const (
	ReasonNodeStatusUnknown       = "NodeStatusUnknown"
	MessageNodeStatusUnknown      = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated  = "NodeStatusNeverUpdated"
	MessageNodeStatusNeverUpdated = "Kubelet never posted node status."

	// ReasonDeletionByTaintManager is the reason of the DisruptionTarget condition of an
	// evicted pod.
	ReasonDeletionByTaintManager  = "DeletionByTaintManager"
	MessageDeletionByTaintManager = "Taint manager: deleting due to NoExecute taint"

	EventTaintManagerEviction = "TaintManagerEviction"
	EventNodeNotReady         = "NodeNotReady"
)

// UnreachableTaint is the taint of a node whose Ready condition is Unknown (without timeAdded,
// which is set when it is added).
func UnreachableTaint() corev1.Taint {
	return corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
}

// NotReadyTaint is the taint of a node whose Ready condition is False.
func NotReadyTaint() corev1.Taint {
	return corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
}

// monitoredConditions are the conditions set to Unknown when a node goes silent.
// NetworkUnavailable is not the kubelet's and is left alone.
func monitoredConditions() []corev1.NodeConditionType {
	return []corev1.NodeConditionType{
		corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
	}
}

// health is what the controller remembers of a node: when it last heard from it (on its own
// clock) and what it heard.
type health struct {
	// probe is when the node was last heard from.
	probe time.Time
	// hasReady and readyHeartbeat are the node's Ready condition's presence and
	// lastHeartbeatTime when last observed.
	hasReady       bool
	readyHeartbeat metav1.Time
	// leaseRenew is the Lease's spec.renewTime when last observed (zero: no lease seen).
	leaseRenew time.Time
}

// observe returns the node's health record after looking at node and its lease (nil when
// there is none) at now. prev is the previous record (nil the first time): a node seen for
// the first time counts as heard from now, unless it never posted a Ready condition (then
// from its creation, which the startup grace period is counted from).
func observe(prev *health, node *corev1.Node, lease *coordinationv1.Lease, now time.Time) health {
	ready := findCondition(node.Status.Conditions, corev1.NodeReady)
	var h health
	switch {
	case prev == nil && ready == nil:
		h = health{probe: node.CreationTimestamp.Time}
	case prev == nil, prev.hasReady != (ready != nil):
		h = health{probe: now}
	case ready != nil && !prev.readyHeartbeat.Equal(&ready.LastHeartbeatTime):
		h = health{probe: now}
	default:
		h = *prev
	}
	if ready != nil {
		h.hasReady, h.readyHeartbeat = true, ready.LastHeartbeatTime
	}
	if lease != nil && lease.Spec.RenewTime != nil {
		renew := lease.Spec.RenewTime.Time
		if prev == nil || renew.After(prev.leaseRenew) {
			h.probe = now
		}
		h.leaseRenew = renew
	} else if prev != nil {
		h.leaseRenew = prev.leaseRenew
	}
	return h
}

// gracePeriodFor is the grace period the node is entitled to: the startup one until it has
// posted a Ready condition.
func gracePeriodFor(node *corev1.Node, grace, startupGrace time.Duration) time.Duration {
	if findCondition(node.Status.Conditions, corev1.NodeReady) == nil {
		return startupGrace
	}
	return grace
}

// expired reports whether a node last heard from at probe is overdue at now, and otherwise
// when it will be.
func expired(probe, now time.Time, grace time.Duration) (bool, time.Time) {
	deadline := probe.Add(grace)
	return now.After(deadline), deadline
}

// markUnknown returns the conditions of a node that has gone silent: the monitored
// conditions set to Unknown (added when missing), the others unchanged. changed reports
// whether anything differs from conds, which is not modified.
func markUnknown(conds []corev1.NodeCondition, created metav1.Time, now time.Time) (out []corev1.NodeCondition, changed bool) {
	ts := metav1.NewTime(now)
	types := monitoredConditions()
	out = make([]corev1.NodeCondition, len(conds), len(conds)+len(types))
	copy(out, conds)
	for _, t := range types {
		c := findCondition(out, t)
		if c == nil {
			out = append(out, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: MessageNodeStatusNeverUpdated,
				LastHeartbeatTime: created, LastTransitionTime: ts,
			})
			changed = true
			continue
		}
		if c.Status != corev1.ConditionUnknown {
			c.Status = corev1.ConditionUnknown
			c.Reason, c.Message = ReasonNodeStatusUnknown, MessageNodeStatusUnknown
			c.LastTransitionTime = ts
			changed = true
		}
	}
	return out, changed
}

// desiredTaints returns the node's taints given its Ready condition (nil: none yet): the
// unreachable NoExecute taint when Unknown, the not-ready one when False, neither when True
// or absent (the startup grace period turns an absent one into Unknown). A taint that stays
// keeps its timeAdded; a new one gets now. changed reports whether they differ from taints.
func desiredTaints(taints []corev1.Taint, ready *corev1.NodeCondition, now time.Time) (out []corev1.Taint, changed bool) {
	unreachable, notReady := UnreachableTaint(), NotReadyTaint()
	var want *corev1.Taint
	if ready != nil {
		switch ready.Status {
		case corev1.ConditionUnknown:
			want = &unreachable
		case corev1.ConditionFalse:
			want = &notReady
		}
	}
	have := false
	for _, t := range taints {
		if want != nil && t.MatchTaint(want) && !have {
			have = true
			out = append(out, t)
			continue
		}
		if t.MatchTaint(&unreachable) || t.MatchTaint(&notReady) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	if want != nil && !have {
		t := *want
		t.TimeAdded = &metav1.Time{Time: now}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

// noExecuteTaints returns the NoExecute taints among taints.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// evictionTime decides when a pod with tolerations must leave a node with the given NoExecute
// taints: never (evict false) or at the returned time (at or before now: at once). Each
// taint is matched with the first toleration tolerating it: none evicts at once, one without
// tolerationSeconds never, one with tolerationSeconds (negative counts as 0) that long after
// the taint was added. added tells when a taint was added (its timeAdded, normally).
func evictionTime(taints []corev1.Taint, tolerations []corev1.Toleration, added func(corev1.Taint) time.Time, now time.Time) (at time.Time, evict bool) {
	logger := klog.Background()
	for i := range taints {
		taint := &taints[i]
		var used *corev1.Toleration
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(logger, taint, true) {
				used = &tolerations[j]
				break
			}
		}
		var when time.Time
		switch {
		case used == nil:
			return now, true
		case used.TolerationSeconds == nil:
			continue
		default:
			when = added(*taint).Add(time.Duration(max(*used.TolerationSeconds, 0)) * time.Second)
		}
		if !evict || when.Before(at) {
			at, evict = when, true
		}
	}
	return at, evict
}

// taintAdded is when a taint was added: its timeAdded, or fallback when it has none.
func taintAdded(t corev1.Taint, fallback time.Time) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	return fallback
}

// podNotReady returns the pod's conditions with Ready set to False (at now), and whether
// that changes anything: a pod with no Ready condition, or one already False, is left alone,
// as upstream does.
func podNotReady(conds []corev1.PodCondition, now time.Time) ([]corev1.PodCondition, bool) {
	for i := range conds {
		if conds[i].Type != corev1.PodReady {
			continue
		}
		if conds[i].Status == corev1.ConditionFalse {
			return conds, false
		}
		out := append([]corev1.PodCondition(nil), conds...)
		out[i].Status = corev1.ConditionFalse
		out[i].LastTransitionTime = metav1.NewTime(now)
		return out, true
	}
	return conds, false
}

// disruptionCondition is the condition added to a pod before the taint manager deletes it.
func disruptionCondition(now time.Time) corev1.PodCondition {
	return corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		Reason:             ReasonDeletionByTaintManager,
		Message:            MessageDeletionByTaintManager,
		LastTransitionTime: metav1.NewTime(now),
	}
}

func findCondition(conds []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
