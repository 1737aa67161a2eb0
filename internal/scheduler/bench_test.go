package scheduler

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkScheduleHarness schedules 10,000 pods onto 1,000 nodes through the
// pure core (Schedule + Assume) and reports pods/s. One pod in ten carries a
// preferred anti-affinity and one in ten a soft zone spread constraint.
func BenchmarkScheduleHarness(b *testing.B) {
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			const numNodes, numPods = 1000, 10000
			nodes := make([]*v1.Node, numNodes)
			for i := range nodes {
				nodes[i] = mkNode(fmt.Sprintf("node-%04d", i), "32", "128Gi", withLabels(zoneKey, fmt.Sprintf("zone-%d", i%10)))
			}
			pods := make([]*v1.Pod, numPods)
			for i := range pods {
				opts := []podOpt{podLabels("app", fmt.Sprintf("app-%d", i%50))}
				switch i % 10 {
				case 3:
					opts = append(opts, preferredAffinity(10, v1.LabelHostname, sel("app", fmt.Sprintf("app-%d", i%50)), true))
				case 7:
					opts = append(opts, spread(1, zoneKey, v1.ScheduleAnyway, sel("app", fmt.Sprintf("app-%d", i%50))))
				}
				p := mkPod(fmt.Sprintf("pod-%05d", i), "100m", "256Mi", opts...)
				p.UID = types.UID(fmt.Sprintf("uid-%05d", i))
				pods[i] = p
			}
			b.ResetTimer()
			total := 0
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				s := NewSnapshot(1)
				s.Parallelism = par
				for _, node := range nodes {
					s.SetNode(node)
				}
				b.StartTimer()
				for _, p := range pods {
					res, err := s.Schedule(p)
					if err != nil {
						b.Fatal(err)
					}
					s.Assume(p, res.NodeName)
				}
				total += numPods
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pods/s")
		})
	}
}
