package main

import (
	"context"
	"fmt"
	"github.com/kijabi/kijabi/internal/procmem"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/agent"
	"github.com/kijabi/kijabi/internal/server"
)

// nodeFlags are the node agent's flags, shared by `server` and `agent`.
type nodeFlags struct {
	name, ip, runtimeEndpoint, cniConfDir, bridge, clusterDNS, clusterDomain string
	serviceCIDR, clusterCIDR, overlay                                        string
	noAddons, noNetworkPolicy                                                bool
	kubeletPort                                                              int
	insecureRegistries                                                       []string
}

func (f *nodeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "node-name", "", "name of this node (default: the host name)")
	fl.StringVar(&f.ip, "node-ip", "", "InternalIP of this node (default: the first host address)")
	fl.StringVar(&f.runtimeEndpoint, "container-runtime-endpoint", "", "CRI socket of an external runtime (default: an embedded containerd under DATA-DIR/agent)")
	fl.StringVar(&f.cniConfDir, "cni-conf-dir", "", "where to write the CNI configuration for an external runtime (default /etc/cni/net.d)")
	fl.StringVar(&f.bridge, "cni-bridge", "kijabi0", "name of the pod network bridge")
	fl.IntVar(&f.kubeletPort, "kubelet-port", 10250, "HTTPS port of the kubelet server (logs, exec, port-forward)")
	fl.StringVar(&f.clusterDNS, "cluster-dns", "", "comma-separated cluster DNS server addresses for pods' resolv.conf")
	fl.StringVar(&f.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fl.StringSliceVar(&f.insecureRegistries, "insecure-registry", nil, "registry host:port the embedded containerd may pull from over plain HTTP (repeatable)")
	fl.BoolVar(&f.noAddons, "disable-network-addons", false, "run no service proxy, network policy controller, cluster DNS, ingress or load-balancer announcer on this node")
	fl.StringVar(&f.overlay, "overlay", agent.OverlayVXLAN, "how pods reach pods of other nodes: vxlan (a VXLAN device, as flannel's default backend) or none (only this node's bridge, or another network plugin)")
	fl.BoolVar(&f.noNetworkPolicy, "disable-network-policy", false, "do not enforce NetworkPolicies on this node (leave them to another controller)")
	if cmd.Name() == "agent" {
		fl.StringVar(&f.serviceCIDR, "service-cluster-ip-range", "10.96.0.0/12", "the cluster's Service range (kube-dns is its 10th address)")
		fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the cluster's pod network")
	}
}

func (f *nodeFlags) config() (agent.Config, error) {
	cfg := agent.Config{
		NodeName: f.name, ContainerRuntimeEndpoint: f.runtimeEndpoint, CNIConfDir: f.cniConfDir,
		Bridge: f.bridge, KubeletPort: f.kubeletPort, ClusterDomain: f.clusterDomain,
		InsecureRegistries: f.insecureRegistries, DisableNetworkAddons: f.noAddons,
		DisableNetworkPolicy: f.noNetworkPolicy, Overlay: f.overlay,
	}
	if f.overlay != agent.OverlayVXLAN && f.overlay != agent.OverlayNone {
		return cfg, fmt.Errorf("--overlay: %q is not %s or %s", f.overlay, agent.OverlayVXLAN, agent.OverlayNone)
	}
	for flag, dst := range map[string]**net.IPNet{f.serviceCIDR: &cfg.ServiceCIDR, f.clusterCIDR: &cfg.ClusterCIDR} {
		if flag == "" {
			continue
		}
		_, n, err := net.ParseCIDR(flag)
		if err != nil {
			return cfg, err
		}
		*dst = n
	}
	if f.ip != "" {
		if cfg.NodeIP = net.ParseIP(f.ip); cfg.NodeIP == nil {
			return cfg, fmt.Errorf("--node-ip: %q is not an IP address", f.ip)
		}
	}
	if f.clusterDNS != "" {
		for _, s := range strings.Split(f.clusterDNS, ",") {
			ip := net.ParseIP(strings.TrimSpace(s))
			if ip == nil {
				return cfg, fmt.Errorf("--cluster-dns: %q is not an IP address", s)
			}
			cfg.ClusterDNS = append(cfg.ClusterDNS, ip)
		}
	}
	return cfg, nil
}

func newAgentCommand() *cobra.Command {
	var f nodeFlags
	var kubeconfig, dataDir, logLevel, pprofAddr string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node: the kubelet on containerd, joined to the API server of --kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			rc.UserAgent = "kijabi-kubelet"
			rc.QPS, rc.Burst = 50, 100 // the kubelet's defaults
			cfg.REST, cfg.DataDir, cfg.Log = rc, dataDir, newLogger(logLevel)
			if cfg.NodeIP == nil {
				if cfg.NodeIP = server.HostAddress(); cfg.NodeIP == nil {
					cfg.NodeIP = net.ParseIP("127.0.0.1")
				}
			}
			if os.Getenv("GOGC") == "" {
				// A node agent's heap is small and its allocation rate low: collecting
				// at 50 % growth instead of 100 % keeps about 7 MiB less resident for
				// no CPU time measurable in a 30-pod batch (docs/benchmarks.md).
				debug.SetGCPercent(agentGCPercent)
			}
			if pprofAddr != "" {
				if err := servePprof(cmd.Context(), pprofAddr); err != nil {
					return err
				}
			}
			procmem.TrimAfterStart(cmd.Context(), cfg.Log)
			return agent.Run(cmd.Context(), cfg)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig(), "kubeconfig of the API server")
	fl.StringVar(&dataDir, "data-dir", defaultDataDir(), "directory for the node's state (containerd, pod volumes and logs)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&pprofAddr, "pprof-address", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiling")
	_ = fl.MarkHidden("pprof-address")
	return cmd
}

// agentGCPercent is the agent process's GOGC unless the environment sets one.
const agentGCPercent = 50

// servePprof serves the Go profiler's endpoints on addr until ctx ends.
func servePprof(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return nil
}
