package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// errNoCustomMetrics is what upstream's custom metrics client says when no adapter serves
// custom.metrics.k8s.io, which kijabi does not.
var errNoCustomMetrics = errors.New("unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered")

// errNoExternalMetric is what upstream's external metrics client says when no adapter serves
// external.metrics.k8s.io (the API server answers 404), which kijabi does not.
func errNoExternalMetric(metric string) error {
	return fmt.Errorf("unable to fetch metrics from external metrics API: the server could not find the requested resource (get %s.external.metrics.k8s.io)", metric)
}

// metricsOutcome is what the metrics of one autoscaler propose.
type metricsOutcome struct {
	// replicas is the largest proposal, -1 when the metrics give none to act on.
	replicas int32
	// metric describes the metric that made the largest proposal.
	metric string
	// statuses are the metrics' current values, one per metric spec (empty for those that
	// failed).
	statuses []autoscalingv2.MetricStatus
	// err reports failed metrics; with replicas -1 the sync stops, otherwise it scales on the
	// metrics that worked.
	err error
}

// failure is a metric that could not be computed: the ScalingActive condition it calls for
// and the error.
type failure struct {
	reason, message string
	err             error
}

// computeReplicasForMetrics proposes a replica count from every metric of hpa, the largest
// winning, and sets ScalingActive. It fails (replicas -1) when every metric failed, or some
// did and the others would scale down.
func (c *Controller) computeReplicasForMetrics(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler,
	scale *autoscalingv1.Scale, status *autoscalingv2.HorizontalPodAutoscalerStatus, tol tolerances, now time.Time) metricsOutcome {
	nowMeta := metav1.NewTime(now)
	selector, err := c.validateSelector(key, hpa, scale.Status.Selector, status, nowMeta)
	if err != nil {
		return metricsOutcome{replicas: -1, err: err}
	}
	specs := hpa.Spec.Metrics
	if len(specs) == 0 {
		// The API server defaults an autoscaler without metrics to 80% cpu utilization.
		specs = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}}
	}
	out := metricsOutcome{statuses: make([]autoscalingv2.MetricStatus, len(specs))}
	var (
		invalid int
		first   *failure
	)
	for i, spec := range specs {
		proposal, name, f := c.computeReplicasForMetric(ctx, hpa, spec, scale, selector, &out.statuses[i], tol, now)
		if f != nil {
			if first == nil {
				first = f
			}
			invalid++
			continue
		}
		if out.replicas == 0 || proposal > out.replicas {
			out.replicas, out.metric = proposal, name
		}
	}
	if first != nil {
		out.err = fmt.Errorf("invalid metrics (%v invalid out of %v), first error is: %v", invalid, len(specs), first.err)
	}
	if invalid >= len(specs) || (invalid > 0 && out.replicas < scale.Spec.Replicas) {
		setCondition(status, autoscalingv2.ScalingActive, corev1.ConditionFalse, first.reason, first.message, nowMeta)
		out.replicas, out.metric = -1, ""
		return out
	}
	setCondition(status, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
		"the HPA was able to successfully calculate a replica count from "+out.metric, nowMeta)
	return out
}

// validateSelector parses the scale's selector, and refuses it when the pods it selects are
// also selected by another autoscaler of the namespace.
func (c *Controller) validateSelector(key string, hpa *autoscalingv2.HorizontalPodAutoscaler, selector string,
	status *autoscalingv2.HorizontalPodAutoscalerStatus, now metav1.Time) (labels.Selector, error) {
	if selector == "" {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", "selector is required")
		setCondition(status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector", now)
		return nil, errors.New("selector is required")
	}
	parsed, err := labels.Parse(selector)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", msg)
		setCondition(status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", msg, now)
		return nil, errors.New(msg)
	}
	c.mu.Lock()
	if h := c.histories[key]; h != nil {
		h.selector = parsed
	}
	c.mu.Unlock()
	pods, err := c.podLister.Pods(hpa.Namespace).List(parsed)
	if err != nil {
		return nil, err
	}
	if selecting := c.autoscalersSelecting(hpa.Namespace, pods); len(selecting) > 1 {
		msg := fmt.Sprintf("pods by selector %v are controlled by multiple HPAs: %v", selector, selecting)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "AmbiguousSelector", msg)
		setCondition(status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "AmbiguousSelector", msg, now)
		return nil, errors.New(msg)
	}
	return parsed, nil
}

// autoscalersSelecting lists (sorted) the autoscalers of namespace whose last seen selector
// selects any of pods.
func (c *Controller) autoscalersSelecting(namespace string, pods []*corev1.Pod) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for key, h := range c.histories {
		if h.selector == nil || !strings.HasPrefix(key, namespace+"/") {
			continue
		}
		for _, p := range pods {
			if h.selector.Matches(labels.Set(p.Labels)) {
				keys = append(keys, key)
				break
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// unable records a metric failure: a warning event with reason and the ScalingActive
// condition it calls for.
func (c *Controller) unable(hpa *autoscalingv2.HorizontalPodAutoscaler, reason string, err error) *failure {
	c.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
	return &failure{reason: reason, message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", err)}
}

// computeReplicasForMetric proposes a replica count from one metric, filling its status.
func (c *Controller) computeReplicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec,
	scale *autoscalingv1.Scale, selector labels.Selector, ms *autoscalingv2.MetricStatus, tol tolerances, now time.Time) (int32, string, *failure) {
	switch {
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		src := spec.Resource
		replicas, current, name, err := c.resourceReplicas(ctx, hpa.Namespace, scale.Spec.Replicas, src.Target, src.Name, "",
			selector, "%s resource utilization (percentage of request)", tol, now)
		if err != nil {
			f := c.unable(hpa, "FailedGetResourceMetric", err)
			f.err = fmt.Errorf("failed to get %s resource metric value: %v", src.Name, err)
			return 0, "", f
		}
		*ms = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: src.Name, Current: current}}
		return replicas, name, nil
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		src := spec.ContainerResource
		replicas, current, name, err := c.resourceReplicas(ctx, hpa.Namespace, scale.Spec.Replicas, src.Target, src.Name, src.Container,
			selector, "%s container resource utilization (percentage of request)", tol, now)
		if err != nil {
			f := c.unable(hpa, "FailedGetContainerResourceMetric", err)
			f.err = fmt.Errorf("failed to get %s container metric value: %v", src.Container, err)
			return 0, "", f
		}
		*ms = autoscalingv2.MetricStatus{Type: autoscalingv2.ContainerResourceMetricSourceType,
			ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: src.Name, Container: src.Container, Current: current}}
		return replicas, name, nil
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		// No custom metrics API is served: the metric cannot be read.
		if _, err := metav1.LabelSelectorAsSelector(spec.Pods.Metric.Selector); err != nil {
			f := c.unable(hpa, "FailedGetPodsMetric", err)
			f.err = fmt.Errorf("failed to get pods metric value: %v", err)
			return 0, "", f
		}
		err := fmt.Errorf("unable to get metric %s: %v", spec.Pods.Metric.Name, errNoCustomMetrics)
		f := c.unable(hpa, "FailedGetPodsMetric", err)
		f.err = fmt.Errorf("failed to get pods metric value: %v", err)
		return 0, "", f
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		src := spec.Object
		if _, err := metav1.LabelSelectorAsSelector(src.Metric.Selector); err != nil {
			f := c.unable(hpa, "FailedGetObjectMetric", err)
			f.err = fmt.Errorf("failed to get object metric value: %v", err)
			return 0, "", f
		}
		// Upstream words this error so (the object's kind where the cause would go, the cause
		// after its name).
		err := fmt.Errorf("unable to get metric %s: %s on %s %s/%v", src.Metric.Name, src.DescribedObject.Kind, hpa.Namespace,
			src.DescribedObject.Name, errNoCustomMetrics)
		var f *failure
		switch src.Target.Type {
		case autoscalingv2.ValueMetricType:
			f = c.unable(hpa, "FailedGetObjectMetric", err)
			f.err = err
		case autoscalingv2.AverageValueMetricType:
			f = c.unable(hpa, "FailedGetObjectMetric", err)
			f.err = fmt.Errorf("failed to get %s object metric: %v", src.Metric.Name, err)
		default:
			err = errors.New("invalid object metric source: neither a value target nor an average value target was set")
			f = c.unable(hpa, "FailedGetObjectMetric", err)
			f.err = err
		}
		f.err = fmt.Errorf("failed to get object metric value: %v", f.err)
		return 0, "", f
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		src := spec.External
		var f *failure
		cause := func() error {
			if _, err := metav1.LabelSelectorAsSelector(src.Metric.Selector); err != nil {
				return err
			}
			return fmt.Errorf("unable to get external metric %s/%s/%+v: %s", hpa.Namespace, src.Metric.Name, src.Metric.Selector, errNoExternalMetric(src.Metric.Name))
		}
		switch {
		case src.Target.AverageValue != nil:
			err := cause()
			f = c.unable(hpa, "FailedGetExternalMetric", err)
			f.err = fmt.Errorf("failed to get %s external metric: %v", src.Metric.Name, err)
		case src.Target.Value != nil:
			err := cause()
			f = c.unable(hpa, "FailedGetExternalMetric", err)
			f.err = fmt.Errorf("failed to get external metric %s: %v", src.Metric.Name, err)
		default:
			err := errors.New("invalid external metric source: neither a value target nor an average value target was set")
			f = c.unable(hpa, "FailedGetExternalMetric", err)
			f.err = err
		}
		f.err = fmt.Errorf("failed to get %s external metric value: %v", src.Metric.Name, f.err)
		return 0, "", f
	}
	err := fmt.Errorf("unknown metric source type %q", string(spec.Type))
	f := c.unable(hpa, "InvalidMetricSourceType", err)
	f.err = err
	return 0, "", f
}

// resourceReplicas proposes a replica count from a resource metric (of one container when
// container is set): an AverageValue target compares the pods' mean usage with it, an
// AverageUtilization target their usage with their requests. utilizationName words the
// metric for a utilization target.
func (c *Controller) resourceReplicas(ctx context.Context, namespace string, current int32, target autoscalingv2.MetricTarget,
	res corev1.ResourceName, container string, selector labels.Selector, utilizationName string, tol tolerances, now time.Time) (int32, autoscalingv2.MetricValueStatus, string, error) {
	read := func() (replicaInput, error) {
		metrics, err := c.resourceMetrics(ctx, namespace, selector, res, container)
		if err != nil {
			return replicaInput{}, fmt.Errorf("unable to get metrics for resource %s: %v", res, err)
		}
		pods, err := c.podLister.Pods(namespace).List(selector)
		if err != nil {
			return replicaInput{}, fmt.Errorf("unable to get pods while calculating replica count: %v", err)
		}
		return replicaInput{current: current, pods: pods, metrics: metrics, resource: res, container: container, tol: tol, now: now}, nil
	}
	if target.AverageValue != nil {
		in, err := read()
		var replicas int32
		var usage int64
		if err == nil {
			replicas, usage, err = averageValueReplicas(in, target.AverageValue.MilliValue())
		}
		if err != nil {
			return 0, autoscalingv2.MetricValueStatus{}, "", fmt.Errorf("failed to get %s usage: %v", res, err)
		}
		return replicas, autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)},
			fmt.Sprintf("%s resource", res), nil
	}
	if target.AverageUtilization == nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	in, err := read()
	var (
		replicas, utilization int32
		raw                   int64
	)
	if err == nil {
		replicas, utilization, raw, err = utilizationReplicas(in, *target.AverageUtilization)
	}
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", fmt.Errorf("failed to get %s utilization: %v", res, err)
	}
	return replicas, autoscalingv2.MetricValueStatus{AverageUtilization: &utilization, AverageValue: resource.NewMilliQuantity(raw, resource.DecimalSI)},
		fmt.Sprintf(utilizationName, res), nil
}

// resourceMetrics reads the usage of the selected pods from metrics.k8s.io.
func (c *Controller) resourceMetrics(ctx context.Context, namespace string, selector labels.Selector, res corev1.ResourceName, container string) (podMetrics, error) {
	list, err := c.metrics.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %v", err)
	}
	if len(list.Items) == 0 {
		return nil, errors.New("no metrics returned from resource metrics API")
	}
	m, err := podMetricsFrom(list.Items, res, container)
	if err != nil && container != "" {
		return nil, fmt.Errorf("failed to get container metrics: %v", err)
	}
	return m, err
}
