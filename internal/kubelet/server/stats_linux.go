package server

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// userHZ is the unit of /proc/stat's CPU times (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// nodeUsage reads the node's CPU and memory use from /proc.
func (s *Server) nodeUsage(now metav1.Time) (*cpuStats, *memoryStats) {
	var cpu *cpuStats
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(data, []byte{'\n'})
		fields := strings.Fields(string(line))
		if len(fields) > 4 && fields[0] == "cpu" {
			var busy uint64
			for i, f := range fields[1:] {
				n, _ := strconv.ParseUint(f, 10, 64)
				if i == 3 || i == 4 { // idle, iowait
					continue
				}
				busy += n
			}
			usage := busy * (uint64(time.Second) / userHZ)
			cpu = &cpuStats{Time: now, UsageCoreNanoSeconds: ptr(usage)}
			s.cpu.mu.Lock()
			if !s.cpu.lastTime.IsZero() && usage >= s.cpu.lastUsage {
				if d := now.Sub(s.cpu.lastTime); d > 0 {
					cpu.UsageNanoCores = ptr(uint64(float64(usage-s.cpu.lastUsage) / d.Seconds()))
				}
			}
			s.cpu.lastTime, s.cpu.lastUsage = now.Time, usage
			s.cpu.mu.Unlock()
		}
	}
	var mem *memoryStats
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		info := map[string]uint64{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 {
				n, _ := strconv.ParseUint(fields[1], 10, 64)
				info[strings.TrimSuffix(fields[0], ":")] = n * 1024
			}
		}
		if total, ok := info["MemTotal"]; ok {
			avail := info["MemAvailable"]
			mem = &memoryStats{Time: now, AvailableBytes: ptr(avail), UsageBytes: ptr(total - info["MemFree"]), WorkingSetBytes: ptr(total - avail)}
		}
	}
	return cpu, mem
}

// bootTime is when the node booted, from /proc/stat's btime; fallback if unreadable.
func bootTime(fallback time.Time) time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return fallback
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return fallback
}
