package cronjob

import (
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	// tooManyMissed is how many missed schedules make the controller warn.
	tooManyMissed = 100
	// nextScheduleDelta is added to requeue delays so the sync lands after the schedule.
	nextScheduleDelta = 100 * time.Millisecond
	// maxWalk bounds how many activations are walked one by one when looking for the most
	// recent missed one; beyond it the search jumps ahead.
	maxWalk = tooManyMissed + 1
)

// location returns the CronJob's time zone (time.Local without spec.timeZone).
func location(cj *batchv1.CronJob) (*time.Location, error) {
	if cj.Spec.TimeZone == nil {
		return time.Local, nil
	}
	return time.LoadLocation(*cj.Spec.TimeZone)
}

// missed describes the schedule times between the CronJob's last schedule time (or its
// creation) and now.
type missed struct {
	// mostRecent is the latest schedule time not after now, if any was missed.
	mostRecent *time.Time
	// count is how many were missed, capped at tooManyMissed+1.
	count int
}

// missedSchedules works out the unmet schedule times of cj at now. With
// startingDeadlineSeconds, times older than now minus the deadline are not considered.
func missedSchedules(cj *batchv1.CronJob, now time.Time, sched Schedule, withDeadline bool) missed {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; withDeadline && d != nil {
		if dl := now.Add(-time.Duration(*d) * time.Second); dl.After(earliest) {
			earliest = dl
		}
	}
	var m missed
	t := sched.Next(earliest)
	for ; !t.IsZero() && !t.After(now); t = sched.Next(t) {
		m.mostRecent = ptr.To(t)
		m.count++
		if m.count > maxWalk {
			break
		}
	}
	if m.count > maxWalk {
		// Far behind: find the latest time not after now by searching back from now in
		// growing windows, instead of walking every activation since earliest.
		for w := time.Hour; ; w *= 4 {
			from := now.Add(-w)
			if !from.After(*m.mostRecent) {
				from = *m.mostRecent
			}
			var last *time.Time
			for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
				last = ptr.To(t)
			}
			if last != nil {
				m.mostRecent = last
				break
			}
			if from.Equal(*m.mostRecent) {
				break
			}
		}
	}
	return m
}

// nextRequeue is how long until the CronJob's next schedule time after its most recent
// one (or its last schedule, or creation), plus a small delta; false if there is none.
func nextRequeue(cj *batchv1.CronJob, now time.Time, sched Schedule) (time.Duration, bool) {
	m := missedSchedules(cj, now, sched, false)
	base := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		base = cj.Status.LastScheduleTime.Time
	}
	if m.mostRecent != nil {
		base = *m.mostRecent
	}
	next := sched.Next(base)
	if next.IsZero() {
		return 0, false
	}
	return next.Add(nextScheduleDelta).Sub(now), true
}

// jobName is the name of the Job for a schedule time: <cronjob>-<minutes since epoch>.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate builds the Job for the schedule time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, err
	}
	t := cj.Spec.JobTemplate.DeepCopy()
	annotations := t.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          t.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Spec: t.Spec,
	}, nil
}

// jobFinished returns the Job's true Complete or Failed condition type, or "".
func jobFinished(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// decision is what to do at a sync, given the unmet schedule time.
type decision int

const (
	decideNothing     decision = iota // no unmet schedule time, or it was handled already
	decideTooLate                     // past startingDeadlineSeconds
	decideForbidSkip                  // Forbid with a Job still running
	decideStart                       // start a Job (after deleting the active ones for Replace)
	decideReplaceThen                 // Replace: delete the active Jobs, then start one
)

// decide chooses what to do about the most recent unmet schedule time.
func decide(cj *batchv1.CronJob, scheduled *time.Time, now time.Time) decision {
	if scheduled == nil {
		return decideNothing
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		return decideTooLate
	}
	name := jobName(cj, *scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		return decideNothing
	}
	switch {
	case cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0:
		return decideForbidSkip
	case cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent && len(cj.Status.Active) > 0:
		return decideReplaceThen
	}
	return decideStart
}

// jobsToClean returns the finished Jobs to delete to keep at most the history limits of
// successful and failed Jobs, oldest (by start time, then creation, then name) first.
func jobsToClean(cj *batchv1.CronJob, jobs []*batchv1.Job) []*batchv1.Job {
	var ok, failed []*batchv1.Job
	for _, j := range jobs {
		switch jobFinished(j) {
		case batchv1.JobComplete:
			ok = append(ok, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	var out []*batchv1.Job
	pick := func(list []*batchv1.Job, limit *int32) {
		if limit == nil || len(list) <= int(*limit) {
			return
		}
		slices.SortStableFunc(list, compareJobAge)
		out = append(out, list[:len(list)-int(*limit)]...)
	}
	pick(ok, cj.Spec.SuccessfulJobsHistoryLimit)
	pick(failed, cj.Spec.FailedJobsHistoryLimit)
	return out
}

func compareJobAge(a, b *batchv1.Job) int {
	at, bt := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if a.Status.StartTime != nil {
		at = a.Status.StartTime.Time
	}
	if b.Status.StartTime != nil {
		bt = b.Status.StartTime.Time
	}
	if c := at.Compare(bt); c != 0 {
		return c
	}
	if a.Name < b.Name {
		return -1
	}
	if a.Name > b.Name {
		return 1
	}
	return 0
}
