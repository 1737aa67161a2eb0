package validation

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func validJob() *batchv1.Job {
	lbls := map[string]string{"batch.kubernetes.io/controller-uid": "abc", "job-name": "pi"}
	tmpl := validTemplate(lbls)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{ObjectMeta: meta("pi", "default"), Spec: batchv1.JobSpec{
		Parallelism: ptr.To[int32](1), Completions: ptr.To[int32](1), BackoffLimit: ptr.To[int32](6),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "abc"}},
		Template: tmpl,
	}}
}

func TestJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []wantErr
	}{
		{"valid", func(*batchv1.Job) {}, nil},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) }, []wantErr{{"spec.parallelism", field.ErrorTypeInvalid, ""}}},
		{"negative backoffLimit", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) }, []wantErr{{"spec.backoffLimit", field.ErrorTypeInvalid, ""}}},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]wantErr{{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported, ""}}},
		{"bad completionMode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sometimes") },
			[]wantErr{{"spec.completionMode", field.ErrorTypeNotSupported, ""}}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []wantErr{{"spec.completions", field.ErrorTypeRequired, "Indexed"}}},
		{"selector mismatch", func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"x": "y"} },
			[]wantErr{{"spec.template.metadata.labels", field.ErrorTypeInvalid, "does not match"}}},
		{"backoffLimitPerIndex needs Indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			[]wantErr{{"spec.backoffLimitPerIndex", field.ErrorTypeInvalid, "requires indexed completion mode"}}},
		{"valid per-index", func(j *batchv1.Job) {
			indexed(j, 4)
			j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = ptr.To[int32](1), ptr.To[int32](4)
		}, nil},
		{"maxFailedIndexes above completions", func(j *batchv1.Job) {
			indexed(j, 4)
			j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = ptr.To[int32](1), ptr.To[int32](5)
		}, []wantErr{{"spec.maxFailedIndexes", field.ErrorTypeInvalid, "must be less than or equal to completions"}}},
		{"maxFailedIndexes above 100000", func(j *batchv1.Job) {
			indexed(j, 200000)
			j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = ptr.To[int32](1), ptr.To[int32](100001)
		}, []wantErr{
			{"spec.maxFailedIndexes", field.ErrorTypeInvalid, "must be less than or equal to 100000"},
			{"spec.maxFailedIndexes", field.ErrorTypeInvalid, "must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index"},
		}},
		{"many completions need maxFailedIndexes", func(j *batchv1.Job) {
			indexed(j, 100001)
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		}, []wantErr{{"spec.maxFailedIndexes", field.ErrorTypeRequired, "must be specified when completions is above 100000"}}},
		{"maxFailedIndexes without backoffLimitPerIndex", func(j *batchv1.Job) {
			indexed(j, 4)
			j.Spec.MaxFailedIndexes = ptr.To[int32](1)
		}, []wantErr{{"spec.backoffLimitPerIndex", field.ErrorTypeRequired, "when maxFailedIndexes is specified"}}},
		{"FailIndex needs backoffLimitPerIndex", func(j *batchv1.Job) {
			indexed(j, 4)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailIndex,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}, []wantErr{{"spec.podFailurePolicy.rules[0].action", field.ErrorTypeInvalid, "requires the backoffLimitPerIndex to be set"}}},
		{"valid FailIndex", func(j *batchv1.Job) {
			indexed(j, 4)
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](0)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailIndex,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}, nil},
		{"bad onExitCodes", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr.To("nope"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3, 0, 3}},
			}, {Action: ""}}}
		}, []wantErr{
			{"spec.podFailurePolicy.rules[0].onExitCodes.containerName", field.ErrorTypeInvalid, "must be one of the container or initContainer names in the pod template"},
			{"spec.podFailurePolicy.rules[0].onExitCodes.values[1]", field.ErrorTypeInvalid, "must not be 0 for the In operator"},
			{"spec.podFailurePolicy.rules[0].onExitCodes.values[2]", field.ErrorTypeDuplicate, ""},
			{"spec.podFailurePolicy.rules[0].onExitCodes.values", field.ErrorTypeInvalid, "must be ordered"},
			{"spec.podFailurePolicy.rules[1].action", field.ErrorTypeRequired, `valid values: ["Count" "FailIndex" "FailJob" "Ignore"]`},
			{"spec.podFailurePolicy.rules[1]", field.ErrorTypeInvalid, "specifying one of OnExitCodes and OnPodConditions is required"},
		}},
		{"podReplacementPolicy with podFailurePolicy", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}}
		}, []wantErr{{"spec.podReplacementPolicy", field.ErrorTypeNotSupported, ""}}},
		{"successPolicy needs Indexed", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
		}, []wantErr{{"spec.successPolicy", field.ErrorTypeInvalid, "requires indexed completion mode"}}},
		{"valid successPolicy", func(j *batchv1.Job) {
			indexed(j, 5)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{SucceededIndexes: ptr.To("0,2-4"), SucceededCount: ptr.To[int32](2)}, {SucceededCount: ptr.To[int32](5)},
			}}
		}, nil},
		{"bad successPolicy", func(j *batchv1.Job) {
			indexed(j, 5)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{}, {SucceededIndexes: ptr.To("3-1")}, {SucceededIndexes: ptr.To("0-9")}, {SucceededCount: ptr.To[int32](6)},
				{SucceededIndexes: ptr.To("1-2"), SucceededCount: ptr.To[int32](3)},
			}}
		}, []wantErr{
			{"spec.successPolicy.rules[0]", field.ErrorTypeRequired, "at least one of succeededCount or succeededIndexes must be specified"},
			{"spec.successPolicy.rules[1].succeededIndexes", field.ErrorTypeInvalid, "error parsing succeededIndexes: non-increasing order, previous: 3, current: 1"},
			{"spec.successPolicy.rules[2].succeededIndexes", field.ErrorTypeInvalid, `error parsing succeededIndexes: too large index: "9"`},
			{"spec.successPolicy.rules[3].succeededCount", field.ErrorTypeInvalid, "must be less than or equal to 5 (the number of specified completions)"},
			{"spec.successPolicy.rules[4].succeededCount", field.ErrorTypeInvalid, "must be less than or equal to 2 (the number of indexes in the specified succeededIndexes field)"},
		}},
		{"empty successPolicy", func(j *batchv1.Job) {
			indexed(j, 5)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{}
		}, []wantErr{{"spec.successPolicy.rules", field.ErrorTypeRequired, "at least one rules must be specified when the successPolicy is specified"}}},
		{"indexed hostname too long", func(j *batchv1.Job) {
			j.Name = "a23456789012345678901234567890123456789012345678901234567890"
			indexed(j, 1000)
		}, []wantErr{{"metadata.name", field.ErrorTypeInvalid, "will not able to create pod with invalid DNS label"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(j)
			checkErrs(t, ValidateCreate(j), tc.want...)
		})
	}

	old := validJob()
	tmplChange := old.DeepCopy()
	tmplChange.Spec.Template.Spec.Containers[0].Image = "perl:2"
	checkErrs(t, ValidateUpdate(tmplChange, old), wantErr{"spec.template", field.ErrorTypeInvalid, "field is immutable"})
	parallel := old.DeepCopy()
	parallel.Spec.Parallelism = ptr.To[int32](3)
	checkErrs(t, ValidateUpdate(parallel, old))
	suspended := old.DeepCopy()
	suspended.Spec.Suspend = ptr.To(true)
	old.Spec.Suspend = ptr.To(true)
	suspended.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	checkErrs(t, ValidateUpdate(suspended, old))

	perIndex := validJob()
	indexed(perIndex, 4)
	perIndex.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	changed := perIndex.DeepCopy()
	changed.Spec.BackoffLimitPerIndex = ptr.To[int32](2)
	changed.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
	checkErrs(t, ValidateUpdate(changed, perIndex),
		wantErr{"spec.backoffLimitPerIndex", field.ErrorTypeInvalid, "field is immutable"},
		wantErr{"spec.successPolicy", field.ErrorTypeInvalid, "field is immutable"})
}

func indexed(j *batchv1.Job, completions int32) {
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr.To(completions)
}

func TestJobIndexesStatus(t *testing.T) {
	old := validJob()
	indexed(old, 6)
	old.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	for _, tc := range []struct {
		name              string
		completed, failed string
		want              []wantErr
	}{
		{"valid", "0,2-3", "1,5", nil},
		{"bad completed", "3-1", "", []wantErr{{"status.completedIndexes", field.ErrorTypeInvalid, "error parsing completedIndexes: non-increasing order"}}},
		{"bad failed", "", "6", []wantErr{{"status.failedIndexes", field.ErrorTypeInvalid, `error parsing failedIndexes: too large index: "6"`}}},
		{"overlap", "0-3", "3,5", []wantErr{{"status.failedIndexes", field.ErrorTypeInvalid, "failedIndexes and completedIndexes overlap at index: 3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := old.DeepCopy()
			j.Status.CompletedIndexes, j.Status.FailedIndexes = tc.completed, ptr.To(tc.failed)
			checkErrs(t, ValidateStatusUpdate(j, old), tc.want...)
		})
	}
	plain := validJob()
	j := plain.DeepCopy()
	j.Status.FailedIndexes = ptr.To("0")
	j.Status.CompletedIndexes = "0"
	checkErrs(t, ValidateStatusUpdate(j, plain),
		wantErr{"status.failedIndexes", field.ErrorTypeInvalid, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"},
		wantErr{"status.completedIndexes", field.ErrorTypeInvalid, "cannot set non-empty completedIndexes when non-indexed completion mode"})
}

func TestCronJob(t *testing.T) {
	valid := func() *batchv1.CronJob {
		j := validJob()
		j.Spec.Selector = nil
		j.Spec.Template.Labels = nil
		return &batchv1.CronJob{ObjectMeta: meta("nightly", "default"), Spec: batchv1.CronJobSpec{
			Schedule: "0 3 * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: j.Spec},
		}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []wantErr
	}{
		{"valid", func(*batchv1.CronJob) {}, nil},
		{"valid macro and zone", func(c *batchv1.CronJob) { c.Spec.Schedule = "@daily"; c.Spec.TimeZone = ptr.To("Europe/Berlin") }, nil},
		{"schedule required", func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, []wantErr{{"spec.schedule", field.ErrorTypeRequired, ""}}},
		{"bad schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, []wantErr{{"spec.schedule", field.ErrorTypeInvalid, "above maximum"}}},
		{"TZ in schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 3 * * *" }, []wantErr{{"spec.schedule", field.ErrorTypeInvalid, "TZ"}}},
		{"bad time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Mars/Olympus") }, []wantErr{{"spec.timeZone", field.ErrorTypeInvalid, ""}}},
		{"local time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Local") }, []wantErr{{"spec.timeZone", field.ErrorTypeInvalid, "explicit"}}},
		{"bad concurrency", func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, []wantErr{{"spec.concurrencyPolicy", field.ErrorTypeNotSupported, ""}}},
		{"negative history", func(c *batchv1.CronJob) { c.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) }, []wantErr{{"spec.failedJobsHistoryLimit", field.ErrorTypeInvalid, ""}}},
		{"template restart policy", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		},
			[]wantErr{{"spec.jobTemplate.spec.template.spec.restartPolicy", field.ErrorTypeNotSupported, ""}}},
		{"template image", func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "" },
			[]wantErr{{"spec.jobTemplate.spec.template.spec.containers[0].image", field.ErrorTypeRequired, ""}}},
		{"name too long", func(c *batchv1.CronJob) { c.Name = "a123456789012345678901234567890123456789012345678901234" },
			[]wantErr{{"metadata.name", field.ErrorTypeInvalid, "52"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(c)
			checkErrs(t, ValidateCreate(c), tc.want...)
		})
	}
}
