package job

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestWantActive(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		completions                  *int32
		parallelism                  int32
		succeeded, active, wantCount int32
	}{
		{"fresh", ptr.To[int32](4), 2, 0, 0, 2},
		{"near the end", ptr.To[int32](4), 2, 3, 0, 1},
		{"done", ptr.To[int32](4), 2, 4, 1, 0},
		{"over-succeeded", ptr.To[int32](4), 2, 5, 0, 0},
		{"parallelism 0", ptr.To[int32](4), 0, 0, 2, 0},
		{"work queue, none succeeded", nil, 3, 0, 1, 3},
		{"work queue, one succeeded keeps what runs", nil, 3, 1, 2, 2},
	} {
		job := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tc.completions, Parallelism: ptr.To(tc.parallelism)}}
		if got := wantActive(job, tc.succeeded, tc.active); got != tc.wantCount {
			t.Errorf("%s: wantActive = %d, want %d", tc.name, got, tc.wantCount)
		}
	}
}

func TestIsComplete(t *testing.T) {
	for _, tc := range []struct {
		completions       *int32
		succeeded, active int32
		want              bool
	}{
		{ptr.To[int32](3), 3, 0, true},
		{ptr.To[int32](3), 3, 1, false},
		{ptr.To[int32](3), 2, 0, false},
		{nil, 1, 0, true},
		{nil, 0, 0, false},
		{nil, 1, 1, false},
	} {
		job := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tc.completions}}
		if got := isComplete(job, tc.succeeded, tc.active); got != tc.want {
			t.Errorf("isComplete(%v, %d, %d) = %v", tc.completions, tc.succeeded, tc.active, got)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	base, maxD := 10*time.Second, 6*time.Minute
	for _, tc := range []struct {
		failures int
		since    time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{2, 0, 20 * time.Second},
		{3, 0, 40 * time.Second},
		{6, 0, 320 * time.Second},
		{7, 0, 6 * time.Minute},
		{100, 0, 6 * time.Minute},
		{3, time.Minute, 0},
	} {
		if got := backoffDelay(tc.failures, t0, t0.Add(tc.since), base, maxD); got != tc.want {
			t.Errorf("backoffDelay(%d failures, %v ago) = %v, want %v", tc.failures, tc.since, got, tc.want)
		}
	}
}

func finishedPod(name string, phase corev1.PodPhase, at time.Time, exitCode int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name:  "main",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: metav1.NewTime(at)}},
		}}},
	}
}

func TestFailuresSinceSuccess(t *testing.T) {
	job := &batchv1.Job{}
	pods := []*corev1.Pod{
		finishedPod("f1", corev1.PodFailed, t0, 1),
		finishedPod("s1", corev1.PodSucceeded, t0.Add(time.Minute), 0),
		finishedPod("f2", corev1.PodFailed, t0.Add(2*time.Minute), 1),
		finishedPod("f3", corev1.PodFailed, t0.Add(3*time.Minute), 1),
		{ObjectMeta: metav1.ObjectMeta{Name: "running"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	}
	n, last := failuresSinceSuccess(job, pods)
	if n != 2 || !last.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("failuresSinceSuccess = %d, %v", n, last)
	}
	// Ignored failures do not count.
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionIgnore,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
	}}}
	if n, _ := failuresSinceSuccess(job, pods); n != 0 {
		t.Errorf("with Ignore rule: %d failures", n)
	}
}

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{"", 5, nil, "", 0},
		{"", 5, []int{3, 1, 2}, "1-3", 3},
		{"0,2-3", 10, []int{1, 7}, "0-3,7", 5},
		{"1-9", 5, nil, "1-4", 4},
		{"0,x,4-2,3", 5, []int{3}, "0,3", 2},
		{"5-6", 10, []int{4, 7, 9}, "4-7,9", 5},
	} {
		got := parseIntervals(tc.in, tc.completions).with(tc.add)
		if got.String() != tc.want || got.total() != tc.total {
			t.Errorf("parse(%q)+%v = %q (total %d), want %q (%d)", tc.in, tc.add, got, got.total(), tc.want, tc.total)
		}
	}
	iv := parseIntervals("1-3,7", 10)
	for i, want := range map[int]bool{0: false, 1: true, 3: true, 4: false, 7: true, 8: false} {
		if iv.has(i) != want {
			t.Errorf("has(%d) = %v", i, !want)
		}
	}
}

func indexedPod(name string, ix string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: ix}},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func TestPendingIndexes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		succeeded string
		active    []string
		n         int
		want      []int
	}{
		{"fresh", "", nil, 3, []int{0, 1, 2}},
		{"skip succeeded and active", "0,2", []string{"1", "4"}, 3, []int{3, 5}},
		{"capped by n", "", []string{"0"}, 2, []int{1, 2}},
		{"all done", "0-5", nil, 2, nil},
	} {
		var active []*corev1.Pod
		for _, ix := range tc.active {
			active = append(active, indexedPod("p"+ix, ix, corev1.PodRunning))
		}
		got := pendingIndexes(parseIntervals(tc.succeeded, 6), active, 6, tc.n)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: pendingIndexes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPodsToDelete(t *testing.T) {
	mk := func(name string, node string, phase corev1.PodPhase, created time.Duration) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(created))},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: phase},
		}
	}
	nonIndexed := &batchv1.Job{}
	pods := []*corev1.Pod{
		mk("old-running", "n", corev1.PodRunning, 0),
		mk("new-running", "n", corev1.PodRunning, time.Minute),
		mk("pending", "n", corev1.PodPending, 0),
		mk("unscheduled", "", corev1.PodPending, 0),
	}
	got := podsToDelete(nonIndexed, pods, 3, nil)
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if want := []string{"unscheduled", "pending", "new-running"}; !slices.Equal(names, want) {
		t.Errorf("non-indexed: deleting %v, want %v", names, want)
	}

	indexed := &batchv1.Job{Spec: batchv1.JobSpec{CompletionMode: ptr.To(batchv1.IndexedCompletion), Completions: ptr.To[int32](3)}}
	ipods := []*corev1.Pod{
		indexedPod("a0", "0", corev1.PodRunning),
		indexedPod("b0", "0", corev1.PodRunning), // duplicate
		indexedPod("c1", "1", corev1.PodRunning), // already succeeded
		indexedPod("d7", "7", corev1.PodRunning), // out of range
		indexedPod("e2", "2", corev1.PodRunning),
	}
	got = podsToDelete(indexed, ipods, 0, parseIntervals("1", 3))
	if len(got) != 3 {
		t.Fatalf("indexed: deleting %d pods, want 3 (duplicate, succeeded, out of range)", len(got))
	}
	for _, p := range got {
		if p.Name == "e2" {
			t.Errorf("indexed: deleting the only pod of index 2")
		}
	}
}

func TestIsPodFailed(t *testing.T) {
	deleting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr.To(metav1.NewTime(t0))}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	failed := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	plain := &batchv1.Job{}
	onlyFailed := &batchv1.Job{Spec: batchv1.JobSpec{PodReplacementPolicy: ptr.To(batchv1.Failed)}}
	if !isPodFailed(deleting, plain) || isPodFailed(deleting, onlyFailed) || !isPodFailed(failed, onlyFailed) {
		t.Error("isPodFailed wrong")
	}
}

func TestMatchPodFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{1}}},
	}}
	disrupted := finishedPod("d", corev1.PodFailed, t0, 1)
	disrupted.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		pod       *corev1.Pod
		wantMsg   string
		wantCount bool
		action    string
	}{
		{disrupted, "", false, "Ignore"},
		{finishedPod("p42", corev1.PodFailed, t0, 42), "Container main for pod ns/p42 failed with exit code 42 matching FailJob rule at index 1", true, "FailJob"},
		{finishedPod("p3", corev1.PodFailed, t0, 3), "", true, "Count"},
		{finishedPod("p1", corev1.PodFailed, t0, 1), "", true, ""},
		{finishedPod("running", corev1.PodRunning, t0, 42), "", true, ""},
	} {
		msg, count, action := matchPodFailurePolicy(policy, tc.pod)
		if ptr.Deref(msg, "") != tc.wantMsg || count != tc.wantCount || string(ptr.Deref(action, "")) != tc.action {
			t.Errorf("%s: got %q, %v, %v", tc.pod.Name, ptr.Deref(msg, ""), count, ptr.Deref(action, ""))
		}
	}
}

func TestEnsureCondition(t *testing.T) {
	conds, changed := ensureCondition(nil, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, t0)
	if changed || len(conds) != 0 {
		t.Error("a False condition must not be added")
	}
	conds, changed = ensureCondition(conds, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, t0)
	if !changed || len(conds) != 1 {
		t.Fatal("Suspended not added")
	}
	if _, changed = ensureCondition(conds, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, t0.Add(time.Hour)); changed {
		t.Error("unchanged condition reported as changed")
	}
	conds, changed = ensureCondition(conds, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, t0.Add(time.Hour))
	if !changed || conds[0].Status != corev1.ConditionFalse || !conds[0].LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("resume: %+v", conds)
	}
}

func TestActiveDeadline(t *testing.T) {
	job := &batchv1.Job{
		Spec:   batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](60)},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(t0))},
	}
	if ex, left := activeDeadline(job, t0.Add(20*time.Second)); ex || left != 40*time.Second {
		t.Errorf("at 20s: %v %v", ex, left)
	}
	if ex, _ := activeDeadline(job, t0.Add(time.Minute)); !ex {
		t.Error("deadline not exceeded at 60s")
	}
	job.Spec.Suspend = ptr.To(true)
	if ex, _ := activeDeadline(job, t0.Add(time.Hour)); ex {
		t.Error("a suspended job's deadline must not run")
	}
}

func TestPodTemplate(t *testing.T) {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "ns", UID: "uid"},
		Spec: batchv1.JobSpec{
			CompletionMode: ptr.To(batchv1.IndexedCompletion),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "c"},
					{Name: "own", Env: []corev1.EnvVar{{Name: completionIndexEnv, Value: "mine"}}},
				}},
			},
		},
	}
	p := podTemplate(job, 3)
	if p.GenerateName != "work-3-" || p.Spec.Hostname != "work-3" ||
		p.Annotations[batchv1.JobCompletionIndexAnnotation] != "3" || p.Labels[batchv1.JobCompletionIndexAnnotation] != "3" || p.Labels["a"] != "b" {
		t.Errorf("pod = %+v", p.ObjectMeta)
	}
	if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Error("no tracking finalizer")
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != "uid" || ref.Kind != "Job" {
		t.Errorf("owner = %+v", ref)
	}
	if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("env = %+v", env)
	}
	if env := p.Spec.Containers[1].Env; len(env) != 1 || env[0].Value != "mine" {
		t.Errorf("user env overridden: %+v", env)
	}
	if job.Spec.Template.Labels[batchv1.JobCompletionIndexAnnotation] != "" {
		t.Error("template mutated")
	}
	job.Spec.CompletionMode = nil
	if p := podTemplate(job, unknownIndex); p.GenerateName != "work-" || p.Spec.Hostname != "" {
		t.Errorf("non-indexed pod = %+v", p.ObjectMeta)
	}
}

func TestTTLExpiry(t *testing.T) {
	job := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](30)}}
	if _, ok := ttlExpiry(job); ok {
		t.Error("unfinished job has an expiry")
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
	if exp, ok := ttlExpiry(job); !ok || !exp.Equal(t0.Add(30*time.Second)) {
		t.Errorf("expiry = %v %v", exp, ok)
	}
}
