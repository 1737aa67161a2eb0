package volume

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs on dir with the given data options (e.g. "size=1048576"),
// as the kubelet's `mount -t tmpfs -o <opts> tmpfs <dir>`.
func mountTmpfs(dir, opts string) error {
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent, the kubelet's
// IsLikelyNotMountPoint test (enough for the tmpfs mounts made here).
func isMountPoint(dir string) (bool, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	pst, err := os.Lstat(filepath.Dir(dir))
	if err != nil {
		return false, err
	}
	a, ok1 := st.Sys().(*syscall.Stat_t)
	b, ok2 := pst.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return false, errors.New("no device information")
	}
	return a.Dev != b.Dev, nil
}

// mountsUnder lists the mount points at or below dir from /proc/self/mountinfo, deepest
// first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space and so on) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts every mount at or below dir, deepest first, and fails if any
// remains. A mount that will not go is detached lazily.
func unmountAll(dir string, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	} else if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	mps, err := mountsUnder(abs)
	if err != nil {
		return fmt.Errorf("list mounts: %w", err)
	}
	for _, mp := range mps {
		if err := unix.Unmount(mp, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			log.Warn("unmount failed; detaching lazily", "path", mp, "err", err)
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	left, err := mountsUnder(abs)
	if err != nil {
		return fmt.Errorf("list mounts: %w", err)
	}
	if len(left) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
	}
	return nil
}
