package defaults

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/apiserver/convert"
)

func registerAutoscaling(s *runtime.Scheme) {
	addWithList(s, defaultHPAv1, func(l *autoscalingv1.HorizontalPodAutoscalerList) []autoscalingv1.HorizontalPodAutoscaler {
		return l.Items
	})
	addWithList(s, defaultHPAv2, func(l *autoscalingv2.HorizontalPodAutoscalerList) []autoscalingv2.HorizontalPodAutoscaler {
		return l.Items
	})
}

func defaultHPAv1(hpa *autoscalingv1.HorizontalPodAutoscaler) {
	if hpa.Spec.MinReplicas == nil {
		hpa.Spec.MinReplicas = ptr.To[int32](1)
	}
	// A v1 autoscaler is served from its v2 form: it gets what converting it there and back
	// gives (the implied 80% CPU target when it has no metric, the v2 defaults of a behavior
	// in its annotation), which is what reading it back shows.
	v2, err := convert.HPAToV2(hpa)
	if err != nil {
		return // validation reports the malformed annotation
	}
	defaultHPAv2(v2)
	v1, err := convert.HPAToV1(v2)
	if err != nil {
		return
	}
	v1.TypeMeta = hpa.TypeMeta
	*hpa = *v1
}

// defaultCPUUtilization is the target of the implied metric of an HPA that
// lists none.
const defaultCPUUtilization = 80

func defaultHPAv2(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	spec := &hpa.Spec
	if spec.MinReplicas == nil {
		spec.MinReplicas = ptr.To[int32](1)
	}
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: ptr.To[int32](defaultCPUUtilization),
				},
			},
		}}
	}
	// A behavior block, once present, is completed in both directions.
	if b := spec.Behavior; b != nil {
		b.ScaleUp = mergeScalingRules(b.ScaleUp, defaultScaleUpRules())
		b.ScaleDown = mergeScalingRules(b.ScaleDown, defaultScaleDownRules())
	}
}

// defaultScaleUpRules: no stabilization; the larger of +4 pods or +100%
// every 15s.
func defaultScaleUpRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](0),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// defaultScaleDownRules: -100% every 15s. The stabilization window stays
// unset because the controller's command line supplies it.
func defaultScaleDownRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// mergeScalingRules returns defaults overridden by every field the user set.
func mergeScalingRules(user, defaults *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if user == nil {
		return defaults
	}
	if user.SelectPolicy != nil {
		defaults.SelectPolicy = user.SelectPolicy
	}
	if user.StabilizationWindowSeconds != nil {
		defaults.StabilizationWindowSeconds = user.StabilizationWindowSeconds
	}
	if user.Policies != nil {
		defaults.Policies = user.Policies
	}
	if user.Tolerance != nil {
		defaults.Tolerance = user.Tolerance
	}
	return defaults
}
