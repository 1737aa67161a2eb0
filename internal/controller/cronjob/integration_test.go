package cronjob_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/cronjob"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// TestCronJobSchedulesAndCleansUp runs the controller with a fake clock against a real API
// server: stepping the clock makes "* * * * *" fire; finished Jobs beyond the history
// limit are deleted. Jobs are finished by hand (no Job controller runs).
func TestCronJobSchedulesAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s := testserver.Start(t)
	client := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	fc := clocktesting.NewFakeClock(time.Now())
	factory := informers.NewSharedInformerFactory(client, 0)
	cc := cronjob.New(client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs(), cronjob.WithClock(fc))
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	factory.Start(ctx.Done())
	wg.Go(func() { cc.Run(ctx, 1) })

	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "* * * * *",
			TimeZone:                   ptr.To("UTC"),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
	cj, err := client.BatchV1().CronJobs("default").Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// waitJob steps the fake clock until the CronJob has an active Job, and returns it.
	waitJob := func(exclude string) *batchv1.Job {
		t.Helper()
		var job *batchv1.Job
		testutil.Poll(t, 30*time.Second, "a scheduled job", func() (bool, error) {
			c, err := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if len(c.Status.Active) == 1 && c.Status.Active[0].Name != exclude {
				job, err = client.BatchV1().Jobs("default").Get(ctx, c.Status.Active[0].Name, metav1.GetOptions{})
				return err == nil, err
			}
			fc.Step(5 * time.Second)
			return false, fmt.Errorf("active = %v", c.Status.Active)
		})
		return job
	}
	finish := func(j *batchv1.Job) {
		t.Helper()
		now := metav1.Now()
		j.Status.StartTime = &now
		j.Status.CompletionTime = &now
		j.Status.Succeeded = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := client.BatchV1().Jobs("default").UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	first := waitJob("")
	ts, err := time.Parse(time.RFC3339, first.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	if err != nil {
		t.Fatalf("scheduled-timestamp annotation: %v", err)
	}
	if want := "tick-" + strconv.FormatInt(ts.Unix()/60, 10); first.Name != want || ts.Second() != 0 || ts.Before(cj.CreationTimestamp.Time) {
		t.Errorf("job %s scheduled at %v, want name %s", first.Name, ts, want)
	}
	if ref := metav1.GetControllerOf(first); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("owner = %+v", ref)
	}
	if first.Labels["app"] != "tick" {
		t.Errorf("labels = %v", first.Labels)
	}
	c, err := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status.LastScheduleTime == nil || !c.Status.LastScheduleTime.Time.Equal(ts) {
		t.Errorf("lastScheduleTime = %v, want %v", c.Status.LastScheduleTime, ts)
	}

	// Forbid: while the first Job runs, stepping past more schedules starts nothing.
	fc.Step(3 * time.Minute)
	<-time.After(300 * time.Millisecond)
	jobs, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Errorf("%d jobs while the first one runs under Forbid", len(jobs.Items))
	}

	finish(first)
	second := waitJob(first.Name)
	testutil.Poll(t, 10*time.Second, "lastSuccessfulTime", func() (bool, error) {
		c, err := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return c.Status.LastSuccessfulTime != nil, nil
	})
	finish(second)
	// History limit 1: the first Job goes once the second finished.
	testutil.Poll(t, 10*time.Second, "first job deleted", func() (bool, error) {
		_, err := client.BatchV1().Jobs("default").Get(ctx, first.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if _, err := client.BatchV1().Jobs("default").Get(ctx, second.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("second job: %v", err)
	}
}
