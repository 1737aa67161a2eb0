package server_test

// A real containerd for the end-to-end tests: the embedded one the node agent runs, with
// the built-in images.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/cri/image"
)

const (
	busyboxImage = image.BusyboxImage
	pauseImage   = image.PauseImage
)

// testRuntime is a containerd started for one test.
type testRuntime struct {
	*cri.Runtime
	dir string
}

// startContainerd starts containerd in its own directory with the built-in images, and
// stops it (after removing every sandbox) when the test ends.
func startContainerd(t *testing.T) *testRuntime {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containerd")
	}
	// Not t.TempDir: a short path for the socket, and leftovers of the runtime (mounts)
	// must not fail the test.
	dir, err := os.MkdirTemp("", "kubelet-ctd")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc, err := containerd.Start(context.Background(), containerd.Config{Dir: dir, SandboxImage: image.PauseImage})
	if err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	rt := &testRuntime{dir: dir}
	t.Cleanup(func() {
		if rt.Runtime != nil {
			rt.removeAll(t)
			rt.Close()
		}
		proc.Stop()
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	r, err := cri.Dial(ctx, proc.Endpoint(), 30*time.Second)
	if err != nil {
		t.Fatalf("containerd: %v", err)
	}
	rt.Runtime = r
	if err := image.EnsureBuiltins(ctx, r, proc.Address(), dir); err != nil {
		t.Fatalf("importing images: %v", err)
	}
	return rt
}

// testPod is a pod sandbox made through CRI with the kubelet's labels.
type testPod struct {
	namespace, name, uid string
	id                   string
	config               *runtimeapi.PodSandboxConfig
}

func (p *testPod) labels() map[string]string {
	return map[string]string{cri.LabelPodNamespace: p.namespace, cri.LabelPodName: p.name, cri.LabelPodUID: p.uid, cri.LabelManagedBy: "true"}
}

// runPod starts a sandbox in the host's network namespace (no CNI needed).
func (rt *testRuntime) runPod(t *testing.T, namespace, name, uid string) *testPod {
	t.Helper()
	p := &testPod{namespace: namespace, name: name, uid: uid}
	logDir := filepath.Join(rt.dir, "pods", namespace+"_"+name+"_"+uid)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.config = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		LogDirectory: logDir,
		Labels:       p.labels(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := rt.Runtime.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: p.config})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p.id = resp.PodSandboxId
	return p
}

// containerSpec is what startContainer runs.
type containerSpec struct {
	name       string
	command    []string
	attempt    uint32
	stdin, tty bool
}

// startContainer creates and starts a container in p, labelled as the kubelet does.
func (rt *testRuntime) startContainer(t *testing.T, p *testPod, c containerSpec) string {
	t.Helper()
	labels := p.labels()
	labels[cri.LabelContainerName] = c.name
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := rt.Runtime.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.id,
		Config: &runtimeapi.ContainerConfig{
			Metadata:    &runtimeapi.ContainerMetadata{Name: c.name, Attempt: c.attempt},
			Image:       &runtimeapi.ImageSpec{Image: busyboxImage},
			Command:     c.command,
			LogPath:     fmt.Sprintf("%s/%d.log", c.name, c.attempt),
			Labels:      labels,
			Annotations: map[string]string{cri.AnnotationRestartCount: strconv.Itoa(int(c.attempt))},
			Stdin:       c.stdin,
			Tty:         c.tty,
		},
		SandboxConfig: p.config,
	})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", c.name, err)
	}
	if _, err := rt.Runtime.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s: %v", c.name, err)
	}
	return resp.ContainerId
}

// waitExited waits for a container to exit.
func (rt *testRuntime) waitExited(t *testing.T, id string) {
	t.Helper()
	waitUntil(t, "container "+id+" to exit", func() bool {
		st, err := rt.Runtime.Runtime.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err == nil && st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
}

// removeAll stops and removes every sandbox (and so every container).
func (rt *testRuntime) removeAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := rt.Runtime.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Logf("listing sandboxes: %v", err)
		return
	}
	for _, sb := range list.Items {
		if _, err := rt.Runtime.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Logf("stopping sandbox %s: %v", sb.Id, err)
		}
		if _, err := rt.Runtime.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Logf("removing sandbox %s: %v", sb.Id, err)
		}
	}
}

// errorsAs is errors.As, for tests that import os/exec under its name.
func errorsAs(err error, target any) bool { return errors.As(err, target) }
