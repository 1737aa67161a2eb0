package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func scoreOf(t *testing.T, s *Snapshot, pod *v1.Pod, plugin int) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, ns := range s.Score(pod) {
		out[ns.Name] = ns.Plugins[plugin]
	}
	return out
}

func TestScores(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []*v1.Node
		pods   []*v1.Pod
		pod    *v1.Pod
		plugin int
		want   map[string]int64
	}{
		{
			// n1: cpu (4000-1000-1000)/4000 = 50, mem (8-2-1)/8 = 62 -> 56; n2: cpu 75, mem 87 -> 81
			name:  "least allocated",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi"), mkNode("n2", "4", "8Gi")},
			pods:  []*v1.Pod{mkPod("e", "1", "2Gi", onNode("n1"))},
			pod:   mkPod("p", "1", "1Gi"), plugin: ScoreNodeResourcesFit,
			want: map[string]int64{"n1": 56, "n2": 81},
		},
		{
			name:  "least allocated uses non-zero defaults",
			nodes: []*v1.Node{mkNode("n1", "1", "1000Mi")},
			pod:   mkPod("p", "", ""), plugin: ScoreNodeResourcesFit,
			// cpu (1000-100)*100/1000 = 90, mem (1000-200)/1000 = 80 -> 85
			want: map[string]int64{"n1": 85},
		},
		{
			// n1: cpu 2/4=.5 mem 3/8=.375 -> std .0625 -> 93; n2: .25, .125 -> 93
			// n3 (cpu 2, mem 8): .5, .125 -> std .1875 -> 81
			name:  "balanced allocation",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi"), mkNode("n2", "4", "8Gi"), mkNode("n3", "2", "8Gi")},
			pods:  []*v1.Pod{mkPod("e", "1", "2Gi", onNode("n1"))},
			pod:   mkPod("p", "1", "1Gi"), plugin: ScoreBalancedAllocation,
			want: map[string]int64{"n1": 93, "n2": 93, "n3": 81},
		},
		{
			name:  "node affinity preferred normalized",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi", withLabels("disk", "ssd", "gpu", "yes")), mkNode("n2", "4", "8Gi", withLabels("disk", "ssd")), mkNode("n3", "4", "8Gi")},
			pod: mkPod("p", "1", "1Gi",
				preferredNodeAffinityOpt(30, v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}),
				preferredNodeAffinityOpt(10, v1.NodeSelectorRequirement{Key: "gpu", Operator: v1.NodeSelectorOpExists})),
			plugin: ScoreNodeAffinity,
			want:   map[string]int64{"n1": 100, "n2": 75, "n3": 0},
		},
		{
			name: "taint toleration PreferNoSchedule reversed",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi", withTaint("a", "", v1.TaintEffectPreferNoSchedule), withTaint("b", "", v1.TaintEffectPreferNoSchedule)),
				mkNode("n2", "4", "8Gi", withTaint("a", "", v1.TaintEffectPreferNoSchedule)), mkNode("n3", "4", "8Gi")},
			pod:    mkPod("p", "1", "1Gi"),
			plugin: ScoreTaintToleration,
			want:   map[string]int64{"n1": 0, "n2": 50, "n3": 100},
		},
		{
			name:   "taint toleration all clean",
			nodes:  []*v1.Node{mkNode("n1", "4", "8Gi"), mkNode("n2", "4", "8Gi")},
			pod:    mkPod("p", "1", "1Gi"),
			plugin: ScoreTaintToleration,
			want:   map[string]int64{"n1": 100, "n2": 100},
		},
		{
			name: "inter-pod preferred affinity and anti-affinity",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi", withLabels(zoneKey, "a")), mkNode("n2", "4", "8Gi", withLabels(zoneKey, "a")),
				mkNode("n3", "4", "8Gi", withLabels(zoneKey, "b"))},
			pods: []*v1.Pod{mkPod("db", "", "", onNode("n1"), podLabels("app", "db")), mkPod("web", "", "", onNode("n3"), podLabels("app", "web"))},
			pod: mkPod("p", "1", "1Gi", preferredAffinity(10, zoneKey, sel("app", "db"), false),
				preferredAffinity(5, v1.LabelHostname, sel("app", "web"), true)),
			plugin: ScoreInterPodAffinity,
			// raw: n1 10, n2 10, n3 -5 -> min-max: 100, 100, 0
			want: map[string]int64{"n1": 100, "n2": 100, "n3": 0},
		},
		{
			name:  "existing pod's required affinity attracts (hard weight 1)",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi"), mkNode("n2", "4", "8Gi")},
			pods:  []*v1.Pod{mkPod("e", "", "", onNode("n1"), requiredAffinity(v1.LabelHostname, sel("app", "web")))},
			pod:   mkPod("p", "1", "1Gi", podLabels("app", "web")), plugin: ScoreInterPodAffinity,
			want: map[string]int64{"n1": 100, "n2": 0},
		},
		{
			name: "topology spread ScheduleAnyway",
			nodes: []*v1.Node{mkNode("n1", "4", "8Gi", withLabels(zoneKey, "a")), mkNode("n2", "4", "8Gi", withLabels(zoneKey, "b")),
				mkNode("n3", "4", "8Gi")},
			pods: []*v1.Pod{mkPod("e1", "", "", onNode("n1"), podLabels("app", "web")), mkPod("e2", "", "", onNode("n1"), podLabels("app", "web"))},
			pod:  mkPod("p", "1", "1Gi", podLabels("app", "web"), spread(1, zoneKey, v1.ScheduleAnyway, sel("app", "web"))),
			// weight ln(2+2); n1 raw round(2*1.386)=3, n2 0, n3 ignored -> n1 100*(3+0-3)/3=0, n2 100
			plugin: ScorePodTopologySpread,
			want:   map[string]int64{"n1": 0, "n2": 100, "n3": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreOf(t, snapshotWith(tc.nodes, tc.pods...), tc.pod, tc.plugin)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("%s: score %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}

func TestWeightedTotal(t *testing.T) {
	s := snapshotWith([]*v1.Node{mkNode("n1", "4", "8Gi"), mkNode("n2", "4", "8Gi", withTaint("a", "", v1.TaintEffectPreferNoSchedule))})
	for _, ns := range s.Score(mkPod("p", "1", "1Gi")) {
		w := scoreWeights()
		var sum int64
		for i, v := range ns.Plugins {
			sum += v * w[i]
		}
		if sum != ns.Total {
			t.Fatalf("%s total %d != %d", ns.Name, ns.Total, sum)
		}
		if ns.Name == "n1" && ns.Plugins[ScoreTaintToleration] != 100 || ns.Name == "n2" && ns.Plugins[ScoreTaintToleration] != 0 {
			t.Fatalf("taint scores %+v", ns)
		}
	}
}
