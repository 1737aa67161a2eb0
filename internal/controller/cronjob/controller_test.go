package cronjob

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func newTestController(t *testing.T, now time.Time, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	cjs, jobs := factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs()
	rec := record.NewFakeRecorder(100)
	c := New(client, cjs, jobs, WithClock(clocktesting.NewFakeClock(now)), WithEventRecorder(rec))
	t.Cleanup(c.queue.ShutDown)
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.CronJob:
			_ = cjs.Informer().GetIndexer().Add(o)
		case *batchv1.Job:
			_ = jobs.Informer().GetIndexer().Add(o)
		}
	}
	client.ClearActions()
	return c, client, rec
}

func TestSyncStartsDueJob(t *testing.T) {
	cj := testCronJob(t0, nil)
	c, client, _ := newTestController(t, t0.Add(61*time.Second), cj)
	requeue, err := c.sync(context.Background(), "ns/cj")
	if err != nil {
		t.Fatal(err)
	}
	job, err := client.BatchV1().Jobs("ns").Get(context.Background(), jobName(cj, t0.Add(time.Minute)), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job not created: %v", err)
	}
	if job.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-01T10:01:00Z" {
		t.Errorf("annotations = %v", job.Annotations)
	}
	got, _ := client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if len(got.Status.Active) != 1 || got.Status.Active[0].Name != job.Name || !got.Status.LastScheduleTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("status = %+v", got.Status)
	}
	if requeue == nil || *requeue != 59*time.Second+nextScheduleDelta {
		t.Errorf("requeue = %v", requeue)
	}
}

func TestSyncReplaceDeletesActive(t *testing.T) {
	cj := testCronJob(t0, ptr.To(t0))
	cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	old := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "cj-old", Namespace: "ns", UID: "old",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)}}}
	cj.Status.Active = []corev1.ObjectReference{jobRef(old)}
	c, client, _ := newTestController(t, t0.Add(61*time.Second), cj, old)
	if _, err := c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	var deleted, created int
	for _, a := range client.Actions() {
		if a.GetResource().Resource != "jobs" {
			continue
		}
		switch a.GetVerb() {
		case "delete":
			deleted++
			if a.(k8stesting.DeleteAction).GetName() != "cj-old" {
				t.Errorf("deleted %v", a)
			}
		case "create":
			created++
		}
	}
	if deleted != 1 || created != 1 {
		t.Errorf("deleted %d, created %d jobs; want 1 and 1", deleted, created)
	}
}

func TestSyncSuspendedAndTooManyMissed(t *testing.T) {
	cj := testCronJob(t0, nil)
	cj.Spec.Suspend = ptr.To(true)
	c, client, _ := newTestController(t, t0.Add(time.Hour), cj)
	if _, err := c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("suspended CronJob created %v", a)
		}
	}

	cj = testCronJob(t0, nil)
	c, _, rec := newTestController(t, t0.Add(5*time.Hour), cj)
	if _, err := c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	var sawWarning bool
	for len(rec.Events) > 0 {
		if e := <-rec.Events; e == "Warning TooManyMissedTimes too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew" {
			sawWarning = true
		}
	}
	if !sawWarning {
		t.Error("no TooManyMissedTimes warning")
	}
}

func TestSyncSeesFinishedJob(t *testing.T) {
	cj := testCronJob(t0, ptr.To(t0.Add(time.Minute)))
	done := finishedJob("cj-done", batchv1.JobComplete, t0.Add(time.Minute))
	done.Namespace, done.UID = "ns", "done"
	done.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)}
	done.Status.CompletionTime = ptr.To(metav1.NewTime(t0.Add(90 * time.Second)))
	cj.Status.Active = []corev1.ObjectReference{jobRef(done)}
	c, client, _ := newTestController(t, t0.Add(100*time.Second), cj, done)
	if _, err := c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	got, _ := client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if len(got.Status.Active) != 0 || got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Time.Equal(t0.Add(90*time.Second)) {
		t.Errorf("status = %+v", got.Status)
	}
}
