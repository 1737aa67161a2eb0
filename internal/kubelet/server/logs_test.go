package server

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

const sampleLog = `2024-01-01T00:00:01.000000001Z stdout F one
2024-01-01T00:00:02.000000002Z stderr F two
2024-01-01T00:00:03.000000003Z stdout P thr
2024-01-01T00:00:03.500000000Z stdout P e
2024-01-01T00:00:04.000000004Z stdout F e!
not a cri line
2024-01-01T00:00:05.000000005Z stdout F five
2024-01-01T00:00:06.000000006Z stdout F
2024-01-01T00:00:07.000000007Z stdout F seven
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseCRILine(t *testing.T) {
	for _, tc := range []struct {
		line   string
		stream string
		full   bool
		text   string
		bad    bool
	}{
		{line: "2016-10-06T00:17:09.669794202Z stdout F log content\n", stream: "stdout", full: true, text: "log content"},
		{line: "2016-10-06T00:17:09.669794202Z stderr P partial", stream: "stderr", text: "partial"},
		{line: "2016-10-06T00:17:09.669794202Z stdout F:x  two spaces", stream: "stdout", full: true, text: " two spaces"},
		{line: "2016-10-06T00:17:09.669794202Z stdout F", stream: "stdout", full: true, text: ""},
		{line: "2016-10-06T00:17:09Z stdin F x", bad: true},
		{line: "yesterday stdout F x", bad: true},
		{line: "2016-10-06T00:17:09Z stdout X x", bad: true},
		{line: "garbage", bad: true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			l, err := parseCRILine([]byte(tc.line))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.stream != tc.stream || l.full != tc.full || string(l.text) != tc.text {
				t.Errorf("got stream %q full %v text %q", l.stream, l.full, l.text)
			}
		})
	}
}

func TestReadLogs(t *testing.T) {
	path := writeLog(t, sampleLog)
	since := time.Date(2024, 1, 1, 0, 0, 3, 0, time.UTC)
	for _, tc := range []struct {
		name           string
		opts           LogOptions
		stdout, stderr string
	}{
		{name: "all", opts: LogOptions{TailLines: -1}, stdout: "one\nthree!\nfive\n\nseven\n", stderr: "two\n"},
		{name: "tail 2", opts: LogOptions{TailLines: 2}, stdout: "\nseven\n"},
		{name: "tail 4 joins partials", opts: LogOptions{TailLines: 4}, stdout: "three!\nfive\n\nseven\n"},
		{name: "tail 0", opts: LogOptions{TailLines: 0}},
		{name: "tail more than there is", opts: LogOptions{TailLines: 100}, stdout: "one\nthree!\nfive\n\nseven\n", stderr: "two\n"},
		{name: "since", opts: LogOptions{TailLines: -1, Since: since}, stdout: "three!\nfive\n\nseven\n"},
		{name: "limit", opts: LogOptions{TailLines: -1, LimitBytes: 7}, stdout: "one\n", stderr: "two"},
		{name: "stderr only", opts: LogOptions{TailLines: -1, Stream: "Stderr"}, stderr: "two\n"},
		{name: "timestamps", opts: LogOptions{TailLines: 3, Timestamps: true},
			stdout: "2024-01-01T00:00:05.000000005Z five\n2024-01-01T00:00:06.000000006Z \n2024-01-01T00:00:07.000000007Z seven\n"},
		{name: "timestamps on joined lines", opts: LogOptions{TailLines: 4, Timestamps: true, LimitBytes: 38},
			stdout: "2024-01-01T00:00:03.000000003Z three!\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, nil, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

func TestReadLogsUnfinishedLastLine(t *testing.T) {
	path := writeLog(t, "2024-01-01T00:00:01Z stdout F done\n2024-01-01T00:00:02Z stdout P unfin")
	var out bytes.Buffer
	if err := ReadLogs(context.Background(), path, LogOptions{TailLines: 1}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "done\nunfin" {
		t.Errorf("got %q", out.String())
	}
}

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	opts, previous, err := parseLogOptions(url.Values{"follow": {"true"}, "previous": {"true"}, "tailLines": {"3"},
		"limitBytes": {"10"}, "sinceSeconds": {"60"}, "timestamps": {"true"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := LogOptions{Follow: true, TailLines: 3, LimitBytes: 10, Since: now.Add(-time.Minute), Timestamps: true}
	if !previous || opts != want {
		t.Errorf("got %+v previous=%v, want %+v", opts, previous, want)
	}
	for _, bad := range []url.Values{
		{"tailLines": {"-1"}}, {"limitBytes": {"0"}}, {"sinceSeconds": {"0"}},
		{"sinceSeconds": {"1"}, "sinceTime": {"2024-01-01T00:00:00Z"}}, {"follow": {"maybe"}}, {"sinceTime": {"noon"}},
	} {
		if _, _, err := parseLogOptions(bad, now); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while ReadLogs writes.
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

func appendLog(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestReadLogsFollowRotation(t *testing.T) {
	path := writeLog(t, "2024-01-01T00:00:01Z stdout F first\n")
	var running atomic.Bool
	running.Store(true)
	isRunning := func(context.Context) (bool, error) { return running.Load(), nil }
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(context.Background(), path, LogOptions{Follow: true, TailLines: -1}, isRunning, &out, &out)
	}()
	waitFor(t, "the first line", func() bool { return out.String() == "first\n" })

	// A line written in two pieces appears only once complete.
	appendLog(t, path, "2024-01-01T00:00:02Z stdout P sec")
	appendLog(t, path, "ond-part\n2024-01-01T00:00:02Z stdout F !\n")
	waitFor(t, "the joined line", func() bool { return out.String() == "first\nsecond-part!\n" })

	// Rotation: the runtime's file is renamed, a last line lands in it, and a new file
	// takes its name.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path+".1", "2024-01-01T00:00:03Z stdout F third\n")
	appendLog(t, path, "2024-01-01T00:00:04Z stdout F fourth\n")
	waitFor(t, "lines across the rotation", func() bool { return out.String() == "first\nsecond-part!\nthird\nfourth\n" })

	appendLog(t, path, "2024-01-01T00:00:05Z stdout F last words\n")
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadLogs did not return after the container stopped")
	}
	if got := out.String(); !strings.HasSuffix(got, "fourth\nlast words\n") {
		t.Errorf("got %q", got)
	}
}

func TestReadLogsFollowEndsWithContext(t *testing.T) {
	path := writeLog(t, "2024-01-01T00:00:01Z stdout F first\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(ctx, path, LogOptions{Follow: true, TailLines: 0},
			func(context.Context) (bool, error) { return true, nil }, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadLogs did not return when the context ended")
	}
}
