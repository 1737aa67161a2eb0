package podautoscaler

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Decision is what one sync concludes for an autoscaler whose target has current replicas.
type Decision struct {
	Desired int32
	// Reason explains a rescale (empty: no rescale).
	Reason string
	// Disabled: the target is scaled to zero, which turns autoscaling off.
	Disabled bool
	// Limited names the bound the desired count was held to ("" when none).
	Limited string
}

// Decide keeps current within the autoscaler's bounds. Without metrics, a count already in
// bounds stays as it is.
func Decide(spec *autoscalingv2.HorizontalPodAutoscalerSpec, current int32) Decision {
	minReplicas := int32(1)
	if spec.MinReplicas != nil {
		minReplicas = *spec.MinReplicas
	}
	switch {
	case current == 0 && minReplicas != 0:
		return Decision{Desired: 0, Disabled: true}
	case current > spec.MaxReplicas:
		return Decision{Desired: spec.MaxReplicas, Reason: "Current number of replicas above Spec.MaxReplicas", Limited: "TooManyReplicas"}
	case current < minReplicas:
		return Decision{Desired: minReplicas, Reason: "Current number of replicas below Spec.MinReplicas", Limited: "TooFewReplicas"}
	}
	return Decision{Desired: current}
}

// metricsMessage is what ScalingActive says while no resource metrics can be read.
func metricsMessage(spec *autoscalingv2.HorizontalPodAutoscalerSpec) string {
	resource := "cpu"
	for _, m := range spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil {
			resource = string(m.Resource.Name)
			break
		}
	}
	return fmt.Sprintf("the HPA was unable to compute the replica count: failed to get %s utilization: unable to get metrics for resource %s: no metrics returned from resource metrics API", resource, resource)
}
