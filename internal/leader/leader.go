// Package leader runs a function only while this process holds a Lease, so that of several
// replicas of a component (scheduler, controller manager) exactly one acts at a time.
package leader

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Run calls lead with a context that ends when leadership is lost or ctx ends, and returns
// when ctx ends and lead has returned. The Lease is kube-system/name; it is released on a clean stop so that a
// successor takes over at once.
func Run(ctx context.Context, client kubernetes.Interface, name string, log *slog.Logger, lead func(ctx context.Context)) {
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	for ctx.Err() == nil {
		// lead runs in a goroutine of the elector; each round waits for it to return, so that
		// this process never acts twice at once and Run returns only when it has stopped.
		var mu sync.Mutex
		var running sync.WaitGroup
		stopped := false
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Name:            name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					mu.Lock()
					if stopped {
						mu.Unlock()
						return
					}
					running.Add(1)
					mu.Unlock()
					defer running.Done()
					log.Info("became the leader", "lease", name, "identity", id)
					lead(lctx)
				},
				OnStoppedLeading: func() {
					log.Info("stopped leading", "lease", name, "identity", id)
				},
			},
		})
		mu.Lock()
		stopped = true
		mu.Unlock()
		running.Wait()
	}
}
