package podautoscaler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// fixture runs the controller against fake clients: Deployments' scale subresources and the
// PodMetrics the resource metrics API returns are kept here.
type fixture struct {
	t       *testing.T
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	rec     *record.FakeRecorder
	clock   *clocktesting.FakeClock

	mu          sync.Mutex
	scales      map[string]*autoscalingv1.Scale
	updates     []int32
	usage       []metricsv1beta1.PodMetrics
	metricsErr  error
	metricsRead int
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, scales: map[string]*autoscalingv1.Scale{}, rec: record.NewFakeRecorder(1000), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	f.client.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		name := a.(k8stesting.GetAction).GetName()
		s, ok := f.scales[name]
		if !ok {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, name)
		}
		return true, s.DeepCopy(), nil
	})
	f.client.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		s := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		f.scales[s.Name].Spec.Replicas = s.Spec.Replicas
		f.updates = append(f.updates, s.Spec.Replicas)
		return true, s.DeepCopy(), nil
	})
	metrics := metricsfake.NewSimpleClientset()
	metrics.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.metricsRead++
		if f.metricsErr != nil {
			return true, nil, f.metricsErr
		}
		return true, &metricsv1beta1.PodMetricsList{Items: slices.Clone(f.usage)}, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, metrics, f.factory.Autoscaling().V2().HorizontalPodAutoscalers(), f.factory.Core().V1().Pods())
	f.c.now = f.clock.Now
	f.c.recorder = f.rec
	for _, o := range objs {
		switch o := o.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			_ = f.factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			_ = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	t.Cleanup(f.c.queue.ShutDown)
	return f
}

// setScale sets the scale of Deployment name, selecting app=web.
func (f *fixture) setScale(name string, replicas int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scales[name] = &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: autoscalingv1.ScaleSpec{Replicas: replicas}, Status: autoscalingv1.ScaleStatus{Replicas: replicas, Selector: "app=web"}}
}

// setUsage sets the usage the resource metrics API reports: one entry per pod, each a list
// of container name, cpu, memory ("" leaves it out).
func (f *fixture) setUsage(pods map[string][][3]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = nil
	for name, containers := range pods {
		m := metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
			Timestamp: metav1.NewTime(t0), Window: metav1.Duration{Duration: 30 * time.Second}}
		for _, c := range containers {
			u := corev1.ResourceList{}
			if c[1] != "" {
				u[corev1.ResourceCPU] = resource.MustParse(c[1])
			}
			if c[2] != "" {
				u[corev1.ResourceMemory] = resource.MustParse(c[2])
			}
			m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c[0], Usage: u})
		}
		f.usage = append(f.usage, m)
	}
}

// cpuUsage reports one container "app" per pod, using cpu.
func (f *fixture) cpuUsage(cpu map[string]string) {
	pods := map[string][][3]string{}
	for name, v := range cpu {
		pods[name] = [][3]string{{"app", v, "10Mi"}}
	}
	f.setUsage(pods)
}

// addPod adds a pod to the pod informer's cache.
func (f *fixture) addPod(p *corev1.Pod) {
	_ = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(p)
}

// sync syncs the autoscaler ns/name, then brings the informer's copy up to date, as the watch
// would.
func (f *fixture) sync(name string) *autoscalingv2.HorizontalPodAutoscaler {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "ns/"+name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	hpa, err := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	_ = f.factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Update(hpa)
	return hpa
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) scaleUpdates() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

func testHPA(name, target string, metrics ...autoscalingv2.MetricSpec) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 10, Metrics: metrics,
		},
	}
}

func cpuUtilization(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(percent)}}}
}

func memoryAverage(q string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse(q))}}}
}

func condition(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	t.Helper()
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == typ {
			return &hpa.Status.Conditions[i]
		}
	}
	return nil
}

func wantCondition(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType,
	status corev1.ConditionStatus, reason, message string) {
	t.Helper()
	c := condition(t, hpa, typ)
	if c == nil {
		t.Errorf("no %s condition in %+v", typ, hpa.Status.Conditions)
		return
	}
	if c.Status != status || c.Reason != reason || (message != "" && c.Message != message) {
		t.Errorf("%s = %s %s %q, want %s %s %q", typ, c.Status, c.Reason, c.Message, status, reason, message)
	}
}

func wantEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing event %q in %q", w, got)
		}
	}
}

func TestSyncScalesUpOnCPUUtilization(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100))
	f.setScale("web", 2)
	f.cpuUsage(map[string]string{"a": "200m", "b": "200m"})
	hpa := f.sync("hpa")

	// 400% of the target proposes 8; without a behavior one step goes at most to 4.
	if got := f.scaleUpdates(); !slices.Equal(got, []int32{4}) {
		t.Fatalf("scale updates %v, want [4]", got)
	}
	st := hpa.Status
	if st.CurrentReplicas != 2 || st.DesiredReplicas != 4 || st.LastScaleTime == nil || !st.LastScaleTime.Time.Equal(t0) {
		t.Errorf("status = %+v", st)
	}
	if len(st.CurrentMetrics) != 1 || st.CurrentMetrics[0].Resource == nil || st.CurrentMetrics[0].Resource.Name != corev1.ResourceCPU ||
		ptr.Deref(st.CurrentMetrics[0].Resource.Current.AverageUtilization, 0) != 200 ||
		st.CurrentMetrics[0].Resource.Current.AverageValue.Cmp(resource.MustParse("200m")) != 0 {
		t.Errorf("current metrics = %+v", st.CurrentMetrics)
	}
	wantCondition(t, hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to 4")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
		"the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)")
	wantCondition(t, hpa, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
	wantEvents(t, f.events(), "Normal SuccessfulRescale New size: 4; reason: cpu resource utilization (percentage of request) above target")

}

func TestSyncWithinTolerance(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100), testPod("c", 100), testPod("d", 100))
	f.setScale("web", 4)
	f.cpuUsage(map[string]string{"a": "50m", "b": "54m", "c": "50m", "d": "50m"})
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); len(got) != 0 {
		t.Errorf("scale updates %v, want none", got)
	}
	if hpa.Status.DesiredReplicas != 4 || hpa.Status.CurrentReplicas != 4 || hpa.Status.LastScaleTime != nil {
		t.Errorf("status = %+v", hpa.Status)
	}
	wantCondition(t, hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "")
	wantCondition(t, hpa, autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range")
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events %q", ev)
	}
}

func TestSyncWithoutMetrics(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100))
	f.setScale("web", 2)
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); len(got) != 0 {
		t.Errorf("scale updates %v", got)
	}
	wantCondition(t, hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric",
		"the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API")
	if c := condition(t, hpa, autoscalingv2.ScalingLimited); c != nil {
		t.Errorf("ScalingLimited set: %+v", c)
	}
	if hpa.Status.CurrentReplicas != 2 || len(hpa.Status.CurrentMetrics) != 1 || hpa.Status.CurrentMetrics[0].Type != "" {
		t.Errorf("status = %+v", hpa.Status)
	}
	wantEvents(t, f.events(),
		"Warning FailedGetResourceMetric failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API",
		"Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: "+
			"failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API")

	// The metrics API not being served at all.
	f.metricsErr = errors.New("the server could not find the requested resource (get pods.metrics.k8s.io)")
	f.clock.Step(SyncPeriod)
	hpa = f.sync("hpa")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric",
		"the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: "+
			"unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)")
}

func TestSyncMissingRequest(t *testing.T) {
	noRequest := func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU) }
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100, noRequest))
	f.setScale("web", 2)
	f.cpuUsage(map[string]string{"a": "200m", "b": "200m"})
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); len(got) != 0 {
		t.Errorf("scale updates %v", got)
	}
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric",
		"the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod b")
}

func TestSyncScaleDownIsStabilized(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100), testPod("c", 100), testPod("d", 100))
	f.setScale("web", 4)
	f.cpuUsage(map[string]string{"a": "10m", "b": "10m", "c": "10m", "d": "10m"})
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); len(got) != 0 {
		t.Errorf("scale updates %v, want none within the stabilization window", got)
	}
	if hpa.Status.DesiredReplicas != 4 {
		t.Errorf("desired %d, want 4", hpa.Status.DesiredReplicas)
	}
	wantCondition(t, hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized",
		"recent recommendations were higher than current one, applying the highest recent recommendation")

	f.clock.Step(downscaleStabilizationWindow + time.Second)
	hpa = f.sync("hpa")
	if got := f.scaleUpdates(); !slices.Equal(got, []int32{1}) {
		t.Errorf("scale updates %v, want [1]", got)
	}
	if hpa.Status.DesiredReplicas != 1 || hpa.Status.CurrentReplicas != 4 {
		t.Errorf("status = %+v", hpa.Status)
	}
	wantEvents(t, f.events(), "Normal SuccessfulRescale New size: 1; reason: All metrics below target")
}

func TestSyncLargestProposalWins(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50), memoryAverage("50Mi")), testPod("a", 100), testPod("b", 100), testPod("c", 100))
	f.setScale("web", 3)
	f.setUsage(map[string][][3]string{"a": {{"app", "60m", "100Mi"}}, "b": {{"app", "60m", "100Mi"}}, "c": {{"app", "60m", "100Mi"}}})
	hpa := f.sync("hpa")
	// cpu at 120% of its target proposes 4, memory at 200% proposes 6.
	if got := f.scaleUpdates(); !slices.Equal(got, []int32{6}) {
		t.Fatalf("scale updates %v, want [6]", got)
	}
	wantEvents(t, f.events(), "Normal SuccessfulRescale New size: 6; reason: memory resource above target")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
		"the HPA was able to successfully calculate a replica count from memory resource")
	m := hpa.Status.CurrentMetrics
	if len(m) != 2 || ptr.Deref(m[0].Resource.Current.AverageUtilization, 0) != 60 || m[1].Resource.Name != corev1.ResourceMemory ||
		m[1].Resource.Current.AverageUtilization != nil || m[1].Resource.Current.AverageValue.Cmp(resource.MustParse("100Mi")) != 0 {
		t.Errorf("current metrics = %+v", m)
	}
}

func TestSyncContainerResource(t *testing.T) {
	sidecar := func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "log",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}})
	}
	spec := autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
		Name: corev1.ResourceCPU, Container: "app", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}
	f := newFixture(t, testHPA("hpa", "web", spec), testPod("a", 100, sidecar), testPod("b", 100, sidecar))
	f.setScale("web", 2)
	// Counting the idle log container, the pods would be at 10%.
	f.setUsage(map[string][][3]string{"a": {{"app", "100m", ""}, {"log", "0", ""}}, "b": {{"app", "100m", ""}, {"log", "0", ""}}})
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); !slices.Equal(got, []int32{4}) {
		t.Fatalf("scale updates %v, want [4]", got)
	}
	wantEvents(t, f.events(), "Normal SuccessfulRescale New size: 4; reason: cpu container resource utilization (percentage of request) above target")
	m := hpa.Status.CurrentMetrics
	if len(m) != 1 || m[0].Type != autoscalingv2.ContainerResourceMetricSourceType || m[0].ContainerResource.Container != "app" ||
		ptr.Deref(m[0].ContainerResource.Current.AverageUtilization, 0) != 100 {
		t.Errorf("current metrics = %+v", m)
	}
}

func TestSyncUnavailableMetricTypes(t *testing.T) {
	podsMetric := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "packets-per-second"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("1k"))}}}
	objectMetric := autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "requests-per-second"},
		Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr.To(resource.MustParse("10k"))}}}
	externalMetric := autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("30"))}}}

	// A failed metric does not stop a scale-up the others propose.
	f := newFixture(t, testHPA("hpa", "web", podsMetric, cpuUtilization(50)), testPod("a", 100), testPod("b", 100))
	f.setScale("web", 2)
	f.cpuUsage(map[string]string{"a": "100m", "b": "100m"})
	hpa := f.sync("hpa")
	if got := f.scaleUpdates(); !slices.Equal(got, []int32{4}) {
		t.Fatalf("scale updates %v, want [4]", got)
	}
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "")
	wantEvents(t, f.events(), "Warning FailedGetPodsMetric unable to get metric packets-per-second: "+
		"unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered")
	if m := hpa.Status.CurrentMetrics; len(m) != 2 || m[0].Type != "" || m[1].Type != autoscalingv2.ResourceMetricSourceType {
		t.Errorf("current metrics = %+v", m)
	}

	// But it stops a scale-down.
	for _, tc := range []struct {
		spec            autoscalingv2.MetricSpec
		reason, message string
	}{
		{podsMetric, "FailedGetPodsMetric", "unable to get metric packets-per-second: " +
			"unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"},
		{objectMetric, "FailedGetObjectMetric", "unable to get metric requests-per-second: Ingress on ns main/" +
			"unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"},
		{externalMetric, "FailedGetExternalMetric", "unable to get external metric ns/queue/nil: unable to fetch metrics from external metrics API: " +
			"the server could not find the requested resource (get queue.external.metrics.k8s.io)"},
	} {
		f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50), tc.spec), testPod("a", 100), testPod("b", 100))
		f.setScale("web", 2)
		f.cpuUsage(map[string]string{"a": "1m", "b": "1m"})
		f.clock.Step(time.Hour) // past any stabilization
		hpa := f.sync("hpa")
		if got := f.scaleUpdates(); len(got) != 0 {
			t.Errorf("%s: scale updates %v", tc.reason, got)
		}
		wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, tc.reason, "the HPA was unable to compute the replica count: "+tc.message)
		wantEvents(t, f.events(), "Warning "+tc.reason+" "+tc.message)
	}
}

func TestSyncBehaviorRateLimits(t *testing.T) {
	hpa := testHPA("hpa", "web", cpuUtilization(50))
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}},
	}
	f := newFixture(t, hpa, testPod("a", 100), testPod("b", 100))
	f.setScale("web", 2)
	f.cpuUsage(map[string]string{"a": "200m", "b": "200m"})
	got := f.sync("hpa")
	if u := f.scaleUpdates(); !slices.Equal(u, []int32{3}) {
		t.Fatalf("scale updates %v, want [3]", u)
	}
	wantCondition(t, got, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "ScaleUpLimit", "")

	// The new pod is not ready yet; the policy's minute is not over.
	f.setScale("web", 3)
	f.addPod(testPod("c", 100, pending))
	f.clock.Step(SyncPeriod)
	got = f.sync("hpa")
	if u := f.scaleUpdates(); len(u) != 1 {
		t.Errorf("scale updates %v, want no more within the period", u)
	}
	wantCondition(t, got, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "")
	wantCondition(t, got, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "ScaleUpLimit", "")

	f.clock.Step(46 * time.Second)
	f.sync("hpa")
	if u := f.scaleUpdates(); !slices.Equal(u, []int32{3, 4}) {
		t.Errorf("scale updates %v, want [3 4]", u)
	}
}

func TestSyncBounds(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testHPA("off", "off", cpuUtilization(50)))
	f.setScale("web", 12)
	f.setScale("off", 0)
	hpa := f.sync("hpa")
	if u := f.scaleUpdates(); !slices.Equal(u, []int32{10}) {
		t.Errorf("scale updates %v, want [10]", u)
	}
	wantCondition(t, hpa, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
	wantEvents(t, f.events(), "Normal SuccessfulRescale New size: 10; reason: Current number of replicas above Spec.MaxReplicas")

	hpa = f.sync("off")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	if u := f.scaleUpdates(); len(u) != 1 || f.metricsRead != 0 {
		t.Errorf("scale updates %v, metrics read %d times", u, f.metricsRead)
	}
}

func TestSyncAmbiguousSelector(t *testing.T) {
	f := newFixture(t, testHPA("one", "web", cpuUtilization(50)), testHPA("two", "web2", cpuUtilization(50)), testPod("a", 100))
	f.setScale("web", 1)
	f.setScale("web2", 1)
	f.cpuUsage(map[string]string{"a": "50m"})
	hpa := f.sync("one")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "")
	hpa = f.sync("two")
	msg := "pods by selector app=web are controlled by multiple HPAs: [ns/one ns/two]"
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "AmbiguousSelector", msg)
	wantEvents(t, f.events(), "Warning AmbiguousSelector "+msg, "Warning FailedComputeMetricsReplicas "+msg)

	// Once one is deleted, the other is alone again.
	if err := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Delete(context.Background(), "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = f.factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Delete(testHPA("one", "web"))
	if err := f.c.sync(context.Background(), "ns/one"); err != nil {
		t.Fatal(err)
	}
	hpa = f.sync("two")
	wantCondition(t, hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "")
}

func TestSyncFailedRescale(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100))
	f.setScale("web", 1)
	f.cpuUsage(map[string]string{"a": "100m"})
	f.client.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return a.GetSubresource() == "scale", nil, errors.New("boom")
	})
	if err := f.c.sync(context.Background(), "ns/hpa"); err == nil {
		t.Fatal("sync succeeded")
	}
	hpa, _ := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), "hpa", metav1.GetOptions{})
	wantCondition(t, hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: boom")
	wantEvents(t, f.events(), "Warning FailedRescale New size: 2; reason: cpu resource utilization (percentage of request) above target; error: boom")
}

// TestSyncStatusConflictKeepsRescale: when the status write after a rescale conflicts
// (the lister had not yet seen the controller's previous write), the status is written
// over the latest object, so the rescale's lastScaleTime and sizes are not lost.
func TestSyncStatusConflictKeepsRescale(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100))
	f.setScale("web", 1)
	f.cpuUsage(map[string]string{"a": "100m"})
	conflicts := 0
	f.client.PrependReactor("update", "horizontalpodautoscalers", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && conflicts == 0 {
			conflicts++
			return true, nil, apierrors.NewConflict(autoscalingv2.Resource("horizontalpodautoscalers"), "hpa", errors.New("modified"))
		}
		return false, nil, nil
	})
	if err := f.c.sync(context.Background(), "ns/hpa"); err != nil {
		t.Fatal(err)
	}
	hpa, _ := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), "hpa", metav1.GetOptions{})
	if conflicts != 1 || hpa.Status.LastScaleTime == nil || hpa.Status.DesiredReplicas != 2 {
		t.Fatalf("after a conflicting status write: conflicts %d, status %+v", conflicts, hpa.Status)
	}
}

// TestRun runs the controller on started informers: it scales the target, and forgets an
// autoscaler once deleted.
func TestRun(t *testing.T) {
	f := newFixture(t)
	f.setScale("web", 2)
	f.cpuUsage(map[string]string{"a": "200m", "b": "200m"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		f.factory.Shutdown()
	})
	f.factory.Start(ctx.Done())
	wg.Go(func() { f.c.Run(ctx, 2) })
	for _, p := range []*corev1.Pod{testPod("a", 100), testPod("b", 100)} {
		if _, err := f.client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, 10*time.Second, "the pods to be cached", func() bool {
		pods, err := f.c.podLister.List(labels.Everything())
		return err == nil && len(pods) == 2
	})
	if _, err := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Create(ctx, testHPA("hpa", "web", cpuUtilization(50)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	poll(t, 10*time.Second, "the autoscaler to scale its target", func() bool {
		hpa, err := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(ctx, "hpa", metav1.GetOptions{})
		return err == nil && slices.Equal(f.scaleUpdates(), []int32{4}) && hpa.Status.DesiredReplicas == 4
	})
	if err := f.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Delete(ctx, "hpa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the deleted autoscaler to be forgotten", func() bool {
		f.c.mu.Lock()
		defer f.c.mu.Unlock()
		return len(f.c.histories) == 0
	})
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(20 * time.Millisecond)
	}
}

func TestSyncPeriod(t *testing.T) {
	f := newFixture(t, testHPA("hpa", "web", cpuUtilization(50)), testPod("a", 100), testPod("b", 100))
	f.setScale("web", 2)
	f.sync("hpa")
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("queued %d keys at once; want the autoscaler looked at again after SyncPeriod", n)
	}
	if f.c.syncPeriod != SyncPeriod {
		t.Fatalf("default sync period %v, want %v", f.c.syncPeriod, SyncPeriod)
	}

	WithSyncPeriod(20 * time.Millisecond)(f.c)
	f.sync("hpa")
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return f.c.queue.Len() > 0, nil })
	if err != nil {
		t.Fatal("the autoscaler was not queued again after the shortened sync period")
	}
	key, _ := f.c.queue.Get()
	f.c.queue.Done(key)
	if key != "ns/hpa" {
		t.Fatalf("queued %q", key)
	}
}
