package podautoscaler

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// The controller's tunables, at upstream's kube-controller-manager defaults.
const (
	// defaultTolerance is --horizontal-pod-autoscaler-tolerance: no rescale while the usage
	// ratio is within 10% of 1.
	defaultTolerance = 0.1
	// downscaleStabilizationWindow is --horizontal-pod-autoscaler-downscale-stabilization: the
	// scale-down stabilization window of autoscalers without a behavior, and of those whose
	// scaleDown rules leave it unset.
	downscaleStabilizationWindow = 5 * time.Minute
	// cpuInitializationPeriod is --horizontal-pod-autoscaler-cpu-initialization-period.
	cpuInitializationPeriod = 5 * time.Minute
	// delayOfInitialReadinessStatus is
	// --horizontal-pod-autoscaler-initial-readiness-delay.
	delayOfInitialReadinessStatus = 30 * time.Second
	// Without a behavior, a scale-up goes at most to max(2 x current, 4) replicas at once.
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

// Decision is what one sync concludes before looking at metrics, from the bounds alone.
type Decision struct {
	Desired int32
	// Reason explains a rescale (empty: no rescale from the bounds).
	Reason string
	// Disabled: the target is scaled to zero, which turns autoscaling off.
	Disabled bool
	// Limited names the bound the desired count was held to ("" when none).
	Limited string
}

// Decide looks at the target's current replicas against the autoscaler's bounds: a target at
// zero is not autoscaled, one outside [minReplicas, maxReplicas] is brought back to the bound
// without looking at metrics. Otherwise (Reason and Limited empty) metrics decide.
func Decide(spec *autoscalingv2.HorizontalPodAutoscalerSpec, current int32) Decision {
	minReplicas := minReplicasOf(spec)
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

func minReplicasOf(spec *autoscalingv2.HorizontalPodAutoscalerSpec) int32 {
	if spec.MinReplicas != nil {
		return *spec.MinReplicas
	}
	return 1
}

// tolerances bound the usage ratio within which no rescale happens: [1-down, 1+up].
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool { return 1-t.down <= ratio && ratio <= 1+t.up }

// tolerancesFor is the cluster-wide tolerance, overridden per direction by the behavior's
// tolerance fields.
func tolerancesFor(b *autoscalingv2.HorizontalPodAutoscalerBehavior) tolerances {
	t := tolerances{defaultTolerance, defaultTolerance}
	if b == nil {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
	}
	return t
}

// completeBehavior returns a copy of b with every unset field given its default (the API
// server defaults a behavior that is present, except the scale-down stabilization window,
// which the controller supplies; an object that skipped defaulting is completed too). A nil
// behavior stays nil: such autoscalers follow the older rules (see normalize).
func completeBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	if b == nil {
		return nil
	}
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: completeRules(b.ScaleUp, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		}),
		ScaleDown: completeRules(b.ScaleDown, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(int32(downscaleStabilizationWindow / time.Second)),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		}),
	}
}

func completeRules(user *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if user == nil {
		return &def
	}
	r := user.DeepCopy()
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = def.SelectPolicy
	}
	if r.Policies == nil {
		r.Policies = def.Policies
	}
	return r
}

// recommendation is one unstabilized replica count a sync computed.
type recommendation struct {
	replicas int32
	at       time.Time
}

// scaleEvent is one rescale the controller made: change is the number of replicas added (in
// scaleUp) or removed (in scaleDown), always positive.
type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// history is what the controller remembers of one autoscaler between syncs (in memory, as
// upstream does: a restarted controller starts afresh).
type history struct {
	recommendations    []recommendation
	scaleUp, scaleDown []scaleEvent
	// selector is the scale target's pod selector as last seen (nil before), to find pods
	// that several autoscalers select.
	selector labels.Selector
}

// recordInitial seeds the recommendations with the current count on an autoscaler's first
// sync, so that a new autoscaler does not scale down before a stabilization window passed.
func (h *history) recordInitial(current int32, now time.Time) {
	if h.recommendations == nil {
		h.recommendations = []recommendation{{current, now}}
	}
}

// record stores a recommendation, reusing the slot of one older than cutoff if there is one.
func (h *history) record(replicas int32, now time.Time, isOld func(time.Time) bool) {
	for i, r := range h.recommendations {
		if isOld(r.at) {
			h.recommendations[i] = recommendation{replicas, now}
			return
		}
	}
	h.recommendations = append(h.recommendations, recommendation{replicas, now})
}

// recordScale stores a rescale from prev to next replicas, for the rate-limiting policies of
// behavior (nothing is stored without a behavior: nothing would read it).
func (h *history) recordScale(b *autoscalingv2.HorizontalPodAutoscalerBehavior, prev, next int32, now time.Time) {
	if b == nil || prev == next {
		return
	}
	events, rules, change := &h.scaleDown, b.ScaleDown, prev-next
	if next > prev {
		events, rules, change = &h.scaleUp, b.ScaleUp, next-prev
	}
	cutoff := now.Add(-time.Duration(longestPeriod(rules)) * time.Second)
	reuse := -1
	for i := range *events {
		if (*events)[i].at.Before(cutoff) {
			(*events)[i].outdated = true
		}
		if (*events)[i].outdated {
			reuse = i
		}
	}
	e := scaleEvent{change: change, at: now}
	if reuse >= 0 {
		(*events)[reuse] = e
	} else {
		*events = append(*events, e)
	}
}

func longestPeriod(rules *autoscalingv2.HPAScalingRules) int32 {
	var longest int32
	if rules == nil {
		return 0
	}
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	return longest
}

// changeInPeriod sums the changes of the events within the last periodSeconds.
func changeInPeriod(events []scaleEvent, periodSeconds int32, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) {
			sum += e.change
		}
	}
	return sum
}

// Normalized is the replica count a metrics proposal turns into once stabilized and limited,
// with what the AbleToScale and ScalingLimited conditions say about it.
type Normalized struct {
	Desired int32
	// AbleReason and AbleMessage make the AbleToScale condition (status True): ReadyForNewScale,
	// ScaleUpStabilized or ScaleDownStabilized.
	AbleReason, AbleMessage string
	// Limited tells whether a bound or a rate limit changed the stabilized count;
	// LimitedReason and LimitedMessage make the ScalingLimited condition.
	Limited                       bool
	LimitedReason, LimitedMessage string
}

const (
	msgReadyForNewScale    = "recommended size matches current size"
	msgScaleUpStabilized   = "recent recommendations were lower than current one, applying the lowest recent recommendation"
	msgScaleDownStabilized = "recent recommendations were higher than current one, applying the highest recent recommendation"
	msgWithinRange         = "the desired count is within the acceptable range"
	msgTooMany             = "the desired replica count is more than the maximum replica count"
	msgTooFew              = "the desired replica count is less than the minimum replica count"
	msgScaleUpLimit        = "the desired replica count is increasing faster than the maximum scale rate"
	msgScaleDownLimit      = "the desired replica count is decreasing faster than the maximum scale rate"
)

// normalize turns proposed (the largest metrics proposal) into the count to scale to, for an
// autoscaler whose target has current replicas, recording proposed in h. behavior must have
// gone through completeBehavior. Without a behavior, scale-downs are stabilized over
// downscaleStabilizationWindow and a scale-up goes at most to max(2 x current, 4); with one,
// its stabilization windows and rate-limiting policies apply. Then [minReplicas, maxReplicas].
func normalize(h *history, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior, minReplicas, maxReplicas, current, proposed int32, now time.Time) Normalized {
	if behavior == nil {
		return normalizeLegacy(h, minReplicas, maxReplicas, current, proposed, now)
	}
	var n Normalized
	stabilized, reason, message := stabilizeWithBehavior(h, behavior, current, proposed, now)
	n.AbleReason, n.AbleMessage = "ReadyForNewScale", msgReadyForNewScale
	if stabilized != proposed {
		n.AbleReason, n.AbleMessage = reason, message
	}
	n.Desired, n.LimitedReason, n.LimitedMessage = limitWithBehavior(h, behavior, minReplicas, maxReplicas, current, stabilized, now)
	n.Limited = n.Desired != stabilized
	return n
}

func normalizeLegacy(h *history, minReplicas, maxReplicas, current, proposed int32, now time.Time) Normalized {
	var n Normalized
	// The highest recommendation of the window wins.
	cutoff := now.Add(-downscaleStabilizationWindow)
	stabilized := proposed
	for _, r := range h.recommendations {
		if !r.at.Before(cutoff) {
			stabilized = max(stabilized, r.replicas)
		}
	}
	h.record(proposed, now, func(t time.Time) bool { return t.Before(cutoff) })
	n.AbleReason, n.AbleMessage = "ReadyForNewScale", msgReadyForNewScale
	if stabilized != proposed {
		n.AbleReason, n.AbleMessage = "ScaleDownStabilized", msgScaleDownStabilized
	}

	maxAllowed, limitReason, limitMessage := maxReplicas, "TooManyReplicas", msgTooMany
	if upLimit := int32(math.Max(scaleUpLimitFactor*float64(current), scaleUpLimitMinimum)); maxReplicas > upLimit {
		maxAllowed, limitReason, limitMessage = upLimit, "ScaleUpLimit", msgScaleUpLimit
	}
	switch {
	case stabilized < minReplicas:
		n.Desired, n.LimitedReason, n.LimitedMessage = minReplicas, "TooFewReplicas", msgTooFew
	case stabilized > maxAllowed:
		n.Desired, n.LimitedReason, n.LimitedMessage = maxAllowed, limitReason, limitMessage
	default:
		n.Desired, n.LimitedReason, n.LimitedMessage = stabilized, "DesiredWithinRange", msgWithinRange
	}
	n.Limited = n.Desired != stabilized
	return n
}

// stabilizeWithBehavior keeps the count between the lowest recommendation of the scale-up
// window and the highest of the scale-down window (the current count when it lies between),
// and records proposed.
func stabilizeWithBehavior(h *history, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, proposed int32, now time.Time) (int32, string, string) {
	upCutoff := now.Add(-time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second)
	upRecommendation, downRecommendation := proposed, proposed
	for _, r := range h.recommendations {
		if r.at.After(upCutoff) {
			upRecommendation = min(upRecommendation, r.replicas)
		}
		if r.at.After(downCutoff) {
			downRecommendation = max(downRecommendation, r.replicas)
		}
	}
	stabilized := max(current, upRecommendation)
	stabilized = min(stabilized, downRecommendation)
	h.record(proposed, now, func(t time.Time) bool { return t.Before(upCutoff) && t.Before(downCutoff) })
	if proposed >= current {
		return stabilized, "ScaleUpStabilized", msgScaleUpStabilized
	}
	return stabilized, "ScaleDownStabilized", msgScaleDownStabilized
}

// limitWithBehavior applies the rate-limiting policies of the direction desired goes in, then
// the bounds.
func limitWithBehavior(h *history, b *autoscalingv2.HorizontalPodAutoscalerBehavior, minReplicas, maxReplicas, current, desired int32, now time.Time) (int32, string, string) {
	switch {
	case desired > current:
		upLimit := max(scaleUpLimit(current, h.scaleUp, h.scaleDown, b.ScaleUp, now), current)
		maxAllowed, reason, message := maxReplicas, "TooManyReplicas", msgTooMany
		if maxReplicas > upLimit {
			maxAllowed, reason, message = upLimit, "ScaleUpLimit", msgScaleUpLimit
		}
		if desired > maxAllowed {
			return maxAllowed, reason, message
		}
	case desired < current:
		downLimit := min(scaleDownLimit(current, h.scaleUp, h.scaleDown, b.ScaleDown, now), current)
		minAllowed, reason, message := minReplicas, "TooFewReplicas", msgTooFew
		if minReplicas < downLimit {
			minAllowed, reason, message = downLimit, "ScaleDownLimit", msgScaleDownLimit
		}
		if desired < minAllowed {
			return minAllowed, reason, message
		}
	}
	return desired, "DesiredWithinRange", msgWithinRange
}

// scaleUpLimit is the most replicas the scale-up policies allow now: each policy counts from
// the replicas there were at the start of its period; selectPolicy Max takes the most
// permissive policy, Min the least, Disabled allows none.
func scaleUpLimit(current int32, up, down []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick, result := func(a, b int32) int32 { return max(a, b) }, int32(math.MinInt32)
	if *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = func(a, b int32) int32 { return min(a, b) }, math.MaxInt32
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(up, p.PeriodSeconds, now) + changeInPeriod(down, p.PeriodSeconds, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start + p.Value
		case autoscalingv2.PercentScalingPolicy:
			// Rounded up, or a small target could never grow.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the scale-down policies allow now (see scaleUpLimit).
func scaleDownLimit(current int32, up, down []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick, result := func(a, b int32) int32 { return min(a, b) }, int32(math.MaxInt32)
	if *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = func(a, b int32) int32 { return max(a, b) }, math.MinInt32
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(up, p.PeriodSeconds, now) + changeInPeriod(down, p.PeriodSeconds, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}
