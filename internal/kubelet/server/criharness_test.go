package server_test

// A real containerd for the end-to-end tests, with a busybox image built here: test-only
// and minimal (internal/cri/containerd and internal/cri/image are the real ones).

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

const (
	busyboxImage = "kijabi.test/busybox:1"
	pauseImage   = "kijabi.test/pause:1"
)

// testRuntime is a containerd started for one test.
type testRuntime struct {
	*cri.Runtime
	dir string
}

// startContainerd starts containerd in its own directory, imports the busybox and pause
// images, and stops it (after removing every sandbox) when the test ends. It skips the
// test where containerd cannot run.
func startContainerd(t *testing.T) *testRuntime {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containerd")
	}
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox not installed")
	}
	// Not t.TempDir: a short path for the socket, and leftovers of the runtime (mounts)
	// must not fail the test.
	dir, err := os.MkdirTemp("", "kubelet-ctd")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Lowering oom_score_adj (the sandbox asks for -998) needs CAP_SYS_RESOURCE, which
  # some CI machines withhold.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, pauseImage, filepath.Join(dir, "cni"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	rt := &testRuntime{dir: dir}
	t.Cleanup(func() {
		if rt.Runtime != nil {
			rt.removeAll(t)
			rt.Close()
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			if data, err := os.ReadFile(logFile.Name()); err == nil && len(data) > 0 {
				t.Logf("containerd log (tail):\n%s", tail(data, 4000))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := cri.Dial(ctx, sock, 30*time.Second)
	if err != nil {
		t.Fatalf("containerd: %v", err)
	}
	rt.Runtime = r
	images := filepath.Join(dir, "images.tar")
	writeImages(t, images)
	if out, err := exec.Command("ctr", "--address", sock, "-n", "k8s.io", "images", "import", images).CombinedOutput(); err != nil {
		t.Fatalf("importing images: %v\n%s", err, out)
	}
	return rt
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// writeImages writes a docker-archive with the busybox image (/bin/busybox and a few
// applet links) and the pause image (the same, sleeping).
func writeImages(t *testing.T, path string) {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "tmp/", "dest/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox))})
	tw.Write(busybox)
	for _, applet := range []string{"sh", "cat", "echo", "sleep", "tar", "ls", "stty", "mkdir", "printf", "seq"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	image := func(entrypoint ...string) v1.Image {
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
		cf.Config.Entrypoint = entrypoint
		cf.Config.Env = []string{"PATH=/bin"}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	refs := map[name.Reference]v1.Image{}
	for ref, img := range map[string]v1.Image{busyboxImage: image("/bin/sh"), pauseImage: image("/bin/sleep", "2147483647")} {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = img
	}
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		t.Fatalf("writing images: %v", err)
	}
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
