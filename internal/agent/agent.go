package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/cri/image"
	"github.com/kijabi/kijabi/internal/kubelet"
	kubeletserver "github.com/kijabi/kijabi/internal/kubelet/server"
	"github.com/kijabi/kijabi/internal/kubelet/volume"
	"github.com/kijabi/kijabi/internal/network/cni"
	"github.com/kijabi/kijabi/internal/network/netpol"
	"github.com/kijabi/kijabi/internal/network/overlay"
)

// ErrNoRuntime is returned (wrapped) when there is no container runtime to run pods on.
var ErrNoRuntime = containerd.ErrNotInstalled

// Config configures a node agent.
type Config struct {
	// DataDir is the kijabi data dir; the agent keeps its state under DataDir/agent.
	DataDir string
	// NodeName is the Node's name (default: the host name).
	NodeName string
	// NodeIP is the node's InternalIP.
	NodeIP net.IP
	// REST reaches the API server with the node's credentials.
	REST *rest.Config
	// ContainerRuntimeEndpoint is a CRI socket; empty starts an embedded containerd.
	ContainerRuntimeEndpoint string
	// CNIConfDir is where the CNI configuration is written for an external runtime
	// (default /etc/cni/net.d); the embedded containerd has its own.
	CNIConfDir string
	// Bridge is the CNI bridge's name (default kijabi0).
	Bridge string
	// KubeletPort is the kubelet server's port (default 10250; 0 in Tests picks a free one
	// when KubeletPortSet is false... see Listen).
	KubeletPort int
	// ClusterDNS and ClusterDomain go into pods' resolv.conf.
	ClusterDNS    []net.IP
	ClusterDomain string
	// Labels and Taints are set on the Node when it registers.
	Labels map[string]string
	Taints []corev1.Taint
	// InsecureRegistries are registries the embedded containerd reaches over plain HTTP.
	InsecureRegistries []string
	// ServiceCIDR and ClusterCIDR are the cluster's Service and pod networks. The
	// kube-dns Service takes the 10th address of ServiceCIDR.
	ServiceCIDR, ClusterCIDR *net.IPNet
	// DNSUpstreams are where cluster DNS forwards names outside the cluster (default:
	// the node's resolv.conf).
	DNSUpstreams []string
	// IngressHTTPAddr and IngressHTTPSAddr are where the ingress controller listens
	// (default :80 and :443).
	IngressHTTPAddr, IngressHTTPSAddr string
	// ProxyTable is the nftables table of the Service proxy (default kijabi-proxy).
	ProxyTable string
	// LBInterface is the link LoadBalancer addresses this node answers go on
	// (default kijabi-lb).
	LBInterface string
	// DisableNetworkAddons runs no service proxy, network policy controller, DNS,
	// ingress or load-balancer announcer on this node.
	DisableNetworkAddons bool
	// Overlay is how this node's pods reach other nodes' pods: OverlayVXLAN (the
	// default, "") or OverlayNone (pods reach only their own node's pods, or another
	// network plugin connects nodes).
	Overlay string
	// DisableNetworkPolicy runs no network policy controller: NetworkPolicies are
	// stored but not enforced on this node (for another controller to enforce them).
	DisableNetworkPolicy bool
	// RemovePodsOnStop, when it returns true as the agent stops, removes every sandbox,
	// container and pod volume of this node, and the CNI bridge (tests; a real node
	// keeps its pods running).
	RemovePodsOnStop func() bool
	Log              *slog.Logger
}

// Run runs the node until ctx ends. The containers keep running after it returns (and
// the embedded containerd is stopped), so a restarted agent adopts them.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	// base is handed to the parts that name themselves (component=containerd, proxy…);
	// the agent's own messages carry component=agent.
	base := log
	log = log.With("component", "agent")
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	if cfg.Overlay != "" && cfg.Overlay != OverlayVXLAN && cfg.Overlay != OverlayNone {
		return fmt.Errorf("agent: unknown overlay %q (want %s or %s)", cfg.Overlay, OverlayVXLAN, OverlayNone)
	}
	dir := filepath.Join(cfg.DataDir, "agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	endpoint, cniDir := cfg.ContainerRuntimeEndpoint, cfg.CNIConfDir
	var proc *containerd.Process
	if endpoint == "" {
		var err error
		// containerd outlives ctx a little: it is stopped (below) after the kubelet,
		// once pods have been removed when RemovePodsOnStop asks for it.
		proc, err = containerd.Start(context.WithoutCancel(ctx), containerd.Config{
			Dir: containerd.DefaultDir(cfg.DataDir), SandboxImage: image.PauseImage,
			InsecureRegistries: cfg.InsecureRegistries, Log: base,
		})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer proc.Stop()
		endpoint, cniDir = proc.Endpoint(), proc.CNIConfDir()
		log.Info("containerd started", "socket", endpoint, "took", proc.StartupTime())
	}
	if cniDir == "" {
		cniDir = "/etc/cni/net.d"
	}
	rt, err := cri.Dial(ctx, endpoint, 30*time.Second)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer rt.Close()
	if proc != nil {
		start := time.Now()
		if err := image.EnsureBuiltins(ctx, rt, proc.Address(), filepath.Join(dir, "images")); err != nil {
			return fmt.Errorf("agent: importing the built-in images: %w", err)
		}
		log.Info("built-in images ready", "images", []string{image.PauseImage, image.BusyboxImage}, "took", time.Since(start).Round(time.Millisecond))
	}
	// Built-in kinds travel as protobuf, as with every Kubernetes component: cheaper to
	// decode, and the API server sends stored objects as they are.
	rc := rest.CopyConfig(cfg.REST)
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeProtobuf, runtime.ContentTypeProtobuf+","+runtime.ContentTypeJSON
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	bridge := cfg.Bridge
	if bridge == "" {
		bridge = cni.DefaultBridge
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if len(cfg.ClusterDNS) == 0 && cfg.ServiceCIDR != nil && !cfg.DisableNetworkAddons {
		cfg.ClusterDNS = []net.IP{nthAddress(cfg.ServiceCIDR, 10)}
	}
	// One informer factory for what the kubelet and the network add-ons all watch
	// (Services; EndpointSlices for the proxy and DNS), so that each is watched and
	// cached once. managedFields are dropped: nobody on the node reads them.
	shared := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripManagedFields))
	defer shared.Shutdown()
	shared.Core().V1().Services().Informer()
	if !cfg.DisableNetworkAddons {
		shared.Discovery().V1().EndpointSlices().Informer()
	}
	shared.Start(ctx.Done())
	nw := &addons{cfg: cfg, client: client, informers: shared, log: log, base: base}
	defer nw.wait()
	nw.start(ctx)
	// Pods' packets to other nodes carry VXLAN's 50 bytes: their MTU leaves room.
	podMTU := 0
	if nw.startOverlay(ctx) {
		podMTU = overlay.PodMTU(cfg.NodeIP)
	}
	eventClient, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	kl, err := kubelet.New(kubelet.Config{
		NodeName: cfg.NodeName, Client: client, EventClient: eventClient, Informers: shared, Runtime: rt, RootDir: dir, NodeIP: cfg.NodeIP,
		Port: int32(cfg.KubeletPort), Labels: cfg.Labels, Taints: cfg.Taints,
		ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain,
		NetworkReady: func(podCIDR string) error {
			gw, err := bridgeGateway(podCIDR)
			if err != nil {
				return err
			}
			if err := enableBridgeNetfilter(); err != nil {
				log.Warn("pods reaching Services backed by pods on this node may fail", "err", err)
			}
			if err := ensureBridge(bridge, gw); err != nil {
				return err
			}
			_, nodeCIDR, _ := net.ParseCIDR(podCIDR)
			cluster := cfg.ClusterCIDR
			if cluster == nil {
				cluster = nodeCIDR
			}
			// The node masquerades its pod range with one nftables rule; the bridge
			// plugin's per-pod iptables chains would make every sandbox slower.
			if err := masquerade(masqTable(cfg), nodeCIDR, cluster); err != nil {
				return err
			}
			if err := configureNetwork(ctx, rt, cniDir, cni.Config{
				NetworkName: cni.DefaultNetworkName, Bridge: bridge, PodCIDR: podCIDR,
				IPAMDataDir: filepath.Join(dir, "cni", "networks"), NoMasquerade: true, MTU: podMTU,
			}); err != nil {
				return err
			}
			nw.networkReady(ctx, gw.IP)
			return nil
		},
		Log: cfg.Log,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	serving, err := kubeletTLS(cfg, dir)
	if err != nil {
		return fmt.Errorf("agent: kubelet server certificate: %w", err)
	}
	port := cfg.KubeletPort
	if port == 0 {
		port = 10250
	}
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		err := kubeletserver.Serve(ctx, kubeletserver.Config{
			Addr: net.JoinHostPort("", strconv.Itoa(port)), Runtime: rt, TLS: serving, Pods: kl,
			NodeName: cfg.NodeName, Log: base.With("component", "kubelet-server"),
		})
		if err != nil && ctx.Err() == nil {
			log.Error("kubelet server stopped", "err", err)
		}
	}()
	err = kl.Run(ctx)
	<-serverDone
	if cfg.RemovePodsOnStop != nil && cfg.RemovePodsOnStop() {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		removePods(cleanup, rt, log)
		removeMasquerade(masqTable(cfg))
		vols := &volume.Manager{Root: filepath.Join(dir, "pods"), Log: log}
		for _, uid := range vols.Orphans(nil) {
			if err := vols.Cleanup(uid); err != nil {
				log.Warn("removing pod volumes", "uid", uid, "err", err)
			}
		}
		if out, err := exec.CommandContext(cleanup, "ip", "link", "del", bridge).CombinedOutput(); err != nil {
			log.Debug("removing the CNI bridge", "bridge", bridge, "err", err, "out", string(out))
		}
	}
	return err
}

// stripManagedFields is an informer transform that drops objects' managedFields.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// removePods stops and removes every sandbox the kubelet made, with their containers.
func removePods(ctx context.Context, rt *cri.Runtime, log *slog.Logger) {
	sel := map[string]string{cri.LabelManagedBy: "true"}
	sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		log.Warn("listing sandboxes", "err", err)
		return
	}
	for _, sb := range sbs.Items {
		if _, err := rt.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			log.Warn("stopping sandbox", "id", sb.Id, "err", err)
		}
		if _, err := rt.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			log.Warn("removing sandbox", "id", sb.Id, "err", err)
		}
	}
}

// masqTable names the node's masquerading table after its proxy table, so that test
// clusters sharing a host keep theirs apart.
func masqTable(cfg Config) string {
	if cfg.ProxyTable != "" {
		return cfg.ProxyTable + "-masq"
	}
	return "kijabi-masq"
}

// netpolTable names the network policy controller's table after the proxy table too.
func netpolTable(cfg Config) string {
	if cfg.ProxyTable != "" {
		return cfg.ProxyTable + "-netpol"
	}
	return netpol.DefaultTableName
}

// kubeletTLS is the kubelet server's TLS configuration: a self-signed serving certificate
// (as the kubelet makes by default) and the cluster CA — the one in the node's
// kubeconfig — to verify the API server's client certificate.
func kubeletTLS(cfg Config, dir string) (*tls.Config, error) {
	pki := filepath.Join(dir, "pki")
	ips := []net.IP{cfg.NodeIP, net.ParseIP("127.0.0.1")}
	cert, err := kubeletserver.LoadOrCreateServingCert(filepath.Join(pki, "kubelet.crt"), filepath.Join(pki, "kubelet.key"),
		cfg.NodeName, ips, []string{cfg.NodeName, "localhost"})
	if err != nil {
		return nil, err
	}
	caPEM := cfg.REST.TLSClientConfig.CAData
	if len(caPEM) == 0 && cfg.REST.TLSClientConfig.CAFile != "" {
		if caPEM, err = os.ReadFile(cfg.REST.TLSClientConfig.CAFile); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no cluster CA in the node's kubeconfig to verify the API server with")
	}
	return kubeletserver.TLSConfig(cert, pool), nil
}

// configureNetwork writes the CNI configuration for the node's podCIDR and waits until
// the runtime reports its network ready.
func configureNetwork(ctx context.Context, rt *cri.Runtime, dir string, c cni.Config) error {
	if err := cni.EnableForwarding(); err != nil {
		return err
	}
	if err := cni.WriteConfig(dir, c); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		st, err := rt.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			return false, nil
		}
		for _, cond := range st.Status.GetConditions() {
			if cond.Type == runtimeapi.NetworkReady {
				return cond.Status, nil
			}
		}
		return false, nil
	})
}

// IsNoRuntime reports whether err says no container runtime is installed.
func IsNoRuntime(err error) bool { return errors.Is(err, ErrNoRuntime) }
