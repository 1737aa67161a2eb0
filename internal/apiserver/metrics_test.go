package apiserver

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func summaryAt(at time.Time, nodeCPU uint64, containers map[string]uint64) []nodeSummary {
	u := func(v uint64) *uint64 { return &v }
	ws := uint64(64 << 20)
	sum := &summary{Node: summaryNode{NodeName: "n1",
		CPU:    &summaryCPU{Time: metav1.NewTime(at), UsageCoreNanoSeconds: u(nodeCPU)},
		Memory: &summaryMemory{Time: metav1.NewTime(at), WorkingSetBytes: u(ws)}}}
	p := summaryPod{}
	p.PodRef.Name, p.PodRef.Namespace, p.PodRef.UID = "web", "default", "uid-1"
	for name, total := range containers {
		p.Containers = append(p.Containers, summaryContainer{Name: name,
			CPU:    &summaryCPU{Time: metav1.NewTime(at), UsageCoreNanoSeconds: u(total)},
			Memory: &summaryMemory{Time: metav1.NewTime(at), WorkingSetBytes: u(ws)}})
	}
	sum.Pods = append(sum.Pods, p)
	return []nodeSummary{{node: "n1", sum: sum}, {node: "unreachable"}}
}

// CPU use is the rate between two readings of the cumulative counters; a pod is reported
// only once every container has two readings.
func TestRecordMetricsRates(t *testing.T) {
	s := &Server{}
	t0 := time.Now()
	s.recordMetrics(summaryAt(t0, 1e9, map[string]uint64{"app": 5e8}))
	if len(s.metrics.nodes) != 0 || len(s.metrics.pods) != 0 {
		t.Fatalf("one reading gave usage: %v %v", s.metrics.nodes, s.metrics.pods)
	}
	// A second container appears with the second reading: the pod is not complete yet.
	s.recordMetrics(summaryAt(t0.Add(2*time.Second), 3e9, map[string]uint64{"app": 9e8, "sidecar": 1e8}))
	if got := s.metrics.nodes["n1"]; got.cpuNano != 1e9 || got.window != 2*time.Second || got.memBytes != 64<<20 {
		t.Errorf("node usage = %+v, want 1 core over 2s", got)
	}
	if _, ok := s.metrics.pods["default/web"]; ok {
		t.Errorf("a pod with an unmeasured container was reported: %+v", s.metrics.pods)
	}
	s.recordMetrics(summaryAt(t0.Add(4*time.Second), 4e9, map[string]uint64{"app": 13e8, "sidecar": 2e8}))
	p, ok := s.metrics.pods["default/web"]
	if !ok || len(p.containers) != 2 {
		t.Fatalf("pod usage = %+v", s.metrics.pods)
	}
	if p.containers[0].name != "app" || p.containers[0].cpuNano != 2e8 || p.containers[1].cpuNano != 5e7 {
		t.Errorf("container usage = %+v, want app 200m and sidecar 50m", p.containers)
	}
	if _, ok := s.metrics.nodes["unreachable"]; ok {
		t.Error("a node whose kubelet did not answer has usage")
	}
	// A counter that went backwards (container restarted) gives no rate.
	s.recordMetrics(summaryAt(t0.Add(6*time.Second), 5e9, map[string]uint64{"app": 1e8, "sidecar": 3e8}))
	if _, ok := s.metrics.pods["default/web"]; ok {
		t.Error("a pod whose counter went backwards was reported")
	}
	if s.recordMetrics(nil) {
		t.Error("recording no summaries (nodes not listed) replaced the usage")
	}
}
