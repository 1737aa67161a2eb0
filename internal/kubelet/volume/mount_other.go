//go:build !linux

package volume

import (
	"errors"
	"log/slog"
)

var errNoMounts = errors.New("mounting is only supported on Linux")

func mountTmpfs(dir, opts string) error { return errNoMounts }

func isMountPoint(dir string) (bool, error) { return false, nil }

func unmountAll(dir string, log *slog.Logger) error { return nil }
