// Package nfttest is the test harness of the components that program nftables
// (internal/network/proxy, internal/network/netpol): network namespaces made for a
// test, `nft` listings made comparable, and golden files.
//
// Tests that need namespaces call RequireRoot first: they are skipped unless run as
// root with the ip and nft commands.
package nfttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// RequireRoot skips the test unless it runs as root and has the ip and nft commands.
func RequireRoot(t testing.TB) {
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

// Run runs a command and returns its output; it fails the test if the command fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NetNS is a network namespace made for one test, deleted (with its links) when the
// test ends.
type NetNS struct {
	Name string // for `ip netns`
	Path string // the namespace file, /run/netns/NAME
}

// NewNetNS makes a namespace named prefix and a random suffix, with lo up.
func NewNetNS(t testing.TB, prefix string) *NetNS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &NetNS{Name: prefix + hex.EncodeToString(b)}
	ns.Path = "/run/netns/" + ns.Name
	Run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// IP runs `ip -n NAME args…`.
func (ns *NetNS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Exec runs a command in the namespace.
func (ns *NetNS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// NftLoad loads a ruleset in nft -f syntax.
func (ns *NetNS) NftLoad(t testing.TB, text string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, text)
	}
}

// ListTable returns `nft list table ip TABLE`, or "" when there is no such table.
func (ns *NetNS) ListTable(t testing.TB, table string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "list", "table", "ip", table)
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

// Do runs fn on a thread inside the namespace (sockets made there stay there).
func (ns *NetNS) Do(fn func() error) error {
	fd, closeNS, err := nft.OpenNetNS(ns.Path)
	if err != nil {
		return err
	}
	defer closeNS()
	return nft.InNetNS(fd, fn)
}

// Open opens the namespace file, for programmers that take a namespace's descriptor;
// it is closed when the test ends.
func (ns *NetNS) Open(t testing.TB) int {
	t.Helper()
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// Normalize makes listings of equivalent tables comparable: the blocks (chains, sets)
// sorted, with their element lists sorted, whitespace trimmed.
func Normalize(listing string) string {
	var blocks, cur []string
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
			var elems []string
			for _, e := range strings.Split(strings.TrimSuffix(strings.TrimSpace(body), "}"), ",") {
				if e = strings.TrimSpace(e); e != "" {
					elems = append(elems, e)
				}
			}
			slices.Sort(elems)
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
	slices.Sort(blocks)
	return strings.Join(blocks, "\n")
}

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Golden compares got with the file testdata/NAME, or writes it there when the test
// runs with -update.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, d)
	}
}
