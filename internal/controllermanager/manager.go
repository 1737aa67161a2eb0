package controllermanager

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/kijabi/kijabi/internal/controller/certificates"
	"github.com/kijabi/kijabi/internal/controller/clusterroleaggregation"
	"github.com/kijabi/kijabi/internal/controller/controllerutil"
	"github.com/kijabi/kijabi/internal/controller/cronjob"
	"github.com/kijabi/kijabi/internal/controller/daemonset"
	"github.com/kijabi/kijabi/internal/controller/deployment"
	"github.com/kijabi/kijabi/internal/controller/disruption"
	"github.com/kijabi/kijabi/internal/controller/endpoints"
	"github.com/kijabi/kijabi/internal/controller/endpointslice"
	"github.com/kijabi/kijabi/internal/controller/garbagecollector"
	"github.com/kijabi/kijabi/internal/controller/job"
	"github.com/kijabi/kijabi/internal/controller/namespace"
	"github.com/kijabi/kijabi/internal/controller/nodeipam"
	"github.com/kijabi/kijabi/internal/controller/nodelifecycle"
	"github.com/kijabi/kijabi/internal/controller/podautoscaler"
	"github.com/kijabi/kijabi/internal/controller/replicaset"
	"github.com/kijabi/kijabi/internal/controller/resourcequota"
	"github.com/kijabi/kijabi/internal/controller/serviceaccount"
	"github.com/kijabi/kijabi/internal/controller/servicelb"
	"github.com/kijabi/kijabi/internal/controller/statefulset"
	"github.com/kijabi/kijabi/internal/controller/volume"
	"github.com/kijabi/kijabi/internal/leader"
)

// Config configures a controller manager.
type Config struct {
	// REST is the API server connection; the manager raises its rate limits for its clients.
	REST *rest.Config
	// Workers is the number of workers per controller (default 4).
	Workers int
	// ClusterCIDR is the pod network that node IPAM cuts into one /24 per node (default
	// 10.244.0.0/16).
	ClusterCIDR *net.IPNet
	// NodeMonitorGracePeriod is how long a node may go without heartbeats before it is marked
	// unreachable (default 40s).
	NodeMonitorGracePeriod time.Duration
	// HPASyncPeriod is how often every HorizontalPodAutoscaler is looked at again (default
	// 15s, upstream's --horizontal-pod-autoscaler-sync-period).
	HPASyncPeriod time.Duration
	// JobPodFailureBackoff is how long the Job controller waits before recreating a pod
	// after its first failure, doubling per further failure (default 10s, as upstream).
	JobPodFailureBackoff time.Duration
	// LocalPathDir, when set, runs the built-in local-path provisioner (the default
	// StorageClass), keeping volumes in directories under it on the chosen node. NodeName is
	// the node this process runs on: directories of volumes on it are created and removed here.
	LocalPathDir, NodeName string
	// ServiceLBPool is where LoadBalancer Services get their addresses (see
	// servicelb.ParsePool); when empty they get the InternalIPs of the Ready nodes.
	ServiceLBPool servicelb.Pool
	// LeaderElection makes the manager hold the kube-system/kube-controller-manager Lease
	// while it acts. Disable it only when a single manager can ever run.
	LeaderElection bool
	// ClusterSigningCertFile and ClusterSigningKeyFile are the CA that signs approved
	// CertificateSigningRequests of the kubernetes.io signers (kube-controller-manager's
	// --cluster-signing-cert-file and --cluster-signing-key-file); unset, none is signed.
	// ClusterSigningDuration is the longest validity given (default 8760h, one year).
	ClusterSigningCertFile, ClusterSigningKeyFile string
	ClusterSigningDuration                        time.Duration
	// Informers, when set, is the informer factory the controllers read from instead of one
	// the manager makes. The manager registers its informers and handlers on it, then calls
	// Start(ctx.Done()), and calls Shutdown when its controllers stop (once per leader term).
	// A factory shared with other components must keep its informers running past that, and
	// let Shutdown drop only this manager's handlers (kijabi server passes such a factory).
	// Its client needs list and watch on every resource the controllers read.
	Informers informers.SharedInformerFactory
	Log       *slog.Logger
}

// controller is what every controller offers the manager.
type controller interface {
	Run(ctx context.Context, workers int)
}

// Run runs the controllers until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.NodeMonitorGracePeriod == 0 {
		cfg.NodeMonitorGracePeriod = 40 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	rc := rest.CopyConfig(cfg.REST)
	rc.QPS, rc.Burst = 500, 1000
	rc.UserAgent = "kijabi-controller-manager"
	client, err := kubernetes.NewForConfig(withProtobuf(rc))
	if err != nil {
		return fmt.Errorf("controllermanager: client: %w", err)
	}
	if !cfg.LeaderElection {
		return runControllers(ctx, cfg, rc, client)
	}
	var err2 error
	leader.Run(ctx, client, "kube-controller-manager", cfg.Log, func(lctx context.Context) {
		err2 = runControllers(lctx, cfg, rc, client)
	})
	if err2 != nil {
		return err2
	}
	return ctx.Err()
}

func runControllers(ctx context.Context, cfg Config, rc *rest.Config, client kubernetes.Interface) error {
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("controllermanager: metadata client: %w", err)
	}
	disco := memory.NewMemCacheClient(client.Discovery())
	factory := cfg.Informers
	if factory == nil {
		factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllerutil.StripManagedFields))
	}
	var jobOpts []job.Option
	if cfg.JobPodFailureBackoff > 0 {
		jobOpts = append(jobOpts, job.WithBackoff(cfg.JobPodFailureBackoff, job.MaxBackoff))
	}
	controllers := map[string]controller{
		"namespace":  namespace.New(client, meta, disco, factory.Core().V1().Namespaces()),
		"replicaset": replicaset.New(client, factory.Core().V1().Pods(), factory.Apps().V1().ReplicaSets()),
		"deployment": deployment.New(client, factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods()),
		"endpointslice": endpointslice.New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(),
			factory.Core().V1().Nodes(), factory.Discovery().V1().EndpointSlices()),
		"endpoints": endpoints.New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(), factory.Core().V1().Endpoints()),
		"serviceaccount": serviceaccount.New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts(),
			factory.Core().V1().ConfigMaps(), caBundle(rc)),
		"garbagecollector": garbagecollector.New(client, meta, disco),
		"job":              job.New(client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods(), jobOpts...),
		"cronjob":          cronjob.New(client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs()),
		"daemonset": daemonset.New(client, factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(),
			factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions()),
		"statefulset": statefulset.New(client, factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(),
			factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions()),
		"nodelifecycle": nodelifecycle.New(client, factory.Core().V1().Nodes(), factory.Coordination().V1().Leases(), factory.Core().V1().Pods(),
			nodelifecycle.WithGracePeriod(cfg.NodeMonitorGracePeriod)),
		"servicelb": servicelb.New(client, factory.Core().V1().Services(), factory.Core().V1().Nodes(),
			servicelb.WithPool(cfg.ServiceLBPool)),
	}
	controllers["clusterrole-aggregation"] = clusterroleaggregation.New(client, factory.Rbac().V1().ClusterRoles())
	metricsClient, err := metricsclient.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("controllermanager: metrics client: %w", err)
	}
	// Targets other than the built-in workloads (custom resources with a scale
	// subresource) are reached as upstream's controller reaches them: a polymorphic scale
	// client over a discovery-backed mapper.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(disco)
	scales, err := scale.NewForConfig(rest.CopyConfig(rc), mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disco))
	if err != nil {
		return fmt.Errorf("controllermanager: scale client: %w", err)
	}
	controllers["horizontalpodautoscaling"] = podautoscaler.New(client, metricsClient, factory.Autoscaling().V2().HorizontalPodAutoscalers(),
		factory.Core().V1().Pods(), podautoscaler.WithScales(scales, mapper), podautoscaler.WithSyncPeriod(cfg.HPASyncPeriod))
	controllers["disruption"] = disruption.New(client, factory.Policy().V1().PodDisruptionBudgets(), factory.Core().V1().Pods(),
		factory.Core().V1().ReplicationControllers(), factory.Apps().V1().ReplicaSets(), factory.Apps().V1().Deployments(),
		factory.Apps().V1().StatefulSets())
	controllers["resourcequota"] = resourcequota.New(client, factory.Core().V1().ResourceQuotas(), factory.Core().V1().Pods(),
		factory.Core().V1().Services(), factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().ConfigMaps(),
		factory.Core().V1().Secrets(), factory.Core().V1().ReplicationControllers(),
		resourcequota.WithCounter(resourcequota.MetadataCounter(meta, disco)))
	ipam, err := nodeipam.New(client, factory.Core().V1().Nodes(), cfg.ClusterCIDR, 24)
	if err != nil {
		return fmt.Errorf("controllermanager: node IPAM: %w", err)
	}
	controllers["nodeipam"] = ipam
	if cfg.ClusterSigningCertFile != "" || cfg.ClusterSigningKeyFile != "" {
		if cfg.ClusterSigningCertFile == "" || cfg.ClusterSigningKeyFile == "" {
			return fmt.Errorf("controllermanager: certificate signing needs both the CA certificate and its key")
		}
		ca, err := certificates.LoadCA(cfg.ClusterSigningCertFile, cfg.ClusterSigningKeyFile)
		if err != nil {
			return fmt.Errorf("controllermanager: %w", err)
		}
		controllers["csrsigning"] = certificates.New(client, factory.Certificates().V1().CertificateSigningRequests(), ca, cfg.ClusterSigningDuration)
	}
	controllers["persistentvolume-binder"] = volume.NewBinder(client, factory.Core().V1().PersistentVolumes(),
		factory.Core().V1().PersistentVolumeClaims(), factory.Storage().V1().StorageClasses(), factory.Core().V1().Pods())
	if cfg.LocalPathDir != "" {
		controllers["local-path-provisioner"] = volume.NewLocalPath(client, factory.Core().V1().PersistentVolumes(),
			factory.Core().V1().PersistentVolumeClaims(), factory.Storage().V1().StorageClasses(), factory.Core().V1().Nodes(),
			volume.LocalPathConfig{BaseDir: cfg.LocalPathDir, NodeName: cfg.NodeName})
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	done := make(chan struct{}, len(controllers))
	for name, c := range controllers {
		go func(name string, c controller) {
			defer func() { done <- struct{}{} }()
			cfg.Log.Debug("starting controller", "controller", name)
			c.Run(ctx, cfg.Workers)
		}(name, c)
	}
	<-ctx.Done()
	for range controllers {
		<-done
	}
	return nil
}

// caBundle is the cluster CA that the serviceaccount controller publishes in every namespace
// (kube-root-ca.crt).
func caBundle(rc *rest.Config) []byte {
	if len(rc.CAData) > 0 {
		return rc.CAData
	}
	if rc.CAFile != "" {
		if data, err := os.ReadFile(rc.CAFile); err == nil {
			return data
		}
	}
	return nil
}

// withProtobuf is rc for clients of built-in kinds, which travel as protobuf as with every
// Kubernetes component: cheaper to decode, and the API server sends stored objects as they
// are.
func withProtobuf(rc *rest.Config) *rest.Config {
	rc = rest.CopyConfig(rc)
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return rc
}
