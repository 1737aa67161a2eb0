// Package convert converts objects between the versions of a resource the API server serves
// in more than one version. Objects are stored in one version (the hub) and converted on the
// way in and out, as kube-apiserver converts through its internal types.
package convert

import (
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// autoscaling/v1 has room for one metric, a CPU utilization target; everything else an
// autoscaler holds travels in these annotations of the v1 object, JSON-encoded, as
// Kubernetes does it. They never reach storage: converting to v2 consumes them.
const (
	// HPAMetricsAnnotation holds the metrics other than the CPU utilization target, as a
	// list of autoscaling/v1 MetricSpec.
	HPAMetricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
	// HPACurrentMetricsAnnotation holds status.currentMetrics, as autoscaling/v1 MetricStatus.
	HPACurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	// HPAConditionsAnnotation holds status.conditions.
	HPAConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
	// HPABehaviorAnnotation holds spec.behavior.
	HPABehaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"
)

// hpaDefaultCPUUtilization is the target an autoscaler without any metric gets.
const hpaDefaultCPUUtilization = 80

var hpaRoundTripAnnotations = []string{HPAMetricsAnnotation, HPACurrentMetricsAnnotation, HPAConditionsAnnotation, HPABehaviorAnnotation}

// withoutHPAAnnotations returns a copy of a without the round-trip annotations (nil when
// nothing else is left).
func withoutHPAAnnotations(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		out[k] = v
	}
	for _, k := range hpaRoundTripAnnotations {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// HPAToV2 converts an autoscaling/v1 HorizontalPodAutoscaler to autoscaling/v2, reading the
// metrics, behavior, current metrics and conditions kept in its annotations. An autoscaler
// with no metric at all gets the implied 80% CPU utilization target.
func HPAToV2(in *autoscalingv1.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	out := &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: in.TypeMeta}
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Annotations = withoutHPAAnnotations(in.Annotations)
	if !out.GetObjectKind().GroupVersionKind().Empty() {
		out.APIVersion = autoscalingv2.SchemeGroupVersion.String()
	}

	spec := &out.Spec
	spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	spec.MinReplicas = copyPtr(in.Spec.MinReplicas)
	spec.MaxReplicas = in.Spec.MaxReplicas
	if enc, ok := in.Annotations[HPAMetricsAnnotation]; ok {
		var others []autoscalingv1.MetricSpec
		if err := json.Unmarshal([]byte(enc), &others); err != nil {
			return nil, fmt.Errorf("decoding annotation %s: %w", HPAMetricsAnnotation, err)
		}
		for i := range others {
			spec.Metrics = append(spec.Metrics, metricSpecToV2(&others[i]))
		}
	}
	if u := in.Spec.TargetCPUUtilizationPercentage; u != nil {
		spec.Metrics = append(spec.Metrics, cpuUtilization(*u))
	}
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilization(hpaDefaultCPUUtilization)}
	}
	if enc, ok := in.Annotations[HPABehaviorAnnotation]; ok {
		// Only well-formed behavior moves into the spec, as upstream does.
		var b autoscalingv2.HorizontalPodAutoscalerBehavior
		if err := json.Unmarshal([]byte(enc), &b); err == nil && (b.ScaleUp != nil || b.ScaleDown != nil) {
			spec.Behavior = &b
		}
	}

	st := &out.Status
	st.ObservedGeneration = copyPtr(in.Status.ObservedGeneration)
	if t := in.Status.LastScaleTime; t != nil {
		st.LastScaleTime = t.DeepCopy()
	}
	st.CurrentReplicas = in.Status.CurrentReplicas
	st.DesiredReplicas = in.Status.DesiredReplicas
	if u := in.Status.CurrentCPUUtilizationPercentage; u != nil {
		st.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(*u)}},
		}}
	}
	if enc, ok := in.Annotations[HPACurrentMetricsAnnotation]; ok {
		// They say more than currentCPUUtilizationPercentage: they replace it.
		var current []autoscalingv1.MetricStatus
		if err := json.Unmarshal([]byte(enc), &current); err != nil {
			return nil, fmt.Errorf("decoding annotation %s: %w", HPACurrentMetricsAnnotation, err)
		}
		st.CurrentMetrics = make([]autoscalingv2.MetricStatus, 0, len(current))
		for i := range current {
			st.CurrentMetrics = append(st.CurrentMetrics, metricStatusToV2(&current[i]))
		}
	}
	if enc, ok := in.Annotations[HPAConditionsAnnotation]; ok {
		var conds []autoscalingv1.HorizontalPodAutoscalerCondition
		if err := json.Unmarshal([]byte(enc), &conds); err != nil {
			return nil, fmt.Errorf("decoding annotation %s: %w", HPAConditionsAnnotation, err)
		}
		st.Conditions = make([]autoscalingv2.HorizontalPodAutoscalerCondition, 0, len(conds))
		for _, c := range conds {
			st.Conditions = append(st.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
				Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
				LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
				ObservedGeneration: copyPtr(c.ObservedGeneration),
			})
		}
	}
	return out, nil
}

// HPAToV1 converts an autoscaling/v2 HorizontalPodAutoscaler to autoscaling/v1: a CPU
// utilization target becomes targetCPUUtilizationPercentage, and whatever v1 has no field
// for goes into annotations.
func HPAToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	out := &autoscalingv1.HorizontalPodAutoscaler{TypeMeta: in.TypeMeta}
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Annotations = withoutHPAAnnotations(in.Annotations)
	if !out.GetObjectKind().GroupVersionKind().Empty() {
		out.APIVersion = autoscalingv1.SchemeGroupVersion.String()
	}
	annotate := func(key string, v any) error {
		enc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(enc)
		return nil
	}

	spec := &out.Spec
	spec.ScaleTargetRef = autoscalingv1.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	spec.MinReplicas = copyPtr(in.Spec.MinReplicas)
	spec.MaxReplicas = in.Spec.MaxReplicas
	var others []autoscalingv1.MetricSpec
	cpuSeen := false
	for i := range in.Spec.Metrics {
		m := &in.Spec.Metrics[i]
		isCPU := m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		if isCPU && !cpuSeen {
			// The first CPU metric decides targetCPUUtilizationPercentage.
			cpuSeen = true
			if u := m.Resource.Target.AverageUtilization; u != nil {
				spec.TargetCPUUtilizationPercentage = ptr.To(*u)
			}
		}
		if isCPU && m.Resource.Target.AverageUtilization != nil {
			continue
		}
		others = append(others, metricSpecToV1(m))
	}
	if len(others) > 0 {
		if err := annotate(HPAMetricsAnnotation, others); err != nil {
			return nil, err
		}
	}
	if b := in.Spec.Behavior; b != nil {
		if err := annotate(HPABehaviorAnnotation, behaviorAnnotation(b)); err != nil {
			return nil, err
		}
	}

	st := &out.Status
	st.ObservedGeneration = copyPtr(in.Status.ObservedGeneration)
	if t := in.Status.LastScaleTime; t != nil {
		st.LastScaleTime = t.DeepCopy()
	}
	st.CurrentReplicas = in.Status.CurrentReplicas
	st.DesiredReplicas = in.Status.DesiredReplicas
	if len(in.Status.CurrentMetrics) > 0 {
		current := make([]autoscalingv1.MetricStatus, 0, len(in.Status.CurrentMetrics))
		for i := range in.Status.CurrentMetrics {
			m := &in.Status.CurrentMetrics[i]
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
				m.Resource.Current.AverageUtilization != nil {
				st.CurrentCPUUtilizationPercentage = ptr.To(*m.Resource.Current.AverageUtilization)
			}
			current = append(current, metricStatusToV1(m))
		}
		// All of them, the CPU utilization too: the annotation keeps its raw value.
		if err := annotate(HPACurrentMetricsAnnotation, current); err != nil {
			return nil, err
		}
	}
	if len(in.Status.Conditions) > 0 {
		conds := make([]autoscalingv1.HorizontalPodAutoscalerCondition, 0, len(in.Status.Conditions))
		for _, c := range in.Status.Conditions {
			conds = append(conds, autoscalingv1.HorizontalPodAutoscalerCondition{
				Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
				LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
				ObservedGeneration: copyPtr(c.ObservedGeneration),
			})
		}
		if err := annotate(HPAConditionsAnnotation, conds); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func cpuUtilization(u int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(u)}},
	}
}

func quantity(q *resource.Quantity) *resource.Quantity {
	if q == nil {
		return nil
	}
	c := q.DeepCopy()
	return &c
}

func value(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return q.DeepCopy()
}

// Kubernetes keeps the behavior annotation in the JSON of its internal types, whose fields
// have no JSON names: the keys are the Go field names. These mirror those types so the
// annotation reads the same; decoding accepts it into the v2 types, as JSON field names
// match without regard to case.
type behaviorJSON struct {
	ScaleUp   *scalingRulesJSON
	ScaleDown *scalingRulesJSON
}

type scalingRulesJSON struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               *autoscalingv2.ScalingPolicySelect
	Policies                   []scalingPolicyJSON
	Tolerance                  *resource.Quantity
}

type scalingPolicyJSON struct {
	Type          autoscalingv2.HPAScalingPolicyType
	Value         int32
	PeriodSeconds int32
}

func behaviorAnnotation(b *autoscalingv2.HorizontalPodAutoscalerBehavior) behaviorJSON {
	rules := func(r *autoscalingv2.HPAScalingRules) *scalingRulesJSON {
		if r == nil {
			return nil
		}
		out := &scalingRulesJSON{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
		for _, p := range r.Policies {
			out.Policies = append(out.Policies, scalingPolicyJSON(p))
		}
		return out
	}
	return behaviorJSON{ScaleUp: rules(b.ScaleUp), ScaleDown: rules(b.ScaleDown)}
}

func metricSpecToV2(in *autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		typ := autoscalingv2.ValueMetricType
		if o.AverageValue != nil {
			typ = autoscalingv2.AverageValueMetricType
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector.DeepCopy()},
			Target:          autoscalingv2.MetricTarget{Type: typ, Value: quantity(&o.TargetValue), AverageValue: quantity(o.AverageValue)},
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector.DeepCopy()},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: quantity(&p.TargetAverageValue)},
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{Name: r.Name, Target: resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue)}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{Name: r.Name, Container: r.Container,
			Target: resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue)}
	}
	if e := in.External; e != nil {
		typ := autoscalingv2.AverageValueMetricType
		if e.TargetValue != nil {
			typ = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector.DeepCopy()},
			Target: autoscalingv2.MetricTarget{Type: typ, Value: quantity(e.TargetValue), AverageValue: quantity(e.TargetAverageValue)},
		}
	}
	return out
}

func resourceTarget(util *int32, avg *resource.Quantity) autoscalingv2.MetricTarget {
	typ := autoscalingv2.AverageValueMetricType
	if util != nil {
		typ = autoscalingv2.UtilizationMetricType
	}
	return autoscalingv2.MetricTarget{Type: typ, AverageUtilization: copyPtr(util), AverageValue: quantity(avg)}
}

func metricSpecToV1(in *autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricSource{
			Target:     autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName: o.Metric.Name, Selector: o.Metric.Selector.DeepCopy(),
			TargetValue: value(o.Target.Value), AverageValue: quantity(o.Target.AverageValue),
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricSource{MetricName: p.Metric.Name, Selector: p.Metric.Selector.DeepCopy(),
			TargetAverageValue: value(p.Target.AverageValue)}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{Name: r.Name,
			TargetAverageUtilization: copyPtr(r.Target.AverageUtilization), TargetAverageValue: quantity(r.Target.AverageValue)}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{Name: r.Name, Container: r.Container,
			TargetAverageUtilization: copyPtr(r.Target.AverageUtilization), TargetAverageValue: quantity(r.Target.AverageValue)}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricSource{MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector.DeepCopy(),
			TargetValue: quantity(e.Target.Value), TargetAverageValue: quantity(e.Target.AverageValue)}
	}
	return out
}

func metricStatusToV2(in *autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector.DeepCopy()},
			Current:         autoscalingv2.MetricValueStatus{Value: quantity(&o.CurrentValue), AverageValue: quantity(o.AverageValue)},
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector.DeepCopy()},
			Current: autoscalingv2.MetricValueStatus{AverageValue: quantity(&p.CurrentAverageValue)},
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricStatus{Name: r.Name, Current: autoscalingv2.MetricValueStatus{
			AverageValue: quantity(&r.CurrentAverageValue), AverageUtilization: copyPtr(r.CurrentAverageUtilization)}}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{Name: r.Name, Container: r.Container,
			Current: autoscalingv2.MetricValueStatus{AverageValue: quantity(&r.CurrentAverageValue), AverageUtilization: copyPtr(r.CurrentAverageUtilization)}}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector.DeepCopy()},
			Current: autoscalingv2.MetricValueStatus{Value: quantity(&e.CurrentValue), AverageValue: quantity(e.CurrentAverageValue)},
		}
	}
	return out
}

func metricStatusToV1(in *autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricStatus{
			Target:     autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName: o.Metric.Name, Selector: o.Metric.Selector.DeepCopy(),
			CurrentValue: value(o.Current.Value), AverageValue: quantity(o.Current.AverageValue),
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricStatus{MetricName: p.Metric.Name, Selector: p.Metric.Selector.DeepCopy(),
			CurrentAverageValue: value(p.Current.AverageValue)}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricStatus{Name: r.Name,
			CurrentAverageUtilization: copyPtr(r.Current.AverageUtilization), CurrentAverageValue: value(r.Current.AverageValue)}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricStatus{Name: r.Name, Container: r.Container,
			CurrentAverageUtilization: copyPtr(r.Current.AverageUtilization), CurrentAverageValue: value(r.Current.AverageValue)}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricStatus{MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector.DeepCopy(),
			CurrentValue: value(e.Current.Value), CurrentAverageValue: quantity(e.Current.AverageValue)}
	}
	return out
}

// RegisterConversions adds the conversions between the served versions of a resource to s,
// so that s.Convert and s.ConvertToVersion (which the field managers use to compare what
// managers of different versions own) work across them.
func RegisterConversions(s *runtime.Scheme) error {
	if err := s.AddConversionFunc((*autoscalingv1.HorizontalPodAutoscaler)(nil), (*autoscalingv2.HorizontalPodAutoscaler)(nil),
		func(a, b interface{}, _ conversion.Scope) error {
			out, err := HPAToV2(a.(*autoscalingv1.HorizontalPodAutoscaler))
			if err != nil {
				return err
			}
			*b.(*autoscalingv2.HorizontalPodAutoscaler) = *out
			return nil
		}); err != nil {
		return err
	}
	return s.AddConversionFunc((*autoscalingv2.HorizontalPodAutoscaler)(nil), (*autoscalingv1.HorizontalPodAutoscaler)(nil),
		func(a, b interface{}, _ conversion.Scope) error {
			out, err := HPAToV1(a.(*autoscalingv2.HorizontalPodAutoscaler))
			if err != nil {
				return err
			}
			*b.(*autoscalingv1.HorizontalPodAutoscaler) = *out
			return nil
		})
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
