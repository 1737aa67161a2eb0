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
