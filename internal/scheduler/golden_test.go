package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenScenario schedules pods in order over a harness and renders every
// decision with per-plugin scores.
type goldenScenario struct {
	name  string
	nodes []*v1.Node
	bound []*v1.Pod
	pods  []*v1.Pod
}

func renderScenario(sc goldenScenario) string {
	h := NewHarness(42)
	h.AddNode(sc.nodes...)
	h.AddPod(sc.bound...)
	var b strings.Builder
	names := ScorePluginNames()
	for _, p := range sc.pods {
		scores := h.Snap.Score(p)
		fmt.Fprintf(&b, "pod %s\n", p.Name)
		for _, ns := range scores {
			fmt.Fprintf(&b, "  %-4s total=%-4d", ns.Name, ns.Total)
			for i, v := range ns.Plugins {
				fmt.Fprintf(&b, " %s=%d", names[i], v)
			}
			b.WriteString("\n")
		}
		node, err := h.Schedule(p)
		if err != nil {
			fmt.Fprintf(&b, "  => FailedScheduling: %s\n", err)
			if nn := h.Snap.NominatedNode(p.UID); nn != "" {
				fmt.Fprintf(&b, "  => nominated %s, preempted %v\n", nn, h.Preempted)
			}
			continue
		}
		fmt.Fprintf(&b, "  => bound to %s\n", node)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	zones := func() []*v1.Node {
		return []*v1.Node{
			mkNode("a1", "4", "8Gi", withLabels(zoneKey, "a")),
			mkNode("a2", "8", "16Gi", withLabels(zoneKey, "a", "disk", "ssd")),
			mkNode("b1", "4", "8Gi", withLabels(zoneKey, "b", "disk", "ssd"), withTaint("spot", "true", v1.TaintEffectPreferNoSchedule)),
			mkNode("c1", "2", "4Gi", withLabels(zoneKey, "c"), withTaint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule)),
		}
	}
	scenarios := []goldenScenario{
		{
			name:  "mixed",
			nodes: zones(),
			bound: []*v1.Pod{mkPod("db-0", "1", "2Gi", onNode("a1"), podLabels("app", "db"))},
			pods: []*v1.Pod{
				mkPod("web-0", "500m", "512Mi", podLabels("app", "web"), preferredAffinity(50, zoneKey, sel("app", "db"), false),
					preferredNodeAffinityOpt(20, v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}})),
				mkPod("web-1", "500m", "512Mi", podLabels("app", "web"), spread(1, zoneKey, v1.ScheduleAnyway, sel("app", "web"))),
				mkPod("huge", "16", "1Gi"),
				mkPod("ssd-only", "1", "1Gi", nodeSelector("disk", "ssd"),
					tolerate(v1.Toleration{Key: "spot", Operator: v1.TolerationOpExists})),
			},
		},
		{
			name:  "preemption",
			nodes: []*v1.Node{mkNode("n1", "2", "4Gi"), mkNode("n2", "2", "4Gi")},
			bound: []*v1.Pod{
				mkPod("low-1", "2", "1Gi", onNode("n1"), prio(1)),
				mkPod("mid-1", "1", "1Gi", onNode("n2"), prio(5)), mkPod("mid-2", "1", "1Gi", onNode("n2"), prio(5)),
			},
			pods: []*v1.Pod{mkPod("urgent", "2", "1Gi", prio(100)), mkPod("filler", "1", "1Gi")},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := renderScenario(sc)
			path := filepath.Join("testdata", sc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(want) != got {
				t.Fatalf("golden mismatch for %s\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}
