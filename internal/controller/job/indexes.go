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
// status.completedIndexes and status.failedIndexes ("1,3-5,7"; two adjacent indexes are
// written "8,9").
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
	more := make(intervals, len(idx))
	for i, ix := range idx {
		more[i] = interval{ix, ix}
	}
	return iv.merge(more)
}

// merge returns the union of both interval lists.
func (iv intervals) merge(other intervals) intervals {
	if len(other) == 0 {
		return iv
	}
	all := make([]interval, 0, len(iv)+len(other))
	all = append(all, iv...)
	all = append(all, other...)
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
		switch {
		case x.last == x.first+1: // as Kubernetes writes it: "3,4", not "3-4"
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(x.last))
		case x.last > x.first:
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

// pendingIndexes returns up to n of the smallest indexes below completions that are
// neither in skip (succeeded, failed, or with a terminating pod) nor have an active pod.
func pendingIndexes(skip intervals, active []*corev1.Pod, completions, n int) []int {
	taken := map[int]bool{}
	for _, p := range active {
		taken[completionIndex(p)] = true
	}
	var out []int
	for i := 0; i < completions && len(out) < n; i++ {
		if !taken[i] && !skip.has(i) {
			out = append(out, i)
		}
	}
	return out
}

// indexesOf returns the valid completion indexes of the pods.
func indexesOf(pods []*corev1.Pod, completions int) []int {
	var out []int
	for _, p := range pods {
		if ix := completionIndex(p); validIndex(ix, completions) {
			out = append(out, ix)
		}
	}
	return out
}

// parseCount parses a failure count annotation; anything but an int32 >= 0 is 0, as
// Kubernetes reads it.
func parseCount(v string) int32 {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// indexFailureCount is the pod's batch.kubernetes.io/job-index-failure-count: how many
// earlier pods of its index failed (counting against backoffLimitPerIndex).
func indexFailureCount(p *corev1.Pod) int32 {
	return parseCount(p.Annotations[batchv1.JobIndexFailureCountAnnotation])
}

// indexIgnoredFailureCount is the pod's batch.kubernetes.io/job-index-ignored-failure-count:
// how many earlier pods of its index failed matching an Ignore rule.
func indexIgnoredFailureCount(p *corev1.Pod) int32 {
	return parseCount(p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation])
}
