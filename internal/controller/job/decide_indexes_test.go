package job

import (
	"maps"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

func perIndexJob(completions, limit int32) *batchv1.Job {
	return &batchv1.Job{Spec: batchv1.JobSpec{
		CompletionMode:       ptr.To(batchv1.IndexedCompletion),
		Completions:          ptr.To(completions),
		BackoffLimitPerIndex: ptr.To(limit),
	}}
}

// indexPod is a pod of an index with the tracking finalizer and the given failure count
// annotations ("" for none), finished (if terminal) at t0+at.
func indexPod(name, ix string, phase corev1.PodPhase, exitCode int32, failures, ignored string, at time.Duration) *corev1.Pod {
	p := finishedPod(name, phase, t0.Add(at), exitCode)
	p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: ix}
	if failures != "" {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = failures
	}
	if ignored != "" {
		p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = ignored
	}
	p.Finalizers = []string{batchv1.JobTrackingFinalizer}
	if phase == corev1.PodRunning {
		p.Status.ContainerStatuses = nil
	}
	return p
}

var failIndexOn42 = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
	{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{7}}},
}}

func TestIsIndexFailed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    int32
		policy   *batchv1.PodFailurePolicy
		pod      *corev1.Pod
		expected bool
	}{
		{"first failure, limit 0", 0, nil, indexPod("p", "0", corev1.PodFailed, 1, "0", "", 0), true},
		{"first failure, limit 1", 1, nil, indexPod("p", "0", corev1.PodFailed, 1, "0", "", 0), false},
		{"second failure, limit 1", 1, nil, indexPod("p", "0", corev1.PodFailed, 1, "1", "", 0), true},
		{"no annotation counts as 0", 1, nil, indexPod("p", "0", corev1.PodFailed, 1, "", "", 0), false},
		{"garbage annotation counts as 0", 1, nil, indexPod("p", "0", corev1.PodFailed, 1, "x", "", 0), false},
		{"succeeded", 0, nil, indexPod("p", "0", corev1.PodSucceeded, 0, "5", "", 0), false},
		{"running", 0, nil, indexPod("p", "0", corev1.PodRunning, 0, "5", "", 0), false},
		{"FailIndex rule", 3, failIndexOn42, indexPod("p", "0", corev1.PodFailed, 42, "0", "", 0), true},
		{"Ignore rule", 0, failIndexOn42, indexPod("p", "0", corev1.PodFailed, 7, "3", "", 0), false},
		{"no rule matched counts", 1, failIndexOn42, indexPod("p", "0", corev1.PodFailed, 1, "1", "", 0), true},
	} {
		job := perIndexJob(3, tc.limit)
		job.Spec.PodFailurePolicy = tc.policy
		if got := isIndexFailed(job, tc.pod); got != tc.expected {
			t.Errorf("%s: isIndexFailed = %v, want %v", tc.name, got, tc.expected)
		}
	}
}

func TestFailedIndexes(t *testing.T) {
	job := perIndexJob(8, 1)
	job.Status.FailedIndexes = ptr.To("0,6")
	counted := indexPod("counted", "2", corev1.PodFailed, 1, "1", "", 0)
	counted.Finalizers = nil // counted already: status holds its index if it failed it
	pods := []*corev1.Pod{
		indexPod("a", "1", corev1.PodFailed, 1, "1", "", 0), // exhausted: failed
		indexPod("b", "3", corev1.PodFailed, 1, "0", "", 0), // will be retried
		indexPod("c", "4", corev1.PodFailed, 1, "1", "", 0), // exhausted, but index 4 succeeded
		indexPod("d", "9", corev1.PodFailed, 1, "1", "", 0), // out of range
		indexPod("e", "7", corev1.PodFailed, 1, "2", "", 0), // exhausted
		counted,
	}
	if got := failedIndexes(job, pods, parseIntervals("4", 8)).String(); got != "0,1,6,7" {
		t.Errorf("failedIndexes = %q, want 0,1,6,7", got)
	}
	job.Status.FailedIndexes = nil
	if got := failedIndexes(job, nil, nil).String(); got != "" {
		t.Errorf("failedIndexes of a fresh Job = %q", got)
	}
}

func TestFailedIndexesOutcome(t *testing.T) {
	for _, tc := range []struct {
		name              string
		maxFailed         *int32
		failed, succeeded string
		reason            string
	}{
		{"nothing failed", nil, "", "0-3", ""},
		{"some failed, others pending", nil, "1", "0", ""},
		{"all finished, some failed", nil, "1", "0,2-4", batchv1.JobReasonFailedIndexes},
		{"within maxFailedIndexes, pending", ptr.To[int32](2), "1-2", "0", ""},
		{"over maxFailedIndexes", ptr.To[int32](1), "1-2", "", batchv1.JobReasonMaxFailedIndexesExceeded},
		{"maxFailedIndexes 0", ptr.To[int32](0), "3", "", batchv1.JobReasonMaxFailedIndexesExceeded},
		{"within maxFailedIndexes, all finished", ptr.To[int32](2), "1-2", "0,3-4", batchv1.JobReasonFailedIndexes},
	} {
		job := perIndexJob(5, 1)
		job.Spec.MaxFailedIndexes = tc.maxFailed
		reason, msg, ok := failedIndexesOutcome(job, parseIntervals(tc.failed, 5), parseIntervals(tc.succeeded, 5))
		if reason != tc.reason || ok != (tc.reason != "") {
			t.Errorf("%s: outcome = %q %v, want %q", tc.name, reason, ok, tc.reason)
		}
		want := map[string]string{
			"": "", batchv1.JobReasonFailedIndexes: "Job has failed indexes",
			batchv1.JobReasonMaxFailedIndexesExceeded: "Job has exceeded the specified maximal number of failed indexes",
		}[tc.reason]
		if msg != want {
			t.Errorf("%s: message %q, want %q", tc.name, msg, want)
		}
	}
}

func TestPodsAwaitingReplacement(t *testing.T) {
	job := perIndexJob(6, 3)
	older := indexPod("old", "2", corev1.PodFailed, 1, "0", "", 0)
	newer := indexPod("new", "2", corev1.PodFailed, 1, "1", "", time.Minute)
	active := indexPod("run", "3", corev1.PodRunning, 0, "1", "", 0)
	pods := []*corev1.Pod{
		indexPod("a", "0", corev1.PodFailed, 1, "0", "", 0), // awaits
		indexPod("b", "1", corev1.PodFailed, 1, "0", "", 0), // index succeeded
		newer, older,
		indexPod("c", "3", corev1.PodFailed, 1, "0", "", 0), // index active
		active,
		indexPod("d", "4", corev1.PodFailed, 1, "0", "", 0), // index failed
		indexPod("e", "5", corev1.PodFailed, 1, "0", "", 0), // finalizer removal pending
	}
	got := podsAwaitingReplacement(job, pods, []*corev1.Pod{active}, parseIntervals("1", 6), parseIntervals("4", 6), sets.New("e"))
	names := map[int]string{}
	for ix, p := range got {
		names[ix] = p.Name
	}
	if want := map[int]string{0: "a", 2: "new"}; !maps.Equal(names, want) {
		t.Errorf("awaiting = %v, want %v", names, want)
	}
}

func TestNewIndexFailureCounts(t *testing.T) {
	job := perIndexJob(3, 5)
	job.Spec.PodFailurePolicy = failIndexOn42
	for _, tc := range []struct {
		name              string
		replaced          *corev1.Pod
		failures, ignored int32
	}{
		{"first pod", nil, 0, 0},
		{"after a counted failure", indexPod("p", "0", corev1.PodFailed, 1, "2", "1", 0), 3, 1},
		{"after an ignored failure", indexPod("p", "0", corev1.PodFailed, 7, "2", "", 0), 2, 1},
	} {
		f, i := newIndexFailureCounts(job, tc.replaced)
		if f != tc.failures || i != tc.ignored {
			t.Errorf("%s: counts = %d, %d, want %d, %d", tc.name, f, i, tc.failures, tc.ignored)
		}
	}
	pod := podTemplate(job, 0)
	setIndexFailureCounts(pod, job, indexPod("p", "0", corev1.PodFailed, 7, "2", "", 0))
	if pod.Annotations[batchv1.JobIndexFailureCountAnnotation] != "2" || pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] != "1" {
		t.Errorf("annotations = %v", pod.Annotations)
	}
	pod = podTemplate(job, 1)
	setIndexFailureCounts(pod, job, nil)
	if v, ok := pod.Annotations[batchv1.JobIndexFailureCountAnnotation]; v != "0" || !ok {
		t.Errorf("first pod of an index: annotations = %v", pod.Annotations)
	}
	if _, ok := pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation]; ok {
		t.Errorf("first pod of an index has an ignored count: %v", pod.Annotations)
	}
}

func TestReadyIndexes(t *testing.T) {
	base, maxD := 10*time.Second, 6*time.Minute
	awaiting := map[int]*corev1.Pod{
		1: indexPod("p1", "1", corev1.PodFailed, 1, "0", "", 0), // 1st failure: 10s
		2: indexPod("p2", "2", corev1.PodFailed, 1, "1", "", 0), // 2nd failure: 20s
	}
	for _, tc := range []struct {
		name    string
		indexes []int
		since   time.Duration
		ready   []int
		wait    time.Duration
	}{
		{"fresh index ready", []int{0, 1, 2}, 0, []int{0}, 0},
		{"all backing off", []int{1, 2}, 4 * time.Second, nil, 6 * time.Second},
		{"first passed", []int{1, 2}, 10 * time.Second, []int{1}, 0},
		{"all passed", []int{1, 2}, time.Minute, []int{1, 2}, 0},
	} {
		ready, wait := readyIndexes(tc.indexes, awaiting, t0.Add(tc.since), base, maxD)
		if !slices.Equal(ready, tc.ready) || wait != tc.wait {
			t.Errorf("%s: ready %v wait %v, want %v %v", tc.name, ready, wait, tc.ready, tc.wait)
		}
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	rules := func(r ...batchv1.SuccessPolicyRule) *batchv1.SuccessPolicy { return &batchv1.SuccessPolicy{Rules: r} }
	for _, tc := range []struct {
		name      string
		policy    *batchv1.SuccessPolicy
		succeeded string
		want      string
	}{
		{"no policy", nil, "0-9", ""},
		{"nothing succeeded", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](0)}), "", ""},
		{"count met", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](2)}), "3,7", "Matched rules at index 0"},
		{"count not met", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](3)}), "3,7", ""},
		{"indexes all succeeded", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), "0-4", "Matched rules at index 0"},
		{"indexes partly succeeded", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), "0,2,4-9", ""},
		{"indexes and count met", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-5"), SucceededCount: ptr.To[int32](3)}), "1,4-5,8", "Matched rules at index 0"},
		{"indexes and count not met", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-5"), SucceededCount: ptr.To[int32](3)}), "1,5-9", ""},
		{"second rule", rules(
			batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("9")},
			batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("1-2")},
		), "1-2", "Matched rules at index 1"},
		{"out of range rule skipped", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("10-12")}), "0-9", ""},
	} {
		msg, ok := matchSuccessPolicy(tc.policy, 10, parseIntervals(tc.succeeded, 10))
		if msg != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: matchSuccessPolicy = %q %v, want %q", tc.name, msg, ok, tc.want)
		}
	}
}

func TestIntervalsMergeAndOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b, union string
		common      int
	}{
		{"", "", "", 0},
		{"0-2", "", "0-2", 0},
		{"0,4", "1-3,9", "0-4,9", 0},
		{"0-5", "3-8", "0-8", 3},
		{"0-1,5-6", "1-5", "0-6", 2},
		{"0-1", "", "0,1", 0},
		{"2", "0-9", "0-9", 1},
	} {
		a, b := parseIntervals(tc.a, 10), parseIntervals(tc.b, 10)
		if got := a.merge(b).String(); got != tc.union {
			t.Errorf("%q ∪ %q = %q, want %q", tc.a, tc.b, got, tc.union)
		}
		if got := overlap(a, b); got != tc.common {
			t.Errorf("|%q ∩ %q| = %d, want %d", tc.a, tc.b, got, tc.common)
		}
	}
}

func TestBackoffLimitDefault(t *testing.T) {
	if got := backoffLimit(&batchv1.Job{}); got != 6 {
		t.Errorf("default backoffLimit = %d", got)
	}
	if got := backoffLimit(perIndexJob(3, 1)); got != 1<<31-1 {
		t.Errorf("backoffLimit with backoffLimitPerIndex = %d", got)
	}
}

func TestPendingIndexesSkip(t *testing.T) {
	active := []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{UID: types.UID("a"), Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}}}}
	skip := parseIntervals("0", 6).merge(parseIntervals("2-3", 6)) // succeeded 0, failed 2-3
	if got := pendingIndexes(skip, active, 6, 5); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("pendingIndexes = %v, want [4 5]", got)
	}
}
