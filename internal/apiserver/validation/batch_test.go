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
