// Package prober runs liveness, readiness and startup probes the way the Kubernetes
// kubelet does.
//
// Do runs one probe (exec, httpGet, tcpSocket or grpc) with the kubelet's semantics and
// messages: HTTP 200–399 succeeds, a redirect to another host is not followed and counts
// as a success with a warning, timeouts and connection errors are failures, and an error
// (for instance a named port that does not exist) is retried up to three times and then
// returned — it is thrown away, not counted, by a Worker.
//
// A Worker probes one container of one pod on its own goroutine, as the kubelet's probe
// worker does: every periodSeconds (and when Trigger is called) it reads the container's
// current Status from the kubelet core, skips probing until initialDelaySeconds have
// passed since the container started, probes only after startup (liveness and readiness)
// or only before it (startup), and turns successThreshold / failureThreshold consecutive
// results into a new verdict. Every new container ID starts from the kind's initial
// verdict — Failure for readiness, Success for liveness, Unknown for startup (the
// kubelet's; "not started yet") — and a liveness or startup Failure puts the worker on
// hold until the next container, which is what the core kills and restarts. Verdict
// changes are reported through OnUpdate; each failed probe through OnEvent with the text
// of the kubelet's Unhealthy event, e.g. "Liveness probe failed: HTTP probe failed with
// statuscode: 500".
package prober
