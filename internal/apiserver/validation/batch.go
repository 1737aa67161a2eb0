package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Embedded zone data makes timeZone validation independent of the host's
	// /usr/share/zoneinfo, so every API server replica agrees.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// maxParallelismForIndexedJob bounds indexed jobs because the controller
// tracks per-index state in annotations of bounded size.
const maxParallelismForIndexedJob = 100000

// Limits of Kubernetes' Job validation.
const (
	// maxFailedIndexesForIndexedJob caps maxFailedIndexes, bounding status.failedIndexes.
	maxFailedIndexesForIndexedJob = 100_000
	// Above completionsSoftLimit, a Job with backoffLimitPerIndex needs maxFailedIndexes
	// and tighter bounds on parallelism and maxFailedIndexes.
	completionsSoftLimit                    = 100_000
	parallelismLimitForHighCompletions      = 10_000
	maxFailedIndexesLimitForHighCompletions = 10_000

	maxPodFailurePolicyRules                   = 20
	maxPodFailurePolicyOnExitCodesValues       = 255
	maxPodFailurePolicyOnPodConditionsPatterns = 20

	maxSuccessPolicyRules                    = 20
	maxJobSuccessPolicySucceededIndexesLimit = 64 * 1024
)

var (
	supportedPodFailurePolicyActions = []batchv1.PodFailurePolicyAction{
		batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore,
	}
	supportedOnExitCodesOperators = []batchv1.PodFailurePolicyOnExitCodesOperator{
		batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn,
	}
	supportedOnPodConditionsStatuses = []corev1.ConditionStatus{
		corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown,
	}
)

// ---- Job ----

func validateJob(job *batchv1.Job) field.ErrorList {
	errs := objectMeta(&job.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, jobSpec(&job.Spec, specPath, true)...)
	if c := job.Spec.Completions; c != nil && *c > 0 && job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion {
		// Pods of an Indexed Job are named (hostname) <job>-<index>.
		host := fmt.Sprintf("%s-%d", job.Name, *c-1)
		if len(utilvalidation.IsDNS1123Label(host)) > 0 {
			errs = append(errs, field.Invalid(metaPath.Child("name"), job.Name, "will not able to create pod with invalid DNS label: "+host))
		}
	}
	return errs
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
		errs = append(errs, perIndexLimits(spec, fldPath)...)
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
	if sp := spec.SuccessPolicy; sp != nil {
		if mode != batchv1.IndexedCompletion {
			errs = append(errs, field.Invalid(fldPath.Child("successPolicy"), *sp, "requires indexed completion mode"))
		} else {
			errs = append(errs, successPolicy(spec, fldPath.Child("successPolicy"))...)
		}
	}
	if spec.PodReplacementPolicy != nil {
		if spec.PodFailurePolicy != nil {
			// With a podFailurePolicy, pods are replaced once Failed only.
			errs = append(errs, enum(*spec.PodReplacementPolicy, false, fldPath.Child("podReplacementPolicy"), batchv1.Failed)...)
		} else {
			errs = append(errs, enum(*spec.PodReplacementPolicy, false, fldPath.Child("podReplacementPolicy"),
				batchv1.Failed, batchv1.TerminatingOrFailed)...)
		}
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
		errs = append(errs, podFailurePolicy(spec, pp)...)
	}
	return errs
}

// perIndexLimits checks maxFailedIndexes (and parallelism) of an Indexed Job against
// completions and Kubernetes' limits.
func perIndexLimits(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mfp := fldPath.Child("maxFailedIndexes")
	if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
		errs = append(errs, field.Invalid(mfp, *spec.MaxFailedIndexes, "must be less than or equal to completions"))
	}
	if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
		errs = append(errs, field.Invalid(mfp, *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
	}
	if spec.Completions != nil && *spec.Completions > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
		if spec.MaxFailedIndexes == nil {
			errs = append(errs, field.Required(mfp, fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > parallelismLimitForHighCompletions {
			errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", parallelismLimitForHighCompletions, completionsSoftLimit)))
		}
		if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesLimitForHighCompletions {
			errs = append(errs, field.Invalid(mfp, *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", maxFailedIndexesLimitForHighCompletions, completionsSoftLimit)))
		}
	}
	return errs
}

// podFailurePolicy validates spec.podFailurePolicy as Kubernetes does.
func podFailurePolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	rules := spec.PodFailurePolicy.Rules
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range spec.Template.Spec.Containers {
		containers[c.Name] = true
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers[c.Name] = true
	}
	for i, r := range rules {
		p := rulesPath.Index(i)
		ap := p.Child("action")
		switch {
		case r.Action == "":
			errs = append(errs, field.Required(ap, fmt.Sprintf("valid values: %q", supportedPodFailurePolicyActions)))
		case r.Action == batchv1.PodFailurePolicyActionFailIndex:
			if spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(ap, r.Action, "requires the backoffLimitPerIndex to be set"))
			}
		default:
			errs = append(errs, enum(r.Action, false, ap, supportedPodFailurePolicyActions...)...)
		}
		if r.OnExitCodes != nil {
			errs = append(errs, onExitCodes(r.OnExitCodes, p.Child("onExitCodes"), containers)...)
		}
		if len(r.OnPodConditions) > 0 {
			errs = append(errs, onPodConditions(r.OnPodConditions, p.Child("onPodConditions"))...)
		}
		if r.OnExitCodes != nil && len(r.OnPodConditions) > 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		}
		if r.OnExitCodes == nil && len(r.OnPodConditions) == 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
	}
	return errs
}

func onExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, fldPath *field.Path, containers map[string]bool) field.ErrorList {
	var errs field.ErrorList
	op := fldPath.Child("operator")
	if req.Operator == "" {
		errs = append(errs, field.Required(op, fmt.Sprintf("valid values: %q", supportedOnExitCodesOperators)))
	} else {
		errs = append(errs, enum(req.Operator, false, op, supportedOnExitCodesOperators...)...)
	}
	if req.ContainerName != nil && !containers[*req.ContainerName] {
		errs = append(errs, field.Invalid(fldPath.Child("containerName"), *req.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	vp := fldPath.Child("values")
	if len(req.Values) == 0 {
		errs = append(errs, field.Invalid(vp, req.Values, "at least one value is required"))
	} else if len(req.Values) > maxPodFailurePolicyOnExitCodesValues {
		errs = append(errs, field.TooMany(vp, len(req.Values), maxPodFailurePolicyOnExitCodesValues))
	}
	ordered := true
	seen := map[int32]bool{}
	for j, v := range req.Values {
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, field.Invalid(vp.Index(j), v, "must not be 0 for the In operator"))
		}
		if seen[v] {
			errs = append(errs, field.Duplicate(vp.Index(j), v))
		}
		seen[v] = true
		if j > 0 && req.Values[j-1] > v {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, field.Invalid(vp, req.Values, "must be ordered"))
	}
	return errs
}

func onPodConditions(patterns []batchv1.PodFailurePolicyOnPodConditionsPattern, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(patterns) > maxPodFailurePolicyOnPodConditionsPatterns {
		errs = append(errs, field.TooMany(fldPath, len(patterns), maxPodFailurePolicyOnPodConditionsPatterns))
	}
	for j, pat := range patterns {
		p := fldPath.Index(j)
		errs = append(errs, qualifiedName(string(pat.Type), p.Child("type"))...)
		sp := p.Child("status")
		if pat.Status == "" {
			errs = append(errs, field.Required(sp, fmt.Sprintf("valid values: %q", supportedOnPodConditionsStatuses)))
		} else {
			errs = append(errs, enum(pat.Status, false, sp, supportedOnPodConditionsStatuses...)...)
		}
	}
	return errs
}

// successPolicy validates the successPolicy of an Indexed Job.
func successPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	rules := spec.SuccessPolicy.Rules
	if len(rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxSuccessPolicyRules))
	}
	completions := ptr.Deref(spec.Completions, 0)
	for i, r := range rules {
		p := rulesPath.Index(i)
		if r.SucceededCount == nil && r.SucceededIndexes == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var total int32
		if r.SucceededIndexes != nil {
			ip := p.Child("succeededIndexes")
			if len(*r.SucceededIndexes) > maxJobSuccessPolicySucceededIndexesLimit {
				errs = append(errs, field.TooLong(ip, *r.SucceededIndexes, maxJobSuccessPolicySucceededIndexesLimit))
			}
			var err error
			if total, err = indexesFormat(*r.SucceededIndexes, completions); err != nil {
				errs = append(errs, field.Invalid(ip, *r.SucceededIndexes, "error parsing succeededIndexes: "+err.Error()))
			}
		}
		if r.SucceededCount != nil {
			cp := p.Child("succeededCount")
			errs = append(errs, nonNegative(*r.SucceededCount, cp)...)
			if *r.SucceededCount > completions {
				errs = append(errs, field.Invalid(cp, *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if r.SucceededIndexes != nil && *r.SucceededCount > total {
				errs = append(errs, field.Invalid(cp, *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// indexesFormat checks an interval list of indexes ("1,3-5"): increasing, each below
// completions. It returns how many indexes it holds.
func indexesFormat(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var (
		last  *int32
		total int32
	)
	for part := range strings.SplitSeq(s, ",") {
		x, y, err := indexInterval(part, completions)
		if err != nil {
			return 0, err
		}
		if last != nil && *last >= x {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", *last, x)
		}
		total += y - x + 1
		last = &y
	}
	return total, nil
}

func indexInterval(s string, completions int32) (int32, int32, error) {
	limits := strings.Split(s, "-")
	if len(limits) > 2 {
		return 0, 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", s)
	}
	x, err := strconv.Atoi(limits[0])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", limits[0])
	}
	if x >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", limits[0])
	}
	if len(limits) == 1 {
		return int32(x), int32(x), nil
	}
	y, err := strconv.Atoi(limits[1])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", limits[1])
	}
	if y >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", limits[1])
	}
	if x >= y {
		return 0, 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", x, y)
	}
	return int32(x), int32(y), nil
}

// indexesOverlap returns the first index in both interval lists (as validated by
// indexesFormat; fragments that do not parse are skipped), or -1.
func indexesOverlap(a, b string, completions int32) int32 {
	parse := func(s string) [][2]int32 {
		var out [][2]int32
		if s == "" {
			return nil
		}
		for part := range strings.SplitSeq(s, ",") {
			if x, y, err := indexInterval(part, completions); err == nil {
				out = append(out, [2]int32{x, y})
			}
		}
		return out
	}
	ai, bi := parse(a), parse(b)
	for i, j := 0, 0; i < len(ai) && j < len(bi); {
		if ai[i][0] <= bi[j][1] && bi[j][0] <= ai[i][1] {
			return max(ai[i][0], bi[j][0])
		}
		if ai[i][0] <= bi[j][0] {
			i++
		} else {
			j++
		}
	}
	return -1
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
	errs = append(errs, immutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(spec.SuccessPolicy, oldSpec.SuccessPolicy, specPath.Child("successPolicy"))...)
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
	return append(errs, jobIndexesStatus(job, old)...)
}

// jobIndexesStatus checks status.completedIndexes and status.failedIndexes as Kubernetes
// does; like Kubernetes, a check is skipped when the old status already failed it, so
// that a Job stored before the check can still be updated.
func jobIndexesStatus(job, old *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	st, p := job.Status, field.NewPath("status")
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	completions := job.Spec.Completions
	validFormat := func(s string) bool {
		_, err := indexesFormat(s, ptr.Deref(completions, 0))
		return err == nil
	}
	if indexed && completions != nil && validFormat(old.Status.CompletedIndexes) {
		if _, err := indexesFormat(st.CompletedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("completedIndexes"), st.CompletedIndexes, "error parsing completedIndexes: "+err.Error()))
		}
	}
	if completions != nil && job.Spec.BackoffLimitPerIndex != nil && st.FailedIndexes != nil &&
		(old.Status.FailedIndexes == nil || validFormat(*old.Status.FailedIndexes)) {
		if _, err := indexesFormat(*st.FailedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), st.FailedIndexes, "error parsing failedIndexes: "+err.Error()))
		}
	}
	if !indexed && st.CompletedIndexes != "" && old.Status.CompletedIndexes == "" {
		errs = append(errs, field.Invalid(p.Child("completedIndexes"), st.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if job.Spec.BackoffLimitPerIndex == nil && st.FailedIndexes != nil && old.Status.FailedIndexes == nil {
		errs = append(errs, field.Invalid(p.Child("failedIndexes"), *st.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if completions != nil && st.FailedIndexes != nil {
		oldOverlap := old.Status.FailedIndexes != nil && indexesOverlap(old.Status.CompletedIndexes, *old.Status.FailedIndexes, *completions) >= 0
		if ix := indexesOverlap(st.CompletedIndexes, *st.FailedIndexes, *completions); ix >= 0 && !oldOverlap {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), *st.FailedIndexes, fmt.Sprintf("failedIndexes and completedIndexes overlap at index: %d", ix)))
		}
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
