package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testCronJob(created time.Time, last *time.Time) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec:       batchv1.CronJobSpec{Schedule: "* * * * *", TimeZone: ptr.To("UTC"), ConcurrencyPolicy: batchv1.AllowConcurrent},
	}
	if last != nil {
		cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*last))
	}
	return cj
}

func TestMissedSchedules(t *testing.T) {
	every, _ := ParseSchedule("* * * * *", time.UTC)
	daily, _ := ParseSchedule("0 9 * * *", time.UTC)
	for _, tc := range []struct {
		name      string
		sched     Schedule
		created   time.Time
		last      *time.Time
		deadline  *int64
		now       time.Time
		want      *time.Time
		wantCount int
	}{
		{"none yet", every, t0, nil, nil, t0.Add(30 * time.Second), nil, 0},
		{"one due", every, t0, nil, nil, t0.Add(61 * time.Second), ptr.To(t0.Add(time.Minute)), 1},
		{"exactly at", every, t0, nil, nil, t0.Add(time.Minute), ptr.To(t0.Add(time.Minute)), 1},
		{"several missed", every, t0, nil, nil, t0.Add(5*time.Minute + 10*time.Second), ptr.To(t0.Add(5 * time.Minute)), 5},
		{"since last schedule", every, t0.Add(-time.Hour), ptr.To(t0), nil, t0.Add(90 * time.Second), ptr.To(t0.Add(time.Minute)), 1},
		{"handled already", every, t0, ptr.To(t0.Add(time.Minute)), nil, t0.Add(90 * time.Second), nil, 0},
		{"deadline hides old ones", every, t0, nil, ptr.To[int64](120), t0.Add(10*time.Minute + 30*time.Second), ptr.To(t0.Add(10 * time.Minute)), 2},
		{"too many", every, t0, nil, nil, t0.Add(3 * time.Hour), ptr.To(t0.Add(3 * time.Hour)), tooManyMissed + 2},
		{"too many, far", daily, t0.AddDate(-2, 0, 0), nil, nil, t0, ptr.To(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), tooManyMissed + 2},
		{"many days", every, t0.AddDate(0, 0, -30), nil, nil, t0.Add(30 * time.Second), ptr.To(t0), tooManyMissed + 2},
	} {
		cj := testCronJob(tc.created, tc.last)
		cj.Spec.StartingDeadlineSeconds = tc.deadline
		m := missedSchedules(cj, tc.now, tc.sched, true)
		if !ptr.Equal(m.mostRecent, tc.want) && !(m.mostRecent != nil && tc.want != nil && m.mostRecent.Equal(*tc.want)) {
			t.Errorf("%s: mostRecent = %v, want %v", tc.name, m.mostRecent, tc.want)
		}
		if min(m.count, tooManyMissed+2) != tc.wantCount {
			t.Errorf("%s: count = %d, want %d", tc.name, m.count, tc.wantCount)
		}
	}
}

func TestNextRequeue(t *testing.T) {
	every, _ := ParseSchedule("*/5 * * * *", time.UTC)
	cj := testCronJob(t0, nil)
	if d, ok := nextRequeue(cj, t0.Add(time.Minute), every); !ok || d != 4*time.Minute+nextScheduleDelta {
		t.Errorf("nextRequeue = %v %v", d, ok)
	}
	never, _ := ParseSchedule("0 0 30 2 *", time.UTC)
	if _, ok := nextRequeue(cj, t0, never); ok {
		t.Error("requeue for a schedule that never fires")
	}
}

func TestDecide(t *testing.T) {
	sched := t0.Add(time.Minute)
	active := []corev1.ObjectReference{{Name: "cj-other", UID: "x"}}
	for _, tc := range []struct {
		name     string
		policy   batchv1.ConcurrencyPolicy
		active   []corev1.ObjectReference
		last     *time.Time
		deadline *int64
		now      time.Time
		want     decision
	}{
		{"start", batchv1.AllowConcurrent, nil, nil, nil, sched, decideStart},
		{"allow with active", batchv1.AllowConcurrent, active, nil, nil, sched, decideStart},
		{"forbid with active", batchv1.ForbidConcurrent, active, nil, nil, sched, decideForbidSkip},
		{"forbid idle", batchv1.ForbidConcurrent, nil, nil, nil, sched, decideStart},
		{"replace with active", batchv1.ReplaceConcurrent, active, nil, nil, sched, decideReplaceThen},
		{"replace idle", batchv1.ReplaceConcurrent, nil, nil, nil, sched, decideStart},
		{"already scheduled", batchv1.AllowConcurrent, nil, ptr.To(sched), nil, sched, decideNothing},
		{"already active by name", batchv1.ForbidConcurrent, []corev1.ObjectReference{{Name: jobName(testCronJob(t0, nil), sched)}}, nil, nil, sched, decideNothing},
		{"within deadline", batchv1.AllowConcurrent, nil, nil, ptr.To[int64](10), sched.Add(10 * time.Second), decideStart},
		{"too late", batchv1.AllowConcurrent, nil, nil, ptr.To[int64](10), sched.Add(11 * time.Second), decideTooLate},
	} {
		cj := testCronJob(t0, tc.last)
		cj.Spec.ConcurrencyPolicy, cj.Status.Active, cj.Spec.StartingDeadlineSeconds = tc.policy, tc.active, tc.deadline
		if got := decide(cj, &sched, tc.now); got != tc.want {
			t.Errorf("%s: decide = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := decide(testCronJob(t0, nil), nil, t0); got != decideNothing {
		t.Errorf("nothing due: %v", got)
	}
}

func finishedJob(name string, ct batchv1.JobConditionType, start time.Time) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(start))}}
	if ct != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: ct, Status: corev1.ConditionTrue}}
	}
	return j
}

func TestJobsToClean(t *testing.T) {
	jobs := []*batchv1.Job{
		finishedJob("ok3", batchv1.JobComplete, t0.Add(3*time.Minute)),
		finishedJob("ok1", batchv1.JobComplete, t0.Add(1*time.Minute)),
		finishedJob("ok2", batchv1.JobComplete, t0.Add(2*time.Minute)),
		finishedJob("fail1", batchv1.JobFailed, t0.Add(1*time.Minute)),
		finishedJob("fail2", batchv1.JobFailed, t0.Add(2*time.Minute)),
		finishedJob("running", "", t0),
	}
	cj := testCronJob(t0, nil)
	cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1), ptr.To[int32](0)
	var names []string
	for _, j := range jobsToClean(cj, jobs) {
		names = append(names, j.Name)
	}
	if want := "[ok1 ok2 fail1 fail2]"; fmtNames(names) != want {
		t.Errorf("jobsToClean = %v, want %s", names, want)
	}
	cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = nil, ptr.To[int32](5)
	if got := jobsToClean(cj, jobs); len(got) != 0 {
		t.Errorf("no limits exceeded, but cleaning %d", len(got))
	}
}

func fmtNames(n []string) string {
	s := "["
	for i, x := range n {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s + "]"
}

func TestJobFromTemplate(t *testing.T) {
	cj := testCronJob(t0, nil)
	cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
	cj.Spec.JobTemplate.Labels = map[string]string{"a": "b"}
	j, err := jobFromTemplate(cj, t0)
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "cj-29539320" || j.Labels["a"] != "b" ||
		j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-01T19:00:00+09:00" {
		t.Errorf("job = %+v", j.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" || ref.UID != "cj-uid" {
		t.Errorf("owner = %+v", ref)
	}
}
