package cni

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{PodCIDR: "10.244.1.0/24"}},
		{"full", Config{NetworkName: "test-net", Bridge: "kjtest7", PodCIDR: "10.213.7.0/24", IPAMDataDir: "/tmp/ipam", MTU: 1400}},
		{"dualstack", Config{PodCIDR: "10.244.2.0/24,fd00:10:244:2::/64", IPAMDataDir: "/var/lib/kijabi/agent/cni/ipam"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".conflist")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("conflist differs from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	for _, c := range []Config{
		{},
		{PodCIDR: "10.244.1.0"},
		{PodCIDR: "10.244.1.0/24", Bridge: "a-bridge-name-too-long"},
		{PodCIDR: "10.244.1.0/24,10.245.1.0/24"},
		{PodCIDR: "10.244.1.0/24", NetworkName: "a/b"},
		{PodCIDR: "10.244.1.0/24", MTU: -1},
	} {
		if _, err := Render(c); err == nil {
			t.Errorf("Render(%+v) succeeded, want an error", c)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	c := Config{NetworkName: "w", PodCIDR: "10.213.9.0/24", IPAMDataDir: filepath.Join(t.TempDir(), "ipam")}
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "10-w.conflist")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Rewriting the same config leaves the file alone (containerd reloads on changes).
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(st, st2) {
		t.Error("an identical config was rewritten")
	}
	c.PodCIDR = "10.213.10.0/24"
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "10.213.10.0/24") {
		t.Errorf("config not updated:\n%s", b)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("config dir has %d entries, want only the conflist (no temporary files)", len(entries))
	}
	if _, err := os.Stat(c.IPAMDataDir); err != nil {
		t.Errorf("IPAM data dir not created: %v", err)
	}
}
