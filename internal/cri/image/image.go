package image

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// The built-in images, made locally from busybox by EnsureBuiltins.
const (
	// PauseImage is the sandbox image: busybox's shell as PID 1, sleeping until it is
	// told to stop (SIGTERM or SIGINT end it at once) and reaping orphaned processes.
	PauseImage = "kijabi.local/pause:3.10"
	// BusyboxImage has every busybox applet; it runs sh.
	BusyboxImage = "kijabi.local/busybox:latest"
)

// K8sNamespace is the containerd namespace the CRI plugin works in.
const K8sNamespace = "k8s.io"

// pauseScript keeps the sandbox alive. A bare `sleep` as PID 1 would ignore SIGTERM (the
// kernel drops signals PID 1 has no handler for) and never reap zombies of pods sharing
// their process namespace; ash with a trap does both, waiting in `wait`, which reaps.
const pauseScript = `trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`

// Builtins returns the built-in images by reference.
func Builtins() (map[string]v1.Image, error) {
	pause, err := Build(Spec{
		Entrypoint: []string{"/bin/sh", "-c", pauseScript},
		Labels:     map[string]string{"io.kijabi.image": "pause"},
	})
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", PauseImage, err)
	}
	bb, err := Build(Spec{
		Cmd:    []string{"sh"},
		Labels: map[string]string{"io.kijabi.image": "busybox"},
	})
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", BusyboxImage, err)
	}
	return map[string]v1.Image{PauseImage: pause, BusyboxImage: bb}, nil
}

// WriteTarball writes img tagged ref as a docker-archive tarball (what `docker save`
// writes and containerd imports). The file appears atomically.
func WriteTarball(path, ref string, img v1.Image) error {
	return WriteTarballs(path, map[string]v1.Image{ref: img})
}

// WriteTarballs writes several images into one docker-archive tarball; layers they share
// are stored once.
func WriteTarballs(path string, imgs map[string]v1.Image) error {
	refs := make(map[name.Reference]v1.Image, len(imgs))
	for r, img := range imgs {
		ref, err := name.ParseReference(r)
		if err != nil {
			return fmt.Errorf("writing image tarball: parsing reference %q: %w", r, err)
		}
		refs[ref] = img
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing image tarball %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		f.Close()
		return fmt.Errorf("writing image tarball %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing image tarball %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("writing image tarball %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing image tarball %s: %w", path, err)
	}
	return nil
}

// Import loads a tarball (docker-archive, or an OCI layout tar whose references are
// full names) into containerd's k8s.io namespace and unpacks it for the overlayfs
// snapshotter, so that CRI can run it at once. address is containerd's socket.
func Import(ctx context.Context, address, tarPath string) error {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return fmt.Errorf("importing %s: ctr not found: install Debian's containerd package (apt-get install containerd): %w", tarPath, err)
	}
	if _, err := os.Stat(tarPath); err != nil {
		return fmt.Errorf("importing image tarball: %w", err)
	}
	cmd := exec.CommandContext(ctx, ctr, "--address", address, "--namespace", K8sNamespace,
		"images", "import", "--snapshotter", "overlayfs", tarPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("importing %s into containerd at %s (ctr images import): %w: %s", tarPath, address, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// EnsureBuiltins makes the built-in images present in the runtime: each one CRI does not
// have, or has with another ID (busybox was upgraded), is built, written to a tarball in
// workDir and imported. It returns once CRI reports them all.
func EnsureBuiltins(ctx context.Context, rt *cri.Runtime, address, workDir string) error {
	// The busybox layer is cached while the built-in images are built from it; a node
	// needs it only now, so it is not kept (≈ 6 MiB of the agent's heap).
	defer forgetBase()
	imgs, err := Builtins()
	if err != nil {
		return err
	}
	missing := map[string]v1.Image{}
	want := map[string]string{}
	for ref, img := range imgs {
		id, err := img.ConfigName()
		if err != nil {
			return fmt.Errorf("computing the ID of %s: %w", ref, err)
		}
		want[ref] = id.String()
		have, err := imageID(ctx, rt, ref)
		if err != nil {
			return err
		}
		if have != want[ref] {
			missing[ref] = img
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("creating image work dir %s: %w", workDir, err)
	}
	tar := filepath.Join(workDir, "kijabi-builtin-images.tar")
	if err := WriteTarballs(tar, missing); err != nil {
		return err
	}
	defer os.Remove(tar)
	if err := Import(ctx, address, tar); err != nil {
		return err
	}
	// The CRI plugin learns of imported images from containerd's events: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for ref := range missing {
		for {
			have, err := imageID(ctx, rt, ref)
			if err != nil {
				return err
			}
			if have == want[ref] {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("imported %s but CRI reports image %q instead of %s", ref, have, want[ref])
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for CRI to see %s: %w", ref, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
		slog.Debug("built-in image imported", "image", ref, "id", want[ref])
	}
	return nil
}

// imageID is the ID CRI reports for ref, "" when it has no such image.
func imageID(ctx context.Context, rt *cri.Runtime, ref string) (string, error) {
	resp, err := rt.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil {
		return "", fmt.Errorf("image status of %s: %w", ref, err)
	}
	if resp.GetImage() == nil {
		return "", nil
	}
	return resp.GetImage().GetId(), nil
}
