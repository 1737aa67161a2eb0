// Package podautoscaler is the HorizontalPodAutoscaler controller, as far as it can go
// without a metrics API: every 15 seconds it reads each autoscaler's scale target, keeps its
// replicas within [minReplicas, maxReplicas] (scaling through the target's scale subresource,
// with a SuccessfulRescale event), and reports currentReplicas, desiredReplicas, lastScaleTime
// and the AbleToScale / ScalingActive / ScalingLimited conditions worded as Kubernetes words
// them. Metric-driven scaling needs resource metrics, which kijabi does not serve yet: the
// controller says so in ScalingActive (FailedGetResourceMetric), as upstream does when
// metrics-server is missing.
package podautoscaler
