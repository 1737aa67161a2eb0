package apiserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The API server's own metrics on /metrics, in Prometheus' text format, with kube-apiserver's
// names and labels so that dashboards and alerts written for it work: requests by verb,
// resource and code, their latency, requests in flight, long-running requests (watches),
// objects stored per resource, and the Go runtime's and process's statistics. Reading it
// needs the `get` verb on the non-resource URL /metrics (cluster-admin, system:monitoring).

// instruments holds one server's metrics, in a registry of its own (several servers may
// share a test process).
type instruments struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inflight    *prometheus.GaugeVec
	longRunning *prometheus.GaugeVec
}

var requestLabels = []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"}

func newInstruments(s *Server) *instruments {
	in := &instruments{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code."},
			append(requestLabels[:len(requestLabels):len(requestLabels)], "code")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
			Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}},
			requestLabels),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "apiserver_current_inflight_requests",
			Help: "Maximal number of currently used inflight request limit of this apiserver per request kind in last second."},
			[]string{"request_kind"}),
		longRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "apiserver_longrunning_requests",
			Help: "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component."},
			[]string{"verb", "group", "version", "resource", "subresource", "scope", "component"}),
	}
	in.registry.MustRegister(in.requests, in.latency, in.inflight, in.longRunning,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storedObjects{s: s, desc: prometheus.NewDesc("apiserver_storage_objects",
			"Number of stored objects at the time of last check split by kind.", []string{"resource"}, nil)})
	return in
}

// storedObjects reports how many objects each resource's watch cache holds.
type storedObjects struct {
	s    *Server
	desc *prometheus.Desc
}

func (c *storedObjects) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *storedObjects) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.s.resources {
		if r.store == nil || c.s.byGroupResource[r.gr.Group+"/"+r.gr.Resource] != r {
			continue // reviews; versions other than the preferred one count the same objects
		}
		if n, ok := r.store.CachedLen(); ok {
			name := r.gr.Resource
			if r.gr.Group != "" {
				name += "." + r.gr.Group
			}
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
		}
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.instruments.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// observed is what ServeHTTP learns of a request for its metrics.
type observed struct {
	info   *requestInfo
	dryRun bool
}

// reportedVerb is kube-apiserver's verb label: the HTTP-ish verb, upper case.
func reportedVerb(r *http.Request, info *requestInfo) string {
	switch info.verb {
	case "list":
		return "LIST"
	case "watch":
		return "WATCH"
	case "get":
		if info.subresource != "" && connectSubresources[info.subresource] {
			return "CONNECT"
		}
		return "GET"
	case "create":
		if connectSubresources[info.subresource] {
			return "CONNECT"
		}
		return "POST"
	case "update":
		return "PUT"
	case "patch":
		if r.Header.Get("Content-Type") == "application/apply-patch+yaml" {
			return "APPLY"
		}
		return "PATCH"
	case "delete", "deletecollection":
		return "DELETE"
	}
	return strings.ToUpper(info.verb)
}

var connectSubresources = map[string]bool{"exec": true, "attach": true, "portforward": true, "proxy": true, "log": false}

func scopeOf(info *requestInfo) string {
	switch {
	case info.name != "":
		return "resource"
	case info.namespace != "":
		return "namespace"
	}
	return "cluster"
}

// track counts a request in flight and returns what ends it: the request's metrics are
// recorded then.
func (in *instruments) track(r *http.Request, rec *statusRecorder) func() {
	kind := "readOnly"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		kind = "mutating"
	}
	g := in.inflight.WithLabelValues(kind)
	g.Inc()
	start := time.Now()
	return func() {
		g.Dec()
		info := rec.observed.info
		if info == nil {
			return // not a resource request
		}
		verb := reportedVerb(r, info)
		dryRun := ""
		if rec.observed.dryRun {
			dryRun = "All"
		}
		labels := []string{verb, dryRun, info.group, info.version, info.resource, info.subresource, scopeOf(info), "apiserver"}
		in.requests.WithLabelValues(append(labels, strconv.Itoa(rec.code))...).Inc()
		if verb != "WATCH" && verb != "CONNECT" {
			in.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
		}
	}
}

// longRunningGauge counts a watch or connection while it lasts.
func (in *instruments) longRunningGauge(r *http.Request, info *requestInfo) prometheus.Gauge {
	return in.longRunning.WithLabelValues(reportedVerb(r, info), info.group, info.version, info.resource, info.subresource, scopeOf(info), "apiserver")
}
