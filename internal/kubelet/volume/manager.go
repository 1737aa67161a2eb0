package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Directory names of the volume kinds, as the kubelet names its plugins' directories.
const (
	KindEmptyDir    = "kubernetes.io~empty-dir"
	KindConfigMap   = "kubernetes.io~configmap"
	KindSecret      = "kubernetes.io~secret"
	KindDownwardAPI = "kubernetes.io~downward-api"
	KindProjected   = "kubernetes.io~projected"
)

// Sources reads the API objects volumes are made of. Methods may be called concurrently.
// Not-found errors must satisfy apierrors.IsNotFound (optional sources rely on it).
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
	// ServiceAccountToken performs a TokenRequest for the service account (the
	// serviceaccounts/token subresource) and returns the server's answer.
	ServiceAccountToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// Manager sets up, refreshes and removes pods' volumes under Root. The zero value plus
// Root and Sources is ready to use; a Manager must not be copied after first use.
type Manager struct {
	// Root is the directory holding one directory per pod UID, e.g. <data>/agent/pods.
	Root string
	// Sources gives ConfigMaps, Secrets, claims, volumes and tokens.
	Sources Sources
	// Log receives warnings (e.g. a tmpfs that could not be mounted); nil means
	// slog.Default().
	Log *slog.Logger
	// Allocatable returns the node's allocatable resources, the default for unset
	// limits in downwardAPI resourceFieldRef items. Optional.
	Allocatable func() corev1.ResourceList
	// Clock decides when projected service account tokens are refreshed; nil means the
	// real clock.
	Clock clock.PassiveClock

	mu   sync.Mutex
	pods map[types.UID]*podState
}

// podState is what the manager remembers of a pod between calls.
type podState struct {
	mu sync.Mutex // serialises Setup, Refresh, Mounts and Cleanup of the pod
	// ready holds the volumes set up successfully by this process.
	ready map[string]bool
	// claims maps a persistentVolumeClaim volume to the directory it resolved to.
	claims map[string]string
	// tokens caches projected service account tokens by audience and lifetime.
	tokens map[string]*authenticationv1.TokenRequest
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

func (m *Manager) clock() clock.PassiveClock {
	if m.Clock != nil {
		return m.Clock
	}
	return clock.RealClock{}
}

func (m *Manager) state(uid types.UID) *podState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pods == nil {
		m.pods = map[types.UID]*podState{}
	}
	ps, ok := m.pods[uid]
	if !ok {
		ps = &podState{ready: map[string]bool{}, claims: map[string]string{}, tokens: map[string]*authenticationv1.TokenRequest{}}
		m.pods[uid] = ps
	}
	return ps
}

// PodDir is the directory holding everything of the pod with uid.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.Root, string(uid)) }

// VolumeDir is the directory the manager creates for a volume of the given kind.
func (m *Manager) VolumeDir(uid types.UID, kind, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", kind, name)
}

// Setup materialises every volume of pod; it is idempotent. A volume that fails does not
// stop the others; the error joins one error per failed volume, each reading like the
// kubelet's FailedMount event: `MountVolume.SetUp failed for volume "v" : <reason>`.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) error {
	if m.Root == "" {
		return errors.New("volume: Manager.Root is empty")
	}
	ps := m.state(pod.UID)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(m.PodDir(pod.UID), "volumes"), 0o750); err != nil {
		return fmt.Errorf("create volumes directory of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if ps.ready[v.Name] {
			continue
		}
		if err := m.setupVolume(ctx, pod, ps, v); err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err))
			continue
		}
		ps.ready[v.Name] = true
	}
	return errors.Join(errs...)
}

func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, ps *podState, v *corev1.Volume) error {
	switch {
	case v.EmptyDir != nil:
		dir := m.VolumeDir(pod.UID, KindEmptyDir, v.Name)
		if err := m.setupEmptyDir(dir, v.EmptyDir); err != nil {
			return err
		}
		return setOwnership(dir, fsGroup(pod), false)
	case v.HostPath != nil:
		return setupHostPath(v.HostPath)
	case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
		kind, memory := writerKind(v)
		dir := m.VolumeDir(pod.UID, kind, v.Name)
		if err := m.setupWriterDir(dir, memory); err != nil {
			return err
		}
		_, err := m.write(ctx, pod, ps, v, dir, true)
		return err
	case v.PersistentVolumeClaim != nil:
		path, err := m.setupClaim(ctx, pod, v.PersistentVolumeClaim)
		if err != nil {
			return err
		}
		ps.claims[v.Name] = path
		return nil
	case v.Ephemeral != nil:
		return errors.New("generic ephemeral volumes are not supported by this kubelet")
	case v.Image != nil:
		return errors.New("image volumes are not supported by this kubelet")
	}
	return errors.New("volume type is not supported by this kubelet")
}

// writerKind returns the directory kind of an atomic-writer volume and whether it lives
// on tmpfs (secrets and projected volumes, which may hold secrets and tokens).
func writerKind(v *corev1.Volume) (string, bool) {
	switch {
	case v.ConfigMap != nil:
		return KindConfigMap, false
	case v.Secret != nil:
		return KindSecret, true
	case v.DownwardAPI != nil:
		return KindDownwardAPI, false
	}
	return KindProjected, true
}

// setupWriterDir creates an atomic-writer volume's directory, on tmpfs when memory is
// set; a tmpfs that cannot be mounted is logged and the directory used on disk.
func (m *Manager) setupWriterDir(dir string, memory bool) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create volume directory %s: %w", dir, err)
	}
	if memory {
		mounted, err := isMountPoint(dir)
		if err != nil {
			return fmt.Errorf("check whether %s is a mount point: %w", dir, err)
		}
		if !mounted {
			if err := mountTmpfs(dir, ""); err != nil {
				m.log().Warn("could not mount tmpfs for secret volume; using a directory on disk", "dir", dir, "err", err)
			}
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("chmod volume directory %s: %w", dir, err)
	}
	return nil
}

// setupEmptyDir is the kubelet's emptyDir SetUp: a world-writable directory, on a tmpfs
// (sized by sizeLimit when set) for medium Memory.
func (m *Manager) setupEmptyDir(dir string, src *corev1.EmptyDirVolumeSource) error {
	switch src.Medium {
	case corev1.StorageMediumDefault, corev1.StorageMediumMemory:
	default:
		return fmt.Errorf("emptyDir medium %q is not supported by this kubelet", src.Medium)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("create emptyDir %s: %w", dir, err)
	}
	if src.Medium == corev1.StorageMediumMemory {
		mounted, err := isMountPoint(dir)
		if err != nil {
			return fmt.Errorf("check whether %s is a mount point: %w", dir, err)
		}
		if !mounted {
			opts := ""
			if src.SizeLimit != nil && !src.SizeLimit.IsZero() {
				opts = fmt.Sprintf("size=%d", src.SizeLimit.Value())
			}
			if err := mountTmpfs(dir, opts); err != nil {
				return fmt.Errorf("mount tmpfs for emptyDir at %s: %w", dir, err)
			}
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("chmod emptyDir %s: %w", dir, err)
	}
	return nil
}

// Refresh rewrites the configMap, secret, downwardAPI and projected volumes already set
// up whose content changed (including service account tokens due for renewal). changed
// reports whether any volume was rewritten. A failing volume keeps its old content and
// contributes to the joined error; the others are still refreshed.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) (changed bool, err error) {
	ps := m.state(pod.UID)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !ps.ready[v.Name] || (v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil) {
			continue
		}
		kind, _ := writerKind(v)
		c, err := m.write(ctx, pod, ps, v, m.VolumeDir(pod.UID, kind, v.Name), false)
		if err != nil {
			errs = append(errs, fmt.Errorf("refresh volume %q: %w", v.Name, err))
		}
		changed = changed || c
	}
	return changed, errors.Join(errs...)
}

// write builds the volume's payload and writes it atomically into dir.
func (m *Manager) write(ctx context.Context, pod *corev1.Pod, ps *podState, v *corev1.Volume, dir string, setup bool) (bool, error) {
	payload, err := m.payload(ctx, pod, ps, v)
	if err != nil {
		return false, err
	}
	changed, err := (&atomicWriter{dir: dir, log: m.log()}).write(payload)
	if err != nil {
		return changed, fmt.Errorf("write volume %s: %w", dir, err)
	}
	if changed || setup {
		if err := setOwnership(dir, fsGroup(pod), true); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// Cleanup unmounts what the manager mounted under the pod's directory and removes the
// directory. Nothing is removed while a mount remains beneath it. Removing a pod that
// has no directory is not an error.
func (m *Manager) Cleanup(podUID types.UID) error {
	ps := m.state(podUID)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	dir := m.PodDir(podUID)
	if err := unmountAll(dir, m.log()); err != nil {
		return fmt.Errorf("unmount volumes of pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove directory of pod %s: %w", podUID, err)
	}
	m.mu.Lock()
	delete(m.pods, podUID)
	m.mu.Unlock()
	return nil
}

// Orphans returns, sorted, the UIDs of the pod directories under Root whose pod is not
// in known.
func (m *Manager) Orphans(known map[types.UID]bool) []types.UID {
	entries, err := os.ReadDir(m.Root)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log().Warn("could not list pod directories", "root", m.Root, "err", err)
		}
		return nil
	}
	var out []types.UID
	for _, e := range entries {
		if e.IsDir() && !known[types.UID(e.Name())] {
			out = append(out, types.UID(e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func fsGroup(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	return pod.Spec.SecurityContext.FSGroup
}
