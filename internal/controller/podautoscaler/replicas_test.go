package podautoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/utils/ptr"
)

type podOpt func(*corev1.Pod)

// testPod is a Running pod, Ready and started ten minutes before t0, whose container "app"
// requests cpuMilli of cpu and 100Mi of memory.
func testPod(name string, cpuMilli int64, opts ...podOpt) *corev1.Pod {
	long := metav1.NewTime(t0.Add(-10 * time.Minute))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: *resource.NewMilliQuantity(cpuMilli, resource.DecimalSI), corev1.ResourceMemory: resource.MustParse("100Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &long,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: long}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func pending(p *corev1.Pod) { p.Status.Phase, p.Status.Conditions = corev1.PodPending, nil }
func failed(p *corev1.Pod)  { p.Status.Phase = corev1.PodFailed }
func deleting(p *corev1.Pod) {
	p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
}

// readiness sets the pod's start and Ready condition.
func readiness(started time.Time, ready corev1.ConditionStatus, changed time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.StartTime = ptr.To(metav1.NewTime(started))
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(changed)}}
	}
}

// usage is cpu (or any) usage per pod, sampled at t0 over 30s.
func usage(values map[string]int64) podMetrics {
	m := podMetrics{}
	for k, v := range values {
		m[k] = podMetric{value: v, timestamp: t0, window: 30 * time.Second}
	}
	return m
}

func TestUtilizationReplicas(t *testing.T) {
	for _, tc := range []struct {
		name        string
		current     int32
		pods        []*corev1.Pod
		metrics     podMetrics
		target      int32
		resource    corev1.ResourceName
		want        int32
		utilization int32
		raw         int64
		err         string
	}{
		{name: "at target", current: 3, target: 50, want: 3, utilization: 50, raw: 500,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 300, "b": 500, "c": 700})},
		{name: "scale up", current: 3, target: 50, want: 6, utilization: 100, raw: 1000,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 900, "b": 1000, "c": 1100})},
		{name: "scale down", current: 3, target: 50, want: 1, utilization: 10, raw: 100,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 100, "b": 100, "c": 100})},
		{name: "within tolerance", current: 3, target: 50, want: 3, utilization: 54, raw: 540,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 540, "b": 540, "c": 540})},
		{name: "just beyond tolerance", current: 3, target: 50, want: 4, utilization: 56, raw: 560,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 560, "b": 560, "c": 560})},
		{name: "ratio of sums, not of pods", current: 2, target: 50, want: 4, utilization: 100, raw: 750,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 500)},
			metrics: usage(map[string]int64{"a": 1000, "b": 500})},
		{name: "unready pods count as idle on a scale-up", current: 3, target: 50, want: 4, utilization: 100, raw: 1000,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, pending)},
			metrics: usage(map[string]int64{"a": 1000, "b": 1000})},
		{name: "unready pods left out on a scale-down", current: 3, target: 50, want: 1, utilization: 10, raw: 100,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, pending)},
			metrics: usage(map[string]int64{"a": 100, "b": 100, "c": 5000})},
		{name: "missing pods count as at request on a scale-down", current: 4, target: 50, want: 3, utilization: 10, raw: 100,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			metrics: usage(map[string]int64{"a": 100, "b": 100, "c": 100})},
		{name: "missing pods count as at target above 100% on a scale-down", current: 3, target: 200, want: 2, utilization: 100, raw: 1000,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 1000, "b": 1000})},
		{name: "missing pods count as idle on a scale-up", current: 3, target: 50, want: 4, utilization: 100, raw: 1000,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 1000, "b": 1000})},
		{name: "missing pods turning a scale-down around keep the count", current: 3, target: 50, want: 3, utilization: 40, raw: 400,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 400, "b": 400})},
		{name: "missing pods turning a scale-up around keep the count", current: 3, target: 50, want: 3, utilization: 60, raw: 600,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 600, "b": 600})},
		{name: "missing pods bringing the ratio within tolerance keep the count", current: 3, target: 50, want: 3, utilization: 80, raw: 800,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000)},
			metrics: usage(map[string]int64{"a": 800, "b": 800})},
		{name: "deleted and failed pods ignored", current: 4, target: 50, want: 4, utilization: 50, raw: 500,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, failed), testPod("d", 1000, deleting)},
			metrics: usage(map[string]int64{"a": 500, "b": 500, "c": 5000, "d": 5000})},
		{name: "cpu sample taken before readiness settled", current: 2, target: 50, want: 2, utilization: 100, raw: 1000,
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000,
				readiness(t0.Add(-time.Minute), corev1.ConditionTrue, t0.Add(-10*time.Second)))},
			metrics: usage(map[string]int64{"a": 1000, "b": 5000})},
		{name: "cpu sample a window after readiness", current: 2, target: 50, want: 12, utilization: 300, raw: 3000,
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000,
				readiness(t0.Add(-time.Minute), corev1.ConditionTrue, t0.Add(-40*time.Second)))},
			metrics: usage(map[string]int64{"a": 1000, "b": 5000})},
		{name: "never-ready pod after initialization is unready", current: 2, target: 50, want: 2, utilization: 100, raw: 1000,
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000,
				readiness(t0.Add(-time.Hour), corev1.ConditionFalse, t0.Add(-time.Hour+10*time.Second)))},
			metrics: usage(map[string]int64{"a": 1000, "b": 5000})},
		{name: "once-ready pod after initialization counts", current: 2, target: 50, want: 12, utilization: 300, raw: 3000,
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000,
				readiness(t0.Add(-time.Hour), corev1.ConditionFalse, t0.Add(-time.Minute)))},
			metrics: usage(map[string]int64{"a": 1000, "b": 5000})},
		{name: "readiness does not matter for memory", current: 2, target: 50, resource: corev1.ResourceMemory, want: 4, utilization: 100, raw: 104857600000,
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000,
				readiness(t0.Add(-time.Minute), corev1.ConditionFalse, t0.Add(-10*time.Second)))},
			metrics: usage(map[string]int64{"a": 104857600000, "b": 104857600000})},
		{name: "no pods", current: 2, target: 50, metrics: usage(map[string]int64{"a": 1}),
			err: "no pods returned by selector while calculating replica count"},
		{name: "only unready pods", current: 2, target: 50,
			pods:    []*corev1.Pod{testPod("a", 1000, pending)},
			metrics: usage(map[string]int64{"a": 1}),
			err:     "did not receive metrics for targeted pods (pods might be unready)"},
		{name: "missing request", current: 2, target: 50,
			pods:    []*corev1.Pod{testPod("a", 1000), testPod("b", 0, func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU) })},
			metrics: usage(map[string]int64{"a": 100, "b": 100}),
			err:     "missing request for cpu in container app of Pod b"},
		{name: "metrics of unknown pods only", current: 2, target: 50,
			pods:    []*corev1.Pod{testPod("a", 1000)},
			metrics: usage(map[string]int64{"x": 100}),
			err:     "no metrics returned matched known pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.resource
			if res == "" {
				res = corev1.ResourceCPU
			}
			in := replicaInput{current: tc.current, pods: tc.pods, metrics: tc.metrics, resource: res, tol: tolerancesFor(nil), now: t0}
			got, utilization, raw, err := utilizationReplicas(in, tc.target)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || utilization != tc.utilization || raw != tc.raw {
				t.Errorf("got %d replicas at %d%% (%d), want %d at %d%% (%d)", got, utilization, raw, tc.want, tc.utilization, tc.raw)
			}
		})
	}
}

func TestAverageValueReplicas(t *testing.T) {
	three := []*corev1.Pod{testPod("a", 100), testPod("b", 100), testPod("c", 100)}
	for _, tc := range []struct {
		name    string
		current int32
		pods    []*corev1.Pod
		metrics podMetrics
		target  int64
		want    int32
		usage   int64
	}{
		{"scale up", 3, three, usage(map[string]int64{"a": 200, "b": 300, "c": 400}), 100, 9, 300},
		{"within tolerance", 3, three, usage(map[string]int64{"a": 100, "b": 100, "c": 105}), 100, 3, 101},
		{"scale down", 3, three, usage(map[string]int64{"a": 10, "b": 20, "c": 30}), 100, 1, 20},
		{"missing pods count as at target on a scale-down", 4, append(three[:3:3], testPod("d", 100)),
			usage(map[string]int64{"a": 50, "b": 50, "c": 50}), 100, 3, 50},
		{"missing pods count as idle on a scale-up", 3, three, usage(map[string]int64{"a": 400, "b": 400}), 100, 8, 400},
		{"unready pods count as idle on a scale-up", 3, []*corev1.Pod{testPod("a", 100), testPod("b", 100), testPod("c", 100, pending)},
			usage(map[string]int64{"a": 400, "b": 400}), 100, 8, 400},
		// Metrics of pods the selector no longer selects are still averaged, as upstream does.
		{"extraneous metrics averaged", 1, []*corev1.Pod{testPod("a", 100)}, usage(map[string]int64{"a": 300, "x": 100}), 100, 2, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := replicaInput{current: tc.current, pods: tc.pods, metrics: tc.metrics, resource: corev1.ResourceMemory, tol: tolerancesFor(nil), now: t0}
			got, u, err := averageValueReplicas(in, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || u != tc.usage {
				t.Errorf("got %d replicas at %d, want %d at %d", got, u, tc.want, tc.usage)
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	sidecar := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5")}}},
			{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}},
		}
	}
	second := func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "log",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("30m")}}})
	}
	podLevel := func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		container string
		want      int64
		err       string
	}{
		{name: "containers summed", pod: testPod("p", 100, second), want: 130},
		{name: "restartable init containers count", pod: testPod("p", 100, sidecar), want: 150},
		{name: "named container", pod: testPod("p", 100, second), container: "log", want: 30},
		{name: "named container not found", pod: testPod("p", 100), container: "log", err: "container log not found in Pod p"},
		{name: "pod-level requests", pod: testPod("p", 100, podLevel), want: 2000},
		{name: "named container before pod-level requests", pod: testPod("p", 100, podLevel), container: "app", want: 100},
		{name: "missing request", pod: testPod("p", 100, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "bare"})
		}), err: "missing request for cpu in container bare of Pod p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podRequests([]*corev1.Pod{tc.pod}, tc.container, corev1.ResourceCPU)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got["p"] != tc.want {
				t.Errorf("request %d, want %d", got["p"], tc.want)
			}
		})
	}
}

func TestPodMetricsFrom(t *testing.T) {
	item := func(name string, containers ...metricsv1beta1.ContainerMetrics) metricsv1beta1.PodMetrics {
		return metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Timestamp: metav1.NewTime(t0), Window: metav1.Duration{Duration: 15 * time.Second}, Containers: containers}
	}
	cm := func(name, cpu string) metricsv1beta1.ContainerMetrics {
		c := metricsv1beta1.ContainerMetrics{Name: name, Usage: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}}
		if cpu != "" {
			c.Usage[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		return c
	}
	items := []metricsv1beta1.PodMetrics{
		item("a", cm("app", "100m"), cm("log", "20m")),
		item("b", cm("app", "300m"), cm("log", "")), // log's cpu is missing: no pod sum
		item("c"), // no containers
	}
	got, err := podMetricsFrom(items, corev1.ResourceCPU, "")
	if err != nil {
		t.Fatal(err)
	}
	want := podMetrics{"a": {value: 120, timestamp: t0, window: 15 * time.Second}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(podMetric{})); d != "" {
		t.Errorf("pod sums (-want +got):\n%s", d)
	}
	got, err = podMetricsFrom(items[:2], corev1.ResourceCPU, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"].value != 100 || got["b"].value != 300 {
		t.Errorf("container app: %+v", got)
	}
	if _, err := podMetricsFrom(items, corev1.ResourceCPU, "app"); err == nil || !strings.Contains(err.Error(), "container app not present in metrics for pod ns/c") {
		t.Errorf("container missing from metrics: %v", err)
	}
}
