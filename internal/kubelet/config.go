package kubelet

import (
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/kijabi/kijabi/internal/cri"
)

// Version is the kubelet version the node reports.
const Version = "v1.37.2"

// Config configures a kubelet.
type Config struct {
	// NodeName is the Node this kubelet registers and serves.
	NodeName string
	// Client talks to the API server with the node's credentials.
	Client kubernetes.Interface
	// EventClient, when set, records Events, so that a burst of them does not hold
	// back status writes behind the client's rate limit (as the kubelet's separate
	// event client).
	EventClient kubernetes.Interface
	// Informers, when set, is an informer factory the kubelet shares with the node's other
	// components (service proxy, cluster DNS): the kubelet takes its Services (for pods'
	// service environment variables) from it instead of watching them itself. Its owner
	// shuts it down; the kubelet starts the informers it asks for.
	Informers informers.SharedInformerFactory
	// Runtime is the CRI runtime the pods run on.
	Runtime *cri.Runtime
	// RootDir holds the pods' volumes and logs.
	RootDir string
	// NodeIP is the node's InternalIP.
	NodeIP net.IP
	// Port is the kubelet server's port, reported in the Node's daemonEndpoints.
	Port int32
	// Labels and Taints are set when the Node is registered.
	Labels map[string]string
	Taints []corev1.Taint
	// ClusterDNS and ClusterDomain make the resolv.conf of dnsPolicy ClusterFirst pods;
	// without ClusterDNS those pods get the node's resolvers, as with dnsPolicy Default.
	ClusterDNS    []net.IP
	ClusterDomain string
	// ResolvConf is the node's resolver configuration (default /etc/resolv.conf).
	ResolvConf string
	// NetworkReady is called with the node's podCIDR once it is known, before any pod that
	// needs the pod network is started (e.g. to write the CNI configuration).
	NetworkReady func(podCIDR string) error
	// NodeStatusUpdateFrequency is how often the node status is checked (default 10s);
	// LeaseDuration the Lease's duration (default 40s, renewed every quarter).
	NodeStatusUpdateFrequency time.Duration
	LeaseDuration             time.Duration
	Clock                     clock.WithTicker
	Log                       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Port == 0 {
		c.Port = 10250
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.NodeStatusUpdateFrequency == 0 {
		c.NodeStatusUpdateFrequency = 10 * time.Second
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}
