package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// cellsCase is one object and the row expected for it.
type cellsCase struct {
	name string
	obj  runtime.Object
	want []interface{}
}

func runCells(t *testing.T, p Printer, tests []cellsCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Cells(tt.obj, now); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func podTemplate(containers ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
}

var (
	nginx   = corev1.Container{Name: "nginx", Image: "nginx:1.27"}
	sidecar = corev1.Container{Name: "log", Image: "fluent-bit:3"}
	webSel  = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
)

func TestDeploymentCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(49 * time.Hour)}
	runCells(t, mustFor(t, "apps", "deployments"), []cellsCase{
		{
			name: "rolled out",
			obj: &appsv1.Deployment{ObjectMeta: meta,
				Spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: webSel, Template: podTemplate(nginx, sidecar)},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}},
			want: []interface{}{"web", "3/3", int64(3), int64(3), "2d1h", "nginx,log", "nginx:1.27,fluent-bit:3", "app=web"},
		},
		{
			name: "rolling, replicas unset, selector with expressions",
			obj: &appsv1.Deployment{ObjectMeta: meta,
				Spec: appsv1.DeploymentSpec{
					Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}},
					}},
					Template: podTemplate(nginx),
				},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 0, UpdatedReplicas: 1}},
			want: []interface{}{"web", "0/1", int64(1), int64(0), "2d1h", "nginx", "nginx:1.27", "tier in (a,b)"},
		},
		{
			name: "no selector prints empty, not <none>",
			obj:  &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0))}},
			want: []interface{}{"web", "0/0", int64(0), int64(0), "2d1h", "", "", ""},
		},
	})
}

func TestReplicaSetAndDaemonSetCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web-6d4cf56db6", CreationTimestamp: ago(90 * time.Second)}
	runCells(t, mustFor(t, "apps", "replicasets"), []cellsCase{{
		name: "scaling up",
		obj: &appsv1.ReplicaSet{ObjectMeta: meta,
			Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(int32(4)), Selector: webSel, Template: podTemplate(nginx)},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}},
		want: []interface{}{"web-6d4cf56db6", int64(4), int64(3), int64(2), "90s", "nginx", "nginx:1.27", "app=web"},
	}, {
		name: "no selector",
		obj:  &appsv1.ReplicaSet{ObjectMeta: meta},
		want: []interface{}{"web-6d4cf56db6", int64(1), int64(0), int64(0), "90s", "", "", "<none>"},
	}})

	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", CreationTimestamp: ago(3 * time.Hour)},
		Spec: appsv1.DaemonSetSpec{Selector: webSel, Template: podTemplate(nginx)},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 5, CurrentNumberScheduled: 5, NumberReady: 4,
			UpdatedNumberScheduled: 5, NumberAvailable: 4}}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	runCells(t, mustFor(t, "apps", "daemonsets"), []cellsCase{{
		name: "with node selector",
		obj:  ds,
		want: []interface{}{"agent", int64(5), int64(5), int64(4), int64(5), int64(4), "kubernetes.io/os=linux", "3h", "nginx", "nginx:1.27", "app=web"},
	}})
}

func TestStatefulSetAndControllerRevisionCells(t *testing.T) {
	runCells(t, mustFor(t, "apps", "statefulsets"), []cellsCase{{
		name: "partly ready",
		obj: &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", CreationTimestamp: ago(5 * time.Minute)},
			Spec:   appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: podTemplate(nginx)},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 2}},
		want: []interface{}{"db", "2/3", "5m", "nginx", "nginx:1.27"},
	}})

	owned := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-7d9f", CreationTimestamp: ago(5 * time.Minute),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)}}},
		Revision: 2}
	runCells(t, mustFor(t, "apps", "controllerrevisions"), []cellsCase{
		{name: "owned", obj: owned, want: []interface{}{"db-7d9f", "statefulset.apps/db", int64(2), "5m"}},
		{name: "orphan", obj: &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Revision: 1},
			want: []interface{}{"x", "<none>", int64(1), "<unknown>"}},
	})
}

func TestJobCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "pi", CreationTimestamp: ago(10 * time.Minute)}
	cond := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	spec := batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1)), Selector: webSel, Template: podTemplate(nginx)}
	job := func(status batchv1.JobStatus, mutate ...func(*batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: meta, Spec: spec, Status: status}
		for _, m := range mutate {
			m(j)
		}
		return j
	}
	runCells(t, mustFor(t, "batch", "jobs"), []cellsCase{
		{
			name: "not started",
			obj:  job(batchv1.JobStatus{}),
			want: []interface{}{"pi", "Running", "0/1", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "running",
			obj:  job(batchv1.JobStatus{StartTime: agoPtr(95 * time.Second), Active: 1}),
			want: []interface{}{"pi", "Running", "0/1", "95s", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "complete",
			obj: job(batchv1.JobStatus{StartTime: agoPtr(10 * time.Minute), CompletionTime: agoPtr(8 * time.Minute),
				Succeeded: 1, Conditions: cond(batchv1.JobComplete)}),
			want: []interface{}{"pi", "Complete", "1/1", "2m", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "failed",
			obj:  job(batchv1.JobStatus{StartTime: agoPtr(time.Minute), Failed: 6, Conditions: cond(batchv1.JobFailed)}),
			want: []interface{}{"pi", "Failed", "0/1", "60s", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "suspended",
			obj:  job(batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended)}),
			want: []interface{}{"pi", "Suspended", "0/1", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "terminating beats suspended",
			obj: job(batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended)}, func(j *batchv1.Job) {
				j.DeletionTimestamp = agoPtr(time.Second)
			}),
			want: []interface{}{"pi", "Terminating", "0/1", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "failure target",
			obj:  job(batchv1.JobStatus{Conditions: cond(batchv1.JobFailureTarget)}),
			want: []interface{}{"pi", "FailureTarget", "0/1", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "success criteria met",
			obj:  job(batchv1.JobStatus{Succeeded: 1, Conditions: cond(batchv1.JobSuccessCriteriaMet)}),
			want: []interface{}{"pi", "SuccessCriteriaMet", "1/1", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "work queue with parallelism",
			obj: job(batchv1.JobStatus{Succeeded: 2}, func(j *batchv1.Job) {
				j.Spec.Completions = nil
				j.Spec.Parallelism = ptr(int32(3))
			}),
			want: []interface{}{"pi", "Running", "2/1 of 3", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
		{
			name: "indexed with five completions",
			obj: job(batchv1.JobStatus{Succeeded: 4}, func(j *batchv1.Job) {
				j.Spec.Completions = ptr(int32(5))
			}),
			want: []interface{}{"pi", "Running", "4/5", "", "10m", "nginx", "nginx:1.27", "app=web"},
		},
	})
}

func TestCronJobCells(t *testing.T) {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup", CreationTimestamp: ago(72 * time.Hour)},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr(false), TimeZone: ptr("Etc/UTC")},
		Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "backup-1"}},
			LastScheduleTime: agoPtr(2 * time.Minute)}}
	cj.Spec.JobTemplate.Spec.Template = podTemplate(nginx)
	runCells(t, mustFor(t, "batch", "cronjobs"), []cellsCase{
		{name: "scheduled", obj: cj,
			want: []interface{}{"backup", "*/5 * * * *", "Etc/UTC", "False", int64(1), "2m", "3d", "nginx", "nginx:1.27", "<none>"}},
		{name: "never run", obj: &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: batchv1.CronJobSpec{Schedule: "@daily"}},
			want: []interface{}{"n", "@daily", "<none>", "<unset>", int64(0), "<none>", "<unknown>", "", "", "<none>"}},
	})
}

func TestHorizontalPodAutoscalerCells(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)}
	ref := autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("1Gi"))}}}
	pods := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Target: autoscalingv2.MetricTarget{AverageValue: ptr(resource.MustParse("100"))}}}

	runCells(t, mustFor(t, "autoscaling", "horizontalpodautoscalers"), []cellsCase{
		{
			name: "v2 cpu with current value",
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta,
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MinReplicas: ptr(int32(2)), MaxReplicas: 10, Metrics: []autoscalingv2.MetricSpec{cpu}},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{{
					Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
						Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(41))}}}}}},
			want: []interface{}{"web", "Deployment/web", "cpu: 41%/80%", "2", int64(10), int64(3), "60m"},
		},
		{
			name: "v2 three metrics, no status yet",
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta,
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 5, Metrics: []autoscalingv2.MetricSpec{cpu, mem, pods}}},
			want: []interface{}{"web", "Deployment/web", "cpu: <unknown>/80%, memory: <unknown>/1Gi + 1 more...", "<unset>", int64(5), int64(0), "60m"},
		},
		{
			name: "v1 target cpu",
			obj: &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: meta,
				Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
					MinReplicas:    ptr(int32(1)), MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr(int32(50))},
				Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, CurrentCPUUtilizationPercentage: ptr(int32(12))}},
			want: []interface{}{"web", "Deployment/web", "cpu: 12%/50%", "1", int64(4), int64(1), "60m"},
		},
	})
}

func TestPodDisruptionBudgetCells(t *testing.T) {
	minAvail := intstr.FromString("50%")
	runCells(t, mustFor(t, "policy", "poddisruptionbudgets"), []cellsCase{{
		name: "min available",
		obj: &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
		want: []interface{}{"web", "50%", "N/A", int64(1), "<unknown>"},
	}})
}

func TestReplicationControllerCells(t *testing.T) {
	tmpl := podTemplate(nginx)
	runCells(t, mustFor(t, "", "replicationcontrollers"), []cellsCase{{
		name: "basic",
		obj: &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc"},
			Spec:   corev1.ReplicationControllerSpec{Replicas: ptr(int32(2)), Selector: map[string]string{"app": "web"}, Template: &tmpl},
			Status: corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1}},
		want: []interface{}{"rc", int64(2), int64(2), int64(1), "<unknown>", "nginx", "nginx:1.27", "app=web"},
	}})
}
