package procmem

import (
	"os"
	"strings"
	"testing"
)

func rssFileKiB(t *testing.T) int64 {
	t.Helper()
	maps, err := readSmaps()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	var n int64
	for _, m := range maps {
		if m.path == exe {
			n += m.rss
		}
	}
	return n
}

// The test binary's own code and read-only data leave its RSS, and it goes on running
// (code paged out comes back when used) with its writable data intact.
func TestReleaseStartupPages(t *testing.T) {
	data := strings.Repeat("kijabi", 1000) // a heap value that must survive
	before := rssFileKiB(t)
	if before == 0 {
		t.Fatal("the test binary has no resident pages of its own executable: smaps not parsed")
	}
	released, err := ReleaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	if released <= 0 {
		t.Fatalf("released %d bytes of %d KiB resident", released, before)
	}
	// Everything below runs code and reads tables that were just paged out.
	maps, err := readSmaps()
	if err != nil || len(maps) == 0 {
		t.Fatalf("smaps after release: %d mappings, %v", len(maps), err)
	}
	if strings.Count(data, "kijabi") != 1000 {
		t.Fatal("heap data changed")
	}
	var writable bool
	exe, _ := os.Executable()
	for _, m := range maps {
		if m.path == exe && strings.HasPrefix(m.perms, "rw") {
			writable = true
		}
	}
	if !writable {
		t.Error("no writable mapping of the executable found: smaps parsing lost fields")
	}
}

func TestReadSmapsFields(t *testing.T) {
	maps, err := readSmaps()
	if err != nil {
		t.Fatal(err)
	}
	var anon bool
	for _, m := range maps {
		if m.end <= m.start {
			t.Fatalf("mapping %x-%x", m.start, m.end)
		}
		if m.anon > 0 {
			anon = true
		}
	}
	if !anon {
		t.Error("no mapping with anonymous pages: Anonymous: lines not read")
	}
}
