package podautoscaler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

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
}

func TestTolerances(t *testing.T) {
	def := tolerancesFor(nil)
	for _, tc := range []struct {
		tol   tolerances
		ratio float64
		want  bool
	}{
		{def, 1, true},
		{def, 1.1, true},
		{def, 0.9, true},
		{def, 1.11, false},
		{def, 0.89, false},
		{tolerancesFor(&autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr.To(resource.MustParse("0.01"))}}), 1.02, false},
		{tolerancesFor(&autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr.To(resource.MustParse("0.01"))}}), 0.92, true},
		{tolerancesFor(&autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: ptr.To(resource.MustParse("0.5"))}}), 0.6, true},
	} {
		if got := tc.tol.within(tc.ratio); got != tc.want {
			t.Errorf("%+v within %v = %v, want %v", tc.tol, tc.ratio, got, tc.want)
		}
	}
}

func TestCompleteBehavior(t *testing.T) {
	if completeBehavior(nil) != nil {
		t.Error("nil behavior completed")
	}
	got := completeBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}},
	})
	want := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](300),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("completed behavior (-want +got):\n%s", d)
	}
}

// rules builds scaling rules with a stabilization window and policies.
func rules(window int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(window), SelectPolicy: ptr.To(sel), Policies: policies}
}

func pods(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
}

func percent(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
}

func TestNormalize(t *testing.T) {
	defaults := completeBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{})
	fast := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   rules(0, autoscalingv2.MaxChangePolicySelect, pods(4, 15), percent(100, 15)),
		ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
	}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	for _, tc := range []struct {
		name                   string
		behavior               *autoscalingv2.HorizontalPodAutoscalerBehavior
		hist                   history
		min, max, current, got int32
		want                   Normalized
	}{
		// Without a behavior: scale-downs stabilized over 5 minutes, scale-ups to max(2x, 4).
		{name: "legacy within range", min: 1, max: 10, current: 3, got: 4,
			want: Normalized{Desired: 4, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
		{name: "legacy scale-up limit (minimum 4)", min: 1, max: 20, current: 1, got: 10,
			want: Normalized{Desired: 4, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "legacy scale-up limit (double)", min: 1, max: 20, current: 3, got: 10,
			want: Normalized{Desired: 6, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "legacy max below scale-up limit", min: 1, max: 5, current: 3, got: 10,
			want: Normalized{Desired: 5, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "TooManyReplicas", LimitedMessage: msgTooMany}},
		{name: "legacy below min", min: 2, max: 5, current: 3, got: 1,
			want: Normalized{Desired: 2, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "TooFewReplicas", LimitedMessage: msgTooFew}},
		{name: "legacy scale-down stabilized", min: 1, max: 10, current: 5, got: 2,
			hist: history{recommendations: []recommendation{{5, ago(4 * time.Minute)}, {3, ago(time.Minute)}}},
			want: Normalized{Desired: 5, AbleReason: "ScaleDownStabilized", AbleMessage: msgScaleDownStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
		{name: "legacy old recommendations ignored", min: 1, max: 10, current: 5, got: 2,
			hist: history{recommendations: []recommendation{{5, ago(6 * time.Minute)}, {3, ago(time.Minute)}}},
			want: Normalized{Desired: 3, AbleReason: "ScaleDownStabilized", AbleMessage: msgScaleDownStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},

		// Default behavior: up by max(+4, +100%) per 15s, down stabilized over 300s.
		{name: "default up by 4 pods", behavior: defaults, min: 1, max: 100, current: 2, got: 20,
			want: Normalized{Desired: 6, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "default up by 100%", behavior: defaults, min: 1, max: 100, current: 10, got: 50,
			want: Normalized{Desired: 20, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "default up to max", behavior: defaults, min: 1, max: 5, current: 2, got: 20,
			want: Normalized{Desired: 5, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "TooManyReplicas", LimitedMessage: msgTooMany}},
		{name: "default down stabilized", behavior: defaults, min: 1, max: 100, current: 10, got: 2,
			hist: history{recommendations: []recommendation{{10, ago(100 * time.Second)}}},
			want: Normalized{Desired: 10, AbleReason: "ScaleDownStabilized", AbleMessage: msgScaleDownStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
		{name: "default down after window", behavior: defaults, min: 1, max: 100, current: 10, got: 2,
			hist: history{recommendations: []recommendation{{10, ago(301 * time.Second)}, {4, ago(200 * time.Second)}}},
			want: Normalized{Desired: 4, AbleReason: "ScaleDownStabilized", AbleMessage: msgScaleDownStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},

		// Rate limits count the rescales of their period.
		{name: "recent scale-up uses the period", behavior: fast, min: 1, max: 100, current: 6, got: 20,
			hist: history{scaleUp: []scaleEvent{{change: 4, at: ago(10 * time.Second)}}},
			want: Normalized{Desired: 6, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "scale-up outside the period", behavior: fast, min: 1, max: 100, current: 6, got: 20,
			hist: history{scaleUp: []scaleEvent{{change: 4, at: ago(20 * time.Second)}}},
			want: Normalized{Desired: 12, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "recent scale-down widens the scale-up", behavior: fast, min: 1, max: 100, current: 2, got: 20,
			hist: history{scaleDown: []scaleEvent{{change: 8, at: ago(5 * time.Second)}}},
			want: Normalized{Desired: 20, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
		{name: "select min policy", min: 1, max: 100, current: 10, got: 50,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   rules(0, autoscalingv2.MinChangePolicySelect, pods(4, 15), percent(100, 15)),
				ScaleDown: fast.ScaleDown},
			want: Normalized{Desired: 14, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "scale-up disabled", min: 1, max: 100, current: 3, got: 50,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   rules(0, autoscalingv2.DisabledPolicySelect, pods(4, 15)),
				ScaleDown: fast.ScaleDown},
			want: Normalized{Desired: 3, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleUpLimit", LimitedMessage: msgScaleUpLimit}},
		{name: "scale-down by one pod a minute", min: 1, max: 100, current: 5, got: 2,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: fast.ScaleUp,
				ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, pods(1, 60))},
			hist: history{scaleDown: []scaleEvent{{change: 1, at: ago(70 * time.Second)}}},
			want: Normalized{Desired: 4, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleDownLimit", LimitedMessage: msgScaleDownLimit}},
		{name: "scale-down already used its period", min: 1, max: 100, current: 4, got: 2,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: fast.ScaleUp,
				ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, pods(1, 60))},
			hist: history{scaleDown: []scaleEvent{{change: 1, at: ago(30 * time.Second)}}},
			want: Normalized{Desired: 4, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleDownLimit", LimitedMessage: msgScaleDownLimit}},
		{name: "scale-down by half rounds down", min: 1, max: 100, current: 9, got: 1,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: fast.ScaleUp,
				ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, percent(50, 60))},
			want: Normalized{Desired: 4, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "ScaleDownLimit", LimitedMessage: msgScaleDownLimit}},
		{name: "behavior below min", behavior: fast, min: 2, max: 100, current: 3, got: 0,
			want: Normalized{Desired: 2, AbleReason: "ReadyForNewScale", AbleMessage: msgReadyForNewScale, Limited: true, LimitedReason: "TooFewReplicas", LimitedMessage: msgTooFew}},
		{name: "scale-up stabilized", min: 1, max: 100, current: 3, got: 8,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   rules(60, autoscalingv2.MaxChangePolicySelect, pods(4, 15)),
				ScaleDown: fast.ScaleDown},
			hist: history{recommendations: []recommendation{{3, ago(30 * time.Second)}, {6, ago(20 * time.Second)}}},
			want: Normalized{Desired: 3, AbleReason: "ScaleUpStabilized", AbleMessage: msgScaleUpStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
		{name: "scale-up stabilized to the lowest recent", min: 1, max: 100, current: 3, got: 8,
			behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   rules(60, autoscalingv2.MaxChangePolicySelect, pods(4, 15)),
				ScaleDown: fast.ScaleDown},
			hist: history{recommendations: []recommendation{{3, ago(90 * time.Second)}, {5, ago(20 * time.Second)}}},
			want: Normalized{Desired: 5, AbleReason: "ScaleUpStabilized", AbleMessage: msgScaleUpStabilized, LimitedReason: "DesiredWithinRange", LimitedMessage: msgWithinRange}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hist
			got := normalize(&h, tc.behavior, tc.min, tc.max, tc.current, tc.got, t0)
			if got != tc.want {
				t.Errorf("normalize:\n got %+v\nwant %+v", got, tc.want)
			}
			var recorded bool
			for _, r := range h.recommendations {
				recorded = recorded || (r.replicas == tc.got && r.at.Equal(t0))
			}
			if !recorded {
				t.Errorf("recommendation %d not recorded: %+v", tc.got, h.recommendations)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	var h history
	h.recordInitial(3, t0)
	h.recordInitial(5, t0.Add(time.Second))
	if len(h.recommendations) != 1 || h.recommendations[0].replicas != 3 {
		t.Errorf("initial recommendation: %+v", h.recommendations)
	}

	b := completeBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{})
	h.recordScale(nil, 1, 4, t0) // no behavior, nothing to keep
	if len(h.scaleUp)+len(h.scaleDown) != 0 {
		t.Fatalf("events kept without a behavior: %+v %+v", h.scaleUp, h.scaleDown)
	}
	h.recordScale(b, 1, 4, t0)
	h.recordScale(b, 4, 6, t0.Add(10*time.Second))
	h.recordScale(b, 6, 2, t0.Add(20*time.Second))
	want := []scaleEvent{{change: 3, at: t0}, {change: 2, at: t0.Add(10 * time.Second)}}
	if d := cmp.Diff(want, h.scaleUp, cmp.AllowUnexported(scaleEvent{})); d != "" {
		t.Errorf("scale-ups (-want +got):\n%s", d)
	}
	if len(h.scaleDown) != 1 || h.scaleDown[0].change != 4 {
		t.Errorf("scale-downs: %+v", h.scaleDown)
	}
	// Events older than the longest policy period (15s) are replaced.
	h.recordScale(b, 2, 3, t0.Add(30*time.Second))
	want = []scaleEvent{{change: 3, at: t0, outdated: true}, {change: 1, at: t0.Add(30 * time.Second)}}
	if d := cmp.Diff(want, h.scaleUp, cmp.AllowUnexported(scaleEvent{})); d != "" {
		t.Errorf("scale-ups after reuse (-want +got):\n%s", d)
	}
	if got := changeInPeriod(h.scaleUp, 15, t0.Add(31*time.Second)); got != 1 {
		t.Errorf("change in period = %d, want 1", got)
	}
}
