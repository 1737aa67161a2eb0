package containerd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/cri/image"
	"github.com/kijabi/kijabi/internal/network/cni"
	"github.com/kijabi/kijabi/internal/testserver/registry"
)

// requireHost skips unless the test can run real containers: root and the Debian packages.
func requireHost(t *testing.T, bins ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	for _, b := range append([]string{"containerd", "ctr", "runc", "iptables"}, bins...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed: %v", b, err)
		}
	}
	if _, err := os.Stat(image.DefaultBusybox); err != nil {
		t.Skip("busybox-static not installed")
	}
}

// testNet is one test's private pod network.
type testNet struct {
	name, bridge string
	subnet       netip.Prefix
}

// newTestNet picks a network name, bridge and 10.213.x.0/24 subnet no other test process
// on this host uses: x comes from the pid and is skipped while a bridge holds it.
func newTestNet(t *testing.T) testNet {
	t.Helper()
	for i := range 200 {
		x := (os.Getpid() + i) % 200
		n := testNet{
			name:   fmt.Sprintf("kjtest-%d", x),
			bridge: fmt.Sprintf("kjt%d", x),
			subnet: netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", 20+x)),
		}
		if _, err := net.InterfaceByName(n.bridge); err == nil {
			continue
		}
		t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", n.bridge).Run() })
		return n
	}
	t.Fatal("no free test network")
	return testNet{}
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shimsOf lists the pids of containerd shims serving the containerd at address.
func shimsOf(address string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for _, a := range args {
			if a == address {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func poll(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestRuntime runs the embedded containerd for real: built-in images, a pod with a
// network, logs, exec, a containerd restart under a running pod, a pull from a
// password-protected registry, and a clean shutdown.
func TestRuntime(t *testing.T) {
	requireHost(t, "docker-registry", "ip")
	ctx := t.Context()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	reg := registry.Start(t)
	tn := newTestNet(t)
	if err := cni.EnableForwarding(); err != nil {
		t.Fatal(err)
	}
	ccfg := containerd.Config{
		Dir:                filepath.Join(dir, "ctrd"),
		CNIConfDir:         filepath.Join(dir, "net.d"),
		InsecureRegistries: []string{reg.Addr},
		Log:                log,
	}
	if err := cni.WriteConfig(ccfg.CNIConfDir, cni.Config{NetworkName: tn.name, Bridge: tn.bridge, PodCIDR: tn.subnet.String(), IPAMDataDir: filepath.Join(dir, "ipam"), MTU: 1400}); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	proc, err := containerd.Start(ctx, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			proc.Stop()
		}
	})
	t.Logf("containerd started in %v, pid %d, RSS %d KiB", time.Since(begin).Round(time.Millisecond), proc.PID(), rssKiB(proc.PID()))

	rt, err := cri.Dial(ctx, proc.Endpoint(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	begin = time.Now()
	if err := image.EnsureBuiltins(ctx, rt, proc.Address(), filepath.Join(dir, "work")); err != nil {
		t.Fatal(err)
	}
	t.Logf("EnsureBuiltins (build + import): %v", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	if err := image.EnsureBuiltins(ctx, rt, proc.Address(), filepath.Join(dir, "work")); err != nil {
		t.Fatal(err)
	}
	t.Logf("EnsureBuiltins (already present): %v", time.Since(begin).Round(time.Millisecond))

	poll(t, 20*time.Second, "CRI network ready", func(ctx context.Context) (bool, error) {
		st, err := rt.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			return false, err
		}
		for _, c := range st.GetStatus().GetConditions() {
			if c.Type == runtimeapi.NetworkReady {
				return c.Status, nil
			}
		}
		return false, nil
	})

	t.Run("pod", func(t *testing.T) { testPod(t, rt, proc, tn, dir) })
	t.Run("pull", func(t *testing.T) { testPull(t, rt, reg) })

	t.Logf("containerd RSS after the tests: %d KiB", rssKiB(proc.PID()))
	begin = time.Now()
	proc.Stop()
	stopped = true
	t.Logf("containerd stopped in %v", time.Since(begin).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(ccfg.Dir, "containerd.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left after Stop: %v", err)
	}
	if pids := shimsOf(proc.Address()); len(pids) > 0 {
		t.Errorf("containerd shims left running: %v", pids)
	}
	netns, _ := os.ReadDir(filepath.Join(ccfg.Dir, "state", "netns"))
	if len(netns) > 0 {
		t.Errorf("network namespaces left: %v", netns)
	}
}

func testPod(t *testing.T, rt *cri.Runtime, proc *containerd.Process, tn testNet, dir string) {
	ctx := t.Context()
	logDir := filepath.Join(dir, "pods", "p1")
	sbConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p1", Namespace: "default", Uid: "uid-p1", Attempt: 0},
		Hostname:     "kjpod",
		LogDirectory: logDir,
		Labels:       map[string]string{cri.LabelManagedBy: "true"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD},
			},
		},
	}
	begin := time.Now()
	sb, err := rt.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbConfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RunPodSandbox: %v", time.Since(begin).Round(time.Millisecond))
	sbID := sb.PodSandboxId
	removed := false
	t.Cleanup(func() {
		if !removed {
			_, _ = rt.Runtime.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: sbID})
			_, _ = rt.Runtime.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sbID})
		}
	})
	st, err := rt.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sbID})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(st.GetStatus().GetNetwork().GetIp())
	if err != nil || !tn.subnet.Contains(ip) {
		t.Fatalf("sandbox IP %q (%v), want one in %s", st.GetStatus().GetNetwork().GetIp(), err, tn.subnet)
	}

	ctrConfig := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "main", Attempt: 0},
		Image:    &runtimeapi.ImageSpec{Image: image.BusyboxImage},
		Command:  []string{"sh", "-c", "echo hi; sleep 3600"},
		LogPath:  "main/0.log",
		Labels:   map[string]string{cri.LabelManagedBy: "true"},
	}
	begin = time.Now()
	c, err := rt.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, Config: ctrConfig, SandboxConfig: sbConfig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	t.Logf("CreateContainer+StartContainer: %v", time.Since(begin).Round(time.Millisecond))

	logPath := filepath.Join(logDir, "main", "0.log")
	var logLine string
	poll(t, 10*time.Second, "container log", func(context.Context) (bool, error) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return false, nil
		}
		// CRI format: RFC3339Nano timestamp, stream, P(artial) or F(ull), content.
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, " ", 4)
			if len(f) == 4 && f[1] == "stdout" && f[2] == "F" && f[3] == "hi" {
				logLine = line
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("log line: %q", logLine)

	exec := func() {
		t.Helper()
		r, err := rt.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"hostname"}, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(r.Stdout)); got != "kjpod" || r.ExitCode != 0 {
			t.Errorf("ExecSync hostname: %q exit %d, stderr %q", got, r.ExitCode, r.Stderr)
		}
	}
	exec()

	// The streaming server: a URL the kubelet's server proxies to.
	ex, err := rt.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: c.ContainerId, Cmd: []string{"sh"}, Stdin: true, Stdout: true, Stderr: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Exec streaming URL: %s", ex.Url)
	if strings.Contains(ex.Url, ":0/") {
		t.Errorf("streaming URL %s has port 0", ex.Url)
	}

	// containerd dies: the supervisor restarts it and the running pod is adopted.
	oldPID := proc.PID()
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	poll(t, 20*time.Second, "containerd restart", func(ctx context.Context) (bool, error) {
		if proc.Restarts() < 1 || proc.PID() == 0 {
			return false, nil
		}
		_, err := rt.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		return err == nil, nil
	})
	t.Logf("containerd restarted after SIGKILL in %v (backoff 1s included)", time.Since(begin).Round(time.Millisecond))
	exec()

	begin = time.Now()
	if _, err := rt.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	t.Logf("StopContainer+RemoveContainer: %v", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	if _, err := rt.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sbID}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("StopPodSandbox took %v: the pause container does not stop promptly", d)
	} else {
		t.Logf("StopPodSandbox: %v", d.Round(time.Millisecond))
	}
	if _, err := rt.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sbID}); err != nil {
		t.Fatal(err)
	}
	removed = true
	if pids := shimsOf(proc.Address()); len(pids) > 0 {
		t.Errorf("shims left after the pod was removed: %v", pids)
	}
	// host-local released the address.
	leases, _ := os.ReadDir(filepath.Join(dir, "ipam", tn.name))
	for _, l := range leases {
		if _, err := netip.ParseAddr(l.Name()); err == nil {
			t.Errorf("IP %s still allocated", l.Name())
		}
	}
}

func testPull(t *testing.T, rt *cri.Runtime, reg registry.Registry) {
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("hello from the registry\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := image.Build(image.Spec{Files: []image.File{{Src: src, Dest: "/hello.txt"}}, Cmd: []string{"cat", "/hello.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Push(t, "test/hello:v1", img)
	if _, err := rt.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err == nil {
		t.Error("pulling without credentials succeeded")
	}
	begin := time.Now()
	resp, err := rt.Images.PullImage(ctx, &runtimeapi.PullImageRequest{
		Image: &runtimeapi.ImageSpec{Image: ref},
		Auth:  &runtimeapi.AuthConfig{Username: reg.User, Password: reg.Password},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PullImage with basic auth: %v", time.Since(begin).Round(time.Millisecond))
	want, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if resp.ImageRef != want.String() {
		t.Errorf("pulled image ref %s, want %s", resp.ImageRef, want)
	}
	st, err := rt.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil || st.GetImage() == nil {
		t.Fatalf("image status after the pull: %v, %v", st, err)
	}
	if _, err := rt.Images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Error(err)
	}
}

// TestStaleContainerd: a containerd left running on Dir by a kijabi that died is stopped
// by the next Start, which then runs its own.
func TestStaleContainerd(t *testing.T) {
	requireHost(t)
	cfg := containerd.Config{Dir: filepath.Join(t.TempDir(), "c"), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	p, err := containerd.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	// An orphan, as if started by a kijabi killed with SIGKILL.
	orphan := exec.Command("containerd", "--config", filepath.Join(p.Dir(), "config.toml"))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	orphanDone := make(chan struct{})
	go func() { _ = orphan.Wait(); close(orphanDone) }()
	t.Cleanup(func() { _ = orphan.Process.Kill(); <-orphanDone })
	if err := os.WriteFile(filepath.Join(p.Dir(), "containerd.pid"), []byte(strconv.Itoa(orphan.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "orphan containerd serving", func(context.Context) (bool, error) {
		_, err := os.Stat(p.Endpoint())
		return err == nil, nil
	})
	p2, err := containerd.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Stop()
	poll(t, 5*time.Second, "orphan containerd reaped", func(context.Context) (bool, error) {
		select {
		case <-orphanDone:
			return true, nil
		default:
			return false, nil
		}
	})
	if p2.PID() == orphan.Process.Pid || p2.PID() == 0 {
		t.Errorf("new containerd pid %d", p2.PID())
	}
}
