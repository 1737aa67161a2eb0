package containerd

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

func TestRenderConfigGolden(t *testing.T) {
	c := Config{
		Dir:                "/var/lib/kijabi/agent/containerd",
		CNIConfDir:         "/var/lib/kijabi/agent/cni/net.d",
		CNIBinDirs:         []string{"/usr/lib/cni"},
		SandboxImage:       "kijabi.local/pause:3.10",
		InsecureRegistries: []string{"127.0.0.1:5000"},
	}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	golden(t, "config.toml", c.renderConfig("/usr/lib/cni", hostFacts{}))
	host, hosts := hostsTOML("127.0.0.1:5000")
	if host != "127.0.0.1:5000" {
		t.Errorf("host %q", host)
	}
	golden(t, "hosts.toml", hosts)
	_, tlsHosts := hostsTOML("https://registry.lan")
	if !strings.Contains(tlsHosts, `server = "https://registry.lan"`) || !strings.Contains(tlsHosts, "skip_verify = true") {
		t.Errorf("https insecure registry:\n%s", tlsHosts)
	}
}

func TestSetDefaults(t *testing.T) {
	c := Config{Dir: "/x"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.CNIConfDir != "/x/cni/net.d" || c.SandboxImage == "" || c.Log == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	long := Config{Dir: "/" + strings.Repeat("d", 90)}
	if err := long.setDefaults(); err == nil {
		t.Error("a socket path over 100 bytes was accepted")
	}
	if err := (&Config{}).setDefaults(); err == nil {
		t.Error("an empty Dir was accepted")
	}
	bad := Config{Dir: "/x", InsecureRegistries: []string{"http://host/path"}}
	if err := bad.setDefaults(); err == nil {
		t.Error("an insecure registry with a path was accepted")
	}
}

func TestCNIBinFarm(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []struct{ dir, name string }{{a, "bridge"}, {b, "bridge"}, {b, "portmap"}} {
		if err := os.WriteFile(filepath.Join(f.dir, f.name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := Config{Dir: t.TempDir(), CNIBinDirs: []string{a, b, filepath.Join(a, "missing")}}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	dir, err := c.prepareCNIBinDir()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"bridge": filepath.Join(a, "bridge"), "portmap": filepath.Join(b, "portmap")} {
		got, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", name, got, err, want)
		}
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(t.Context(), Config{Dir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start without containerd: %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "apt-get install containerd runc containernetworking-plugins") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error does not say in one line what to install: %q", err)
	}
}

func TestParseLogfmt(t *testing.T) {
	got := parseLogfmt(`time="2024-01-01T00:00:00Z" level=error msg="failed to \"x\"" error="boom: y"`)
	want := map[string]string{"time": "2024-01-01T00:00:00Z", "level": "error", "msg": `failed to "x"`, "error": "boom: y"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}
