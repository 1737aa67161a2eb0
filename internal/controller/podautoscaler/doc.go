// Package podautoscaler is the HorizontalPodAutoscaler controller. Every 15 seconds it reads
// each autoscaler's scale target and scales it on resource metrics, as Kubernetes' does:
//
//   - A target at zero replicas is not autoscaled (ScalingDisabled); one outside
//     [minReplicas, maxReplicas] is brought back to the bound without looking at metrics.
//   - Otherwise every metric proposes a replica count and the largest wins. Resource and
//     ContainerResource metrics (cpu, memory; Utilization as a percentage of the pods'
//     requests, or AverageValue) are read from metrics.k8s.io/v1beta1 PodMetrics for the pods
//     the scale's status.selector selects, the pods themselves from the shared informer. The
//     ratio of usage to target gives ceil(ratio x ready pods), unless it is within the
//     tolerance (10%, or the behavior's); pods being deleted or failed are ignored, unready
//     pods count as idle on a scale-up, pods without metrics as idle on a scale-up and at
//     their request (or the target) on a scale-down, and a proposal such pods would turn
//     around keeps the current count (replicas.go). Pods, Object and External metrics need
//     custom or external metrics APIs kijabi does not serve: they fail as upstream's do when
//     no adapter is installed. When every metric fails, or some fail and the others would
//     scale down, nothing is scaled (ScalingActive False, with the first failure's reason).
//   - The proposal is then stabilized and rate-limited (decide.go): with spec.behavior, by its
//     stabilization windows over the recommendations of the last syncs and its policies over
//     the rescales of their periods (defaults: up by max(4 pods, 100%) per 15s, down by 100%
//     per 15s after a 300s window); without one, by a 300s scale-down window and at most
//     max(2 x current, 4) replicas in one step. Then the bounds.
//
// Recommendations and rescales are kept in memory per autoscaler, as upstream keeps them.
// The controller reports currentReplicas, desiredReplicas, currentMetrics and lastScaleTime,
// the AbleToScale / ScalingActive / ScalingLimited conditions and the SuccessfulRescale,
// FailedGetResourceMetric, FailedComputeMetricsReplicas... events, worded as upstream words
// them.
package podautoscaler
