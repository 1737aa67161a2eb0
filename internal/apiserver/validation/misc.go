package validation

import (
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/apiserver/convert"
)

// ---- coordination/v1 Lease ----

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := objectMeta(&l.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, leaseSpec(&l.Spec)...)
}

func leaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	errs = append(errs, nonNegativePtr(spec.LeaseTransitions, specPath.Child("leaseTransitions"))...)
	if spec.Strategy != nil {
		errs = append(errs, enum(*spec.Strategy, false, specPath.Child("strategy"), coordinationv1.OldestEmulationVersion)...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && spec.Strategy == nil {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

func validateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	errs := objectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta)
	return append(errs, leaseSpec(&l.Spec)...)
}

// ---- scheduling/v1 PriorityClass ----

const (
	highestUserDefinablePriority = 1000000000
	systemPriorityClassPrefix    = "system-"
)

// systemPriorityClasses are the only "system-" names allowed, with their
// fixed values.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := objectMeta(&pc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(errs, priorityClassBody(pc)...)
}

func priorityClassBody(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPriorityClassPrefix) {
		if v, known := systemPriorityClasses[pc.Name]; !known || v != pc.Value || pc.GlobalDefault {
			errs = append(errs, field.Forbidden(metaPath.Child("name"),
				"priority class names with '"+systemPriorityClassPrefix+"' prefix are reserved for system use only"))
		}
	} else if pc.Value > highestUserDefinablePriority {
		// Values above this are reserved so that system-critical pods can
		// always preempt user workloads.
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, enum(*pc.PreemptionPolicy, false, field.NewPath("preemptionPolicy"), corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	return errs
}

func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	errs := objectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, priorityClassBody(pc)...)
	// Running pods carry the resolved priority; changing the class would
	// silently diverge from them.
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(errs, immutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

// ---- policy/v1 PodDisruptionBudget ----

func validatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := objectMeta(&pdb.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, pdbSpec(&pdb.Spec)...)
}

func pdbSpec(spec *policyv1.PodDisruptionBudgetSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		errs = append(errs, intOrPercent(*spec.MinAvailable, specPath.Child("minAvailable"))...)
		errs = append(errs, notMoreThan100Percent(*spec.MinAvailable, specPath.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		errs = append(errs, intOrPercent(*spec.MaxUnavailable, specPath.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(*spec.MaxUnavailable, specPath.Child("maxUnavailable"))...)
	}
	errs = append(errs, labelSelector(spec.Selector, specPath.Child("selector"))...)
	if spec.UnhealthyPodEvictionPolicy != nil {
		errs = append(errs, enum(*spec.UnhealthyPodEvictionPolicy, false, specPath.Child("unhealthyPodEvictionPolicy"),
			policyv1.IfHealthyBudget, policyv1.AlwaysAllow)...)
	}
	return errs
}

func validatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := objectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	return append(errs, pdbSpec(&pdb.Spec)...)
}

func validatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := objectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	st, p := pdb.Status, field.NewPath("status")
	errs = append(errs, nonNegative(st.DisruptionsAllowed, p.Child("disruptionsAllowed"))...)
	errs = append(errs, nonNegative(st.CurrentHealthy, p.Child("currentHealthy"))...)
	errs = append(errs, nonNegative(st.DesiredHealthy, p.Child("desiredHealthy"))...)
	errs = append(errs, nonNegative(st.ExpectedPods, p.Child("expectedPods"))...)
	return errs
}

// ---- autoscaling HorizontalPodAutoscaler ----

func scaleTargetRef(kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		errs = append(errs, msgs(p.Child("kind"), kind, nameIsPathSegment(kind, false))...)
	}
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, msgs(p.Child("name"), name, nameIsPathSegment(name, false))...)
	}
	return errs
}

func replicaBounds(minReplicas *int32, maxReplicas int32) field.ErrorList {
	var errs field.ErrorList
	if minReplicas != nil && *minReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *minReplicas, "must be greater than or equal to 1"))
	}
	if maxReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), maxReplicas, "must be greater than 0"))
	}
	if minReplicas != nil && maxReplicas < *minReplicas {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), maxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	return errs
}

func validateHPAv2(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMeta(&h.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, hpaV2Spec(&h.Spec)...)
}

func hpaV2Spec(spec *autoscalingv2.HorizontalPodAutoscalerSpec) field.ErrorList {
	errs := scaleTargetRef(spec.ScaleTargetRef.Kind, spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))
	errs = append(errs, replicaBounds(spec.MinReplicas, spec.MaxReplicas)...)
	for i, m := range spec.Metrics {
		errs = append(errs, hpaMetric(m, specPath.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		errs = append(errs, hpaScalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, hpaScalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func hpaMetric(m autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := map[autoscalingv2.MetricSourceType]bool{
		autoscalingv2.ObjectMetricSourceType:            m.Object != nil,
		autoscalingv2.PodsMetricSourceType:              m.Pods != nil,
		autoscalingv2.ResourceMetricSourceType:          m.Resource != nil,
		autoscalingv2.ContainerResourceMetricSourceType: m.ContainerResource != nil,
		autoscalingv2.ExternalMetricSourceType:          m.External != nil,
	}
	n := 0
	for _, v := range set {
		if v {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, field.Forbidden(p, "must populate the given metric source only"))
	}
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
		autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType:
		if !set[m.Type] {
			errs = append(errs, field.Required(p.Child(lowerFirst(string(m.Type))), "must populate information for the given metric source"))
		}
	case "":
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), m.Type, []autoscalingv2.MetricSourceType{
			autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType,
			autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType}))
	}
	if m.Resource != nil {
		errs = append(errs, metricTarget(m.Resource.Target, p.Child("resource", "target"))...)
		if m.Resource.Name == "" {
			errs = append(errs, field.Required(p.Child("resource", "name"), "must specify a resource name"))
		}
	}
	if m.ContainerResource != nil {
		cp := p.Child("containerResource")
		errs = append(errs, metricTarget(m.ContainerResource.Target, cp.Child("target"))...)
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(cp.Child("container"), "must specify a container"))
		}
	}
	if m.Pods != nil {
		errs = append(errs, metricTarget(m.Pods.Target, p.Child("pods", "target"))...)
	}
	if m.Object != nil {
		errs = append(errs, metricTarget(m.Object.Target, p.Child("object", "target"))...)
	}
	if m.External != nil {
		errs = append(errs, metricTarget(m.External.Target, p.Child("external", "target"))...)
	}
	return errs
}

func metricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if t.AverageUtilization == nil {
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must set averageUtilization when type is Utilization"))
		} else if *t.AverageUtilization <= 0 {
			errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
		}
	case autoscalingv2.ValueMetricType:
		if t.Value == nil {
			errs = append(errs, field.Required(p.Child("value"), "must set value when type is Value"))
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("averageValue"), "must set averageValue when type is AverageValue"))
		}
	case "":
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []autoscalingv2.MetricTargetType{
			autoscalingv2.AverageValueMetricType, autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType}))
	}
	if t.Value != nil && t.Value.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	return errs
}

const maxHPAStabilizationWindowSeconds = 3600

func hpaScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxHPAStabilizationWindowSeconds) {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w,
			fmt.Sprintf("must be less than or equal to %d", maxHPAStabilizationWindowSeconds)))
	}
	if r.SelectPolicy != nil {
		errs = append(errs, enum(*r.SelectPolicy, false, p.Child("selectPolicy"),
			autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect)...)
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		errs = append(errs, enum(pol.Type, false, pp.Child("type"), autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy)...)
		errs = append(errs, positive(pol.Value, pp.Child("value"))...)
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > 1800 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero and less than or equal to 1800"))
		}
	}
	return errs
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func validateHPAv2Update(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	return append(errs, hpaV2Spec(&h.Spec)...)
}

func validateHPAv2StatusUpdate(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	errs = append(errs, nonNegative(h.Status.CurrentReplicas, p.Child("currentReplicas"))...)
	return append(errs, nonNegative(h.Status.DesiredReplicas, p.Child("desiredReplicas"))...)
}

// An autoscaling/v1 autoscaler is validated in its v2 form, as upstream validates the
// internal object whatever the version: a bad targetCPUUtilizationPercentage is reported at
// spec.metrics[i].resource.target.averageUtilization.
func validateHPAv1(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMeta(&h.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, hpaV1Spec(h)...)
}

func hpaV1Spec(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	v2, err := convert.HPAToV2(h)
	if err != nil {
		for _, k := range []string{convert.HPAMetricsAnnotation, convert.HPACurrentMetricsAnnotation, convert.HPAConditionsAnnotation} {
			if strings.Contains(err.Error(), k) {
				return field.ErrorList{field.Invalid(metaPath.Child("annotations").Key(k), h.Annotations[k], err.Error())}
			}
		}
		return field.ErrorList{field.Invalid(metaPath.Child("annotations"), "", err.Error())}
	}
	return hpaV2Spec(&v2.Spec)
}

func validateHPAv1Update(h, old *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	return append(errs, hpaV1Spec(h)...)
}

func validateHPAv1StatusUpdate(h, old *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	errs = append(errs, nonNegative(h.Status.CurrentReplicas, p.Child("currentReplicas"))...)
	return append(errs, nonNegative(h.Status.DesiredReplicas, p.Child("desiredReplicas"))...)
}

// ---- events.k8s.io/v1 Event ----

func validateEventsEvent(ev *eventsv1.Event) field.ErrorList {
	errs := objectMeta(&ev.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, eventsEventBody(ev)...)
}

// eventsEventBody applies the stricter rules of the events.k8s.io API: the
// reporting fields that the legacy API left optional are required here.
func eventsEventBody(ev *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), ev.Type, fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if ev.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		errs = append(errs, qualifiedName(ev.ReportingController, field.NewPath("reportingController"))...)
	}
	if ev.ReportingInstance == "" {
		errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
	} else if len(ev.ReportingInstance) > 128 {
		errs = append(errs, field.Invalid(field.NewPath("reportingInstance"), "", "can have at most 128 characters"))
	}
	if ev.Action == "" {
		errs = append(errs, field.Required(field.NewPath("action"), ""))
	} else if len(ev.Action) > 128 {
		errs = append(errs, field.Invalid(field.NewPath("action"), "", "can have at most 128 characters"))
	}
	if ev.Reason == "" {
		errs = append(errs, field.Required(field.NewPath("reason"), ""))
	} else if len(ev.Reason) > 128 {
		errs = append(errs, field.Invalid(field.NewPath("reason"), "", "can have at most 128 characters"))
	}
	if len(ev.Note) > 1024 {
		errs = append(errs, field.Invalid(field.NewPath("note"), "", "can have at most 1024 characters"))
	}
	if ns := ev.Regarding.Namespace; ns != "" && ns != ev.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("regarding", "namespace"), ns, "does not match event.namespace"))
	}
	return errs
}

func validateEventsEventUpdate(ev, old *eventsv1.Event) field.ErrorList {
	errs := objectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, eventsEventBody(ev)...)
	// Only the series and note of an event may evolve; its identity may not.
	errs = append(errs, immutable(ev.Regarding, old.Regarding, field.NewPath("regarding"))...)
	errs = append(errs, immutable(ev.Related, old.Related, field.NewPath("related"))...)
	errs = append(errs, immutable(ev.ReportingController, old.ReportingController, field.NewPath("reportingController"))...)
	errs = append(errs, immutable(ev.ReportingInstance, old.ReportingInstance, field.NewPath("reportingInstance"))...)
	errs = append(errs, immutable(ev.Action, old.Action, field.NewPath("action"))...)
	errs = append(errs, immutable(ev.Reason, old.Reason, field.NewPath("reason"))...)
	errs = append(errs, immutable(ev.Type, old.Type, field.NewPath("type"))...)
	return errs
}
