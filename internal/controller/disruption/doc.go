// Package disruption is the PodDisruptionBudget controller: for every budget it counts the
// pods its selector matches, how many of them are healthy (Ready, not being deleted and not
// just evicted), how many must stay healthy (minAvailable, or the expected pods less
// maxUnavailable, percentages taken of the replicas their controllers want), and so how many
// disruptions are allowed now. The API server's pods/eviction reads that status, decrements it
// and records the evicted pod in status.disruptedPods; the controller forgets such a pod once
// it is gone, or after two minutes if it never went.
package disruption
