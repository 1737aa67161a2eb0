// Package clusterroleaggregation keeps the rules of aggregated ClusterRoles (those with an
// aggregationRule, such as admin, edit and view) equal to the union of the rules of the
// ClusterRoles their selectors match, in name order — so that labelling a new ClusterRole
// `rbac.authorization.k8s.io/aggregate-to-view: "true"` extends view.
package clusterroleaggregation
