package netpol

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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

// netNS is a network namespace made for one test, deleted (with its links) when the
// test ends.
type netNS struct {
	name, path string
}

func newNetNS(t testing.TB) *netNS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &netNS{name: "kjnp-" + hex.EncodeToString(b)}
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
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, text)
	}
}

// listTable returns `nft list table ip TABLE`, or "" when there is no such table.
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

func openNS(t testing.TB, ns *netNS) int {
	t.Helper()
	fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// normalize makes listings of equivalent tables comparable: the blocks (chains, sets)
// sorted, with their element lists sorted, whitespace trimmed.
func normalize(listing string) string {
	var blocks, cur []string
	depth := 0
	lines := strings.Split(listing, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "elements = {") {
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

// TestProgramMatchesRender checks that what the programmer writes through netlink is
// what nft makes of the rendering (which the golden files hold).
func TestProgramMatchesRender(t *testing.T) {
	requireRoot(t)
	pods, namespaces := world()
	for name, pols := range map[string][]*networkingv1.NetworkPolicy{"golden": goldenPolicies(), "empty": nil} {
		t.Run(name, func(t *testing.T) {
			nsA, nsB := newNetNS(t), newNetNS(t)
			prog, err := newProgrammer("kjnp-test", openNS(t, nsA))
			if err != nil {
				t.Fatal(err)
			}
			defer prog.close()
			rs := Build("kjnp-test", Compute(testNode, pods, namespaces, pols))
			if err := prog.apply(rs, true); err != nil {
				t.Fatal(err)
			}
			nsB.nftLoad(t, Render(rs))
			got, want := nsA.listTable(t, "kjnp-test"), nsB.listTable(t, "kjnp-test")
			if d := cmp.Diff(normalize(want), normalize(got)); d != "" {
				t.Fatalf("programmed table differs from nft -f of the rendering (-want +got):\n%s\nlisting:\n%s", d, got)
			}
		})
	}
}

// TestProgramIncremental checks that an update leaves the table as a fresh load of
// the new ruleset would, and rewrites only what changed.
func TestProgramIncremental(t *testing.T) {
	requireRoot(t)
	nsA := newNetNS(t)
	prog, err := newProgrammer("kjnp-test", openNS(t, nsA))
	if err != nil {
		t.Fatal(err)
	}
	defer prog.close()
	pods, namespaces := world()
	pols := goldenPolicies()
	first := Build("kjnp-test", Compute(testNode, pods, namespaces, pols))
	if err := prog.apply(first, true); err != nil {
		t.Fatal(err)
	}
	handles := func(chain string) string {
		return nsA.exec(t, "nft", "-a", "list", "chain", "ip", "kjnp-test", chain)
	}
	dbChain := "ingress-S3S2KSSB-prod/db"
	before := handles(dbChain)

	// prod/other becomes a client (joins peer sets, gets an egress chain), dev/client
	// goes away, a web policy is deleted, a pod with web's old address appears.
	var pods2 []*v1.Pod
	for _, p := range pods {
		switch {
		case p.Namespace == "prod" && p.Name == "other":
			p = mkPod("prod", "other", other, lbl("role", "client"))
		case p.Namespace == "dev" && p.Name == "client":
			continue
		case p.Namespace == "prod" && p.Name == "web":
			p = mkPod("prod", "web2", web, lbl("app", "web"), cport("http", "", 8081))
		}
		pods2 = append(pods2, p)
	}
	pols2 := slices.DeleteFunc(slices.Clone(pols), func(np *networkingv1.NetworkPolicy) bool { return np.Name == "client-egress" })
	pols2 = append(pols2, mkPolicy("prod", "clients-out", lbl("role", "client"), egressOnly, allowTo(peers(podPeer(lbl("app", "db"))))))
	for _, step := range []struct {
		name string
		rs   *Ruleset
	}{
		{"changes", Build("kjnp-test", Compute(testNode, pods2, namespaces, pols2))},
		{"back", first},
		{"no policies", Build("kjnp-test", Compute(testNode, pods, namespaces, nil))},
		{"policies again", first},
	} {
		if err := prog.apply(step.rs, false); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		nsB := newNetNS(t)
		nsB.nftLoad(t, Render(step.rs))
		if d := cmp.Diff(normalize(nsB.listTable(t, "kjnp-test")), normalize(nsA.listTable(t, "kjnp-test"))); d != "" {
			t.Fatalf("%s: table after an incremental update differs from a fresh load (-want +got):\n%s", step.name, d)
		}
		if step.name == "changes" {
			if after := handles(dbChain); after != before {
				t.Errorf("an unchanged chain was rewritten:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		}
	}
	if err := prog.deleteTable(); err != nil {
		t.Fatal(err)
	}
	if got := nsA.listTable(t, "kjnp-test"); got != "" {
		t.Fatalf("table still there after delete:\n%s", got)
	}
}
