package volume

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// setOwnership is the kubelet's SetVolumeOwnership with fsGroupChangePolicy Always: every
// file and directory below dir gets group fsGroup and the group bits (rw, or r for
// read-only volumes); directories also get setgid and the execute bits. A nil fsGroup
// does nothing.
func setOwnership(dir string, fsGroup *int64, readOnly bool) error {
	if fsGroup == nil {
		return nil
	}
	mask := fs.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(*fsGroup)); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m := mask
		if d.IsDir() {
			m |= fs.ModeSetgid | 0o110
		}
		return os.Chmod(p, info.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)|m)
	})
	if err != nil {
		return fmt.Errorf("set fsGroup ownership of %s: %w", dir, err)
	}
	return nil
}
