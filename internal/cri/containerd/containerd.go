package containerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kijabi/kijabi/internal/cri"
)

const (
	// readyTimeout bounds how long one containerd start may take to answer CRI.
	readyTimeout = 60 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// restart backoff: doubled after each quick death, reset after a long run.
	minBackoff     = time.Second
	maxBackoff     = 30 * time.Second
	healthyRunTime = time.Minute
	// logRotateSize: containerd.log is moved to containerd.log.1 at start above this size.
	logRotateSize = 20 << 20
)

// Process is a supervised containerd.
type Process struct {
	cfg    Config
	log    *slog.Logger
	bin    string
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	run       *incarnation
	startTime time.Duration
	restarts  int
}

// incarnation is one containerd child process.
type incarnation struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed when the process has been reaped
	err     error         // Wait's result, valid once exited is closed
	logDone chan struct{} // closed when its output has been drained
	// criFailed is closed when containerd logs that its CRI plugin failed to load, which
	// it never recovers from; criErr says why.
	criFailed chan struct{}
	criErr    string
}

// Start writes containerd's config under cfg.Dir, starts containerd and returns once its
// CRI service answers. containerd is restarted with backoff whenever it dies, until ctx
// ends or Stop is called; either stops it.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("containerd not found: %w", ErrNotInstalled)
	}
	if _, err := lookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc not found: %w", ErrNotInstalled)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Process{cfg: cfg, log: cfg.Log.With("component", "containerd"), bin: bin, done: make(chan struct{})}
	if err := p.prepare(); err != nil {
		return nil, err
	}
	begin := time.Now()
	run, err := p.startOnce(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.run, p.startTime = run, time.Since(begin)
	p.mu.Unlock()
	p.log.Info("containerd ready", "socket", p.Endpoint(), "pid", run.cmd.Process.Pid, "startup", p.startTime.Round(time.Millisecond))
	sctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	go p.supervise(sctx, run)
	return p, nil
}

// Endpoint is the CRI endpoint: the path of containerd's unix socket.
func (p *Process) Endpoint() string { return SocketPath(p.cfg.Dir) }

// Address is containerd's gRPC address, for ctr --address (the same socket as Endpoint).
func (p *Process) Address() string { return SocketPath(p.cfg.Dir) }

// Dir is containerd's directory (Config.Dir made absolute).
func (p *Process) Dir() string { return p.cfg.Dir }

// CNIConfDir is where containerd's CRI plugin reads the CNI configuration.
func (p *Process) CNIConfDir() string { return p.cfg.CNIConfDir }

// LogPath is the file containerd's own output goes to.
func (p *Process) LogPath() string { return p.cfg.logPath() }

// PID is the current containerd process id (0 while it is being restarted).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return 0
	}
	select {
	case <-p.run.exited:
		return 0
	default:
		return p.run.cmd.Process.Pid
	}
}

// StartupTime is how long the first start took, from exec to CRI answering.
func (p *Process) StartupTime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startTime
}

// Restarts counts how many times containerd was restarted after dying.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Done is closed once containerd is stopped for good (Stop, or the end of Start's ctx).
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop stops containerd (SIGTERM, then SIGKILL after a grace period) and its supervision.
// The containers' shims keep running, so a later Start adopts them. Stop is idempotent.
func (p *Process) Stop() {
	p.cancel()
	<-p.done
}

// prepare writes the config, the CNI bin dir and the registry hosts, and clears what a
// previous run left: a containerd still running on Dir and a stale socket.
func (p *Process) prepare() error {
	c := &p.cfg
	for _, d := range []string{c.Dir, c.CNIConfDir, filepath.Join(c.Dir, "root"), c.stateDir()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("creating containerd directory %s: %w", d, err)
		}
	}
	binDir, err := c.prepareCNIBinDir()
	if err != nil {
		return err
	}
	if err := c.writeRegistryHosts(); err != nil {
		return err
	}
	if err := writeFileAtomic(c.configPath(), []byte(c.renderConfig(binDir, currentHost())), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(CrictlConfigPath(c.Dir), []byte(renderCrictlConfig(SocketPath(c.Dir))), 0o644); err != nil {
		return err
	}
	p.killStale()
	if st, err := os.Stat(c.logPath()); err == nil && st.Size() > logRotateSize {
		if err := os.Rename(c.logPath(), c.logPath()+".1"); err != nil {
			return fmt.Errorf("rotating %s: %w", c.logPath(), err)
		}
	}
	return nil
}

// killStale stops a containerd left running on this Dir by a previous kijabi that died
// without stopping it: two containerds cannot share a root.
func (p *Process) killStale() {
	b, err := os.ReadFile(p.cfg.pidPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(p.cfg.configPath())) {
		return
	}
	p.log.Warn("stopping a containerd left running by a previous run", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	// Not our child: there is nothing to wait on but /proc.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(stopGrace)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(stopGrace)
		}
		<-tick.C
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// startOnce starts one containerd and waits until CRI answers.
func (p *Process) startOnce(ctx context.Context) (*incarnation, error) {
	// A containerd that died leaves its sockets; waiting for the new ones must not find
	// them.
	for _, s := range []string{SocketPath(p.cfg.Dir), SocketPath(p.cfg.Dir) + ".ttrpc"} {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing stale containerd socket %s: %w", s, err)
		}
	}
	logFile, err := os.OpenFile(p.cfg.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening containerd log %s: %w", p.cfg.logPath(), err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("creating containerd output pipe: %w", err)
	}
	cmd := exec.Command(p.bin, "--config", p.cfg.configPath())
	cmd.Dir = p.cfg.Dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own process group: a Ctrl-C at the terminal reaches kijabi, which stops
	// containerd in order, rather than both at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	run := &incarnation{cmd: cmd, exited: make(chan struct{}), logDone: make(chan struct{}), criFailed: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		logFile.Close()
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	pw.Close()
	run.started = time.Now()
	go func() {
		defer close(run.logDone)
		defer logFile.Close()
		defer pr.Close()
		p.copyLog(pr, logFile, run)
	}()
	go func() {
		run.err = cmd.Wait()
		close(run.exited)
	}()
	if err := writeFileAtomic(p.cfg.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		p.log.Warn("recording containerd's pid", "err", err)
	}

	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	go func() {
		select {
		case <-run.exited:
		case <-run.criFailed:
		case <-rctx.Done():
		}
		cancel()
	}()
	// gRPC backs off a second after a refused connection: dial once the socket exists.
	for {
		if _, err := os.Stat(SocketPath(p.cfg.Dir)); err == nil {
			break
		}
		select {
		case <-rctx.Done():
		case <-time.After(5 * time.Millisecond):
			continue
		}
		break
	}
	rt, err := cri.Dial(rctx, SocketPath(p.cfg.Dir), readyTimeout)
	if err == nil {
		rt.Close()
		return run, nil
	}
	select {
	case <-run.exited:
		run.waitLog()
		return nil, fmt.Errorf("containerd exited during start (%v); last lines of %s:\n%s", run.err, p.cfg.logPath(), p.logTail(15))
	default:
	}
	p.terminate(run)
	select {
	case <-run.criFailed:
		return nil, fmt.Errorf("containerd's CRI plugin failed to load: %s (see %s)", run.criErr, p.cfg.logPath())
	default:
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("starting containerd: %w", ctx.Err())
	}
	return nil, fmt.Errorf("containerd's CRI service did not answer on %s: %w; last lines of %s:\n%s", SocketPath(p.cfg.Dir), err, p.cfg.logPath(), p.logTail(15))
}

// waitLog waits a little for the process's output to be drained: normally its end comes
// with the process's, but anything that inherited the pipe would hold it open.
func (r *incarnation) waitLog() {
	select {
	case <-r.logDone:
	case <-time.After(2 * time.Second):
	}
}

// supervise restarts containerd when it dies, until ctx ends, then stops it.
func (p *Process) supervise(ctx context.Context, run *incarnation) {
	defer close(p.done)
	backoff := minBackoff
	for {
		select {
		case <-ctx.Done():
			p.terminate(run)
			return
		case <-run.exited:
		}
		run.waitLog()
		lived := time.Since(run.started)
		if lived > healthyRunTime {
			backoff = minBackoff
		}
		p.log.Error("containerd died; restarting", "err", run.err, "lived", lived.Round(time.Millisecond), "in", backoff, "log", p.cfg.logPath(), "lastLines", p.logTail(5))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			next, err := p.startOnce(ctx)
			if err == nil {
				p.mu.Lock()
				p.run = next
				p.restarts++
				p.mu.Unlock()
				p.log.Info("containerd restarted", "pid", next.cmd.Process.Pid)
				run = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.log.Error("restarting containerd", "err", err, "retryIn", backoff)
		}
	}
}

// terminate stops one containerd: SIGTERM, then SIGKILL after stopGrace.
func (p *Process) terminate(run *incarnation) {
	select {
	case <-run.exited:
		return
	default:
	}
	_ = run.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-run.exited:
	case <-time.After(stopGrace):
		p.log.Warn("containerd did not stop after SIGTERM; killing it", "pid", run.cmd.Process.Pid)
		_ = run.cmd.Process.Kill()
		<-run.exited
	}
	run.waitLog()
	_ = os.Remove(p.cfg.pidPath())
}

// copyLog copies containerd's output to its log file and reports its errors through slog.
func (p *Process) copyLog(r io.Reader, w io.Writer, run *incarnation) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	criFailed := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(line, '\n'))
		fields := p.summarise(string(line))
		if !criFailed && strings.HasPrefix(fields["msg"], "failed to load plugin io.containerd.grpc.v1.cri") {
			criFailed = true
			run.criErr = fields["error"]
			close(run.criFailed)
		}
	}
}

// summarise logs containerd's error lines (logrus text format: time=... level=error
// msg="..." error="...").
func (p *Process) summarise(line string) map[string]string {
	fields := parseLogfmt(line)
	var level slog.Level
	switch fields["level"] {
	case "error":
		level = slog.LevelWarn
	case "fatal", "panic":
		level = slog.LevelError
	case "warning":
		if !strings.HasPrefix(fields["msg"], "failed to load plugin io.containerd.grpc.v1.cri") {
			return fields
		}
		level = slog.LevelError
	default:
		return fields
	}
	msg := fields["msg"]
	// Expected: no CNI config until the kubelet writes it; a shim's log pipe closing as
	// it exits.
	if strings.HasPrefix(msg, "failed to load cni during init") || msg == "copy shim log" {
		level = slog.LevelDebug
	}
	attrs := []any{}
	if e := fields["error"]; e != "" {
		attrs = append(attrs, "err", e)
	}
	p.log.Log(context.Background(), level, "containerd: "+msg, attrs...)
	return fields
}

// parseLogfmt splits key=value and key="quoted value" pairs.
func parseLogfmt(line string) map[string]string {
	out := map[string]string{}
	for len(line) > 0 {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			break
		}
		key := line[:eq]
		line = line[eq+1:]
		if strings.HasPrefix(line, `"`) {
			var val strings.Builder
			i := 1
			for ; i < len(line); i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
					val.WriteByte(line[i])
					continue
				}
				if line[i] == '"' {
					break
				}
				val.WriteByte(line[i])
			}
			out[key] = val.String()
			line = line[min(i+1, len(line)):]
			continue
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			sp = len(line)
		}
		out[key] = line[:sp]
		line = line[sp:]
	}
	return out
}

// logTail returns the last n lines of containerd's log file.
func (p *Process) logTail(n int) string {
	f, err := os.Open(p.cfg.logPath())
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 16 << 10
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-window, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sbinDirs are added to containerd's PATH: runc lives in /usr/sbin on Debian, which a
// non-login root shell may lack.
var sbinDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

func childEnv() []string {
	env := os.Environ()
	path := os.Getenv("PATH")
	have := map[string]bool{}
	for _, d := range filepath.SplitList(path) {
		have[d] = true
	}
	for _, d := range sbinDirs {
		if !have[d] {
			path += string(os.PathListSeparator) + d
		}
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+strings.TrimPrefix(path, string(os.PathListSeparator)))
}

// lookPath finds a binary on PATH or in the sbin directories added for containerd.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH", name)
}
