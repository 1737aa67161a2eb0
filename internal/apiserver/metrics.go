package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/kijabi/kijabi/internal/storage"
)

// Resource metrics: metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, as metrics-server
// serves them, for `kubectl top` and the HorizontalPodAutoscaler. The server reads every
// node's kubelet /stats/summary when metrics are asked for, at most once per
// metricsResolution, and goes on reading at that pace while they keep being asked for (up to
// metricsKeepWarm after the last request), so that CPU rates come from two samples of the
// cumulative counters, as metrics-server computes them. A cluster nobody asks costs nothing.

const (
	metricsResolution = 15 * time.Second
	metricsKeepWarm   = 10 * time.Minute
	// metricsScrapeTimeout bounds one kubelet's answer.
	metricsScrapeTimeout = 5 * time.Second
	// metricsMaxRateAge is how old a previous sample may be for a rate computed against it.
	metricsMaxRateAge = 2 * time.Minute
	// metricsPrimeGap separates the two readings taken when there is no recent one.
	metricsPrimeGap = time.Second
)

// The part of the kubelet's stats/v1alpha1 Summary the metrics are made of.
type (
	summary struct {
		Node summaryNode  `json:"node"`
		Pods []summaryPod `json:"pods"`
	}
	summaryNode struct {
		NodeName string         `json:"nodeName"`
		CPU      *summaryCPU    `json:"cpu"`
		Memory   *summaryMemory `json:"memory"`
	}
	summaryPod struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			UID       string `json:"uid"`
		} `json:"podRef"`
		Containers []summaryContainer `json:"containers"`
	}
	summaryContainer struct {
		Name   string         `json:"name"`
		CPU    *summaryCPU    `json:"cpu"`
		Memory *summaryMemory `json:"memory"`
	}
	summaryCPU struct {
		Time                 metav1.Time `json:"time"`
		UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds"`
	}
	summaryMemory struct {
		Time            metav1.Time `json:"time"`
		WorkingSetBytes *uint64     `json:"workingSetBytes"`
	}
)

// cpuSample is one reading of a cumulative CPU counter.
type cpuSample struct {
	at    time.Time
	total uint64 // core-nanoseconds
}

// usage is one container's or node's resource use over [at-window, at].
type usage struct {
	at       time.Time
	window   time.Duration
	cpuNano  uint64
	memBytes uint64
}

type containerUsage struct {
	name string
	usage
}

type podUsage struct {
	namespace, name string
	containers      []containerUsage
}

// resourceMetrics holds the latest usage read from the kubelets.
type resourceMetrics struct {
	mu         sync.Mutex
	scraped    time.Time // when the data below was read
	lastAsked  time.Time
	warm       bool // a background loop is reading every metricsResolution
	scraping   chan struct{}
	nodes      map[string]usage
	pods       map[string]podUsage // by namespace/name
	cpuSamples map[string]cpuSample
}

// currentMetrics returns the latest usage, reading the kubelets first when it is older than
// metricsResolution, and keeps the background reading going.
func (s *Server) currentMetrics(ctx context.Context) (map[string]usage, map[string]podUsage, error) {
	m := &s.metrics
	m.mu.Lock()
	m.lastAsked = time.Now()
	if !m.warm && s.stopped != nil {
		m.warm = true
		go s.keepMetricsWarm()
	}
	stale := time.Since(m.scraped) >= metricsResolution
	m.mu.Unlock()
	if stale {
		if err := s.refreshMetrics(ctx); err != nil {
			return nil, nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodes, m.pods, nil
}

// refreshMetrics reads the kubelets, or waits for the reading under way.
func (s *Server) refreshMetrics(ctx context.Context) error {
	m := &s.metrics
	m.mu.Lock()
	if wait := m.scraping; wait != nil {
		m.mu.Unlock()
		select {
		case <-wait:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	m.scraping = done
	m.mu.Unlock()
	s.scrapeMetrics(context.WithoutCancel(ctx))
	m.mu.Lock()
	m.scraping = nil
	m.mu.Unlock()
	close(done)
	return nil
}

// keepMetricsWarm reads the kubelets every metricsResolution until nobody has asked for
// metrics for metricsKeepWarm or the server stops.
func (s *Server) keepMetricsWarm() {
	m := &s.metrics
	t := time.NewTicker(metricsResolution)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
		case <-t.C:
			m.mu.Lock()
			idle := time.Since(m.lastAsked) > metricsKeepWarm
			m.mu.Unlock()
			if !idle {
				_ = s.refreshMetrics(context.Background())
				continue
			}
		}
		m.mu.Lock()
		m.warm = false
		m.mu.Unlock()
		return
	}
}

// scrapeMetrics reads every node's summary and replaces the usage held. CPU use is a rate
// between two readings: without a recent earlier one, it reads twice, metricsPrimeGap apart.
func (s *Server) scrapeMetrics(ctx context.Context) {
	m := &s.metrics
	m.mu.Lock()
	primed := !m.scraped.IsZero() && time.Since(m.scraped) <= metricsMaxRateAge
	m.mu.Unlock()
	if !primed {
		if !s.recordMetrics(s.readSummaries(ctx)) {
			return
		}
		t := time.NewTimer(metricsPrimeGap)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.stopped:
			t.Stop()
			return
		case <-t.C:
		}
	}
	s.recordMetrics(s.readSummaries(ctx))
}

// nodeSummary is one node's summary, nil when the kubelet could not be read.
type nodeSummary struct {
	node string
	sum  *summary
}

// readSummaries reads the summaries of every Ready node concurrently; nil when nodes cannot
// be listed.
func (s *Server) readSummaries(ctx context.Context) []nodeSummary {
	res := s.coreResource("nodes")
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{Stale: true})
	if err != nil {
		s.log.Warn("resource metrics: listing nodes", "err", err)
		return nil
	}
	out := make([]nodeSummary, len(list.Items))
	var wg sync.WaitGroup
	for i, obj := range list.Items {
		node := obj.(*corev1.Node)
		out[i].node = node.Name
		if !nodeReady(node) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := s.readSummary(ctx, node)
			if err != nil {
				s.log.Debug("resource metrics: reading a kubelet", "node", node.Name, "err", err)
				return
			}
			out[i].sum = sum
		}()
	}
	wg.Wait()
	return out
}

// recordMetrics turns summaries into the usage held; false when there were none to read.
func (s *Server) recordMetrics(summaries []nodeSummary) bool {
	if summaries == nil {
		return false
	}
	m := &s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	samples := map[string]cpuSample{}
	nodes := map[string]usage{}
	pods := map[string]podUsage{}
	for _, ns := range summaries {
		sum := ns.sum
		if sum == nil {
			continue
		}
		if u, ok := m.usage("node/"+ns.node, sum.Node.CPU, sum.Node.Memory, samples, now); ok {
			nodes[ns.node] = u
		}
		for _, p := range sum.Pods {
			pu := podUsage{namespace: p.PodRef.Namespace, name: p.PodRef.Name}
			complete := len(p.Containers) > 0
			for _, c := range p.Containers {
				u, ok := m.usage("container/"+p.PodRef.UID+"/"+c.Name, c.CPU, c.Memory, samples, now)
				if !ok {
					complete = false
					continue
				}
				pu.containers = append(pu.containers, containerUsage{name: c.Name, usage: u})
			}
			// As metrics-server: a pod is reported only with every container measured.
			if complete {
				sort.Slice(pu.containers, func(a, b int) bool { return pu.containers[a].name < pu.containers[b].name })
				pods[p.PodRef.Namespace+"/"+p.PodRef.Name] = pu
			}
		}
	}
	m.cpuSamples, m.nodes, m.pods, m.scraped = samples, nodes, pods, now
	return true
}

// usage turns one CPU and memory reading into usage, with the CPU rate against the previous
// sample under key: a container or node seen for the first time has none yet. It records
// the new sample in samples. Called with m.mu held.
func (m *resourceMetrics) usage(key string, cpu *summaryCPU, mem *summaryMemory, samples map[string]cpuSample, now time.Time) (usage, bool) {
	if cpu == nil || mem == nil || mem.WorkingSetBytes == nil {
		return usage{}, false
	}
	u := usage{at: cpu.Time.Time, memBytes: *mem.WorkingSetBytes}
	if u.at.IsZero() {
		u.at = now
	}
	if cpu.UsageCoreNanoSeconds != nil {
		cur := cpuSample{at: u.at, total: *cpu.UsageCoreNanoSeconds}
		samples[key] = cur
		if prev, ok := m.cpuSamples[key]; ok && cur.at.After(prev.at) && cur.at.Sub(prev.at) <= metricsMaxRateAge && cur.total >= prev.total {
			u.window = cur.at.Sub(prev.at)
			u.cpuNano = uint64(float64(cur.total-prev.total) / u.window.Seconds())
			return u, true
		}
	}
	return usage{}, false
}

func (s *Server) readSummary(ctx context.Context, node *corev1.Node) (*summary, error) {
	rt, err := s.kubeletTransport()
	if err != nil {
		return nil, err
	}
	host, err := nodeAddress(node)
	if err != nil {
		return nil, err
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = kubeletDefaultPort
	}
	ctx, cancel := context.WithTimeout(ctx, metricsScrapeTimeout)
	defer cancel()
	u := "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/stats/summary"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	var sum summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&sum); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &sum, nil
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (u usage) resources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *apiresource.NewScaledQuantity(int64(u.cpuNano), apiresource.Nano),
		corev1.ResourceMemory: *apiresource.NewQuantity(int64(u.memBytes), apiresource.BinarySI),
	}
}

// viewNodeMetrics lists NodeMetrics: one per node with a reading, labelled as the node.
func viewNodeMetrics(ctx context.Context, s *Server, _ string) ([]runtime.Object, error) {
	nodes, _, err := s.currentMetrics(ctx)
	if err != nil {
		return nil, err
	}
	res := s.coreResource("nodes")
	var out []runtime.Object
	for name, u := range nodes {
		obj, ok := res.store.Cached(res.store.Key("", name))
		if !ok {
			continue
		}
		node := obj.(*corev1.Node)
		out = append(out, &metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: node.Labels, CreationTimestamp: metav1.Now()},
			Timestamp:  metav1.NewTime(u.at), Window: metav1.Duration{Duration: u.window},
			Usage: u.resources(),
		})
	}
	return out, nil
}

// viewPodMetrics lists PodMetrics of the pods in namespace ("" for all) that exist and
// have a reading, labelled as the pod.
func viewPodMetrics(ctx context.Context, s *Server, namespace string) ([]runtime.Object, error) {
	_, pods, err := s.currentMetrics(ctx)
	if err != nil {
		return nil, err
	}
	res := s.coreResource("pods")
	var out []runtime.Object
	for _, p := range pods {
		if namespace != "" && p.namespace != namespace {
			continue
		}
		obj, ok := res.store.Cached(res.store.Key(p.namespace, p.name))
		if !ok {
			continue
		}
		pod := obj.(*corev1.Pod)
		pm := &metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.namespace, Labels: pod.Labels, CreationTimestamp: metav1.Now()},
		}
		for i, c := range p.containers {
			if i == 0 || c.at.After(pm.Timestamp.Time) {
				pm.Timestamp = metav1.NewTime(c.at)
			}
			pm.Window.Duration = max(pm.Window.Duration, c.window)
			pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c.name, Usage: c.resources()})
		}
		out = append(out, pm)
	}
	return out, nil
}
