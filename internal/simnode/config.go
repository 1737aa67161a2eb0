package simnode

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults of Config.
const (
	DefaultNamePrefix     = "sim-"
	DefaultLeaseDuration  = 40 * time.Second
	DefaultRenewInterval  = 10 * time.Second
	DefaultStatusInterval = time.Minute
	DefaultJobRunTime     = 2 * time.Second
	DefaultWorkers        = 8
	// DefaultNodeCIDR is where node InternalIPs come from (sim-0000 gets the first host address).
	// The addresses are only reported, never used for traffic.
	DefaultNodeCIDR = "10.200.0.0/16"
	// DefaultPodCIDR is cut into one /24 per node for nodes without spec.podCIDR.
	DefaultPodCIDR = "10.128.0.0/10"
)

// Identity reported by simulated nodes.
const (
	KubeletVersion          = "v1.37.2-kijabi-sim"
	ContainerRuntimeVersion = "simulated://1.0"
	OSImage                 = "Kijabi Simulated Linux"
	KernelVersion           = "6.8.0-kijabi-sim"
	InstanceType            = "simulated"
	KubeletPort             = 10250
)

// Pod annotations understood by simulated nodes.
const (
	// AnnotationRunSeconds makes a pod with restartPolicy Never or OnFailure (or owned by a Job)
	// finish after that many seconds (a decimal number, e.g. "1" or "0.5").
	AnnotationRunSeconds = "simnode.kijabi.io/run-seconds"
	// AnnotationExitCode is the exit code of a finishing pod's containers; non-zero makes it Failed.
	AnnotationExitCode = "simnode.kijabi.io/exit-code"
	// AnnotationFailIndexes lists completion indexes ("1,3-5") whose pods fail: a pod of an
	// Indexed Job whose batch.kubernetes.io/job-completion-index is listed exits with the
	// exit-code annotation's code (1 without it), a pod of another index with 0. Put in a
	// Job's pod template, it makes some indexes fail and the others succeed.
	AnnotationFailIndexes = "simnode.kijabi.io/fail-indexes"
)

// Config configures a Cluster of simulated nodes.
type Config struct {
	// Client talks to the API server; give it a high QPS/Burst for many nodes.
	Client kubernetes.Interface
	// Nodes is how many nodes to simulate (at least 1).
	Nodes int
	// NamePrefix prefixes node names (default "sim-": sim-0000, sim-0001, ...).
	NamePrefix string
	// Capacity overrides entries of the default capacity (32 cpu, 256Gi memory, 100Gi
	// ephemeral-storage, 110 pods). Allocatable equals capacity.
	Capacity corev1.ResourceList
	// Labels are added to (and may override) the standard node labels.
	Labels map[string]string
	// Taints are set on the nodes when they register.
	Taints []corev1.Taint
	// LeaseDuration is the node Lease's leaseDurationSeconds (default 40s, whole seconds).
	LeaseDuration time.Duration
	// RenewInterval is how often the Lease is renewed (default 10s, with up to 4% jitter).
	RenewInterval time.Duration
	// StatusInterval is how often the node status is reported when nothing changed (default 1m).
	StatusInterval time.Duration
	// JobRunTime is how long pods owned by a Job run when they carry no run-seconds
	// annotation (default 2s).
	JobRunTime time.Duration
	// Workers is the number of heartbeat workers (default 8); the pod queue has eight times
	// as many.
	Workers int
	// Log receives the nodes' log (default: discarded).
	Log *slog.Logger

	// NodeCIDR is the range node InternalIPs come from (default 10.200.0.0/16).
	NodeCIDR string
	// PodCIDR is cut into one /24 per node, used for pod IPs of nodes without spec.podCIDR
	// (default 10.128.0.0/10).
	PodCIDR string
	// Clock is the time source (default the real clock); tests inject a fake one.
	Clock clock.WithTicker
}

func defaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
}

// complete fills in defaults and validates cfg.
func (cfg *Config) complete() error {
	if cfg.Client == nil {
		return errors.New("simnode: Client is required")
	}
	if cfg.Nodes < 1 {
		return fmt.Errorf("simnode: Nodes must be at least 1, got %d", cfg.Nodes)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	for _, name := range []string{nodeName(cfg.NamePrefix, 0), nodeName(cfg.NamePrefix, cfg.Nodes-1)} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return fmt.Errorf("simnode: invalid node name %q: %v", name, errs)
		}
	}
	capacity := defaultCapacity()
	for k, v := range cfg.Capacity {
		capacity[k] = v.DeepCopy()
	}
	cfg.Capacity = capacity
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.LeaseDuration < time.Second || cfg.LeaseDuration%time.Second != 0 {
		return fmt.Errorf("simnode: LeaseDuration must be a whole number of seconds, got %v", cfg.LeaseDuration)
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.RenewInterval < 0 || cfg.RenewInterval >= cfg.LeaseDuration {
		return fmt.Errorf("simnode: RenewInterval (%v) must be positive and shorter than LeaseDuration (%v)", cfg.RenewInterval, cfg.LeaseDuration)
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.StatusInterval < 0 {
		return fmt.Errorf("simnode: negative StatusInterval %v", cfg.StatusInterval)
	}
	if cfg.JobRunTime == 0 {
		cfg.JobRunTime = DefaultJobRunTime
	}
	if cfg.JobRunTime < 0 {
		return fmt.Errorf("simnode: negative JobRunTime %v", cfg.JobRunTime)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeCIDR == "" {
		cfg.NodeCIDR = DefaultNodeCIDR
	}
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return nil
}

// nodeName is the name of the i-th node.
func nodeName(prefix string, i int) string {
	return fmt.Sprintf("%s%04d", prefix, i)
}

// nodeIPs returns the InternalIP of each of n nodes, the host addresses of cidr in order.
func nodeIPs(cidr string, n int) ([]string, error) {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("simnode: NodeCIDR: %w", err)
	}
	ones, bits := ipnet.Mask.Size()
	hosts := new(big.Int).Lsh(big.NewInt(1), uint(bits-ones))
	hosts.Sub(hosts, big.NewInt(2)) // network and broadcast addresses
	if hosts.Cmp(big.NewInt(int64(n))) < 0 {
		return nil, fmt.Errorf("simnode: NodeCIDR %s has room for %s nodes, not %d", cidr, hosts, n)
	}
	out := make([]string, n)
	for i := range n {
		out[i] = offsetIP(ipnet.IP, int64(i)+1).String()
	}
	return out, nil
}

// podRanges cuts cidr into n /24 ranges (or /120 for IPv6), one per node.
func podRanges(cidr string, n int) ([]*net.IPNet, error) {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("simnode: PodCIDR: %w", err)
	}
	ones, bits := ipnet.Mask.Size()
	sub := bits - 8
	if ones > sub {
		return nil, fmt.Errorf("simnode: PodCIDR %s is smaller than one /%d", cidr, sub)
	}
	if bits-ones-8 < 62 && int64(1)<<(bits-ones-8) < int64(n) {
		return nil, fmt.Errorf("simnode: PodCIDR %s has room for %d node ranges, not %d", cidr, int64(1)<<(bits-ones-8), n)
	}
	out := make([]*net.IPNet, n)
	for i := range n {
		out[i] = &net.IPNet{IP: offsetIP(ipnet.IP, int64(i)<<8), Mask: net.CIDRMask(sub, bits)}
	}
	return out, nil
}

// offsetIP returns ip + off.
func offsetIP(ip net.IP, off int64) net.IP {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	v := new(big.Int).SetBytes(ip)
	v.Add(v, big.NewInt(off))
	b := v.Bytes()
	out := make(net.IP, len(ip))
	copy(out[len(out)-len(b):], b)
	return out
}
