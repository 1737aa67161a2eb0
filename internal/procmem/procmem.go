package procmem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mapping is one line of /proc/self/smaps with the fields we need.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rss, anon  int64 // KiB
}

// ReleaseStartupPages pages out this process's mappings of its executable's read-only
// pages (machine code and read-only data) and returns how many bytes were resident in them.
//
// A kijabi binary carries every component and the whole of kubectl; starting one runs
// initialisation code and reads tables spread over most of it, and Linux maps file pages
// around each fault (whole large folios on 6.x kernels: one touched byte can map megabytes),
// so after start nearly all of the binary counts in the process's RSS although a running
// component uses a small part of it. MADV_PAGEOUT drops those pages from the page cache
// unless another process maps them too, and MADV_DONTNEED unmaps what is left from this
// process (so that the other process's own pass can drop them); MADV_RANDOM turns readahead
// off for the mappings, so what the process still runs comes back a page at a time on its
// next use.
//
// Two things would otherwise bring most of it back at once. A large folio still in the page
// cache (read ahead by another process running the binary, kubectl for one) is mapped whole
// by the next fault, as one 2 MiB PMD when the mapping allows it: MADV_NOHUGEPAGE forbids the
// PMD. And MADV_PAGEOUT cannot drop dirty pages — those of a binary written moments ago, by an
// install or a build, and not yet written back — so the file is synced first: an installed
// binary is clean already, and then the sync costs nothing. (A server started right after
// `go build` kept ≈ 80 MiB of the binary resident after its first requests; synced, 20.)
// Writable mappings, and read-only ones holding private copies (relocations made read-only
// after loading), are left alone: dropping those would lose data.
func ReleaseStartupPages() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if f, err := os.Open(exe); err == nil {
		_ = f.Sync() // best effort: an unsynced file only pages out less
		f.Close()
	}
	maps, err := readSmaps()
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range maps {
		if m.path != exe || m.anon != 0 || (m.perms != "r-xp" && m.perms != "r--p") {
			continue
		}
		for _, advice := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_RANDOM, unix.MADV_PAGEOUT, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, advice); errno != 0 {
				return released, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
			}
		}
		released += m.rss << 10
	}
	return released, nil
}

func readSmaps() ([]mapping, error) {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") {
			if len(out) == 0 || len(fields) < 2 {
				continue
			}
			cur := &out[len(out)-1]
			v, _ := strconv.ParseInt(fields[1], 10, 64)
			switch fields[0] {
			case "Rss:":
				cur.rss = v
			case "Anonymous:":
				cur.anon = v
			}
			continue
		}
		// A mapping header: start-end perms offset dev inode [path].
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 5 {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Passes of TrimAfterStart, counted from its call: the first once start-up is behind the
// process, the second after the components it started have settled (informers synced,
// first reconciliations done).
var trimPasses = []time.Duration{2 * time.Second, 30 * time.Second}

// TrimAfterStart releases the executable's start-up pages (ReleaseStartupPages) in the
// background, twice, unless ctx ends first. Long-running kijabi commands call it once when
// they start.
func TrimAfterStart(ctx context.Context, log *slog.Logger) {
	go func() {
		start := time.Now()
		for _, at := range trimPasses {
			t := time.NewTimer(time.Until(start.Add(at)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			n, err := ReleaseStartupPages()
			if err != nil {
				log.Debug("Releasing the binary's start-up pages failed", "err", err)
				return
			}
			log.Debug("Released the binary's start-up pages", "MiB", n>>20)
		}
	}()
}
