package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// Container log rotation, as the kubelet's defaults: a log over 10 MiB is renamed with a
// timestamp suffix and the runtime is asked to reopen it; at most 5 files per container
// are kept (the live one and 4 rotated).
const (
	containerLogMaxSize  = 10 << 20
	containerLogMaxFiles = 5
	logRotatePeriod      = 10 * time.Second
)

// rotateLogs checks every running container's log until ctx ends.
func (k *Kubelet) rotateLogs(ctx context.Context) {
	ticker := k.cfg.Clock.NewTicker(logRotatePeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
		cs, err := k.cfg.Runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
			State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
			LabelSelector: map[string]string{cri.LabelManagedBy: "true"},
		}})
		if err != nil {
			continue
		}
		for _, c := range cs.Containers {
			st, err := k.cfg.Runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
			if err != nil || st.Status == nil || st.Status.LogPath == "" {
				continue
			}
			if err := k.rotateLog(ctx, c.Id, st.Status.LogPath); err != nil {
				k.log.Warn("rotating container log", "container", c.Id, "err", err)
			}
		}
	}
}

// rotateLog rotates one container's log when it is over the size limit.
func (k *Kubelet) rotateLog(ctx context.Context, id, path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < containerLogMaxSize {
		return nil
	}
	rotated := path + "." + k.cfg.Clock.Now().UTC().Format("20060102-150405.000000")
	if err := os.Rename(path, rotated); err != nil {
		return err
	}
	if _, err := k.cfg.Runtime.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		// The runtime keeps writing to the renamed file: undo, and try again later.
		_ = os.Rename(rotated, path)
		return err
	}
	old, _ := filepath.Glob(path + ".*")
	sort.Strings(old) // timestamps sort in time order
	for len(old) > containerLogMaxFiles-1 {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return nil
}
