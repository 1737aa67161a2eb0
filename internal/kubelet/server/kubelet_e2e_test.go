package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	kubeletserver "github.com/kijabi/kijabi/internal/kubelet/server"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KIJABI_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// syncBuffer collects output written from other goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// kubeletFixture is a containerd with a pod "default/web" and a kubelet server over it,
// served over TLS without client authentication.
type kubeletFixture struct {
	rt     *testRuntime
	pod    *testPod
	url    string
	config *rest.Config
}

func newKubeletFixture(t *testing.T) *kubeletFixture {
	rt := startContainerd(t)
	pod := rt.runPod(t, "default", "web", "uid-web")
	h, err := kubeletserver.NewHandler(kubeletserver.Config{Runtime: rt.Runtime, Authorize: func(*http.Request) bool { return true }, Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &kubeletFixture{rt: rt, pod: pod, url: srv.URL, config: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}}
}

func (f *kubeletFixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: f.insecureTLS()}, Timeout: 30 * time.Second}
	resp, err := client.Get(f.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (f *kubeletFixture) insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// executors are the ways kubectl streams: websocket v5 first, SPDY as the fallback.
func (f *kubeletFixture) executors(t *testing.T, path string, query url.Values) map[string]remotecommand.Executor {
	t.Helper()
	u, _ := url.Parse(f.url + path)
	u.RawQuery = query.Encode()
	ws, err := remotecommand.NewWebSocketExecutor(f.config, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := remotecommand.NewSPDYExecutor(f.config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]remotecommand.Executor{"websocket": ws, "spdy": sp}
}

func TestKubeletLogs(t *testing.T) {
	f := newKubeletFixture(t)
	first := f.rt.startContainer(t, f.pod, containerSpec{name: "counter", command: []string{"sh", "-c", "for i in 1 2 3 4 5; do echo n$i; sleep 0.2; done; echo bye >&2"}})

	// Follow while it runs: the response ends when the container exits.
	code, body := f.get(t, "/containerLogs/default/web/counter?follow=true")
	if code != http.StatusOK || body != "n1\nn2\nn3\nn4\nn5\nbye\n" {
		t.Fatalf("follow: %d %q", code, body)
	}
	f.rt.waitExited(t, first)
	for _, tc := range []struct{ query, want string }{
		{"", "n1\nn2\nn3\nn4\nn5\nbye\n"},
		{"tailLines=2", "n5\nbye\n"},
		{"limitBytes=5", "n1\nn2"},
		{"sinceSeconds=3600", "n1\nn2\nn3\nn4\nn5\nbye\n"},
		{"sinceTime=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), ""},
	} {
		if code, body := f.get(t, "/containerLogs/default/web/counter?"+tc.query); code != http.StatusOK || body != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.query, code, body, tc.want)
		}
	}
	code, body = f.get(t, "/containerLogs/default/web/counter?timestamps=true&tailLines=1")
	if fields := strings.SplitN(body, " ", 2); code != http.StatusOK || len(fields) != 2 || fields[1] != "bye\n" {
		t.Errorf("timestamps: %d %q", code, body)
	} else if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
		t.Errorf("timestamps: %v", err)
	}
	if code, body := f.get(t, "/containerLogs/default/web/counter?previous=true"); code != http.StatusBadRequest ||
		body != `previous terminated container "counter" in pod "web" not found` {
		t.Errorf("previous before a restart: %d %q", code, body)
	}

	// A restart: the current log is the new instance's, previous the old one's.
	f.rt.startContainer(t, f.pod, containerSpec{name: "counter", attempt: 1, command: []string{"sh", "-c", "echo second; exec sleep 100000"}})
	waitUntil(t, "the restarted container's log", func() bool {
		_, body := f.get(t, "/containerLogs/default/web/counter")
		return body == "second\n"
	})
	if code, body := f.get(t, "/containerLogs/default/web/counter?previous=true&tailLines=1"); code != http.StatusOK || body != "bye\n" {
		t.Errorf("previous: %d %q", code, body)
	}
	if code, body := f.get(t, "/containerLogs/default/web/nothere"); code != http.StatusBadRequest ||
		body != `container "nothere" in pod "web" is waiting to start: ContainerCreating` {
		t.Errorf("missing container: %d %q", code, body)
	}
	if code, _ := f.get(t, "/containerLogs/default/web/counter?tailLines=-1"); code != http.StatusUnprocessableEntity {
		t.Errorf("negative tailLines: %d", code)
	}
}

func TestKubeletExec(t *testing.T) {
	f := newKubeletFixture(t)
	f.rt.startContainer(t, f.pod, containerSpec{name: "app", command: []string{"sleep", "100000"}})
	for proto, e := range f.executors(t, "/exec/default/web/app", url.Values{"command": {"cat"}, "input": {"1"}, "output": {"1"}, "error": {"1"}}) {
		t.Run("stdin "+proto, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello " + proto), Stdout: &stdout, Stderr: &stderr}); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != "hello "+proto || stderr.String() != "" {
				t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
	for proto, e := range f.executors(t, "/exec/default/web/app", url.Values{"command": {"sh", "-c", "echo out; echo err >&2; exit 3"}, "output": {"1"}, "error": {"1"}}) {
		t.Run("exit code "+proto, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := e.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
			var exitErr exec.CodeExitError
			if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
				t.Fatalf("err %v (%T), want exit code 3", err, err)
			}
			if stdout.String() != "out\n" || stderr.String() != "err\n" {
				t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
	for proto, e := range f.executors(t, "/exec/default/web/app", url.Values{"command": {"sh", "-c", "stty size; while read line; do stty size; done"}, "input": {"1"}, "output": {"1"}, "tty": {"1"}}) {
		t.Run("tty resize "+proto, func(t *testing.T) {
			sizes := make(chan remotecommand.TerminalSize, 2)
			sizes <- remotecommand.TerminalSize{Width: 120, Height: 40}
			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			var stdout syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- e.StreamWithContext(context.Background(), remotecommand.StreamOptions{
					Stdin: stdinR, Stdout: &stdout, Tty: true, TerminalSizeQueue: chanQueue(sizes)})
			}()
			// Every line typed prints the size again: type until the size shows (the
			// first stty may run before the size reached the terminal).
			waitUntil(t, "the first size", func() bool {
				go stdinW.Write([]byte("\r"))
				return strings.Contains(stdout.String(), "40 120")
			})
			sizes <- remotecommand.TerminalSize{Width: 100, Height: 30}
			waitUntil(t, "the new size", func() bool {
				go stdinW.Write([]byte("\r"))
				return strings.Contains(stdout.String(), "30 100")
			})
			close(sizes)
			go stdinW.Write([]byte{4}) // ^D: read sees the end of input and the shell exits
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the session did not end")
			}
		})
	}
	if code, body := f.get(t, "/exec/default/web/nothere?command=true&output=1"); code != http.StatusNotFound {
		t.Errorf("exec in a missing container: %d %q", code, body)
	}
}

type chanQueue chan remotecommand.TerminalSize

func (q chanQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

func TestKubeletAttach(t *testing.T) {
	f := newKubeletFixture(t)
	f.rt.startContainer(t, f.pod, containerSpec{name: "echo", command: []string{"cat"}, stdin: true})
	for proto, e := range f.executors(t, "/attach/default/web/echo", url.Values{"input": {"1"}, "output": {"1"}, "error": {"1"}}) {
		t.Run(proto, func(t *testing.T) {
			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			var stdout syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdinR, Stdout: &stdout, Stderr: io.Discard})
			}()
			go stdinW.Write([]byte("ping " + proto + "\n"))
			waitUntil(t, "the echo", func() bool { return stdout.String() == "ping "+proto+"\n" })
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("attach did not end with its context")
			}
		})
	}
}

// echoServer listens on the host's loopback (the pod shares the host's network) and
// echoes what it reads, prefixed.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "echo: %s\n", sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestKubeletPortForward(t *testing.T) {
	f := newKubeletFixture(t)
	port := echoServer(t)
	u, _ := url.Parse(f.url + "/portForward/default/web")
	rt, upgrader, err := spdy.RoundTripperFor(f.config)
	if err != nil {
		t.Fatal(err)
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	tunnelDialer, err := portforward.NewSPDYOverWebsocketDialer(u, f.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		dialer httpstream.Dialer
	}{{"spdy", spdyDialer}, {"websocket", tunnelDialer}} {
		t.Run(tc.name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			var out syncBuffer
			fw, err := portforward.NewOnAddresses(tc.dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, &out, &out)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				<-done
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port forward: %v (%s)", err, out.String())
			case <-time.After(30 * time.Second):
				t.Fatal("port forward not ready")
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "hello %s\n", tc.name)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != "echo: hello "+tc.name+"\n" {
				t.Fatalf("got %q, %v", line, err)
			}
		})
	}
}
