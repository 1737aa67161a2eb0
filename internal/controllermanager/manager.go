package controllermanager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kijabi/kijabi/internal/controller/namespace"
)

// Config configures a controller manager.
type Config struct {
	// REST is the API server connection; the manager raises its rate limits for its clients.
	REST *rest.Config
	// Workers is the number of workers per controller (default 4).
	Workers int
	// LeaderElection makes the manager hold the kube-system/kube-controller-manager Lease
	// while it acts. Disable it only when a single manager can ever run.
	LeaderElection bool
	// Identity names this manager in the Lease (default hostname_uuid).
	Identity string
	Log      *slog.Logger
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
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	rc := rest.CopyConfig(cfg.REST)
	rc.QPS, rc.Burst = 500, 1000
	rc.UserAgent = "kijabi-controller-manager"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("controllermanager: client: %w", err)
	}
	if !cfg.LeaderElection {
		return runControllers(ctx, cfg, rc, client)
	}
	id := cfg.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = host + "_" + string(uuid.NewUUID())
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta("kube-system", "kube-controller-manager"),
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	errc := make(chan error, 1)
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            "kube-controller-manager",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				cfg.Log.Info("controller manager is the leader", "identity", id)
				errc <- runControllers(lctx, cfg, rc, client)
			},
			OnStoppedLeading: func() {
				cfg.Log.Info("controller manager lost leadership", "identity", id)
			},
		},
	})
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

func runControllers(ctx context.Context, cfg Config, rc *rest.Config, client kubernetes.Interface) error {
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("controllermanager: metadata client: %w", err)
	}
	disco := memory.NewMemCacheClient(client.Discovery())
	factory := informers.NewSharedInformerFactory(client, 0)
	controllers := map[string]controller{
		"namespace": namespace.New(client, meta, disco, factory.Core().V1().Namespaces()),
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
