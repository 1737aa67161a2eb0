package job

import (
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// unknownIndex is the completion index of a pod that has none (or an unparsable one).
const unknownIndex = -1

// interval is an inclusive range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent intervals, the representation of
// status.completedIndexes ("1,3-5,7").
type intervals []interval

// parseIntervals parses a completedIndexes string, dropping indexes >= completions and
// anything malformed.
func parseIntervals(s string, completions int) intervals {
	var idx []int
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil || a < 0 {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(last); err != nil || b < a {
				continue
			}
		}
		b = min(b, completions-1)
		for i := a; i <= b; i++ {
			idx = append(idx, i)
		}
	}
	return intervals(nil).with(idx)
}

// with returns the intervals plus the given indexes (in any order, duplicates allowed).
func (iv intervals) with(idx []int) intervals {
	if len(idx) == 0 {
		return iv
	}
	all := make([]interval, 0, len(iv)+len(idx))
	all = append(all, iv...)
	for _, i := range idx {
		all = append(all, interval{i, i})
	}
	slices.SortFunc(all, func(a, b interval) int { return a.first - b.first })
	var out intervals
	for _, x := range all {
		if n := len(out); n > 0 && x.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, x.last)
			continue
		}
		out = append(out, x)
	}
	return out
}

func (iv intervals) has(i int) bool {
	for _, x := range iv {
		if i < x.first {
			return false
		}
		if i <= x.last {
			return true
		}
	}
	return false
}

func (iv intervals) total() int {
	n := 0
	for _, x := range iv {
		n += x.last - x.first + 1
	}
	return n
}

func (iv intervals) String() string {
	var b strings.Builder
	for i, x := range iv {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x.first))
		if x.last != x.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(x.last))
		}
	}
	return b.String()
}

// completionIndex returns the pod's completion index (from its annotation, falling back to
// its label), or unknownIndex.
func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return unknownIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownIndex
	}
	return i
}

// validIndex reports whether i is an index of a Job with the given completions.
func validIndex(i, completions int) bool { return i != unknownIndex && i < completions }

// pendingIndexes returns up to n of the smallest indexes below completions that have
// neither succeeded nor an active pod.
func pendingIndexes(succeeded intervals, active []*corev1.Pod, completions, n int) []int {
	taken := map[int]bool{}
	for _, p := range active {
		taken[completionIndex(p)] = true
	}
	var out []int
	for i := 0; i < completions && len(out) < n; i++ {
		if !taken[i] && !succeeded.has(i) {
			out = append(out, i)
		}
	}
	return out
}
