package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"syscall"
	"time"
)

// proxy forwards requests to backend endpoints.
type proxy struct {
	log       *slog.Logger
	transport *http.Transport
	rp        *httputil.ReverseProxy
}

// Upstream connections are kept alive generously: every request of a busy route goes to a
// handful of endpoints, and a new connection per request costs more than the proxying.
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ReadBufferSize:        32 << 10,
		WriteBufferSize:       32 << 10,
	}
}

func newProxy(log *slog.Logger, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *proxy {
	p := &proxy{log: log, transport: newTransport(dial)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: &retryTransport{base: p.transport},
		// 0: responses of known length are copied through buffers; ReverseProxy itself
		// flushes after every write (as with -1) for responses without a Content-Length and
		// for text/event-stream, so streams pass through as they come.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler:  p.errorHandler,
	}
	return p
}

type stateKey struct{}

// reqState is a request's routing decision and what became of it.
type reqState struct {
	be       *backend
	first    int    // index of the first endpoint tried
	upstream string // endpoint of the last attempt
	scheme   string // of the listener
	err      error
}

func rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.upstream
	pr.Out.Host = pr.In.Host
	// Keep the client's X-Forwarded-For chain and append the client, as nginx's
	// $proxy_add_x_forwarded_for does; -Host and -Proto describe this hop.
	if xff, ok := pr.In.Header["X-Forwarded-For"]; ok {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	// Connections the fast path handed over are not *tls.Conn any more, so In.TLS is nil
	// on them: the listener says which scheme it is.
	pr.Out.Header.Set("X-Forwarded-Proto", st.scheme)
}

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if st != nil {
		st.err = err
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nginx logs this as 499.
		if lw, ok := w.(*logWriter); ok {
			lw.status = 499
		}
		return
	}
	w.WriteHeader(http.StatusBadGateway)
}

// retryTransport retries a request on another endpoint when the connection was refused and
// the request is idempotent with no body, so nothing of it was sent.
type retryTransport struct {
	base http.RoundTripper
}

const maxRetries = 2

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if st == nil || !retryable(req, err) {
		return resp, err
	}
	n := len(st.be.endpoints)
	for attempt := 1; attempt < n && attempt <= maxRetries; attempt++ {
		r := req.Clone(req.Context())
		r.URL.Host = st.be.endpoints[(st.first+attempt)%n]
		st.upstream = r.URL.Host
		resp, err = t.base.RoundTrip(r)
		if err == nil || !retryable(r, err) {
			return resp, err
		}
	}
	return resp, err
}

func retryable(req *http.Request, err error) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// serveHTTP routes a request by the current table and proxies it with the ReverseProxy:
// the requests the fast path hands over, and HTTP/2.
func (c *Controller) serveHTTP(w http.ResponseWriter, r *http.Request, scheme string) {
	ent := accessEntry{method: r.Method, host: r.Host, path: r.URL.Path, remote: r.RemoteAddr, start: time.Now()}
	lw := &logWriter{ResponseWriter: w}
	t := c.table.Load()
	_, be := t.match(normalizeHost(r.Host), cleanPath(r.URL.Path))
	switch {
	case be == nil:
		lw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		lw.WriteHeader(http.StatusNotFound)
		io.WriteString(lw, "404 page not found\n")
	case len(be.endpoints) == 0:
		ent.backend = be.key
		lw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		lw.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(lw, "503 service unavailable: "+be.problem+"\n")
	default:
		ent.backend = be.key
		st := &reqState{be: be, scheme: scheme}
		st.upstream, st.first = be.pick()
		c.proxy.rp.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		ent.upstream, ent.err = st.upstream, st.err
	}
	ent.status = lw.status
	if ent.status == 0 {
		ent.status = http.StatusOK
	}
	ent.bytes = lw.bytes
	c.accessLog(&ent)
}

// accessEntry is what an access log line tells.
type accessEntry struct {
	method, host, path, remote string
	backend, upstream          string
	status                     int
	bytes                      int64
	start                      time.Time
	err                        error
}

// accessLog writes one line per request at Info level.
func (c *Controller) accessLog(e *accessEntry) {
	log := c.access
	if log == nil {
		log = c.log
		if !log.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", e.method), slog.String("host", e.host), slog.String("path", e.path),
		slog.Int("status", e.status), slog.Int64("bytes", e.bytes), slog.Duration("duration", time.Since(e.start)),
		slog.String("remote", e.remote),
	)
	if e.backend != "" {
		attrs = append(attrs, slog.String("backend", e.backend))
	}
	if e.upstream != "" {
		attrs = append(attrs, slog.String("upstream", e.upstream))
	}
	if e.err != nil {
		attrs = append(attrs, slog.String("err", e.err.Error()))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

// bufferedLog gathers log lines and writes them in batches.
type bufferedLog struct {
	mu    sync.Mutex
	buf   []byte
	spare []byte

	wmu sync.Mutex // serialises writes to w
	w   io.Writer
}

const (
	accessLogBuffer = 64 << 10
	accessLogFlush  = 100 * time.Millisecond
)

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= accessLogBuffer
	b.mu.Unlock()
	if full {
		b.flush()
	}
	return len(p), nil
}

// flush writes what was gathered.
func (b *bufferedLog) flush() {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	if len(out) > 0 {
		b.w.Write(out)
	}
	if cap(out) <= 4*accessLogBuffer {
		b.spare = out[:0]
	} else {
		b.spare = nil
	}
}

func (b *bufferedLog) flushLoop(ctx context.Context) {
	tick := time.NewTicker(accessLogFlush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			b.flush()
		}
	}
}

// logWriter records the status and size of a response. It passes Flush and Hijack through
// (streaming and WebSocket upgrades) and unwraps for http.ResponseController.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("ingress: connection cannot be hijacked")
	}
	conn, rw, err := h.Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool recycles the ReverseProxy's copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
