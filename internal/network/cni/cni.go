package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Defaults for Config.
const (
	DefaultNetworkName = "kijabi"
	DefaultBridge      = "kijabi0"
)

// Config describes the pod network of one node.
type Config struct {
	// NetworkName names the CNI network (default DefaultNetworkName); host-local keeps
	// its allocations under IPAMDataDir/NetworkName.
	NetworkName string
	// Bridge is the Linux bridge the pods are attached to (default DefaultBridge; at
	// most 15 characters).
	Bridge string
	// PodCIDR is the node's pod range, e.g. 10.244.1.0/24; "v4,v6" for dual stack. The
	// bridge takes its first address as the pods' gateway.
	PodCIDR string
	// IPAMDataDir is where host-local records allocated addresses (default
	// /var/lib/cni/networks); give every cluster on a host its own.
	IPAMDataDir string
	// MTU of the bridge and the pods' interfaces (0: the plugin's default, 1500).
	MTU int
	// NoMasquerade leaves out the bridge plugin's per-pod iptables masquerading, for a
	// node that masquerades its whole pod range itself (one rule instead of a chain per
	// pod, which makes sandboxes much cheaper to create).
	NoMasquerade bool
}

// FileName is the conflist WriteConfig writes in its directory for c.
func FileName(c Config) string {
	n := c.NetworkName
	if n == "" {
		n = DefaultNetworkName
	}
	return "10-" + n + ".conflist"
}

// conflist and its parts mirror the CNI configuration list format.
type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgePlugin struct {
	Type        string `json:"type"`
	Bridge      string `json:"bridge"`
	IsGateway   bool   `json:"isGateway"`
	IPMasq      bool   `json:"ipMasq"`
	HairpinMode bool   `json:"hairpinMode"`
	MTU         int    `json:"mtu,omitempty"`
	IPAM        ipam   `json:"ipam"`
}

type ipam struct {
	Type    string  `json:"type"`
	Ranges  [][]rng `json:"ranges"`
	Routes  []route `json:"routes"`
	DataDir string  `json:"dataDir,omitempty"`
}

type rng struct {
	Subnet string `json:"subnet"`
}

type route struct {
	Dst string `json:"dst"`
}

type portmapPlugin struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

// Render returns the conflist for c.
func Render(c Config) ([]byte, error) {
	if c.NetworkName == "" {
		c.NetworkName = DefaultNetworkName
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ \t\n:") {
		return nil, fmt.Errorf("CNI config: bridge name %q is not a valid interface name (at most 15 characters)", c.Bridge)
	}
	if strings.ContainsAny(c.NetworkName, "/ \t\n") {
		return nil, fmt.Errorf("CNI config: network name %q must not contain / or spaces", c.NetworkName)
	}
	if c.MTU < 0 || c.MTU > 65535 {
		return nil, fmt.Errorf("CNI config: MTU %d out of range", c.MTU)
	}
	if c.PodCIDR == "" {
		return nil, errors.New("CNI config: PodCIDR is required")
	}
	am := ipam{Type: "host-local", DataDir: c.IPAMDataDir}
	families := map[bool]bool{}
	for _, s := range strings.Split(c.PodCIDR, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("CNI config: pod CIDR %q: %w", s, err)
		}
		p = p.Masked()
		v4 := p.Addr().Is4()
		if families[v4] {
			return nil, fmt.Errorf("CNI config: pod CIDR %q has two ranges of one IP family", c.PodCIDR)
		}
		families[v4] = true
		am.Ranges = append(am.Ranges, []rng{{Subnet: p.String()}})
		if v4 {
			am.Routes = append(am.Routes, route{Dst: "0.0.0.0/0"})
		} else {
			am.Routes = append(am.Routes, route{Dst: "::/0"})
		}
	}
	l := conflist{
		CNIVersion: "1.0.0",
		Name:       c.NetworkName,
		Plugins: []any{
			bridgePlugin{Type: "bridge", Bridge: c.Bridge, IsGateway: true, IPMasq: !c.NoMasquerade, HairpinMode: true, MTU: c.MTU, IPAM: am},
			portmapPlugin{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}, SNAT: true},
		},
	}
	out, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("CNI config: encoding: %w", err)
	}
	return append(out, '\n'), nil
}

// WriteConfig writes c's conflist as dir/FileName(c), atomically, and leaves the file
// alone when it already holds the same (containerd reloads on every change). containerd
// reads only the first configuration in dir, by name: keep no other files there.
func WriteConfig(dir string, c Config) error {
	data, err := Render(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating CNI config dir %s: %w", dir, err)
	}
	if c.IPAMDataDir != "" {
		if err := os.MkdirAll(c.IPAMDataDir, 0o755); err != nil {
			return fmt.Errorf("creating CNI IPAM data dir %s: %w", c.IPAMDataDir, err)
		}
	}
	path := filepath.Join(dir, FileName(c))
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := os.CreateTemp(dir, ".cni-*.tmp")
	if err != nil {
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	return nil
}

// forwardingFiles are the sysctls that let the host route the pods' packets.
var forwardingFiles = []string{"/proc/sys/net/ipv4/ip_forward"}

// EnableForwarding turns on IPv4 forwarding (net.ipv4.ip_forward=1), which pods need to
// reach anything beyond their node. It needs root.
func EnableForwarding() error {
	for _, f := range forwardingFiles {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "1" {
			continue
		}
		if err := os.WriteFile(f, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enabling IP forwarding (%s): %w", f, err)
		}
	}
	return nil
}
