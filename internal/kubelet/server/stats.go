package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// The /stats/summary document: the subset of the kubelet's stats/v1alpha1 Summary that
// CRI container stats can fill, with the same JSON names (metrics-server reads
// node and container CPU and memory).
type (
	statsSummary struct {
		Node nodeStats  `json:"node"`
		Pods []podStats `json:"pods"`
	}
	nodeStats struct {
		NodeName  string       `json:"nodeName"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *cpuStats    `json:"cpu,omitempty"`
		Memory    *memoryStats `json:"memory,omitempty"`
	}
	podReference struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	}
	podStats struct {
		PodRef     podReference     `json:"podRef"`
		StartTime  metav1.Time      `json:"startTime"`
		Containers []containerStats `json:"containers"`
		CPU        *cpuStats        `json:"cpu,omitempty"`
		Memory     *memoryStats     `json:"memory,omitempty"`
	}
	containerStats struct {
		Name      string       `json:"name"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *cpuStats    `json:"cpu,omitempty"`
		Memory    *memoryStats `json:"memory,omitempty"`
		Rootfs    *fsStats     `json:"rootfs,omitempty"`
	}
	cpuStats struct {
		Time                 metav1.Time `json:"time"`
		UsageNanoCores       *uint64     `json:"usageNanoCores,omitempty"`
		UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds,omitempty"`
	}
	memoryStats struct {
		Time            metav1.Time `json:"time"`
		AvailableBytes  *uint64     `json:"availableBytes,omitempty"`
		UsageBytes      *uint64     `json:"usageBytes,omitempty"`
		WorkingSetBytes *uint64     `json:"workingSetBytes,omitempty"`
		RSSBytes        *uint64     `json:"rssBytes,omitempty"`
		PageFaults      *uint64     `json:"pageFaults,omitempty"`
		MajorPageFaults *uint64     `json:"majorPageFaults,omitempty"`
	}
	fsStats struct {
		Time       metav1.Time `json:"time"`
		UsedBytes  *uint64     `json:"usedBytes,omitempty"`
		InodesUsed *uint64     `json:"inodesUsed,omitempty"`
	}
)

// nodeCPU remembers the previous node CPU sample, to compute a rate.
type nodeCPU struct {
	mu        sync.Mutex
	lastTime  time.Time
	lastUsage uint64
}

var processStart = time.Now()

// serveStatsSummary serves /stats/summary from the runtime's container stats; pods'
// totals are the sums of their containers'.
func (s *Server) serveStatsSummary(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := metav1.Now()
	stats, err := s.cfg.Runtime.Runtime.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("listing container stats: %w", err))
		return
	}
	containers, err := s.cfg.Runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}},
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("listing containers: %w", err))
		return
	}
	running := map[string]*runtimeapi.Container{}
	for _, c := range containers.Containers {
		running[c.Id] = c
	}
	name := s.cfg.NodeName
	if name == "" {
		name, _ = os.Hostname()
	}
	sum := statsSummary{Node: nodeStats{NodeName: name, StartTime: metav1.NewTime(bootTime(processStart))}, Pods: []podStats{}}
	sum.Node.CPU, sum.Node.Memory = s.nodeUsage(now)
	known := map[types.UID]*corev1.Pod{}
	if s.cfg.Pods != nil {
		if list, err := s.cfg.Pods.Pods(); err == nil {
			for _, p := range list {
				known[p.UID] = p
			}
		}
	}
	pods := map[string]*podStats{}
	var order []string
	for _, st := range stats.Stats {
		c, ok := running[st.GetAttributes().GetId()]
		if !ok {
			continue
		}
		uid := c.Labels[cri.LabelPodUID]
		p, ok := pods[uid]
		if !ok {
			p = &podStats{PodRef: podReference{Name: c.Labels[cri.LabelPodName], Namespace: c.Labels[cri.LabelPodNamespace], UID: uid}}
			if pod := known[types.UID(uid)]; pod != nil && pod.Status.StartTime != nil {
				p.StartTime = *pod.Status.StartTime
			}
			pods[uid] = p
			order = append(order, uid)
		}
		cs := containerStats{Name: c.Labels[cri.LabelContainerName], StartTime: metav1.NewTime(time.Unix(0, c.CreatedAt))}
		if p.StartTime.IsZero() || cs.StartTime.Before(&p.StartTime) {
			p.StartTime = cs.StartTime
		}
		if cpu := st.GetCpu(); cpu != nil {
			cs.CPU = &cpuStats{Time: metav1.NewTime(time.Unix(0, cpu.Timestamp))}
			if cpu.UsageCoreNanoSeconds != nil {
				cs.CPU.UsageCoreNanoSeconds = ptr(cpu.UsageCoreNanoSeconds.Value)
			}
			if cpu.UsageNanoCores != nil {
				cs.CPU.UsageNanoCores = ptr(cpu.UsageNanoCores.Value)
			}
			p.CPU = addCPU(p.CPU, cs.CPU)
		}
		if mem := st.GetMemory(); mem != nil {
			cs.Memory = &memoryStats{Time: metav1.NewTime(time.Unix(0, mem.Timestamp))}
			for _, f := range []struct {
				from *runtimeapi.UInt64Value
				to   **uint64
			}{{mem.WorkingSetBytes, &cs.Memory.WorkingSetBytes}, {mem.UsageBytes, &cs.Memory.UsageBytes}, {mem.RssBytes, &cs.Memory.RSSBytes},
				{mem.AvailableBytes, &cs.Memory.AvailableBytes}, {mem.PageFaults, &cs.Memory.PageFaults}, {mem.MajorPageFaults, &cs.Memory.MajorPageFaults}} {
				if f.from != nil {
					*f.to = ptr(f.from.Value)
				}
			}
			p.Memory = addMemory(p.Memory, cs.Memory)
		}
		if fs := st.GetWritableLayer(); fs != nil {
			cs.Rootfs = &fsStats{Time: metav1.NewTime(time.Unix(0, fs.Timestamp))}
			if fs.UsedBytes != nil {
				cs.Rootfs.UsedBytes = ptr(fs.UsedBytes.Value)
			}
			if fs.InodesUsed != nil {
				cs.Rootfs.InodesUsed = ptr(fs.InodesUsed.Value)
			}
		}
		p.Containers = append(p.Containers, cs)
	}
	for _, uid := range order {
		sum.Pods = append(sum.Pods, *pods[uid])
	}
	data, err := json.Marshal(sum)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func ptr(v uint64) *uint64 { return &v }

func addCPU(total, c *cpuStats) *cpuStats {
	if total == nil {
		total = &cpuStats{Time: c.Time}
	}
	total.UsageCoreNanoSeconds = addPtr(total.UsageCoreNanoSeconds, c.UsageCoreNanoSeconds)
	total.UsageNanoCores = addPtr(total.UsageNanoCores, c.UsageNanoCores)
	return total
}

func addMemory(total, m *memoryStats) *memoryStats {
	if total == nil {
		total = &memoryStats{Time: m.Time}
	}
	total.WorkingSetBytes = addPtr(total.WorkingSetBytes, m.WorkingSetBytes)
	total.UsageBytes = addPtr(total.UsageBytes, m.UsageBytes)
	total.RSSBytes = addPtr(total.RSSBytes, m.RSSBytes)
	return total
}

func addPtr(a, b *uint64) *uint64 {
	switch {
	case b == nil:
		return a
	case a == nil:
		return ptr(*b)
	}
	return ptr(*a + *b)
}
