package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"

	maxFileNameLength = 255
	maxPathLength     = 4096
)

// file is one file of an atomic-writer payload.
type file struct {
	data []byte
	mode int32
}

// atomicWriter writes payloads into dir with the kubelet's AtomicWriter layout (see the
// package documentation). It is not safe for concurrent use on one dir.
type atomicWriter struct {
	dir string
	log *slog.Logger
}

// write makes dir hold exactly payload (relative path → file). It reports whether
// anything changed: content, the set of paths, or the layout being created.
func (w *atomicWriter) write(payload map[string]file) (bool, error) {
	clean, err := validatePayload(payload)
	if err != nil {
		return false, err
	}
	dataDir := filepath.Join(w.dir, dataDirName)
	oldTsDir, err := os.Readlink(dataDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("read %s: %w", dataDir, err)
		}
		oldTsDir = ""
	}
	oldTsPath := filepath.Join(w.dir, oldTsDir)

	var remove map[string]bool
	should := true
	if oldTsDir != "" {
		if remove, err = pathsToRemove(clean, oldTsPath); err != nil {
			return false, err
		}
		if should, err = contentDiffers(clean, oldTsPath); err != nil {
			return false, err
		}
	}
	changed := should || len(remove) > 0
	if changed {
		tsDir, err := os.MkdirTemp(w.dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			return false, fmt.Errorf("create timestamped directory in %s: %w", w.dir, err)
		}
		if err := os.Chmod(tsDir, 0o755); err != nil {
			return false, fmt.Errorf("chmod %s: %w", tsDir, err)
		}
		if err := writePayload(clean, tsDir); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		tmpLink := filepath.Join(w.dir, newDataDirName)
		if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("remove stale %s: %w", tmpLink, err)
		}
		if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("create %s: %w", tmpLink, err)
		}
		// The swap: rename(2) replaces ..data atomically.
		if err := os.Rename(tmpLink, dataDir); err != nil {
			_ = os.Remove(tmpLink)
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("rename %s to %s: %w", tmpLink, dataDir, err)
		}
	}
	if err := w.createUserVisible(clean); err != nil {
		return changed, err
	}
	if err := w.removeUserVisible(remove); err != nil {
		return changed, err
	}
	if changed && oldTsDir != "" {
		if err := os.RemoveAll(oldTsPath); err != nil {
			return changed, fmt.Errorf("remove old data directory %s: %w", oldTsPath, err)
		}
	}
	return changed, nil
}

// validatePayload checks every path like the kubelet and returns the payload keyed by
// cleaned paths.
func validatePayload(payload map[string]file) (map[string]file, error) {
	clean := make(map[string]file, len(payload))
	for p, f := range payload {
		if err := validatePath(p); err != nil {
			return nil, err
		}
		clean[filepath.Clean(p)] = f
	}
	return clean, nil
}

func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if path.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// pathsToRemove returns the paths (files and directories, relative) in the old data
// directory that the new payload no longer has.
func pathsToRemove(payload map[string]file, oldTsPath string) (map[string]bool, error) {
	keep := map[string]bool{}
	for p := range payload {
		for q := p; q != "." && q != "/"; q = filepath.Dir(q) {
			keep[q] = true
		}
	}
	remove := map[string]bool{}
	err := filepath.WalkDir(oldTsPath, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(oldTsPath, p)
		if err != nil {
			return err
		}
		if rel != "." && !keep[rel] {
			remove[rel] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list old data directory %s: %w", oldTsPath, err)
	}
	return remove, nil
}

// contentDiffers reports whether any payload file is missing from the old data
// directory or has other content there. Like the kubelet, modes are not compared: they
// come from the pod spec, which cannot change.
func contentDiffers(payload map[string]file, oldTsPath string) (bool, error) {
	for p, f := range payload {
		old, err := os.ReadFile(filepath.Join(oldTsPath, p))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return true, nil
			}
			return false, fmt.Errorf("read %s: %w", filepath.Join(oldTsPath, p), err)
		}
		if !bytes.Equal(old, f.data) {
			return true, nil
		}
	}
	return false, nil
}

func writePayload(payload map[string]file, dir string) error {
	for p, f := range payload {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", full, err)
		}
		mode := fs.FileMode(f.mode) & fs.ModePerm
		if err := os.WriteFile(full, f.data, mode); err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
		// WriteFile's mode is subject to the umask; the spec's mode is not.
		if err := os.Chmod(full, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", full, err)
		}
	}
	return nil
}

// createUserVisible links each top-level name of the payload to ..data/name.
func (w *atomicWriter) createUserVisible(payload map[string]file) error {
	for p := range payload {
		top, _, _ := strings.Cut(p, "/")
		link := filepath.Join(w.dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", link, err)
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return fmt.Errorf("create symlink %s: %w", link, err)
		}
	}
	return nil
}

// removeUserVisible removes the top-level links of removed paths.
func (w *atomicWriter) removeUserVisible(paths map[string]bool) error {
	var errs []error
	for p := range paths {
		if strings.Contains(p, "/") {
			continue
		}
		if err := os.Remove(filepath.Join(w.dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", filepath.Join(w.dir, p), err))
		}
	}
	return errors.Join(errs...)
}
