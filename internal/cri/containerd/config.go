package containerd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kijabi/kijabi/internal/cri/image"
)

// ErrNotInstalled is wrapped by Start's error when containerd or runc is not on PATH.
var ErrNotInstalled = errors.New("install Debian's containerd, runc and containernetworking-plugins packages (apt-get install containerd runc containernetworking-plugins)")

// DefaultCNIBinDirs are where Debian (/usr/lib/cni) and upstream (/opt/cni/bin) install the
// CNI plugins; Start uses those that exist when Config.CNIBinDirs is empty.
var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// maxSocketPath keeps the socket path well below the kernel's 108-byte sun_path limit
// (containerd adds ".ttrpc" for its second socket).
const maxSocketPath = 100

// Config configures the embedded containerd.
type Config struct {
	// Dir is the root of everything containerd keeps: config.toml, root/, state/,
	// containerd.sock, containerd.log. Use DefaultDir(dataDir).
	Dir string
	// CNIConfDir is where the kubelet writes the CNI conflist (default Dir/cni/net.d).
	// containerd watches it and picks up a new config without a restart.
	CNIConfDir string
	// CNIBinDirs are searched for CNI plugin binaries, first match wins (default: those
	// of DefaultCNIBinDirs that exist).
	CNIBinDirs []string
	// SandboxImage is the pause image of every pod sandbox (default image.PauseImage).
	SandboxImage string
	// InsecureRegistries are registries ("host[:port]") reached over plain HTTP, or with
	// TLS verification off when written "https://host[:port]".
	InsecureRegistries []string
	// Log receives containerd's errors and kijabi's notes on the process (default
	// slog.Default()).
	Log *slog.Logger
}

// DefaultDir is the embedded containerd's directory under a kijabi data directory; the
// kubelet and `kijabi image` both use it.
func DefaultDir(dataDir string) string {
	return filepath.Join(dataDir, "agent", "containerd")
}

// SocketPath is the gRPC (and CRI) socket of the containerd whose directory is dir.
func SocketPath(dir string) string {
	return filepath.Join(dir, "containerd.sock")
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("containerd config: Dir is required")
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("containerd config: resolving Dir %s: %w", c.Dir, err)
	}
	c.Dir = dir
	if c.CNIConfDir == "" {
		c.CNIConfDir = filepath.Join(c.Dir, "cni", "net.d")
	}
	if c.CNIBinDirs == nil {
		for _, d := range DefaultCNIBinDirs {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				c.CNIBinDirs = append(c.CNIBinDirs, d)
			}
		}
	}
	if c.SandboxImage == "" {
		c.SandboxImage = image.PauseImage
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if n := len(SocketPath(c.Dir)); n >= maxSocketPath {
		return fmt.Errorf("containerd config: socket path %s is %d bytes, over the %d a unix socket allows: use a shorter Dir", SocketPath(c.Dir), n, maxSocketPath)
	}
	for _, r := range c.InsecureRegistries {
		if _, err := registryHost(r); err != nil {
			return err
		}
	}
	return nil
}

// registryHost validates an InsecureRegistries entry and returns its host[:port].
func registryHost(r string) (string, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(r, "http://"), "https://")
	if h == "" || strings.ContainsAny(h, "/ \"\\") {
		return "", fmt.Errorf("containerd config: insecure registry %q is not host[:port]", r)
	}
	if host, _, err := net.SplitHostPort(h); err == nil && host == "" {
		return "", fmt.Errorf("containerd config: insecure registry %q has no host", r)
	}
	return h, nil
}

// disabledPlugins are compiled into Debian's containerd but useless on a kijabi node;
// disabling them saves start time and log noise.
var disabledPlugins = []string{
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

// paths under Dir.
func (c *Config) configPath() string { return filepath.Join(c.Dir, "config.toml") }

// CrictlConfigPath is where Start writes a crictl configuration pointing at the containerd
// whose directory is dir, so that `crictl --config PATH ps` (or CRI_CONFIG_FILE=PATH)
// inspects the node's pods and containers as on any Kubernetes node.
func CrictlConfigPath(dir string) string { return filepath.Join(dir, "crictl.yaml") }

// renderCrictlConfig is crictl's configuration file for the CRI socket at sock.
func renderCrictlConfig(sock string) string {
	return "# Written by kijabi: crictl --config THIS-FILE ps\n" +
		"runtime-endpoint: unix://" + sock + "\n" +
		"image-endpoint: unix://" + sock + "\n" +
		"timeout: 10\n"
}
func (c *Config) logPath() string  { return filepath.Join(c.Dir, "containerd.log") }
func (c *Config) pidPath() string  { return filepath.Join(c.Dir, "containerd.pid") }
func (c *Config) certsDir() string { return filepath.Join(c.Dir, "certs.d") }
func (c *Config) stateDir() string { return filepath.Join(c.Dir, "state") }

// hostFacts are what the config depends on beyond Config.
type hostFacts struct {
	// restrictOOM: without CAP_SYS_RESOURCE (not root, or a container that drops it)
	// containers may only get an oom_score_adj at or above containerd's own; runc fails
	// to create them otherwise ("failed to update /proc/self/oom_score_adj").
	restrictOOM bool
	apparmor    bool // the kernel enforces AppArmor
}

func currentHost() hostFacts {
	return hostFacts{restrictOOM: !hasCapSysResource(), apparmor: appArmorEnabled()}
}

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/self/status CapEff.
const capSysResource = 24

func hasCapSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<capSysResource) != 0
		}
	}
	return false
}

// renderConfig returns containerd's version-2 config.toml; cniBinDir is the single
// directory the CRI plugin searches for plugins (containerd 1.6 takes only one).
func (c *Config) renderConfig(cniBinDir string, h hostFacts) string {
	var b strings.Builder
	q := tomlString
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by kijabi at every start; edits are lost.")
	w("version = 2")
	w("root = %s", q(filepath.Join(c.Dir, "root")))
	w("state = %s", q(c.stateDir()))
	w("oom_score = 0")
	quoted := make([]string, len(disabledPlugins))
	for i, p := range disabledPlugins {
		quoted[i] = q(p)
	}
	w("disabled_plugins = [%s]", strings.Join(quoted, ", "))
	w("")
	w("[grpc]")
	w("  address = %s", q(SocketPath(c.Dir)))
	w("")
	w("[ttrpc]")
	w("  address = %s", q(SocketPath(c.Dir)+".ttrpc"))
	w("")
	w("[debug]")
	w("  level = \"info\"")
	w("")
	w("[plugins]")
	w("  [plugins.\"io.containerd.internal.v1.opt\"]")
	w("    path = %s", q(filepath.Join(c.Dir, "opt")))
	w("  [plugins.\"io.containerd.grpc.v1.cri\"]")
	w("    sandbox_image = %s", q(c.SandboxImage))
	w("    stream_server_address = \"127.0.0.1\"")
	w("    stream_server_port = \"0\"")
	w("    enable_tls_streaming = false")
	w("    disable_tcp_service = true")
	w("    netns_mounts_under_state_dir = true")
	w("    restrict_oom_score_adj = %t", h.restrictOOM)
	w("    disable_apparmor = %t", !h.apparmor)
	w("    max_container_log_line_size = 16384")
	w("    [plugins.\"io.containerd.grpc.v1.cri\".containerd]")
	w("      snapshotter = \"overlayfs\"")
	w("      default_runtime_name = \"runc\"")
	w("      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]")
	w("        runtime_type = \"io.containerd.runc.v2\"")
	w("        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]")
	w("          SystemdCgroup = false")
	w("          Root = %s", q(filepath.Join(c.stateDir(), "runc")))
	w("    [plugins.\"io.containerd.grpc.v1.cri\".cni]")
	w("      bin_dir = %s", q(cniBinDir))
	w("      conf_dir = %s", q(c.CNIConfDir))
	w("      max_conf_num = 1")
	w("    [plugins.\"io.containerd.grpc.v1.cri\".registry]")
	w("      config_path = %s", q(c.certsDir()))
	return b.String()
}

// hostsTOML returns the certs.d/<host>/hosts.toml of one insecure registry.
func hostsTOML(entry string) (host, content string) {
	host, _ = registryHost(entry)
	url := "http://" + host
	tlsOff := ""
	if strings.HasPrefix(entry, "https://") {
		url = "https://" + host
		tlsOff = "  skip_verify = true\n"
	}
	return host, fmt.Sprintf("# Written by kijabi: %s is an insecure registry.\nserver = %s\n\n[host.%s]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n%s",
		host, tomlString(url), tomlString(url), tlsOff)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// prepareCNIBinDir returns the directory containerd searches for CNI plugins. containerd
// 1.6 takes a single bin_dir, so with several source directories it is a directory of
// symlinks under Dir, the first directory providing a plugin winning.
func (c *Config) prepareCNIBinDir() (string, error) {
	switch len(c.CNIBinDirs) {
	case 0:
		c.Log.Warn("no CNI plugin directory found: pods will not get a network; install containernetworking-plugins", "searched", DefaultCNIBinDirs)
		return DefaultCNIBinDirs[0], nil
	case 1:
		return c.CNIBinDirs[0], nil
	}
	farm := filepath.Join(c.Dir, "cni-bin")
	if err := os.RemoveAll(farm); err != nil {
		return "", fmt.Errorf("clearing CNI bin dir %s: %w", farm, err)
	}
	if err := os.MkdirAll(farm, 0o755); err != nil {
		return "", fmt.Errorf("creating CNI bin dir %s: %w", farm, err)
	}
	seen := map[string]bool{}
	for _, d := range c.CNIBinDirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("reading CNI bin dir %s: %w", d, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			src, err := filepath.Abs(filepath.Join(d, n))
			if err != nil {
				return "", fmt.Errorf("resolving CNI plugin %s: %w", n, err)
			}
			if err := os.Symlink(src, filepath.Join(farm, n)); err != nil {
				return "", fmt.Errorf("linking CNI plugin %s: %w", n, err)
			}
		}
	}
	return farm, nil
}

// writeRegistryHosts writes one certs.d/<host>/hosts.toml per insecure registry and
// removes those of registries no longer listed.
func (c *Config) writeRegistryHosts() error {
	dir := c.certsDir()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing registry hosts dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating registry hosts dir %s: %w", dir, err)
	}
	for _, r := range c.InsecureRegistries {
		host, content := hostsTOML(r)
		// containerd names a host:port directory with the port as is.
		hd := filepath.Join(dir, host)
		if err := os.MkdirAll(hd, 0o755); err != nil {
			return fmt.Errorf("creating registry hosts dir %s: %w", hd, err)
		}
		if err := writeFileAtomic(filepath.Join(hd, "hosts.toml"), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes through a temporary file in the same directory and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
