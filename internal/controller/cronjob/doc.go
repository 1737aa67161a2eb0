// Package cronjob is the CronJob controller: it creates a Job from spec.jobTemplate at each
// time spec.schedule names, and reports the Jobs it runs in the CronJob's status.
//
// For each CronJob the controller
//
//  1. reconciles status.active with the Jobs it controls: finished Jobs leave the list
//     (event SawCompletedJob), Jobs that vanished leave it after an uncached read confirms
//     they are gone (MissingJob), unfinished Jobs not in it are added (UnexpectedJob, when a
//     fresh read of the CronJob does not list them either); status.lastSuccessfulTime is
//     the latest completionTime of a Complete Job;
//  2. unless suspended, works out the most recent unmet schedule time since
//     status.lastScheduleTime (or creation), ignoring times older than
//     startingDeadlineSeconds; more than 100 missed times give a TooManyMissedTimes warning;
//     a time older than the deadline is skipped with a MissSchedule warning;
//  3. applies concurrencyPolicy: Allow starts the Job; Forbid does not while a Job is active
//     (JobAlreadyActive); Replace deletes the active Jobs (background propagation) first;
//  4. creates the Job <cronjob>-<scheduled time in minutes since the epoch>, with the
//     template's labels and annotations, annotation batch.kubernetes.io/cronjob-scheduled-
//     timestamp (RFC 3339, in spec.timeZone, else UTC), and a controller reference; an
//     already existing Job of that name that we control counts as created;
//  5. writes status (active, lastScheduleTime, lastSuccessfulTime) through /status when it
//     changed, deletes the oldest finished Jobs beyond successfulJobsHistoryLimit and
//     failedJobsHistoryLimit, and requeues the CronJob just after its next schedule time.
//
// Schedules (ParseSchedule) are standard 5-field cron expressions or @yearly, @annually,
// @monthly, @weekly, @daily, @midnight, @hourly and "@every <duration>", evaluated in
// spec.timeZone (time zone data is embedded) or the controller's local time zone, with the
// DST behaviour of Kubernetes' robfig/cron: skipped local times do not fire, repeated ones
// fire twice.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	cjc := cronjob.New(client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs())
//	factory.Start(ctx.Done())
//	go cjc.Run(ctx, 2)
//
// Options: WithClock (a k8s.io/utils/clock.WithTicker; it also drives the work queue's
// delays, so a test can step a fake clock to the next schedule) and WithEventRecorder.
// The decisions (missed schedules, concurrency, history cleanup) are pure functions in
// decide.go.
package cronjob
