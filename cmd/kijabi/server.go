package main

import (
	"fmt"
	"github.com/kijabi/kijabi/internal/procmem"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kijabi/kijabi/internal/server"
)

type serverFlags struct {
	dataDir, bind, advertise, serviceCIDR, nodePorts, kubeconfig, etcdServers, logLevel string
	clusterCIDR, lbPool, authzMode                                                      string
	port, etcdClientPort, etcdPeerPort, simulatedNodes                                  int
	apiOnly                                                                             bool
	nodeGrace, etcdCompaction                                                           time.Duration
	disableAgent, disableScheduler, disableControllerManager                            bool
	node                                                                                nodeFlags
}

func (f *serverFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "directory for etcd data, certificates and the admin kubeconfig")
	fl.StringVar(&f.bind, "bind-address", "0.0.0.0", "address the API server listens on")
	fl.IntVar(&f.port, "secure-port", 6443, "HTTPS port of the API server")
	fl.StringVar(&f.advertise, "advertise-address", "", "address other nodes reach the API server at (default: the first host address)")
	fl.StringVar(&f.serviceCIDR, "service-cluster-ip-range", "10.96.0.0/12", "range Service ClusterIPs are allocated from")
	fl.StringVar(&f.nodePorts, "service-node-port-range", "30000-32767", "range NodePorts are allocated from")
	fl.StringVar(&f.kubeconfig, "write-kubeconfig", "", "where to write the admin kubeconfig (default DATA-DIR/kubeconfig.yaml)")
	fl.StringVar(&f.etcdServers, "etcd-servers", "", "comma-separated client URLs of an external etcd cluster (default: embedded etcd)")
	fl.IntVar(&f.etcdClientPort, "etcd-client-port", 2379, "loopback client port of the embedded etcd")
	fl.IntVar(&f.etcdPeerPort, "etcd-peer-port", 2380, "loopback peer port of the embedded etcd")
	fl.DurationVar(&f.etcdCompaction, "etcd-compaction-interval", server.DefaultEtcdCompactionInterval, "how often etcd's history is compacted (0: never)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.IntVar(&f.simulatedNodes, "simulated-nodes", 0, "run this many simulated nodes (no containers) in the server")
	fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod network; each node gets a /24 of it")
	fl.StringVar(&f.lbPool, "service-lb-pool", "", "addresses for LoadBalancer Services: prefixes, ranges a-b or addresses, comma-separated (default: the nodes' addresses)")
	fl.StringVar(&f.authzMode, "authorization-mode", "RBAC", "how requests are authorized: RBAC, or AlwaysAllow (every authenticated request)")
	fl.DurationVar(&f.nodeGrace, "node-monitor-grace-period", 40*time.Second, "how long a node may miss heartbeats before it is marked unreachable")
	if cmd.Name() == "server" {
		fl.BoolVar(&f.disableAgent, "disable-agent", false, "run no node agent (kubelet) in the server: a control plane only")
		fl.BoolVar(&f.disableScheduler, "disable-scheduler", false, "run no scheduler in the server (run `kijabi scheduler`, or another scheduler, instead)")
		fl.BoolVar(&f.disableControllerManager, "disable-controller-manager", false, "run no controller manager in the server (run `kijabi controller-manager` instead)")
		f.node.register(cmd)
	}
}

func (f *serverFlags) config() (server.Config, error) {
	cfg := server.Config{
		DataDir: f.dataDir, BindAddress: f.bind, Port: f.port, NodePortRange: f.nodePorts,
		Kubeconfig: f.kubeconfig, EtcdClientPort: f.etcdClientPort, EtcdPeerPort: f.etcdPeerPort,
		Log: newLogger(f.logLevel), DisableControllers: f.apiOnly, DisableScheduler: f.disableScheduler, DisableControllerManager: f.disableControllerManager, SimulatedNodes: f.simulatedNodes,
		ServiceLBPool: f.lbPool, AuthorizationMode: f.authzMode,
	}
	_, cidr, err := net.ParseCIDR(f.serviceCIDR)
	if err != nil {
		return cfg, fmt.Errorf("--service-cluster-ip-range: %w", err)
	}
	cfg.ServiceCIDR = cidr
	if _, cfg.ClusterCIDR, err = net.ParseCIDR(f.clusterCIDR); err != nil {
		return cfg, fmt.Errorf("--cluster-cidr: %w", err)
	}
	cfg.NodeMonitorGracePeriod = f.nodeGrace
	cfg.EtcdCompactionInterval = f.etcdCompaction
	if f.etcdCompaction <= 0 {
		cfg.EtcdCompactionInterval = -1
	}
	if f.advertise != "" {
		if cfg.AdvertiseAddress = net.ParseIP(f.advertise); cfg.AdvertiseAddress == nil {
			return cfg, fmt.Errorf("--advertise-address: %q is not an IP address", f.advertise)
		}
	}
	if f.etcdServers != "" {
		cfg.EtcdServers = strings.Split(f.etcdServers, ",")
	}
	if !f.apiOnly && !f.disableAgent {
		cfg.Agent = true
		if cfg.Node, err = f.node.config(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func newServerCommand() *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: embedded etcd and the API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			return runControlPlane(cmd, cfg)
		},
	}
	f.register(cmd)
	return cmd
}

func newAPIServerCommand() *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "apiserver",
		Short: "Run the API server alone (--etcd-servers for an external etcd cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.apiOnly = true
			cfg, err := f.config()
			if err != nil {
				return err
			}
			return runControlPlane(cmd, cfg)
		},
	}
	f.register(cmd)
	return cmd
}

func runControlPlane(cmd *cobra.Command, cfg server.Config) error {
	ctx := cmd.Context()
	running, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	procmem.TrimAfterStart(ctx, cfg.Log)
	fmt.Fprintf(cmd.ErrOrStderr(), "kijabi: API server at %s; try: kijabi kubectl --kubeconfig %s get nodes\n", running.URL, running.Kubeconfig)
	select {
	case <-ctx.Done():
	case <-running.Done():
	}
	return running.Stop()
}
