package server

import (
	"context"
	"log/slog"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
	"github.com/kijabi/kijabi/internal/leader"
	"github.com/kijabi/kijabi/internal/scheduler"
)

// RunScheduler runs the scheduler against the API server at rc until ctx ends, acting only
// while it holds the kube-scheduler Lease when leaderElect is set. It schedules the pods
// whose schedulerName is name ("" for the default scheduler's).
func RunScheduler(ctx context.Context, rc *rest.Config, name string, leaderElect bool, log *slog.Logger) error {
	return runScheduler(ctx, rc, name, leaderElect, nil, log)
}

// runScheduler is RunScheduler reading from shared's informers when shared is set, or from a
// factory of its own (per leader term) otherwise.
func runScheduler(ctx context.Context, rc *rest.Config, name string, leaderElect bool, shared informers.SharedInformerFactory, log *slog.Logger) error {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 2000, 4000
	rc.UserAgent = "kijabi-scheduler"
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeProtobuf, protobufOrJSON
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	run := func(ctx context.Context) {
		factory := shared
		if factory == nil {
			factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllerutil.StripManagedFields))
		}
		s, err := scheduler.New(scheduler.Config{Client: client, Informers: factory, SchedulerName: name, Log: log})
		if err != nil {
			log.Error("scheduler", "err", err)
			return
		}
		factory.Start(ctx.Done())
		defer factory.Shutdown()
		s.Run(ctx)
	}
	if !leaderElect {
		run(ctx)
		return nil
	}
	// A second scheduler holds a Lease of its own name.
	lease := "kube-scheduler"
	if name != "" && name != scheduler.DefaultSchedulerName {
		lease = name
	}
	leader.Run(ctx, client, lease, log, run)
	return nil
}
