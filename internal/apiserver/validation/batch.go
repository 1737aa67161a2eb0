package validation

import (
	"fmt"
	"strings"
	"time"
	// Embedded zone data makes timeZone validation independent of the host's
	// /usr/share/zoneinfo, so every API server replica agrees.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxParallelismForIndexedJob bounds indexed jobs because the controller
// tracks per-index state in annotations of bounded size.
const maxParallelismForIndexedJob = 100000

// ---- Job ----

func validateJob(job *batchv1.Job) field.ErrorList {
	errs := objectMeta(&job.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, jobSpec(&job.Spec, specPath, true)...)
}

// jobSpec validates a Job spec. requireSelectorMatch is false for CronJob
// templates, whose selector is generated per Job.
func jobSpec(spec *batchv1.JobSpec, fldPath *field.Path, requireSelectorMatch bool) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegativePtr(spec.Parallelism, fldPath.Child("parallelism"))...)
	errs = append(errs, nonNegativePtr(spec.Completions, fldPath.Child("completions"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimit, fldPath.Child("backoffLimit"))...)
	errs = append(errs, nonNegativePtr(spec.TTLSecondsAfterFinished, fldPath.Child("ttlSecondsAfterFinished"))...)
	if spec.ActiveDeadlineSeconds != nil && *spec.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), *spec.ActiveDeadlineSeconds, "must be greater than 0"))
	}

	if spec.Selector != nil {
		errs = append(errs, labelSelector(spec.Selector, fldPath.Child("selector"))...)
		if requireSelectorMatch && len(errs) == 0 {
			sel, sErrs := workloadSelector(spec.Selector, "job", fldPath.Child("selector"))
			errs = append(errs, sErrs...)
			errs = append(errs, selectorMatchesTemplate(sel, &spec.Template, fldPath)...)
		}
	}

	mode := batchv1.NonIndexedCompletion
	if spec.CompletionMode != nil {
		mode = *spec.CompletionMode
		errs = append(errs, enum(mode, false, fldPath.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
	}
	if mode == batchv1.IndexedCompletion {
		if spec.Completions == nil {
			errs = append(errs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
	} else {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	errs = append(errs, nonNegativePtr(spec.BackoffLimitPerIndex, fldPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegativePtr(spec.MaxFailedIndexes, fldPath.Child("maxFailedIndexes"))...)
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if spec.PodReplacementPolicy != nil {
		errs = append(errs, enum(*spec.PodReplacementPolicy, false, fldPath.Child("podReplacementPolicy"),
			batchv1.TerminatingOrFailed, batchv1.Failed)...)
	}
	if spec.ManagedBy != nil {
		errs = append(errs, domainPrefixedPath(*spec.ManagedBy, fldPath.Child("managedBy"))...)
	}

	tp := fldPath.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp)...)
	// A Job's pods must terminate for the Job to finish.
	rp := spec.Template.Spec.RestartPolicy
	if rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp,
			[]corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		pp := fldPath.Child("podFailurePolicy")
		if rp != corev1.RestartPolicyNever {
			errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), rp, "only \"Never\" is supported when podFailurePolicy is specified"))
		}
		for i, r := range pfp.Rules {
			p := pp.Child("rules").Index(i)
			errs = append(errs, enum(r.Action, false, p.Child("action"),
				batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
				batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore)...)
			if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
				errs = append(errs, field.Invalid(p, "", "specifying one of OnExitCodes and OnPodConditions is required"))
			}
		}
	}
	return errs
}

func domainPrefixedPath(v string, p *field.Path) field.ErrorList {
	if len(v) > 63 {
		return field.ErrorList{field.TooLong(p, v, 63)}
	}
	return isDomainPrefixedPath(p, v)
}

func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := objectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, jobSpec(&job.Spec, specPath, true)...)
	spec, oldSpec := &job.Spec, &old.Spec
	errs = append(errs, immutable(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)
	errs = append(errs, immutable(spec.CompletionMode, oldSpec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, immutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(spec.ManagedBy, oldSpec.ManagedBy, specPath.Child("managedBy"))...)
	// Elastic indexed jobs may scale completions together with parallelism.
	elastic := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion &&
		spec.Completions != nil && spec.Parallelism != nil && *spec.Completions == *spec.Parallelism
	if !elastic {
		errs = append(errs, immutable(spec.Completions, oldSpec.Completions, specPath.Child("completions"))...)
	}
	// The template is fixed once pods may exist. While a never-started Job is
	// suspended, its scheduling directives may still be adjusted (e.g. by a
	// queueing controller choosing where it runs).
	newTmpl, oldTmpl := spec.Template.DeepCopy(), oldSpec.Template.DeepCopy()
	if isTrue(spec.Suspend) && old.Status.StartTime == nil {
		oldTmpl.Labels, oldTmpl.Annotations = newTmpl.Labels, newTmpl.Annotations
		oldTmpl.Spec.NodeSelector = newTmpl.Spec.NodeSelector
		oldTmpl.Spec.Tolerations = newTmpl.Spec.Tolerations
		oldTmpl.Spec.Affinity = newTmpl.Spec.Affinity
		oldTmpl.Spec.SchedulingGates = newTmpl.Spec.SchedulingGates
	}
	errs = append(errs, immutable(*newTmpl, *oldTmpl, specPath.Child("template"))...)
	return errs
}

func validateJobStatusUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := objectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)
	st, p := job.Status, field.NewPath("status")
	errs = append(errs, nonNegative(st.Active, p.Child("active"))...)
	errs = append(errs, nonNegative(st.Succeeded, p.Child("succeeded"))...)
	errs = append(errs, nonNegative(st.Failed, p.Child("failed"))...)
	errs = append(errs, nonNegativePtr(st.Ready, p.Child("ready"))...)
	errs = append(errs, nonNegativePtr(st.Terminating, p.Child("terminating"))...)
	if old.Status.StartTime != nil && st.StartTime == nil && !isTrue(job.Spec.Suspend) {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	return errs
}

// ---- CronJob ----

// cronJobNameMax leaves room for the 11-character suffix the controller
// appends to create Job names that are still valid DNS labels.
const cronJobNameMax = 52

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := objectMeta(&cj.ObjectMeta, true, nameIsDNSSubdomain)
	if len(cj.Name) > cronJobNameMax {
		errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", cronJobNameMax)))
	}
	return append(errs, cronJobSpec(&cj.Spec)...)
}

func cronJobSpec(spec *batchv1.CronJobSpec) field.ErrorList {
	var errs field.ErrorList
	sp := specPath.Child("schedule")
	if spec.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		s := spec.Schedule
		if strings.Contains(s, "TZ") {
			errs = append(errs, field.Invalid(sp, s, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		} else if err := parseCronSchedule(s); err != nil {
			errs = append(errs, field.Invalid(sp, s, err.Error()))
		}
	}
	if tz := spec.TimeZone; tz != nil {
		tzp := specPath.Child("timeZone")
		switch {
		case *tz == "":
			errs = append(errs, field.Invalid(tzp, *tz, "timeZone must be nil or non-empty string"))
		case strings.EqualFold(*tz, "Local"):
			errs = append(errs, field.Invalid(tzp, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
		default:
			if _, err := time.LoadLocation(*tz); err != nil {
				errs = append(errs, field.Invalid(tzp, *tz, err.Error()))
			}
		}
	}
	errs = append(errs, enum(spec.ConcurrencyPolicy, true, specPath.Child("concurrencyPolicy"),
		batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	errs = append(errs, nonNegativePtr(spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.SuccessfulJobsHistoryLimit, specPath.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegativePtr(spec.FailedJobsHistoryLimit, specPath.Child("failedJobsHistoryLimit"))...)

	jt := specPath.Child("jobTemplate")
	errs = append(errs, labels(spec.JobTemplate.Labels, jt.Child("metadata", "labels"))...)
	errs = append(errs, validateAnnotations(spec.JobTemplate.Annotations, jt.Child("metadata", "annotations"))...)
	if isTrue(spec.JobTemplate.Spec.ManualSelector) {
		errs = append(errs, field.NotSupported(jt.Child("spec", "manualSelector"), spec.JobTemplate.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return append(errs, jobSpec(&spec.JobTemplate.Spec, jt.Child("spec"), false)...)
}

func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := objectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta)
	return append(errs, cronJobSpec(&cj.Spec)...)
}
