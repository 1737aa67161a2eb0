package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/kubelet/envvars"
)

// MountOptions are the per-container-instance inputs of Mounts.
type MountOptions struct {
	// Env is the container's resolved environment, for subPathExpr.
	Env map[string]string
	// Attempt is the container's restart attempt; it names the termination-message
	// file (see TerminationMessagePath).
	Attempt uint32
	// RecursiveReadOnly says the runtime supports recursive read-only mounts (from
	// the CRI RuntimeStatus handler features).
	RecursiveReadOnly bool
}

// Mounts returns the CRI mounts for container c of pod: one per volumeMount, then the
// termination-message file when c.TerminationMessagePath is set (the file is created
// empty, mode 0666). Setup must have succeeded for the volumes c mounts.
//
// subPath and subPathExpr (expanded against opts.Env; a missing or empty variable is an
// error) are joined to the volume's directory; absolute paths and `..` are rejected, a
// missing sub-path is created as a directory with the volume directory's mode, and the
// result must resolve, symlinks followed, inside the volume.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, opts MountOptions) ([]*runtimeapi.Mount, error) {
	ps := m.state(pod.UID)
	ps.mu.Lock()
	defer ps.mu.Unlock()

	volumes := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		volumes[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var mounts []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		var hostPath string
		var mustRO bool
		if ok {
			var err error
			hostPath, mustRO, err = m.volumePath(pod, ps, v)
			if err != nil {
				return nil, fmt.Errorf("cannot find volume %q to mount into container %q: %w", vm.Name, c.Name, err)
			}
		} else {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}

		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if subPath, err = envvars.ExpandStrict(vm.SubPathExpr, opts.Env); err != nil {
				return nil, err
			}
		}
		if subPath != "" {
			p, err := m.prepareSubPath(hostPath, subPath, vm.Name, c.Name)
			if err != nil {
				return nil, err
			}
			hostPath = p
		}

		propagation, err := translatePropagation(vm.MountPropagation)
		if err != nil {
			return nil, err
		}
		rro, err := resolveRecursiveReadOnly(vm, opts.RecursiveReadOnly)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve recursive read-only mode: %w", err)
		}
		mounts = append(mounts, &runtimeapi.Mount{
			ContainerPath:     absPath(vm.MountPath),
			HostPath:          hostPath,
			Readonly:          vm.ReadOnly || mustRO,
			RecursiveReadOnly: rro,
			Propagation:       propagation,
		})
	}

	if c.TerminationMessagePath != "" {
		p := m.TerminationMessagePath(pod, c, opts.Attempt)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, fmt.Errorf("create termination-log directory %s: %w", filepath.Dir(p), err)
		}
		f, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("create termination-log file %s: %w", p, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("create termination-log file %s: %w", p, err)
		}
		// Create's mode is subject to the umask.
		if err := os.Chmod(p, 0o666); err != nil {
			return nil, fmt.Errorf("chmod termination-log file %s: %w", p, err)
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: absPath(c.TerminationMessagePath), HostPath: p})
	}
	return mounts, nil
}

// TerminationMessagePath is the host file mounted at c.terminationMessagePath for the
// given restart attempt: <Root>/<podUID>/containers/<name>/<attempt>. The kubelet reads
// the termination message from it after the container exits.
func (m *Manager) TerminationMessagePath(pod *corev1.Pod, c *corev1.Container, attempt uint32) string {
	return filepath.Join(m.PodDir(pod.UID), "containers", c.Name, strconv.FormatUint(uint64(attempt), 10))
}

// volumePath returns the host directory of v and whether it must be mounted read-only.
func (m *Manager) volumePath(pod *corev1.Pod, ps *podState, v *corev1.Volume) (string, bool, error) {
	var dir string
	var ro bool
	switch {
	case v.HostPath != nil:
		return v.HostPath.Path, false, nil
	case v.PersistentVolumeClaim != nil:
		p, ok := ps.claims[v.Name]
		if !ok {
			return "", false, errors.New("the claim has not been set up")
		}
		return p, v.PersistentVolumeClaim.ReadOnly, nil
	case v.EmptyDir != nil:
		dir = m.VolumeDir(pod.UID, KindEmptyDir, v.Name)
	case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
		kind, _ := writerKind(v)
		dir, ro = m.VolumeDir(pod.UID, kind, v.Name), true
	default:
		return "", false, errors.New("volume type is not supported by this kubelet")
	}
	if _, err := os.Stat(dir); err != nil {
		return "", false, fmt.Errorf("volume has not been set up: %w", err)
	}
	return dir, ro, nil
}

// prepareSubPath validates subPath, creates it when missing and returns the host path,
// symlinks resolved, after checking it stays inside volumePath.
func (m *Manager) prepareSubPath(volumePath, subPath, volName, container string) (string, error) {
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
	}
	if err := noBacksteps(filepath.ToSlash(subPath)); err != nil {
		return "", fmt.Errorf("unable to provision SubPath `%s`: %w", subPath, err)
	}
	base, err := filepath.EvalSymlinks(volumePath)
	if err != nil {
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", volName, container, err)
	}
	info, err := os.Stat(base)
	if err != nil {
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", volName, container, err)
	}
	if _, err := os.Stat(filepath.Join(base, subPath)); errors.Is(err, fs.ErrNotExist) {
		// Created now so it gets the volume's mode rather than the runtime's default.
		if err := safeMakeDir(base, subPath, info.Mode().Perm()); err != nil {
			m.log().Error("failed to create subPath directory", "volume", volName, "container", container, "err", err)
			return "", fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", volName, container)
		}
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(base, subPath))
	if err != nil || !within(base, resolved) {
		m.log().Error("subPath escapes its volume", "volume", volName, "container", container, "subPath", subPath, "resolved", resolved, "err", err)
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", volName, container)
	}
	return resolved, nil
}

// safeMakeDir creates the missing components of sub below base with perm, refusing to
// follow a symlink out of base on the way (a container may have planted one).
func safeMakeDir(base, sub string, perm fs.FileMode) error {
	cur := base
	for _, part := range strings.Split(filepath.Clean(sub), string(filepath.Separator)) {
		if part == "" || part == "." {
			continue
		}
		next := filepath.Join(cur, part)
		info, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(next, perm); err != nil {
				return err
			}
			if err := os.Chmod(next, perm); err != nil {
				return err
			}
			cur = next
		case err != nil:
			return err
		case info.Mode()&fs.ModeSymlink != 0:
			r, err := filepath.EvalSymlinks(next)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%s is a dangling symlink", next)
				}
				return err
			}
			if !within(base, r) {
				return fmt.Errorf("%s resolves to %s, outside %s", next, r, base)
			}
			cur = r
		default:
			cur = next
		}
	}
	return nil
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func absPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Clean("/" + p)
}

// translatePropagation maps a volumeMount's mountPropagation to CRI (private default).
func translatePropagation(mode *corev1.MountPropagationMode) (runtimeapi.MountPropagation, error) {
	switch {
	case mode == nil, *mode == corev1.MountPropagationNone:
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	case *mode == corev1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, nil
	case *mode == corev1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, nil
	}
	return 0, fmt.Errorf("invalid MountPropagation mode: %q", *mode)
}

// resolveRecursiveReadOnly is the kubelet's resolveRecursiveReadOnly.
func resolveRecursiveReadOnly(m corev1.VolumeMount, supported bool) (bool, error) {
	if m.RecursiveReadOnly == nil || *m.RecursiveReadOnly == corev1.RecursiveReadOnlyDisabled {
		return false, nil
	}
	if !m.ReadOnly {
		return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not read-only", m.Name)
	}
	if m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
		return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not compatible with propagation %q", m.Name, *m.MountPropagation)
	}
	switch *m.RecursiveReadOnly {
	case corev1.RecursiveReadOnlyIfPossible:
		return supported, nil
	case corev1.RecursiveReadOnlyEnabled:
		if !supported {
			return false, fmt.Errorf("volume %q requested recursive read-only mode, but it is not supported by the runtime", m.Name)
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown recursive read-only mode %q", *m.RecursiveReadOnly)
}
