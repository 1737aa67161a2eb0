package defaults

import (
	"math"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestBatchDefaults(t *testing.T) {
	nonIndexed := ptr.To(batchv1.NonIndexedCompletion)
	// jobTemplate is a Job pod template (restartPolicy is required there).
	jobTemplate := func() corev1.PodTemplateSpec {
		t := simpleTemplate()
		t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		return t
	}
	wantJobTemplate := func() corev1.PodTemplateSpec {
		t := wantSimpleTemplate()
		t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		return t
	}
	failurePolicy := func(status corev1.ConditionStatus) *batchv1.PodFailurePolicy {
		return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: status}},
		}}}
	}
	runDefaultCases(t, []defaultCase{
		{
			name: "Job",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Template: jobTemplate()}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: batchv1.JobSpec{
					Parallelism:          ptr.To[int32](1),
					Completions:          ptr.To[int32](1),
					BackoffLimit:         ptr.To[int32](6),
					CompletionMode:       nonIndexed,
					Suspend:              ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
					ManualSelector:       ptr.To(false),
					Template:             wantJobTemplate(),
				},
			},
		},
		{
			name: "Job with completions only leaves completions as given",
			in: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}},
				Spec:       batchv1.JobSpec{Completions: ptr.To[int32](5), Template: jobTemplate()},
			},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}},
				Spec: batchv1.JobSpec{
					Parallelism: ptr.To[int32](1), Completions: ptr.To[int32](5), BackoffLimit: ptr.To[int32](6),
					CompletionMode: nonIndexed, Suspend: ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed), ManualSelector: ptr.To(false),
					Template: wantJobTemplate(),
				},
			},
		},
		{
			name: "Job with parallelism only leaves completions unset",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3), Template: jobTemplate()}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: batchv1.JobSpec{
					Parallelism: ptr.To[int32](3), BackoffLimit: ptr.To[int32](6),
					CompletionMode: nonIndexed, Suspend: ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed), ManualSelector: ptr.To(false),
					Template: wantJobTemplate(),
				},
			},
		},
		{
			name: "Indexed Job with backoffLimitPerIndex and podFailurePolicy",
			in: &batchv1.Job{Spec: batchv1.JobSpec{
				Completions: ptr.To[int32](4), Parallelism: ptr.To[int32](2),
				CompletionMode:       ptr.To(batchv1.IndexedCompletion),
				BackoffLimitPerIndex: ptr.To[int32](1),
				PodFailurePolicy:     failurePolicy(""),
				ManualSelector:       ptr.To(true),
				Template:             jobTemplate(),
			}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: batchv1.JobSpec{
					Completions: ptr.To[int32](4), Parallelism: ptr.To[int32](2),
					CompletionMode:       ptr.To(batchv1.IndexedCompletion),
					BackoffLimitPerIndex: ptr.To[int32](1),
					BackoffLimit:         ptr.To[int32](math.MaxInt32),
					PodFailurePolicy:     failurePolicy(corev1.ConditionTrue),
					PodReplacementPolicy: ptr.To(batchv1.Failed),
					Suspend:              ptr.To(false),
					ManualSelector:       ptr.To(true),
					Template:             wantJobTemplate(),
				},
			},
		},
		{
			name: "CronJob defaults its own spec and only the nested jobTemplate structs",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					PodFailurePolicy: failurePolicy(""),
					Template:         jobTemplate(),
				}},
			}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:                   "*/5 * * * *",
				ConcurrencyPolicy:          batchv1.AllowConcurrent,
				Suspend:                    ptr.To(false),
				SuccessfulJobsHistoryLimit: ptr.To[int32](3),
				FailedJobsHistoryLimit:     ptr.To[int32](1),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					PodFailurePolicy: failurePolicy(corev1.ConditionTrue),
					Template:         wantJobTemplate(),
				}},
			}},
		},
	})
}
