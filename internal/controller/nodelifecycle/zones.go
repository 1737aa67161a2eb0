package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
)

// Eviction limits, as upstream's defaults (--node-eviction-rate, --secondary-node-eviction-rate,
// --unhealthy-zone-threshold, --large-cluster-size-threshold).
const (
	DefaultEvictionRate           = 0.1  // nodes per second a healthy zone's nodes are tainted at
	DefaultSecondaryEvictionRate  = 0.01 // the same, in a partly disrupted zone of a large cluster
	DefaultUnhealthyZoneThreshold = 0.55
	DefaultLargeClusterThreshold  = 50
)

// zoneState is the health of the nodes of one zone, as upstream names them.
type zoneState string

const (
	stateInitial           zoneState = "Initial"
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// zoneOf is the key of the node's zone: its region and zone labels (the topology ones, else
// the deprecated failure-domain ones) joined as upstream joins them; "" for a node with
// neither.
func zoneOf(node *corev1.Node) string {
	label := func(key, deprecated string) string {
		if v, ok := node.Labels[key]; ok {
			return v
		}
		return node.Labels[deprecated]
	}
	region := label(corev1.LabelTopologyRegion, corev1.LabelFailureDomainBetaRegion)
	zone := label(corev1.LabelTopologyZone, corev1.LabelFailureDomainBetaZone)
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

// computeZoneState decides a zone's state from its nodes' Ready conditions (nil: none yet): in
// full disruption when no node is ready and some are not, partly disrupted when more than two
// nodes and at least the unhealthy threshold (a fraction) of them are not ready, else normal.
func computeZoneState(ready []*corev1.NodeCondition, unhealthyThreshold float64) zoneState {
	readyNodes, notReadyNodes := 0, 0
	for _, c := range ready {
		if c != nil && c.Status == corev1.ConditionTrue {
			readyNodes++
		} else {
			notReadyNodes++
		}
	}
	switch {
	case readyNodes == 0 && notReadyNodes > 0:
		return stateFullDisruption
	case notReadyNodes > 2 && float64(notReadyNodes)/float64(notReadyNodes+readyNodes) >= unhealthyThreshold:
		return statePartialDisruption
	default:
		return stateNormal
	}
}

// zoneEvictionRate is how many nodes per second of a zone in state, with size nodes, may get
// their first NoExecute taint: the normal rate, also for a zone wholly down (while others are
// up, its nodes are likely gone for good); in a partly disrupted zone, the secondary rate if
// the zone is large and none at all if it is small.
func zoneEvictionRate(state zoneState, size int, rates evictionRates) float32 {
	if state == statePartialDisruption {
		if size > rates.largeCluster {
			return rates.secondary
		}
		return 0
	}
	return rates.primary
}

// evictionRates are the Controller's eviction limits.
type evictionRates struct {
	primary, secondary float32
	unhealthy          float64
	largeCluster       int
}

// NoSchedule taints that follow a node's conditions and spec, as upstream's
// TaintNodesByCondition keeps them.
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// desiredNoScheduleTaints returns the node's taints with the NoSchedule taints its conditions
// and spec.unschedulable call for added and those they no longer call for removed (other
// taints are kept as they are), and whether that changes taints.
func desiredNoScheduleTaints(taints []corev1.Taint, conds []corev1.NodeCondition, unschedulable bool) (out []corev1.Taint, changed bool) {
	want := map[string]bool{}
	for _, ct := range conditionTaints {
		if c := findCondition(conds, ct.cond); c != nil && c.Status == ct.status {
			want[ct.key] = true
		}
	}
	if unschedulable {
		want[corev1.TaintNodeUnschedulable] = true
	}
	managed := func(key string) bool {
		if key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, ct := range conditionTaints {
			if ct.key == key {
				return true
			}
		}
		return false
	}
	have := map[string]bool{}
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoSchedule && managed(t.Key) {
			if !want[t.Key] || have[t.Key] {
				changed = true
				continue
			}
			have[t.Key] = true
		}
		out = append(out, t)
	}
	// Added in a fixed order, so that the same conditions always give the same taints.
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeMemoryPressure,
		corev1.TaintNodeDiskPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeNetworkUnavailable, corev1.TaintNodeUnschedulable} {
		if want[key] && !have[key] {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
			changed = true
		}
	}
	return out, changed
}
