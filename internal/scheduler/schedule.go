package scheduler

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Result is a successful scheduling decision.
type Result struct {
	// NodeName is the chosen node.
	NodeName string
	// EvaluatedNodes is how many nodes were filtered; FeasibleNodes how many fit.
	EvaluatedNodes int
	FeasibleNodes  int
	// Scores holds the scored candidates (nil when only one node fit). It is valid until
	// the snapshot's next Schedule.
	Scores []NodeScore
}

const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// numFeasibleNodesToFind is upstream's adaptive percentageOfNodesToScore.
func (s *Snapshot) numFeasibleNodesToFind(numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	pct := int(s.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = 50 - numAll/125
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	n := numAll * pct / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// Schedule picks a node for pod without changing the snapshot. It returns a
// *FitError when no node fits (call Preempt next), or an error satisfying
// ErrNoNodesAvailable when there are no nodes at all.
func (s *Snapshot) Schedule(pod *v1.Pod) (Result, error) {
	if len(s.list) == 0 {
		return Result{}, errNoNodesAvailable
	}
	pi := NewPodInfo(pod)
	st, msg := s.preFilter(pi)
	if msg != "" {
		return Result{}, &FitError{Pod: pod, NumAllNodes: len(s.list), PreFilterMsg: msg,
			UnschedulablePlugins: sets.New(PluginPodTopologySpread)}
	}
	// A pod nominated by an earlier preemption tries its nominated node first.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni := s.NodeInfo(nn); ni != nil && s.runFilters(st, ni).IsSuccess() {
			return Result{NodeName: nn, EvaluatedNodes: 1, FeasibleNodes: 1}, nil
		}
	}
	feasible, statuses, evaluated := s.findFeasible(st)
	if len(feasible) == 0 {
		fe := &FitError{Pod: pod, NumAllNodes: len(s.list), NodeToStatus: statuses, UnschedulablePlugins: sets.New[string]()}
		for _, st := range statuses {
			fe.UnschedulablePlugins.Insert(st.Plugin)
		}
		return Result{}, fe
	}
	if len(feasible) == 1 {
		return Result{NodeName: feasible[0].Node.Name, EvaluatedNodes: evaluated, FeasibleNodes: 1}, nil
	}
	// The scores of one cycle are dropped at its end: their slice is reused by the next
	// (≈ 30 KiB per pod at 1,000 nodes, the scheduler's largest allocation).
	scores := s.score(st, feasible, s.scoreBuf)
	s.scoreBuf = scores
	return Result{NodeName: s.selectHost(scores), EvaluatedNodes: evaluated, FeasibleNodes: len(feasible), Scores: scores}, nil
}

// Filter runs all filters for pod against one node (nil status = fits).
func (s *Snapshot) Filter(pod *v1.Pod, nodeName string) *Status {
	ni := s.NodeInfo(nodeName)
	if ni == nil {
		return newStatus(UnschedulableAndUnresolvable, "", "node not found")
	}
	st, msg := s.preFilter(NewPodInfo(pod))
	if msg != "" {
		return newStatus(UnschedulableAndUnresolvable, PluginPodTopologySpread, msg)
	}
	return s.runFilters(st, ni)
}

// Score filters all nodes and returns the scores of the feasible ones,
// in node-name order.
func (s *Snapshot) Score(pod *v1.Pod) []NodeScore {
	pi := NewPodInfo(pod)
	st, msg := s.preFilter(pi)
	if msg != "" {
		return nil
	}
	var feasible []*NodeInfo
	for _, ni := range s.list {
		if s.runFilters(st, ni).IsSuccess() {
			feasible = append(feasible, ni)
		}
	}
	if len(feasible) == 0 {
		return nil
	}
	return s.score(st, feasible, nil)
}

// findFeasible filters nodes starting at the rotating start index until
// enough feasible nodes are found (all nodes when none fits).
func (s *Snapshot) findFeasible(st *cycleState) ([]*NodeInfo, map[string]*Status, int) {
	n := len(s.list)
	want := s.numFeasibleNodesToFind(n)
	start := s.nextStart % n
	statuses := map[string]*Status{}
	if s.Parallelism <= 1 || n < 2*minFeasibleNodesToFind {
		feasible := make([]*NodeInfo, 0, min(want, 64))
		evaluated := 0
		for i := 0; i < n && len(feasible) < want; i++ {
			ni := s.list[(start+i)%n]
			evaluated++
			if r := s.runFilters(st, ni); r != nil {
				statuses[ni.Node.Name] = r
			} else {
				feasible = append(feasible, ni)
			}
		}
		s.nextStart = (start + evaluated) % n
		return feasible, statuses, evaluated
	}
	// Parallel: workers claim chunks of nodes; stop once enough fit.
	const chunk = 32
	results := make([]*Status, n)
	fits := make([]bool, n)
	var next, found atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < s.Parallelism; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for found.Load() < int64(want) {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					ni := s.list[(start+i)%n]
					if r := s.runFilters(st, ni); r != nil {
						results[i] = r
					} else {
						fits[i] = true
						found.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	var feasible []*NodeInfo
	evaluated := 0
	for i := 0; i < n; i++ {
		ni := s.list[(start+i)%n]
		if fits[i] {
			if len(feasible) < want {
				feasible = append(feasible, ni)
			}
			evaluated = i + 1
		} else if results[i] != nil {
			statuses[ni.Node.Name] = results[i]
			evaluated = i + 1
		}
	}
	s.nextStart = (start + evaluated) % n
	return feasible, statuses, evaluated
}

// selectHost returns the highest-scoring node, breaking ties uniformly at
// random (reservoir sampling, like upstream).
func (s *Snapshot) selectHost(scores []NodeScore) string {
	best := scores[0]
	cnt := 1
	for _, ns := range scores[1:] {
		if ns.Total > best.Total {
			best = ns
			cnt = 1
		} else if ns.Total == best.Total {
			cnt++
			if s.rng.IntN(cnt) == 0 {
				best = ns
			}
		}
	}
	return best.Name
}
