package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netNS is a network namespace made for one test.
type netNS struct {
	name string
	path string
}

func newNetNS(t testing.TB) *netNS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &netNS{name: "kjp-" + hex.EncodeToString(b)}
	ns.path = "/run/netns/" + ns.name
	run(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	ns.ip(t, "link", "set", "lo", "up")
	return ns
}

func (ns *netNS) ip(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns.name}, args...)...)
}

func (ns *netNS) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// nftLoad loads a ruleset in nft -f syntax.
func (ns *netNS) nftLoad(t testing.TB, text string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
}

// listTable returns `nft list table`, or "" if the table does not exist.
func (ns *netNS) listTable(t testing.TB, table string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns.name, "nft", "list", "table", "ip", table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No such file") {
			return ""
		}
		t.Fatalf("nft list table %s: %v\n%s", table, err, stderr.String())
	}
	return string(out)
}

// do runs fn on a thread inside the namespace (sockets made there stay there).
func (ns *netNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(ns.path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// normalize makes two listings of equivalent tables comparable: blocks and map
// elements sorted, whitespace trimmed.
func normalize(listing string) string {
	var blocks []string
	var cur []string
	depth := 0
	lines := strings.Split(listing, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "elements = {") {
			// Gather the element list up to its closing brace.
			body := strings.TrimPrefix(l, "elements = {")
			for !strings.HasSuffix(strings.TrimSpace(body), "}") && i+1 < len(lines) {
				i++
				body += " " + strings.TrimSpace(lines[i])
			}
			body = strings.TrimSuffix(strings.TrimSpace(body), "}")
			var elems []string
			for _, e := range strings.Split(body, ",") {
				if e = strings.TrimSpace(e); e != "" {
					elems = append(elems, e)
				}
			}
			sort.Strings(elems)
			cur = append(cur, "elements = { "+strings.Join(elems, ", ")+" }")
			continue
		}
		if strings.HasSuffix(l, "{") {
			depth++
		}
		if l == "}" {
			depth--
		}
		if depth >= 1 && !(depth == 1 && strings.HasPrefix(l, "table ")) {
			cur = append(cur, l)
			if depth == 1 && l == "}" {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
		}
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "\n")
}

func openNS(t testing.TB, ns *netNS) int {
	t.Helper()
	fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}
