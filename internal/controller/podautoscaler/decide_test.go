package podautoscaler

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

func TestDecide(t *testing.T) {
	spec := &autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To(int32(2)), MaxReplicas: 5}
	for _, tc := range []struct {
		current int32
		want    Decision
	}{
		{1, Decision{Desired: 2, Reason: "Current number of replicas below Spec.MinReplicas", Limited: "TooFewReplicas"}},
		{3, Decision{Desired: 3}},
		{9, Decision{Desired: 5, Reason: "Current number of replicas above Spec.MaxReplicas", Limited: "TooManyReplicas"}},
		{0, Decision{Desired: 0, Disabled: true}},
	} {
		if got := Decide(spec, tc.current); got != tc.want {
			t.Errorf("current %d: %+v, want %+v", tc.current, got, tc.want)
		}
	}
	// minReplicas defaults to 1.
	if got := Decide(&autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3}, 1); got.Desired != 1 || got.Reason != "" {
		t.Errorf("default minReplicas: %+v", got)
	}
	if m := metricsMessage(&autoscalingv2.HorizontalPodAutoscalerSpec{Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: "memory"}}}}); !strings.Contains(m, "failed to get memory utilization") {
		t.Errorf("metrics message: %s", m)
	}
}
