// Package job is the Job controller: it runs a Job's pods until enough of them succeed, or
// the Job fails, and reports progress in the Job's status. It also deletes finished Jobs
// whose spec.ttlSecondsAfterFinished has passed (the TTL-after-finished controller).
//
// For each Job the controller
//
//  1. claims pods as the other workload controllers do (adopted pods get the tracking
//     finalizer batch.kubernetes.io/job-tracking);
//  2. creates pods from spec.template (generateName "<job>-", a controller reference, the
//     tracking finalizer) up to min(parallelism, completions - succeeded), in slow-start
//     batches, at most 500 per sync. In Indexed mode each pod gets the lowest pending
//     completion index (neither succeeded, failed, active nor, when only Failed pods are
//     replaced, terminating): annotation and label batch.kubernetes.io/job-completion-index,
//     environment variable JOB_COMPLETION_INDEX (from the label), hostname "<job>-<index>"
//     and generateName "<job>-<index>-"; surplus pods (duplicate, succeeded or out-of-range
//     indexes) are deleted. After failures, creation waits 10s doubling per failure since
//     the last success, capped at 6m (WithBackoff changes both). With podReplacementPolicy
//     Failed (or a podFailurePolicy), terminating pods are replaced only once Failed;
//  3. counts terminated pods exactly once, as Kubernetes does: their UIDs go to
//     status.uncountedTerminatedPods (succeeded indexes to status.completedIndexes), then
//     their finalizers are removed, then they move to status.succeeded / status.failed.
//     Pods being deleted without having succeeded count as failed. Index lists are written
//     as Kubernetes writes them: "1,3-5", two adjacent indexes "7,8";
//  4. finishes the Job: when failures exceed backoffLimit (reason BackoffLimitExceeded), the
//     Job ran longer than activeDeadlineSeconds (DeadlineExceeded), or a FailJob rule of
//     podFailurePolicy matched (PodFailurePolicy), it records the interim FailureTarget
//     condition, deletes the active pods and, once nothing is uncounted or terminating, adds
//     Failed. When enough pods succeeded it records SuccessCriteriaMet (reason
//     CompletionsReached) and then Complete with completionTime. podFailurePolicy rules
//     (onExitCodes, onPodConditions) with actions FailJob, Ignore (not counted), Count and
//     FailIndex are honoured. managedBy Jobs of another controller are left alone;
//  5. backoffLimitPerIndex (Indexed Jobs): each new pod carries in the annotation
//     batch.kubernetes.io/job-index-failure-count how often its index failed before
//     (ignored failures in batch.kubernetes.io/job-index-ignored-failure-count), taken from
//     the failed pod it replaces, whose counting is held back until the replacement exists.
//     A failed pod whose count reached backoffLimitPerIndex, or that matched a FailIndex
//     rule, fails its index for good: it goes to status.failedIndexes and is not retried.
//     Each index backs off on its own (10s doubling per failure of the index). The Job fails
//     with MaxFailedIndexesExceeded ("Job has exceeded the specified maximal number of
//     failed indexes") once more than maxFailedIndexes indexes failed, or with
//     FailedIndexes ("Job has failed indexes") once every index finished and some failed;
//     the global backoffLimit defaults to no limit then;
//  6. successPolicy (Indexed Jobs): once a rule is met (all its succeededIndexes, or
//     succeededCount of them, or succeededCount indexes at all), records SuccessCriteriaMet
//     with reason SuccessPolicy and message "Matched rules at index N", deletes the pods
//     still running and, once they are gone, adds Complete with the same reason;
//  7. while spec.suspend is set deletes the active pods (they are not counted as failed)
//     and sets condition Suspended (JobSuspended); on resume sets it False (JobResumed) and
//     restarts startTime;
//  8. writes status (startTime, active, ready, terminating, counters, completedIndexes,
//     failedIndexes, conditions) through /status when it changed;
//  9. once finished with ttlSecondsAfterFinished, re-reads the Job and deletes it with
//     propagationPolicy Background (and a UID precondition) when the TTL has expired, or
//     looks again then.
//
// Pods that keep the tracking finalizer after their Job is gone or finished are released
// by a second queue. Expectations (creations and deletions issued, finalizer removals not
// yet seen) keep a lagging informer from causing double creation or double counting.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	jc := job.New(client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods())
//	factory.Start(ctx.Done())
//	go jc.Run(ctx, 5)
//
// Options: WithClock (a k8s.io/utils/clock.WithTicker, also driving queue delays),
// WithEventRecorder and WithBackoff. Decisions are pure functions in decide.go and
// indexes.go.
package job
