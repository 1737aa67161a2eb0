package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// setupHostPath is the kubelet's hostPath SetUp: reject back-steps, then check (or
// create) the path according to its type.
func setupHostPath(src *corev1.HostPathVolumeSource) error {
	if err := noBacksteps(src.Path); err != nil {
		return fmt.Errorf("invalid HostPath `%s`: %w", src.Path, err)
	}
	if src.Type == nil || *src.Type == corev1.HostPathUnset {
		return nil
	}
	return checkHostPathType(src.Path, *src.Type)
}

func noBacksteps(p string) error {
	for _, item := range strings.Split(p, "/") {
		if item == ".." {
			return errors.New("must not contain '..'")
		}
	}
	return nil
}

// checkHostPathType is the kubelet's checkTypeInternal, with its messages.
func checkHostPathType(path string, t corev1.HostPathType) error {
	info, statErr := os.Stat(path)
	exists := statErr == nil
	mode := fs.FileMode(0)
	if exists {
		mode = info.Mode()
	}
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("create hostPath directory %s: %w", path, err)
			}
			return nil
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !exists || !mode.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("create hostPath file %s: %w", path, err)
			}
			return f.Close()
		}
		fallthrough
	case corev1.HostPathFile:
		if !exists || mode.Type()&(fs.ModeDir|fs.ModeSocket|fs.ModeCharDevice|fs.ModeDevice) != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case corev1.HostPathSocket:
		if !exists || mode&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", path)
		}
	case corev1.HostPathCharDev:
		if !exists || mode&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", path)
		}
	case corev1.HostPathBlockDev:
		if !exists || mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", path)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", t)
	}
	return nil
}

// setupClaim resolves a claim to its bound volume, checks it as the kubelet's volume
// manager does, and returns the directory to mount. hostPath and local volumes are
// supported (the local-path provisioner makes hostPath ones).
func (m *Manager) setupClaim(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource) (string, error) {
	wrap := func(err error) error {
		return fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, src.ClaimName, err)
	}
	if m.Sources == nil {
		return "", wrap(errors.New("no Sources to read claims from"))
	}
	pvc, err := m.Sources.PersistentVolumeClaim(ctx, pod.Namespace, src.ClaimName)
	if err != nil {
		return "", wrap(fmt.Errorf("failed to fetch PVC from API server: %w", err))
	}
	if pvc.DeletionTimestamp != nil {
		return "", wrap(errors.New("PVC is being deleted"))
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return "", wrap(errors.New("PVC is not bound"))
	}
	if pvc.Spec.VolumeName == "" {
		return "", wrap(errors.New("PVC has empty pvc.Spec.VolumeName"))
	}
	name := pvc.Spec.VolumeName
	pv, err := m.Sources.PersistentVolume(ctx, name)
	if err != nil {
		return "", wrap(fmt.Errorf("failed to fetch PV %s from API server: %w", name, err))
	}
	if pv.DeletionTimestamp != nil {
		return "", wrap(fmt.Errorf("can't start pod because PV %s is being deleted", name))
	}
	if pv.Spec.ClaimRef == nil {
		return "", wrap(fmt.Errorf("found PV object %s but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim", name))
	}
	if pv.Spec.ClaimRef.UID != pvc.UID {
		return "", wrap(fmt.Errorf("found PV object %s but its pv.Spec.ClaimRef.UID %s does not point to claim.UID %s", name, pv.Spec.ClaimRef.UID, pvc.UID))
	}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return "", wrap(fmt.Errorf("PV %s has volumeMode Block, which this kubelet does not support", name))
	}
	switch {
	case pv.Spec.HostPath != nil:
		if err := setupHostPath(pv.Spec.HostPath); err != nil {
			return "", err
		}
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		p := pv.Spec.Local.Path
		info, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("local volume %s: path %q: %w", name, p, err)
		}
		if !info.IsDir() {
			return "", fmt.Errorf("local volume %s: path %q is not a directory", name, p)
		}
		return p, nil
	}
	return "", fmt.Errorf("PV %s: only hostPath and local persistent volumes are supported by this kubelet", name)
}
