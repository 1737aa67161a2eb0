package job_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/job"
	"github.com/kijabi/kijabi/internal/scheduler"
	"github.com/kijabi/kijabi/internal/simnode"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// startCluster runs a real API server, the scheduler, two simulated nodes (Job pods run
// for 500ms) and the Job controller (with a short failure backoff) until the test ends.
func startCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	s := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	sched, err := scheduler.New(scheduler.Config{Client: s.Client, Informers: factory})
	if err != nil {
		t.Fatal(err)
	}
	jc := job.New(s.Client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods(), job.WithBackoff(100*time.Millisecond, time.Second))
	nodes, err := simnode.New(simnode.Config{Client: s.Client, Nodes: 2, JobRunTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	wg.Go(func() { sched.Run(ctx) })
	wg.Go(func() { jc.Run(ctx, 2) })
	wg.Go(func() { _ = nodes.Run(ctx) })
	return s.Client
}

func newJob(name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
				},
			},
		},
	}
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func waitCondition(t *testing.T, client kubernetes.Interface, name string, ct batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var got *batchv1.Job
	testutil.Poll(t, 60*time.Second, fmt.Sprintf("job %s condition %s", name, ct), func() (bool, error) {
		j, err := client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = j
		return condition(j, ct) != nil, fmt.Errorf("status %+v", j.Status)
	})
	return got
}

func TestJobCompletesWithinParallelism(t *testing.T) {
	client := startCluster(t)
	ctx := context.Background()
	j := newJob("para")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](2)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Sample the active pods until the Job completes.
	done := make(chan struct{})
	maxActive := 0
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=para"})
			if err != nil {
				continue
			}
			n := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					n++
				}
			}
			maxActive = max(maxActive, n)
		}
	})
	got := waitCondition(t, client, "para", batchv1.JobComplete)
	close(done)
	sampler.Wait()
	if maxActive > 2 {
		t.Errorf("saw %d active pods, parallelism is 2", maxActive)
	}
	if got.Status.Succeeded != 4 || got.Status.Failed != 0 || got.Status.Active != 0 || got.Status.CompletionTime == nil || got.Status.StartTime == nil {
		t.Errorf("status = %+v", got.Status)
	}
	if c := condition(got, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != batchv1.JobReasonCompletionsReached {
		t.Errorf("SuccessCriteriaMet condition = %+v", c)
	}
	if u := got.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted = %+v", u)
	}
	// Every pod was counted: none keeps the tracking finalizer.
	testutil.Poll(t, 10*time.Second, "finalizers removed", func() (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=para"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if len(p.Finalizers) > 0 {
				return false, fmt.Errorf("pod %s has finalizers %v", p.Name, p.Finalizers)
			}
		}
		return len(pods.Items) == 4, fmt.Errorf("%d pods", len(pods.Items))
	})
}

func TestJobFailsAtBackoffLimit(t *testing.T) {
	client := startCluster(t)
	j := newJob("fail")
	j.Spec.BackoffLimit = ptr.To[int32](1)
	j.Spec.Template.Annotations = map[string]string{simnode.AnnotationExitCode: "1"}
	if _, err := client.BatchV1().Jobs("default").Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, client, "fail", batchv1.JobFailed)
	c := condition(got, batchv1.JobFailed)
	if c.Reason != batchv1.JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
		t.Errorf("Failed condition = %+v", c)
	}
	if ft := condition(got, batchv1.JobFailureTarget); ft == nil || ft.Reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("FailureTarget condition = %+v", ft)
	}
	if got.Status.Failed != 2 || got.Status.Succeeded != 0 || got.Status.Active != 0 || got.Status.CompletionTime != nil {
		t.Errorf("status = %+v", got.Status)
	}
}

func TestIndexedJobCompletesAllIndexes(t *testing.T) {
	client := startCluster(t)
	ctx := context.Background()
	j := newJob("idx")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](3)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, client, "idx", batchv1.JobComplete)
	if got.Status.CompletedIndexes != "0-2" || got.Status.Succeeded != 3 {
		t.Errorf("status = %+v", got.Status)
	}
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=idx"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pods.Items {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix {
			t.Errorf("pod %s: index %q, labels %v, hostname %q", p.Name, ix, p.Labels, p.Spec.Hostname)
		}
		seen[ix] = true
	}
	if len(seen) != 3 {
		t.Errorf("indexes seen: %v", seen)
	}
}

func TestFinishedJobDeletedAfterTTL(t *testing.T) {
	client := startCluster(t)
	ctx := context.Background()
	j := newJob("ttl")
	j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 60*time.Second, "job deleted", func() (bool, error) {
		_, err := client.BatchV1().Jobs("default").Get(ctx, "ttl", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func TestIndexedJobBackoffLimitPerIndex(t *testing.T) {
	client := startCluster(t)
	ctx := context.Background()
	j := newJob("perindex")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](4)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	j.Spec.Template.Annotations = map[string]string{simnode.AnnotationFailIndexes: "1"}
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, client, "perindex", batchv1.JobFailed)
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonFailedIndexes || c.Message != "Job has failed indexes" {
		t.Errorf("Failed condition = %+v", c)
	}
	if ft := condition(got, batchv1.JobFailureTarget); ft == nil || ft.Reason != batchv1.JobReasonFailedIndexes {
		t.Errorf("FailureTarget condition = %+v", ft)
	}
	st := got.Status
	if ptr.Deref(st.FailedIndexes, "<nil>") != "1" || st.CompletedIndexes != "0,2,3" || st.Succeeded != 3 || st.Failed != 2 || st.Active != 0 {
		t.Errorf("status = %+v", st)
	}
	// Index 1 ran twice (backoffLimitPerIndex 1), counting its failures in an annotation.
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-completion-index=1"})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]bool{}
	for _, p := range pods.Items {
		counts[p.Annotations[batchv1.JobIndexFailureCountAnnotation]] = true
	}
	if len(pods.Items) != 2 || !counts["0"] || !counts["1"] {
		t.Errorf("index 1 pods: %d, failure counts %v", len(pods.Items), counts)
	}
}

func TestIndexedJobMaxFailedIndexes(t *testing.T) {
	client := startCluster(t)
	j := newJob("maxfailed")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](6), ptr.To[int32](2)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = ptr.To[int32](0), ptr.To[int32](1)
	j.Spec.Template.Annotations = map[string]string{simnode.AnnotationFailIndexes: "0-1"}
	if _, err := client.BatchV1().Jobs("default").Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, client, "maxfailed", batchv1.JobFailed)
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonMaxFailedIndexesExceeded ||
		c.Message != "Job has exceeded the specified maximal number of failed indexes" {
		t.Errorf("Failed condition = %+v", c)
	}
	// Index 2, if it ran, was stopped with the Job: as with Kubernetes, its failed pod
	// fails the index too (backoffLimitPerIndex 0).
	if fi := ptr.Deref(got.Status.FailedIndexes, ""); (fi != "0,1" && fi != "0-2") || got.Status.Active != 0 {
		t.Errorf("failedIndexes %q, status = %+v", fi, got.Status)
	}
}

func TestIndexedJobFailIndexRule(t *testing.T) {
	client := startCluster(t)
	j := newJob("failindex")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](3)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimitPerIndex = ptr.To[int32](5)
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailIndex,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
	}}}
	j.Spec.Template.Annotations = map[string]string{simnode.AnnotationFailIndexes: "2", simnode.AnnotationExitCode: "42"}
	if _, err := client.BatchV1().Jobs("default").Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, client, "failindex", batchv1.JobFailed)
	// The FailIndex rule fails index 2 at once, despite backoffLimitPerIndex 5.
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonFailedIndexes {
		t.Errorf("Failed condition = %+v", c)
	}
	if ptr.Deref(got.Status.FailedIndexes, "") != "2" || got.Status.CompletedIndexes != "0,1" || got.Status.Failed != 1 {
		t.Errorf("status = %+v", got.Status)
	}
}

func TestIndexedJobSuccessPolicy(t *testing.T) {
	client := startCluster(t)
	ctx := context.Background()
	j := newJob("leader")
	j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](3)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	// Index 0 (the leader) finishes at once; the workers would run for an hour.
	j.Spec.Template.Annotations = map[string]string{simnode.AnnotationRunSeconds: "3600"}
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Make index 0 succeed: give its pod a terminal status, as its kubelet would.
	testutil.Poll(t, 30*time.Second, "index 0 succeeded", func() (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-completion-index=0"})
		if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return false, err
		}
		p := pods.Items[0]
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: metav1.Now()},
		}}}
		_, err = client.CoreV1().Pods("default").UpdateStatus(ctx, &p, metav1.UpdateOptions{})
		return err == nil, err
	})
	got := waitCondition(t, client, "leader", batchv1.JobComplete)
	sc := condition(got, batchv1.JobSuccessCriteriaMet)
	if sc == nil || sc.Reason != batchv1.JobReasonSuccessPolicy || sc.Message != "Matched rules at index 0" {
		t.Errorf("SuccessCriteriaMet condition = %+v", sc)
	}
	if c := condition(got, batchv1.JobComplete); c.Reason != batchv1.JobReasonSuccessPolicy || c.Message != "Matched rules at index 0" {
		t.Errorf("Complete condition = %+v", c)
	}
	if got.Status.CompletedIndexes != "0" || got.Status.Succeeded != 1 || got.Status.Active != 0 || ptr.Deref(got.Status.Terminating, -1) != 0 {
		t.Errorf("status = %+v", got.Status)
	}
}
