package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kijabi/kijabi/internal/cri"
)

// reopenRuntime records ReopenContainerLog calls and recreates the log, as a runtime does.
type reopenRuntime struct {
	runtimeapi.RuntimeServiceClient
	path     string
	reopened []string
}

func (r *reopenRuntime) ReopenContainerLog(_ context.Context, req *runtimeapi.ReopenContainerLogRequest, _ ...grpc.CallOption) (*runtimeapi.ReopenContainerLogResponse, error) {
	r.reopened = append(r.reopened, req.ContainerId)
	return &runtimeapi.ReopenContainerLogResponse{}, os.WriteFile(r.path, nil, 0o640)
}

func TestRotateLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	rt := &reopenRuntime{path: path}
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	k := &Kubelet{cfg: Config{Runtime: &cri.Runtime{Runtime: rt}, Clock: clock}}
	big := []byte(strings.Repeat("x", containerLogMaxSize))
	for i := 0; i < 7; i++ {
		if err := os.WriteFile(path, big, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := k.rotateLog(context.Background(), "c1", path); err != nil {
			t.Fatal(err)
		}
		clock.Step(time.Second)
	}
	if len(rt.reopened) != 7 {
		t.Errorf("reopened %d times, want 7", len(rt.reopened))
	}
	rotated, _ := filepath.Glob(path + ".*")
	if len(rotated) != containerLogMaxFiles-1 {
		t.Errorf("kept %d rotated files, want %d: %v", len(rotated), containerLogMaxFiles-1, rotated)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("live log after rotation: %v, %v", fi, err)
	}
	// A small log is left alone.
	if err := os.WriteFile(path, []byte("small"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := k.rotateLog(context.Background(), "c1", path); err != nil || len(rt.reopened) != 7 {
		t.Errorf("small log rotated: %v", err)
	}
}
