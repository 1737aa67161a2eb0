package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// LogOptions selects what of a container's log is written, the kubelet's view of a
// PodLogOptions.
type LogOptions struct {
	// Follow keeps writing what the container logs until it exits or ctx ends.
	Follow bool
	// TailLines, when not negative, starts this many (complete) lines before the end.
	TailLines int64
	// LimitBytes, when positive, stops after writing this many bytes.
	LimitBytes int64
	// Since skips lines logged before it (zero: none are skipped).
	Since time.Time
	// Timestamps prefixes every line with the time it was logged (RFC 3339, nanoseconds).
	Timestamps bool
	// Stream, when "Stdout" or "Stderr", writes only that stream ("" or "All": both).
	Stream string
}

// parseLogOptions reads the query of a /containerLogs request, as the API server sends it.
// previous is returned apart because it selects the container, not the lines.
func parseLogOptions(q url.Values, now time.Time) (opts LogOptions, previous bool, err error) {
	opts = LogOptions{TailLines: -1, LimitBytes: -1}
	boolean := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("invalid value %q for %s: %w", v, name, err)
		}
		return b, nil
	}
	integer := func(name string) (int64, bool, error) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("invalid value %q for %s: %w", v, name, err)
		}
		return n, true, nil
	}
	if opts.Follow, err = boolean("follow"); err != nil {
		return opts, false, err
	}
	if previous, err = boolean("previous"); err != nil {
		return opts, false, err
	}
	if opts.Timestamps, err = boolean("timestamps"); err != nil {
		return opts, false, err
	}
	if n, ok, err := integer("tailLines"); err != nil {
		return opts, false, err
	} else if ok {
		if n < 0 {
			return opts, false, fmt.Errorf("tailLines must be greater than or equal to 0, got %d", n)
		}
		opts.TailLines = n
	}
	if n, ok, err := integer("limitBytes"); err != nil {
		return opts, false, err
	} else if ok {
		if n < 1 {
			return opts, false, fmt.Errorf("limitBytes must be greater than 0, got %d", n)
		}
		opts.LimitBytes = n
	}
	sinceSeconds, hasSeconds, err := integer("sinceSeconds")
	if err != nil {
		return opts, false, err
	}
	sinceTime := q.Get("sinceTime")
	switch {
	case hasSeconds && sinceTime != "":
		return opts, false, errors.New("at most one of sinceTime or sinceSeconds may be specified")
	case hasSeconds:
		if sinceSeconds < 1 {
			return opts, false, fmt.Errorf("sinceSeconds must be greater than 0, got %d", sinceSeconds)
		}
		opts.Since = now.Add(-time.Duration(sinceSeconds) * time.Second)
	case sinceTime != "":
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return opts, false, fmt.Errorf("invalid sinceTime %q: %w", sinceTime, err)
		}
		opts.Since = t
	}
	switch s := q.Get("stream"); s {
	case "", "All", "Stdout", "Stderr":
		opts.Stream = s
	default:
		return opts, false, fmt.Errorf("invalid stream %q: must be All, Stdout or Stderr", s)
	}
	return opts, previous, nil
}

// logLine is one line of a CRI log file:
//
//	2016-10-06T00:17:09.669794202Z stdout F log content
//	2016-10-06T00:17:09.669794203Z stderr P partial content
type logLine struct {
	time   time.Time
	stream string // "stdout" or "stderr"
	// full is false for a partial line: the runtime split a long line, and the next
	// partials and the final full line of the same stream continue it.
	full bool
	text []byte
}

var errBadLogLine = errors.New("invalid CRI log line")

// parseCRILine parses one line of a CRI log file, without or with its trailing newline.
// text aliases line.
func parseCRILine(line []byte) (logLine, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var l logLine
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return l, fmt.Errorf("%w: no timestamp: %q", errBadLogLine, line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return l, fmt.Errorf("%w: timestamp %q: %w", errBadLogLine, ts, err)
	}
	l.time = t
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return l, fmt.Errorf("%w: stream %q", errBadLogLine, stream)
	}
	l.stream = string(stream)
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	// Tags are ":"-separated; the first says full (F) or partial (P).
	first, _, _ := bytes.Cut(tag, []byte{':'})
	switch string(first) {
	case "F":
		l.full = true
	case "P":
	default:
		return l, fmt.Errorf("%w: tag %q", errBadLogLine, tag)
	}
	l.text = text
	return l, nil
}

// tailStart returns the offset in r of the first of the last n lines of output: partial
// CRI lines belong to the full line that ends them; an unfinished last line, and lines
// not in CRI format (which are skipped), are not counted. n < 0 means the whole file.
// The file is scanned from its start: the runtime rotates logs at a few MiB, which is
// read in milliseconds.
func tailStart(r io.Reader, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	// ends holds the offsets just after the last n+1 full lines.
	var ends []int64
	var offset int64
	for {
		line, err := br.ReadSlice('\n')
		offset += int64(len(line))
		if err == nil {
			if l, perr := parseCRILine(line); perr == nil && l.full {
				ends = append(ends, offset)
				if int64(len(ends)) > n+1 {
					ends = ends[1:]
				}
			}
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: the runtime splits lines far shorter, so
			// this is not CRI format, skipped when read like any other such line.
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				offset += int64(len(line))
			}
			if err == nil {
				continue
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		return 0, fmt.Errorf("reading log file: %w", err)
	}
	if int64(len(ends)) <= n {
		return 0, nil
	}
	return ends[0], nil
}

// errLimitReached ends reading when LimitBytes were written.
var errLimitReached = errors.New("log byte limit reached")

// logWriter writes parsed lines as kubectl logs shows them.
type logWriter struct {
	opts           LogOptions
	stdout, stderr io.Writer
	remaining      int64
	// midLine is true for a stream whose last text was a partial line: its next text
	// continues that line and gets no timestamp prefix.
	midLine map[string]bool
}

func newLogWriter(opts LogOptions, stdout, stderr io.Writer) *logWriter {
	w := &logWriter{opts: opts, stdout: stdout, stderr: stderr, remaining: math.MaxInt64, midLine: map[string]bool{}}
	if opts.LimitBytes > 0 {
		w.remaining = opts.LimitBytes
	}
	return w
}

func (w *logWriter) write(l logLine) error {
	if !w.opts.Since.IsZero() && l.time.Before(w.opts.Since) {
		return nil
	}
	out := w.stdout
	if l.stream == "stderr" {
		out = w.stderr
	}
	if (w.opts.Stream == "Stdout" && l.stream != "stdout") || (w.opts.Stream == "Stderr" && l.stream != "stderr") {
		return nil
	}
	var buf []byte
	if w.opts.Timestamps && !w.midLine[l.stream] {
		buf = append([]byte(l.time.Format(time.RFC3339Nano)), ' ')
	}
	buf = append(buf, l.text...)
	if l.full {
		buf = append(buf, '\n')
	}
	w.midLine[l.stream] = !l.full
	if int64(len(buf)) > w.remaining {
		buf = buf[:w.remaining]
	}
	n, err := out.Write(buf)
	w.remaining -= int64(n)
	if err != nil {
		return err
	}
	if n < len(buf) {
		return io.ErrShortWrite
	}
	if w.remaining <= 0 {
		return errLimitReached
	}
	return nil
}

// logPollInterval is how often a followed log file is checked for growth and rotation,
// and runningCheckInterval how often the runtime is asked whether the container still
// runs.
const (
	logPollInterval      = 100 * time.Millisecond
	runningCheckInterval = 500 * time.Millisecond
)

// ReadLogs writes the CRI log file at path to stdout and stderr as opts select. With
// opts.Follow it keeps reading as the file grows, follows it when it is rotated (renamed
// away and recreated), and returns once running reports the container stopped and the
// file is read to its end, or when ctx ends. A nil running never reports a stop.
func ReadLogs(ctx context.Context, path string, opts LogOptions, running func(context.Context) (bool, error), stdout, stderr io.Writer) error {
	if running == nil {
		running = func(context.Context) (bool, error) { return true, nil }
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	defer func() { f.Close() }()
	offset, err := tailStart(f, opts.TailLines)
	if err != nil {
		return err
	}
	if opts.TailLines == 0 && !opts.Follow {
		return nil
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("seeking log file: %w", err)
	}
	r := bufio.NewReader(f)
	w := newLogWriter(opts, stdout, stderr)
	var (
		stillRunning = true
		lastCheck    time.Time
		// rotated is set when path names a new file: the old one is read to its end
		// once more, then the new one is opened.
		rotated bool
		ticker  *time.Ticker
	)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading log file: %w", err)
		}
		if errors.Is(err, io.EOF) {
			if !opts.Follow {
				// An unfinished last line is written as it is.
				if len(line) > 0 {
					if l, perr := parseCRILine(line); perr == nil {
						if err := w.write(l); err != nil && !errors.Is(err, errLimitReached) {
							return err
						}
					}
				}
				return nil
			}
			// Read an unfinished line again once it is complete.
			if len(line) > 0 {
				if _, err := f.Seek(-int64(len(line)), io.SeekCurrent); err != nil {
					return fmt.Errorf("seeking log file: %w", err)
				}
				r.Reset(f)
			}
			if !stillRunning {
				return nil
			}
			if rotated {
				nf, err := os.Open(path)
				if err == nil {
					f.Close()
					f = nf
					r.Reset(f)
					rotated = false
					continue
				}
				if !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("opening rotated log file: %w", err)
				}
				rotated = false
			}
			if time.Since(lastCheck) >= runningCheckInterval {
				lastCheck = time.Now()
				ok, err := running(ctx)
				if err != nil {
					return err
				}
				if !ok {
					// Read what was written before it stopped, then end.
					stillRunning = false
					continue
				}
			}
			if ticker == nil {
				ticker = time.NewTicker(logPollInterval)
				defer ticker.Stop()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
			if cur, err := os.Stat(path); err == nil {
				if old, err := f.Stat(); err == nil && !os.SameFile(cur, old) {
					rotated = true
				}
			}
			continue
		}
		l, perr := parseCRILine(line)
		if perr != nil {
			continue // not CRI format: skipped, as the kubelet does
		}
		if err := w.write(l); err != nil {
			if errors.Is(err, errLimitReached) {
				return nil
			}
			return err
		}
	}
}
