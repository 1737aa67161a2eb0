package ingress_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/network/ingress"
	"github.com/kijabi/kijabi/internal/testserver"
)

// TestBenchmarkVsNginx measures the ingress against Debian's nginx as a reverse proxy to the
// same backend (an nginx answering a fixed body), with wrk on loopback. It runs only with
// KIJABI_INGRESS_BENCH=1 and needs nginx and wrk (apt-get install nginx wrk):
//
//	KIJABI_INGRESS_BENCH=1 go test -run TestBenchmarkVsNginx -v ./internal/network/ingress/
//
// KIJABI_INGRESS_BENCH_DURATION (default 5s), KIJABI_INGRESS_BENCH_CONNECTIONS (default 64)
// and KIJABI_INGRESS_BENCH_ROUNDS (default 3) tune the wrk runs; the rows take turns and
// each reports its median round. KIJABI_INGRESS_BENCH_CPUPROFILE writes a CPU profile of
// the first ingress run. It prints a Markdown table for docs/.
func TestBenchmarkVsNginx(t *testing.T) {
	if os.Getenv("KIJABI_INGRESS_BENCH") == "" {
		t.Skip("set KIJABI_INGRESS_BENCH=1 to compare the ingress with nginx")
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (apt-get install wrk)")
	}
	duration := envOr("KIJABI_INGRESS_BENCH_DURATION", "5s")
	conns := envOr("KIJABI_INGRESS_BENCH_CONNECTIONS", "64")
	dir := t.TempDir()

	backendPort, proxyPort, proxyLogPort := freePort(t), freePort(t), freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	common := `%s
worker_processes 2;
daemon off;
pid %s/%s.pid;
error_log %s/%s-error.log warn;
events { worker_connections 4096; }
`
	temps := func(name string) string {
		var b strings.Builder
		for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			fmt.Fprintf(&b, "  %s_temp_path %s/%s-%s;\n", k, dir, name, k)
		}
		return b.String()
	}
	backendConf := fmt.Sprintf(common, user, dir, "backend", dir, "backend") + fmt.Sprintf(`http {
  access_log off;
%s  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%d;
    location / { default_type text/plain; return 200 "hello from the backend\n"; }
  }
}
`, temps("backend"), backendPort)
	proxyConf := fmt.Sprintf(common, user, dir, "proxy", dir, "proxy") + fmt.Sprintf(`http {
  access_log off;
%s  keepalive_requests 100000;
  upstream backend { server 127.0.0.1:%d; keepalive 256; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:%d;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
  server {
    listen 127.0.0.1:%d;
    access_log %s/proxy-access.log;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`, temps("proxy"), backendPort, proxyPort, proxyLogPort, dir)
	backendPid := startNginx(t, nginx, dir, "backend", backendConf, backendPort)
	proxyPid := startNginx(t, nginx, dir, "proxy", proxyConf, proxyPort)

	// The ingress, served by a real control plane, with access logging switchable.
	s := testserver.Start(t)
	exposeEndpoints(t, s.Client, "bench", backendPort)
	logFile, err := os.Create(filepath.Join(dir, "ingress-access.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() }) // after the controllers stop (cleanups run last first)
	var level slog.LevelVar
	level.Set(slog.LevelWarn)
	c := runIngress(t, ingress.Config{Client: s.Client, Log: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: &level}))})
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("kijabi"),
			Rules:            []networkingv1.IngressRule{rule("bench.example", prefix("/", "bench"))},
		},
	}
	if _, err := s.Client.NetworkingV1().Ingresses(ns).Create(context.Background(), ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	httpAddr, _ := c.Addrs()
	eventually(t, clientTo(httpAddr, nil), "http://bench.example/", func(r result) bool { return r.status == 200 })
	// A second controller writes its access log through Config.AccessLog (buffered).
	bufLogFile, err := os.Create(filepath.Join(dir, "ingress-buffered-access.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bufLogFile.Close() })
	c2 := runIngress(t, ingress.Config{Client: s.Client, AccessLog: bufLogFile,
		Log: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	httpAddr2, _ := c2.Addrs()
	eventually(t, clientTo(httpAddr2, nil), "http://bench.example/", func(r result) bool { return r.status == 200 })

	// For reference: the standard library's reverse proxy with default settings, in this
	// process, to tell the controller's own cost from net/http's.
	bare := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", backendPort)})
	bareSrv := httptest.NewServer(bare)
	defer bareSrv.Close()

	type row struct {
		name string
		url  string
		log  bool
		pid  int // whose CPU time (with its child processes) the row reports; 0: this process
	}
	rows := []row{
		{"backend directly (nginx `return 200`)", fmt.Sprintf("http://127.0.0.1:%d/", backendPort), false, backendPid},
		{"nginx reverse proxy, access_log off", fmt.Sprintf("http://127.0.0.1:%d/", proxyPort), false, proxyPid},
		{"kijabi ingress, access log off", "http://" + httpAddr.String() + "/", false, 0},
		{"bare httputil.ReverseProxy (defaults, no routing)", bareSrv.URL + "/", false, 0},
		{"nginx reverse proxy, access_log to a file", fmt.Sprintf("http://127.0.0.1:%d/", proxyLogPort), false, proxyPid},
		{"kijabi ingress, access log (slog text) to a file", "http://" + httpAddr.String() + "/", true, 0},
		{"kijabi ingress, Config.AccessLog (slog text, buffered) to a file", "http://" + httpAddr2.String() + "/", false, 0},
	}
	// Other work on the machine skews a single run, so the rows take turns for a few rounds
	// and each row reports its median round.
	rounds, _ := strconv.Atoi(envOr("KIJABI_INGRESS_BENCH_ROUNDS", "3"))
	runs := make([][]wrkResult, len(rows))
	prof := os.Getenv("KIJABI_INGRESS_BENCH_CPUPROFILE")
	for round := range rounds {
		for i, r := range rows {
			if r.log {
				level.Set(slog.LevelInfo)
			} else {
				level.Set(slog.LevelWarn)
			}
			if round == 0 {
				runWrk(t, wrk, r.url, "2", conns, "2s") // warm up connections and pools
			}
			profile := prof != "" && i == 2 && round == 0
			if profile {
				f, err := os.Create(prof)
				if err != nil {
					t.Fatal(err)
				}
				pprof.StartCPUProfile(f)
			}
			cpu0 := cpuTime(r.pid)
			res := runWrk(t, wrk, r.url, "2", conns, duration)
			if res.requests > 0 {
				res.cpuPerReq = (cpuTime(r.pid) - cpu0) / time.Duration(res.requests)
			}
			runs[i] = append(runs[i], res)
			if profile {
				pprof.StopCPUProfile()
			}
		}
	}
	results := make([]wrkResult, len(rows))
	for i := range rows {
		slices.SortFunc(runs[i], func(a, b wrkResult) int { return cmp.Compare(a.rps, b.rps) })
		results[i] = runs[i][len(runs[i])/2]
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nwrk -t2 -c%s -d%s --latency, Host: bench.example, %d cores, GOMAXPROCS default, nginx worker_processes 2; median of %d rounds\n\n", conns, duration, runtimeCPUs(), rounds)
	out.WriteString("| path | requests/s | p50 | p99 | CPU per request (server side) |\n|---|---:|---:|---:|---:|\n")
	for i, r := range rows {
		fmt.Fprintf(&out, "| %s | %.0f | %s | %s | %.1f µs |\n", r.name, results[i].rps, results[i].p50, results[i].p99,
			float64(results[i].cpuPerReq)/float64(time.Microsecond))
	}
	fmt.Fprintf(&out, "\nnginx/ingress throughput: %.2f× without access logs, %.2f× with them (target ≤ 1.5×)\n",
		results[1].rps/results[2].rps, results[4].rps/results[5].rps)
	fmt.Fprintf(&out, "ingress/nginx CPU per request: %.2f× without access logs, %.2f× with them\n",
		float64(results[2].cpuPerReq)/float64(results[1].cpuPerReq), float64(results[5].cpuPerReq)/float64(results[4].cpuPerReq))
	out.WriteString("(CPU per request: user+system time of the nginx processes, or of this whole test process for the Go rows, over the requests wrk counted)\n")
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&out, "load average after the runs: %s", la)
	}
	t.Log(out.String())
	fmt.Print(out.String())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runtimeCPUs() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cpuTime returns the user+system CPU time of a process and its children (0: this process).
func cpuTime(pid int) time.Duration {
	var total time.Duration
	read := func(path string) (ppid int, cpu time.Duration) {
		b, err := os.ReadFile(path)
		if err != nil {
			return -1, 0
		}
		// After "pid (comm) ": state ppid ... utime(14) stime(15), in clock ticks (100/s).
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b)[i+1:])
		if len(f) < 13 {
			return -1, 0
		}
		ppid, _ = strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return ppid, time.Duration(ut+st) * 10 * time.Millisecond
	}
	if pid == 0 {
		_, cpu := read("/proc/self/stat")
		return cpu
	}
	_, total = read(fmt.Sprintf("/proc/%d/stat", pid))
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil && p != pid {
			if ppid, cpu := read("/proc/" + e.Name() + "/stat"); ppid == pid {
				total += cpu
			}
		}
	}
	return total
}

// startNginx runs nginx with conf until the test ends, waits for port to accept, and
// returns the master's pid.
func startNginx(t *testing.T, bin, dir, name, conf string, port int) int {
	t.Helper()
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, name+"-error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			conn.Close()
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, name+"-error.log"))
			t.Fatalf("nginx %s does not listen on %d: %v\n%s", name, port, err, log)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

type wrkResult struct {
	rps       float64
	p50, p99  string
	requests  int64
	cpuPerReq time.Duration
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqRE = regexp.MustCompile(`(\d+) requests in`)
	p50RE = regexp.MustCompile(`\n\s+50%\s+(\S+)`)
	p99RE = regexp.MustCompile(`\n\s+99%\s+(\S+)`)
)

func runWrk(t *testing.T, bin, url, threads, conns, duration string) wrkResult {
	t.Helper()
	d, err := time.ParseDuration(duration)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", threads, "-c", conns, "-d", duration, "--latency",
		"-H", "Host: bench.example", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		t.Logf("wrk %s reported errors:\n%s", url, out)
	}
	var r wrkResult
	m := rpsRE.FindSubmatch(out)
	if m == nil {
		t.Fatal(errors.New("wrk printed no Requests/sec:\n" + string(out)))
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := reqRE.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := p50RE.FindSubmatch(out); m != nil {
		r.p50 = string(m[1])
	}
	if m := p99RE.FindSubmatch(out); m != nil {
		r.p99 = string(m[1])
	}
	return r
}
