package podautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelpers "k8s.io/component-helpers/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// podMetric is one pod's usage of a resource, in milli-units, over [timestamp-window,
// timestamp].
type podMetric struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// podMetrics maps pod names to their usage.
type podMetrics map[string]podMetric

// podMetricsFrom reads resource's usage out of what the resource metrics API returned: a
// pod's usage sums its containers' (a pod missing the resource in any container, or with no
// containers, has none), or is the named container's alone (an error when a pod's metrics
// lack that container).
func podMetricsFrom(items []metricsv1beta1.PodMetrics, resource corev1.ResourceName, container string) (podMetrics, error) {
	res := make(podMetrics, len(items))
	for _, m := range items {
		sample := podMetric{timestamp: m.Timestamp.Time, window: m.Window.Duration}
		if container != "" {
			found := false
			for _, c := range m.Containers {
				if c.Name != container {
					continue
				}
				found = true
				if v, ok := c.Usage[resource]; ok {
					sample.value = v.MilliValue()
					res[m.Name] = sample
				}
				break
			}
			if !found {
				return nil, fmt.Errorf("container %s not present in metrics for pod %s/%s", container, m.Namespace, m.Name)
			}
			continue
		}
		if len(m.Containers) == 0 {
			continue
		}
		complete := true
		for _, c := range m.Containers {
			v, ok := c.Usage[resource]
			if !ok {
				complete = false
				break
			}
			sample.value += v.MilliValue()
		}
		if complete {
			res[m.Name] = sample
		}
	}
	return res, nil
}

// podGroups sorts the selected pods for a replica computation.
type podGroups struct {
	// ready counts the pods whose metrics are used as they are.
	ready int
	// unready pods (pending, or for cpu not yet ready or still starting) count as using
	// nothing on a scale-up and are left out otherwise; missing pods have no metrics;
	// ignored pods (being deleted or failed) never count.
	unready, missing, ignored sets.Set[string]
}

// groupPods sorts pods against the metrics read for them. For cpu, a pod counts as unready
// while it has no Ready condition or start time; during its first cpuInitializationPeriod
// while it is not ready or its sample was taken less than one window after its readiness
// last changed; afterwards while it is not ready and never was (its readiness last changed
// within delayOfInitialReadinessStatus of its start).
func groupPods(pods []*corev1.Pod, metrics podMetrics, resource corev1.ResourceName, now time.Time) podGroups {
	g := podGroups{unready: sets.New[string](), missing: sets.New[string](), ignored: sets.New[string]()}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			g.ignored.Insert(pod.Name)
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			g.unready.Insert(pod.Name)
			continue
		}
		metric, found := metrics[pod.Name]
		if !found {
			g.missing.Insert(pod.Name)
			continue
		}
		if resource == corev1.ResourceCPU {
			var unready bool
			cond := controllerutil.PodReadyCondition(pod)
			switch {
			case cond == nil || pod.Status.StartTime == nil:
				unready = true
			case pod.Status.StartTime.Add(cpuInitializationPeriod).After(now):
				unready = cond.Status == corev1.ConditionFalse || metric.timestamp.Before(cond.LastTransitionTime.Add(metric.window))
			default:
				unready = cond.Status == corev1.ConditionFalse && pod.Status.StartTime.Add(delayOfInitialReadinessStatus).After(cond.LastTransitionTime.Time)
			}
			if unready {
				g.unready.Insert(pod.Name)
				continue
			}
		}
		g.ready++
	}
	return g
}

// podRequests is each pod's request of resource, in milli-units: its pod-level request when
// it sets pod-level requests (and no container is named), otherwise the sum over its
// containers and restartable init containers, or the named container's. A container without
// a request for resource is an error.
func podRequests(pods []*corev1.Pod, container string, resource corev1.ResourceName) (map[string]int64, error) {
	requests := make(map[string]int64, len(pods))
	for _, pod := range pods {
		if container == "" && resourcehelpers.IsPodLevelRequestsSet(pod) {
			q, ok := resourcehelpers.PodRequests(pod, resourcehelpers.PodResourcesOptions{})[resource]
			if !ok {
				return nil, fmt.Errorf("missing pod-level request for %s in Pod %s", resource, pod.Name)
			}
			requests[pod.Name] = q.MilliValue()
			continue
		}
		containers := append([]corev1.Container{}, pod.Spec.Containers...)
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, c)
			}
		}
		var sum int64
		found := false
		for _, c := range containers {
			if container != "" && c.Name != container {
				continue
			}
			q, ok := c.Resources.Requests[resource]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, c.Name, pod.Name)
			}
			sum += q.MilliValue()
			if container != "" {
				found = true
				break
			}
		}
		if container != "" && !found {
			return nil, fmt.Errorf("container %s not found in Pod %s", container, pod.Name)
		}
		requests[pod.Name] = sum
	}
	return requests, nil
}

// utilizationRatio compares the summed usage of the pods with metrics to their summed
// requests: utilization is that percentage (rounded down), the ratio its quotient by the
// target, rawAverage the mean usage. Metrics of pods without a known request are skipped.
func utilizationRatio(metrics podMetrics, requests map[string]int64, target int32) (ratio float64, utilization int32, rawAverage int64, err error) {
	var usageTotal, requestTotal int64
	n := 0
	for name, m := range metrics {
		r, ok := requests[name]
		if !ok {
			continue
		}
		usageTotal += m.value
		requestTotal += r
		n++
	}
	if requestTotal == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization = int32(usageTotal * 100 / requestTotal)
	return float64(utilization) / float64(target), utilization, usageTotal / int64(n), nil
}

// usageRatio is the mean usage of the pods with metrics, and its quotient by the target.
func usageRatio(metrics podMetrics, target int64) (float64, int64) {
	var total int64
	for _, m := range metrics {
		total += m.value
	}
	usage := total / int64(len(metrics))
	return float64(usage) / float64(target), usage
}

// replicaInput is what one resource metric's replica computation reads.
type replicaInput struct {
	// current is the target's replica count (its scale's spec).
	current int32
	// pods are the pods the scale's selector selects; metrics their usage of resource.
	pods      []*corev1.Pod
	metrics   podMetrics
	resource  corev1.ResourceName
	container string
	tol       tolerances
	now       time.Time
}

// ratioFunc computes a usage ratio over metrics.
type ratioFunc func(podMetrics) (float64, error)

// proposeReplicas is the replica computation shared by utilization and average-value
// targets. With every pod ready and reporting, the proposal is ceil(ratio x ready pods),
// or the current count when the ratio is within tolerance. Otherwise the ratio is computed
// again with unready pods as using nothing (only on a scale-up) and missing pods as using
// fallback (on a scale-down) or nothing (on a scale-up); the proposal is ceil(new ratio x
// pods counted), or the current count when the new ratio is within tolerance or would turn
// the direction of the change around.
func proposeReplicas(in replicaInput, ratio ratioFunc, fallback func(pod string) int64) (int32, float64, error) {
	if len(in.pods) == 0 {
		return 0, 0, errors.New("no pods returned by selector while calculating replica count")
	}
	metrics := make(podMetrics, len(in.metrics))
	for k, v := range in.metrics {
		metrics[k] = v
	}
	g := groupPods(in.pods, metrics, in.resource, in.now)
	for name := range g.ignored {
		delete(metrics, name)
	}
	for name := range g.unready {
		delete(metrics, name)
	}
	if len(metrics) == 0 {
		return 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	r, err := ratio(metrics)
	if err != nil {
		return 0, 0, err
	}
	scaleUpWithUnready := g.unready.Len() > 0 && r > 1
	if !scaleUpWithUnready && g.missing.Len() == 0 {
		if in.tol.within(r) {
			return in.current, r, nil
		}
		return int32(math.Ceil(r * float64(g.ready))), r, nil
	}
	for name := range g.missing {
		switch {
		case r < 1:
			metrics[name] = podMetric{value: fallback(name)}
		case r > 1:
			metrics[name] = podMetric{}
		}
	}
	if scaleUpWithUnready {
		for name := range g.unready {
			metrics[name] = podMetric{}
		}
	}
	newRatio, err := ratio(metrics)
	if err != nil {
		return 0, r, err
	}
	if in.tol.within(newRatio) || (r < 1 && newRatio > 1) || (r > 1 && newRatio < 1) {
		return in.current, r, nil
	}
	proposal := int32(math.Ceil(newRatio * float64(len(metrics))))
	if (newRatio < 1 && proposal > in.current) || (newRatio > 1 && proposal < in.current) {
		return in.current, r, nil
	}
	return proposal, r, nil
}

// utilizationReplicas proposes a replica count for a target average utilization (percent of
// the pods' requests). It also returns the current utilization and mean raw usage.
func utilizationReplicas(in replicaInput, target int32) (replicas, utilization int32, rawAverage int64, err error) {
	// Requests are read only once some metrics are usable, as upstream orders its errors.
	var requests map[string]int64
	first := true
	ratio := func(m podMetrics) (float64, error) {
		if requests == nil {
			var err error
			if requests, err = podRequests(in.pods, in.container, in.resource); err != nil {
				return 0, err
			}
		}
		r, u, raw, err := utilizationRatio(m, requests, target)
		if first && err == nil {
			utilization, rawAverage, first = u, raw, false
		}
		return r, err
	}
	fallbackPercent := int64(max(100, target))
	fallback := func(pod string) int64 { return requests[pod] * fallbackPercent / 100 }
	replicas, _, err = proposeReplicas(in, ratio, fallback)
	if err != nil {
		return 0, 0, 0, err
	}
	return replicas, utilization, rawAverage, nil
}

// averageValueReplicas proposes a replica count for a target average usage (milli-units per
// pod). It also returns the current mean usage.
func averageValueReplicas(in replicaInput, target int64) (replicas int32, usage int64, err error) {
	first := true
	ratio := func(m podMetrics) (float64, error) {
		r, u := usageRatio(m, target)
		if first {
			usage, first = u, false
		}
		return r, nil
	}
	replicas, _, err = proposeReplicas(in, ratio, func(string) int64 { return target })
	if err != nil {
		return 0, 0, err
	}
	return replicas, usage, nil
}
