package scheduler

import (
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// MaxNodeScore is the maximum score a plugin gives a node.
const MaxNodeScore int64 = 100

// Score plugins in the order their scores are reported, with upstream's
// default weights.
const (
	ScoreNodeResourcesFit = iota
	ScoreBalancedAllocation
	ScoreNodeAffinity
	ScoreTaintToleration
	ScoreInterPodAffinity
	ScorePodTopologySpread
	numScorePlugins
)

// ScorePluginNames and ScoreWeights are indexed by the Score* constants.
func ScorePluginNames() [numScorePlugins]string {
	return [numScorePlugins]string{PluginNodeResourcesFit, PluginBalancedAllocation, PluginNodeAffinity,
		PluginTaintToleration, PluginInterPodAffinity, PluginPodTopologySpread}
}

func scoreWeights() [numScorePlugins]int64 { return [numScorePlugins]int64{1, 1, 2, 3, 2, 2} }

// NodeScore is a node's normalized (unweighted) per-plugin scores and the
// weighted total.
type NodeScore struct {
	Name    string
	Plugins [numScorePlugins]int64
	Total   int64
}

// score runs every score plugin over the feasible nodes, normalizes like
// upstream and sums with weights. The scores are written into buf (grown when too small)
// and returned.
func (s *Snapshot) score(st *cycleState, feasible []*NodeInfo, buf []NodeScore) []NodeScore {
	pi := st.pod
	out := buf[:0]
	if cap(out) < len(feasible) {
		out = make([]NodeScore, 0, len(feasible))
	}
	out = out[:len(feasible)]
	clear(out)
	hasPreferredNodeAff := pi.Pod.Spec.Affinity != nil && pi.Pod.Spec.Affinity.NodeAffinity != nil &&
		len(pi.Pod.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0
	ipa := s.interPodPreScore(pi)
	spr := s.spreadPreScore(pi, feasible)
	bestEffort := pi.Requests.MilliCPU == 0 && pi.Requests.Memory == 0
	for i, ni := range feasible {
		ns := &out[i]
		ns.Name = ni.Node.Name
		ns.Plugins[ScoreNodeResourcesFit] = leastAllocatedScore(pi, ni)
		if !bestEffort {
			ns.Plugins[ScoreBalancedAllocation] = balancedAllocationScore(pi, ni)
		}
		if hasPreferredNodeAff {
			ns.Plugins[ScoreNodeAffinity] = preferredNodeAffinityScore(pi.Pod, ni.Node)
		}
		ns.Plugins[ScoreTaintToleration] = intolerablePreferNoSchedule(ni.Node, pi.hasPreferNoSched)
		if ipa != nil {
			ns.Plugins[ScoreInterPodAffinity] = ipa.score(ni.Node)
		}
		if spr != nil {
			ns.Plugins[ScorePodTopologySpread] = spr.score(ni)
		}
	}
	if hasPreferredNodeAff {
		defaultNormalize(out, ScoreNodeAffinity, false)
	}
	defaultNormalize(out, ScoreTaintToleration, true)
	if ipa != nil {
		minMaxNormalize(out, ScoreInterPodAffinity)
	}
	if spr != nil {
		spr.normalize(out)
	}
	w := scoreWeights()
	for i := range out {
		var t int64
		for p := range out[i].Plugins {
			t += out[i].Plugins[p] * w[p]
		}
		out[i].Total = t
	}
	return out
}

// defaultNormalize is upstream helper.DefaultNormalizeScore.
func defaultNormalize(scores []NodeScore, p int, reverse bool) {
	var maxV int64
	for i := range scores {
		maxV = max(maxV, scores[i].Plugins[p])
	}
	if maxV == 0 {
		if reverse {
			for i := range scores {
				scores[i].Plugins[p] = MaxNodeScore
			}
		}
		return
	}
	for i := range scores {
		v := MaxNodeScore * scores[i].Plugins[p] / maxV
		if reverse {
			v = MaxNodeScore - v
		}
		scores[i].Plugins[p] = v
	}
}

func minMaxNormalize(scores []NodeScore, p int) {
	minV, maxV := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range scores {
		minV = min(minV, scores[i].Plugins[p])
		maxV = max(maxV, scores[i].Plugins[p])
	}
	diff := maxV - minV
	for i := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(MaxNodeScore) * float64(scores[i].Plugins[p]-minV) / float64(diff)
		}
		scores[i].Plugins[p] = int64(f)
	}
}

// leastAllocatedScore: mean over cpu and memory of (alloc-requested)*100/alloc,
// using non-zero requests including the pod.
func leastAllocatedScore(pi *PodInfo, ni *NodeInfo) int64 {
	var sum, weights int64
	one := func(req, alloc int64) {
		if alloc == 0 {
			return
		}
		weights++
		if req > alloc {
			return
		}
		sum += (alloc - req) * MaxNodeScore / alloc
	}
	one(ni.NonZeroCPU+pi.NonZeroCPU, ni.Allocatable.MilliCPU)
	one(ni.NonZeroMem+pi.NonZeroMem, ni.Allocatable.Memory)
	if weights == 0 {
		return 0
	}
	return sum / weights
}

// balancedAllocationScore: (1 - std(fractions)) * 100 over cpu and memory
// requested fractions (actual requests, including the pod).
func balancedAllocationScore(pi *PodInfo, ni *NodeInfo) int64 {
	var fr []float64
	var total float64
	one := func(req, alloc int64) {
		if alloc == 0 {
			return
		}
		f := float64(req) / float64(alloc)
		if f > 1 {
			f = 1
		}
		total += f
		fr = append(fr, f)
	}
	one(ni.Requested.MilliCPU+pi.Requests.MilliCPU, ni.Allocatable.MilliCPU)
	one(ni.Requested.Memory+pi.Requests.Memory, ni.Allocatable.Memory)
	std := 0.0
	switch {
	case len(fr) == 2:
		std = math.Abs((fr[0] - fr[1]) / 2)
	case len(fr) > 2:
		mean := total / float64(len(fr))
		var ss float64
		for _, f := range fr {
			ss += (f - mean) * (f - mean)
		}
		std = math.Sqrt(ss / float64(len(fr)))
	}
	return int64((1 - std) * float64(MaxNodeScore))
}

func intolerablePreferNoSchedule(node *v1.Node, ts []v1.Toleration) int64 {
	var n int64
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !tolerationsTolerate(ts, t) {
			n++
		}
	}
	return n
}

// ---- InterPodAffinity score ----

type interPodScore map[string]map[string]int64 // topology key -> value -> score

func (m interPodScore) add(node *v1.Node, key string, w int64) {
	v, ok := node.Labels[key]
	if !ok {
		return
	}
	vs := m[key]
	if vs == nil {
		vs = map[string]int64{}
		m[key] = vs
	}
	vs[v] += w
}

// hardPodAffinityWeight is upstream's default InterPodAffinityArgs.HardPodAffinityWeight.
const hardPodAffinityWeight = 1

func (s *Snapshot) interPodPreScore(pi *PodInfo) interPodScore {
	hasPreferred := len(pi.PreferredAffinity)+len(pi.PreferredAnti) > 0
	if !hasPreferred && len(s.affGroups) == 0 {
		return nil
	}
	m := interPodScore{}
	nsLabels := s.nsLabels(pi.Pod.Namespace)
	// The incoming pod's preferred terms against all pods, one match per label group.
	if hasPreferred {
		for _, g := range s.groups {
			gNS := s.nsLabels(g.namespace)
			for ti := range pi.PreferredAffinity {
				if t := &pi.PreferredAffinity[ti]; t.matchesGroup(g, gNS) {
					for ni, n := range g.nodes {
						if ni.Node != nil {
							m.add(ni.Node, t.topologyKey, int64(t.weight)*int64(n))
						}
					}
				}
			}
			for ti := range pi.PreferredAnti {
				if t := &pi.PreferredAnti[ti]; t.matchesGroup(g, gNS) {
					for ni, n := range g.nodes {
						if ni.Node != nil {
							m.add(ni.Node, t.topologyKey, -int64(t.weight)*int64(n))
						}
					}
				}
			}
		}
	}
	// Existing pods' terms against the incoming pod.
	for _, g := range s.affGroups {
		ep := g.rep
		apply := func(t *affinityTerm, w int64) {
			if !t.matches(pi.Pod, nsLabels) {
				return
			}
			for ni, n := range g.nodes {
				if ni.Node != nil && len(ni.Node.Labels) > 0 {
					m.add(ni.Node, t.topologyKey, w*int64(n))
				}
			}
		}
		for i := range ep.RequiredAffinity {
			apply(&ep.RequiredAffinity[i], hardPodAffinityWeight)
		}
		for i := range ep.PreferredAffinity {
			apply(&ep.PreferredAffinity[i], int64(ep.PreferredAffinity[i].weight))
		}
		for i := range ep.PreferredAnti {
			apply(&ep.PreferredAnti[i], -int64(ep.PreferredAnti[i].weight))
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func (m interPodScore) score(node *v1.Node) int64 {
	var s int64
	for key, vs := range m {
		if v, ok := node.Labels[key]; ok {
			s += vs[v]
		}
	}
	return s
}

// ---- PodTopologySpread score ----

type spreadScore struct {
	pod *PodInfo
	// systemDefaulted is set when cs are the system default constraints: then nodes missing a
	// topology key are not ignored, each constraint just skips them (as upstream).
	systemDefaulted bool
	cs              []spreadConstraint
	ignored         map[string]bool
	counts          []map[string]int64
	// hostGroups, for a hostname constraint, are the label groups its selector matches: a
	// node's count is read from them when it is scored (a group knows its pods per node),
	// rather than copied for every node of every group before scoring.
	hostGroups [][]*labelGroup
	weights    []float64
}

func (s *Snapshot) spreadPreScore(pi *PodInfo, feasible []*NodeInfo) *spreadScore {
	cs, err := compileSpread(pi.Pod, v1.ScheduleAnyway)
	systemDefaulted := false
	if err == nil && len(pi.Pod.Spec.TopologySpreadConstraints) == 0 {
		cs, systemDefaulted = defaultSpread(pi.Pod), true
	}
	if err != nil || len(cs) == 0 {
		return nil
	}
	st := &spreadScore{pod: pi, systemDefaulted: systemDefaulted, cs: cs, ignored: map[string]bool{}, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs))}
	size := make([]int, len(cs))
	st.hostGroups = make([][]*labelGroup, len(cs))
	for i := range cs {
		st.counts[i] = map[string]int64{}
	}
	for _, ni := range feasible {
		if !systemDefaulted && !hasAllKeys(ni.Node, cs) {
			st.ignored[ni.Node.Name] = true
			continue
		}
		for i := range cs {
			if cs[i].key == v1.LabelHostname {
				continue
			}
			v, ok := ni.Node.Labels[cs[i].key]
			if !ok {
				continue
			}
			if _, ok := st.counts[i][v]; !ok {
				st.counts[i][v] = 0
				size[i]++
			}
		}
	}
	for i := range cs {
		sz := size[i]
		if cs[i].key == v1.LabelHostname {
			sz = len(feasible) - len(st.ignored)
		}
		st.weights[i] = math.Log(float64(sz + 2))
	}
	for _, g := range s.groups {
		if g.namespace != pi.Pod.Namespace || g.terminating {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.key != v1.LabelHostname && len(st.counts[i]) == 0 {
				continue // no feasible node is in any domain of this key: nothing to count
			}
			if !c.selector.Matches(g.labels) {
				continue
			}
			if c.key == v1.LabelHostname {
				st.hostGroups[i] = append(st.hostGroups[i], g)
				continue
			}
			for ni, n := range g.nodes {
				if ni.Node == nil || (!systemDefaulted && !hasAllKeys(ni.Node, cs)) {
					continue
				}
				if _, ok := ni.Node.Labels[c.key]; !ok {
					continue
				}
				if !c.nodeIncluded(pi, ni.Node) {
					continue
				}
				v := ni.Node.Labels[c.key]
				if _, ok := st.counts[i][v]; ok {
					st.counts[i][v] += int64(n)
				}
			}
		}
	}
	return st
}

func (st *spreadScore) score(ni *NodeInfo) int64 {
	if st.ignored[ni.Node.Name] {
		return 0
	}
	var score float64
	for i := range st.cs {
		c := &st.cs[i]
		v, ok := ni.Node.Labels[c.key]
		if !ok {
			continue
		}
		var cnt int64
		if c.key == v1.LabelHostname {
			// A scored node is feasible and, unless ignored, has every topology key: the
			// conditions under which its pods count.
			for _, g := range st.hostGroups[i] {
				cnt += int64(g.nodes[ni])
			}
		} else {
			cnt = st.counts[i][v]
		}
		score += float64(cnt)*st.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score))
}

func (st *spreadScore) normalize(scores []NodeScore) {
	p := ScorePodTopologySpread
	minV, maxV := int64(math.MaxInt64), int64(0)
	for i := range scores {
		if st.ignored[scores[i].Name] {
			continue
		}
		minV = min(minV, scores[i].Plugins[p])
		maxV = max(maxV, scores[i].Plugins[p])
	}
	for i := range scores {
		if st.ignored[scores[i].Name] {
			scores[i].Plugins[p] = 0
			continue
		}
		if maxV == 0 {
			scores[i].Plugins[p] = MaxNodeScore
			continue
		}
		scores[i].Plugins[p] = MaxNodeScore * (maxV + minV - scores[i].Plugins[p]) / maxV
	}
}

// uniquePodLabels are labels that differ between pods of one controller, and so say nothing
// about which pods belong together.
var uniquePodLabels = map[string]bool{
	"statefulset.kubernetes.io/pod-name":       true,
	"apps.kubernetes.io/pod-index":             true,
	"batch.kubernetes.io/job-completion-index": true,
}

// defaultSpread returns the cluster's default spreading for a pod that declares none, as
// upstream's system defaults: ScheduleAnyway, maxSkew 3 over nodes and 5 over zones. Upstream
// selects "the pods of the same Services and controllers"; this scheduler has no listers for
// those, so it uses the labels the pod shares with its siblings: its own labels, less the ones
// unique per pod. Only pods with a controller get it, as only they have siblings.
func defaultSpread(pod *v1.Pod) []spreadConstraint {
	if metav1.GetControllerOf(pod) == nil || len(pod.Labels) == 0 {
		return nil
	}
	set := labels.Set{}
	for k, v := range pod.Labels {
		if !uniquePodLabels[k] {
			set[k] = v
		}
	}
	if len(set) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(set)
	return []spreadConstraint{
		{maxSkew: 3, key: v1.LabelHostname, selector: sel, minDomains: 1, honorAffinity: true},
		{maxSkew: 5, key: v1.LabelTopologyZone, selector: sel, minDomains: 1, honorAffinity: true},
	}
}
