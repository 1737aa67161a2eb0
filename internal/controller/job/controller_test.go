package job

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	client *fake.Clientset
	c      *Controller
	clock  *clocktesting.FakeClock
	add    func(runtime.Object)
}

// newFixture builds a controller on a fake clientset holding objs, with its informer
// indexers pre-filled with the same objects.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	jobs, pods := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	clk := clocktesting.NewFakeClock(t0)
	c := New(client, jobs, pods, WithClock(clk), WithEventRecorder(record.NewFakeRecorder(100)))
	t.Cleanup(func() { c.queue.ShutDown(); c.orphanQueue.ShutDown() })
	add := func(o runtime.Object) {
		switch o := o.(type) {
		case *corev1.Pod:
			_ = pods.Informer().GetIndexer().Update(o)
		case *batchv1.Job:
			_ = jobs.Informer().GetIndexer().Update(o)
		}
	}
	for _, o := range objs {
		add(o)
	}
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			n++
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n)
			p.UID = types.UID(p.Name)
		}
		return false, nil, nil
	})
	client.ClearActions()
	return &fixture{client: client, c: c, clock: clk, add: add}
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func (f *fixture) job(t *testing.T) *batchv1.Job {
	t.Helper()
	j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), "work", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func testJob(completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "ns", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To[int32](6),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"job": "work"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": "work"}},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			},
		},
	}
}

// TestSyncRunsJobToCompletion drives one Job through creation, counting and completion,
// feeding the controller's informers with what the fake API server holds.
func TestSyncRunsJobToCompletion(t *testing.T) {
	f := newFixture(t, testJob(2, 2))
	ctx := context.Background()
	if err := f.c.sync(ctx, "ns/work"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 2 {
		t.Fatalf("created %d pods, want 2", len(creates))
	}
	j := f.job(t)
	if j.Status.Active != 2 || j.Status.StartTime == nil {
		t.Errorf("status after creation = %+v", j.Status)
	}
	// The pods succeed.
	pods, _ := f.client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Finalizers[0] != batchv1.JobTrackingFinalizer {
			t.Fatalf("pod finalizers = %v", p.Finalizers)
		}
		p.Status.Phase = corev1.PodSucceeded
		p, _ = f.client.CoreV1().Pods("ns").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		f.add(p)
		f.c.expectations.CreationObserved("ns/work")
	}
	f.add(j)
	f.client.ClearActions()
	if err := f.c.sync(ctx, "ns/work"); err != nil {
		t.Fatal(err)
	}
	// Uncounted first, then finalizers removed, then counted and complete.
	updates := f.actions("update", "jobs")
	if len(updates) != 2 {
		t.Fatalf("%d status updates, want 2", len(updates))
	}
	first := updates[0].(k8stesting.UpdateAction).GetObject().(*batchv1.Job)
	if n := len(first.Status.UncountedTerminatedPods.Succeeded); n != 2 || first.Status.Succeeded != 0 {
		t.Errorf("first update: uncounted %d, succeeded %d", n, first.Status.Succeeded)
	}
	if len(f.actions("patch", "pods")) != 2 {
		t.Errorf("%d finalizer patches, want 2", len(f.actions("patch", "pods")))
	}
	j = f.job(t)
	if j.Status.Succeeded != 2 || len(j.Status.UncountedTerminatedPods.Succeeded) != 0 || j.Status.CompletionTime == nil {
		t.Errorf("final status = %+v", j.Status)
	}
	if !hasTrueCondition(j, batchv1.JobSuccessCriteriaMet) || !hasTrueCondition(j, batchv1.JobComplete) {
		t.Errorf("conditions = %+v", j.Status.Conditions)
	}
	pods, _ = f.client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
		}
	}
}

func TestSyncSuspendDeletesActivePods(t *testing.T) {
	job := testJob(2, 2)
	job.Spec.Suspend = ptr.To(true)
	job.Status.StartTime = ptr.To(metav1.NewTime(t0))
	var objs []runtime.Object
	objs = append(objs, job)
	for i := range 2 {
		p := podTemplate(job, unknownIndex)
		p.Name, p.UID = fmt.Sprintf("work-%d", i), types.UID(fmt.Sprintf("p%d", i))
		p.Status.Phase = corev1.PodRunning
		objs = append(objs, p)
	}
	f := newFixture(t, objs...)
	if err := f.c.sync(context.Background(), "ns/work"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("delete", "pods")); n != 2 {
		t.Errorf("deleted %d pods, want 2", n)
	}
	j := f.job(t)
	c := findCondition(j.Status.Conditions, batchv1.JobSuspended)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "JobSuspended" || j.Status.Active != 0 || j.Status.Failed != 0 {
		t.Errorf("status = %+v", j.Status)
	}
}

func TestSyncBackoffDelaysRecreation(t *testing.T) {
	job := testJob(1, 1)
	job.Status.StartTime = ptr.To(metav1.NewTime(t0))
	failed := podTemplate(job, unknownIndex)
	failed.Name, failed.UID = "work-f", "f"
	failed.Status = finishedPod("x", corev1.PodFailed, t0.Add(-2*time.Second), 1).Status
	f := newFixture(t, job, failed)
	if err := f.c.sync(context.Background(), "ns/work"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 0 {
		t.Errorf("created %d pods during backoff", n)
	}
	if j := f.job(t); j.Status.Failed != 1 {
		t.Errorf("failed = %d, want 1", j.Status.Failed)
	}
	if f.c.queue.Len() != 0 {
		t.Error("requeued immediately")
	}
	f.clock.Step(9 * time.Second) // 10s backoff from the failure 2s before t0
	f.client.ClearActions()
	// The fake informer is not running; update the indexer with the counted state.
	j := f.job(t)
	f.add(j)
	p, _ := f.client.CoreV1().Pods("ns").Get(context.Background(), "work-f", metav1.GetOptions{})
	f.add(p)
	if err := f.c.sync(context.Background(), "ns/work"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("created %d pods after backoff, want 1", n)
	}
}
