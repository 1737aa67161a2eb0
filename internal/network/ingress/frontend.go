package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The frontend serves the listeners. Every client connection gets one goroutine that reads
// HTTP/1.1 requests and proxies them itself (the fast path: no per-request goroutines, no
// header maps, pooled buffers, one write per request head and per response head). Whatever
// the fast path does not handle — HTTP/1.0, HTTP/2 (negotiated by ALPN), Upgrade
// (WebSockets), chunked or otherwise transfer-encoded request bodies, Expect other than
// 100-continue, obsolete line folding, bare-LF line ends, absolute-form request targets,
// heads larger than the read buffer — is handed, from that request on, with the bytes
// already read, to a net/http server whose handler proxies with httputil.ReverseProxy.
// The fast path is therefore only ever an optimisation of requests net/http would treat
// the same way.

const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	clientBufferSize  = 8 << 10
	maxKeptBuffer     = 16 << 10
	// maxDiscard is how much of an unread request body is read and dropped after a response
	// the proxy made itself (404, 503, 502) to keep the connection; beyond that it closes.
	maxDiscard = 256 << 10
)

// frontend accepts the connections of one listener.
type frontend struct {
	c      *Controller
	scheme string // "http" or "https"
	tls    *tls.Config

	fallback   *http.Server
	fallbackLn *handoffListener

	shutting atomic.Bool
	mu       sync.Mutex
	conns    map[*clientConn]struct{}
	wg       sync.WaitGroup
}

func newFrontend(c *Controller, ln net.Listener, scheme string, tlsConfig *tls.Config) *frontend {
	f := &frontend{c: c, scheme: scheme, tls: tlsConfig, conns: map[*clientConn]struct{}{}}
	f.fallbackLn = &handoffListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	f.fallback = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serveHTTP(w, r, scheme) }),
		// Only HTTP/2 needs it: connections arrive after their handshake.
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	return f
}

// serve accepts connections until ln is closed.
func (f *frontend) serve(ln net.Listener) error {
	f.wg.Go(func() { f.fallback.Serve(f.fallbackLn) })
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if f.shutting.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if isTimeout(err) || isTemporaryAcceptError(err) {
				// Out of file descriptors and the like: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.c.log.Warn("ingress: accept", "err", err, "retry", delay)
				time.Sleep(delay) // back-off, not synchronisation
				continue
			}
			return err
		}
		delay = 0
		cc := &clientConn{f: f, conn: conn}
		f.mu.Lock()
		if f.shutting.Load() {
			f.mu.Unlock()
			conn.Close()
			continue
		}
		f.conns[cc] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go cc.serve()
	}
}

func isTemporaryAcceptError(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// shutdown closes idle connections, lets active requests finish until ctx ends, then closes
// the rest. The listener must be closed already.
func (f *frontend) shutdown(ctx context.Context) {
	f.shutting.Store(true)
	f.fallbackLn.Close()
	fbDone := make(chan struct{})
	go func() { f.fallback.Shutdown(ctx); close(fbDone) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := len(f.conns)
		for cc := range f.conns {
			if cc.state.Load() == stateIdle {
				cc.conn.Close()
			}
		}
		f.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			f.mu.Lock()
			for cc := range f.conns {
				cc.conn.Close()
			}
			f.mu.Unlock()
			<-fbDone
			return
		case <-tick.C: // polling interval
		}
	}
	<-fbDone
	f.wg.Wait()
}

// handoffListener feeds connections the fast path gives up on to the fallback server.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

func (l *handoffListener) handoff(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

// replayConn is a connection whose first bytes were read into r already.
type replayConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

const (
	stateIdle int32 = iota
	stateActive
)

// clientConn is one client connection of the fast path.
type clientConn struct {
	f        *frontend
	conn     net.Conn
	br       *bufio.Reader
	state    atomic.Int32
	remote   string // RemoteAddr
	clientIP string // for X-Forwarded-For
	deadline time.Time

	up  []byte // the upstream request head being built
	out []byte // the response head being built
}

var clientReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufferSize) }}

func (cc *clientConn) serve() {
	f := cc.f
	handedOff := false
	defer func() {
		if !handedOff {
			cc.conn.Close()
		}
		if cc.br != nil && !handedOff {
			cc.br.Reset(nil)
			clientReaders.Put(cc.br)
		}
		f.mu.Lock()
		delete(f.conns, cc)
		f.mu.Unlock()
		f.wg.Done()
	}()
	cc.remote = cc.conn.RemoteAddr().String()
	cc.clientIP = cc.remote
	if host, _, err := net.SplitHostPort(cc.remote); err == nil {
		cc.clientIP = host
	}
	if f.tls != nil {
		tc := tls.Server(cc.conn, f.tls)
		cc.conn = tc
		tc.SetDeadline(time.Now().Add(readHeaderTimeout))
		if err := tc.Handshake(); err != nil {
			f.c.log.Debug("ingress: TLS handshake", "remote", cc.remote, "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			handedOff = true
			f.fallbackLn.handoff(tc)
			return
		}
	}
	cc.br = clientReaders.Get().(*bufio.Reader)
	cc.br.Reset(cc.conn)
	for {
		cc.state.Store(stateIdle)
		if f.shutting.Load() {
			return
		}
		var req request
		switch cc.readRequest(&req) {
		case readFallback:
			handedOff = true
			f.fallbackLn.handoff(&replayConn{Conn: cc.conn, r: cc.br})
			return
		case readClose:
			return
		}
		if !cc.handle(&req) {
			return
		}
	}
}

// setReadDeadline sets the connection's read deadline to now+d, coarsely: it moves only when
// it would move by more than a second, which saves a timer update per request.
func (cc *clientConn) setReadDeadline(now time.Time, d time.Duration) {
	want := now.Add(d)
	if cc.deadline.IsZero() || want.Sub(cc.deadline) > time.Second || cc.deadline.Sub(want) > time.Second {
		cc.deadline = want
		cc.conn.SetReadDeadline(want)
	}
}

func (cc *clientConn) clearReadDeadline() {
	if !cc.deadline.IsZero() {
		cc.deadline = time.Time{}
		cc.conn.SetReadDeadline(time.Time{})
	}
}

type readResult int

const (
	readOK readResult = iota
	readFallback
	readClose
)

// request is a parsed request head. Byte slices point into the connection's read buffer
// and live until the head is discarded.
type request struct {
	method   string
	target   []byte
	host     string // Host header as sent
	path     string // decoded path, as net/http's URL.Path
	cl       int64  // Content-Length, 0 when absent
	close    bool   // Connection: close
	expect   bool   // Expect: 100-continue
	headLen  int
	start    time.Time
	replay   bool // idempotent method, so a request lost on a stale connection may be sent again
	bodyRead bool // the body was read from the client (to go with the head)
	hasQuery bool
}

// readRequest reads and parses the next request head and builds the upstream head in cc.up.
func (cc *clientConn) readRequest(req *request) readResult {
	now := time.Now()
	if cc.br.Buffered() == 0 {
		cc.setReadDeadline(now, idleTimeout)
	}
	var head []byte
	for n := 0; ; n++ {
		buf, _ := cc.br.Peek(cc.br.Buffered())
		if len(buf) > 0 {
			cc.state.Store(stateActive)
			end := bytes.Index(buf, crlfcrlf)
			if lf := bytes.Index(buf, lflf); lf >= 0 && (end < 0 || lf < end) {
				return readFallback // bare LF line ends
			}
			if end >= 0 {
				head = buf[:end+4]
				break
			}
			if len(buf) == cc.br.Size() {
				return readFallback // net/http takes heads up to 1 MB
			}
		}
		if n == 1 {
			// The head did not come in one piece: from now on the header timeout applies.
			cc.setReadDeadline(time.Now(), readHeaderTimeout)
		}
		if _, err := cc.br.Peek(len(buf) + 1); err != nil {
			if len(buf) > 0 && !errors.Is(err, io.EOF) && !isTimeout(err) {
				cc.f.c.log.Debug("ingress: reading request", "remote", cc.remote, "err", err)
			}
			return readClose
		}
	}
	req.start = now
	if !cc.parseRequest(head, req) {
		return readFallback
	}
	return readOK
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
	crlf     = []byte("\r\n")
)

// parseRequest parses head (ending with the empty line) and appends the head to send
// upstream to cc.up. False means the fast path does not take the request.
func (cc *clientConn) parseRequest(head []byte, req *request) bool {
	req.headLen = len(head)
	line, rest, _ := bytes.Cut(head, crlf)
	// Request line: method SP request-target SP HTTP/1.1.
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	switch m := line[:sp1]; string(m) {
	case "GET":
		req.method, req.replay = http.MethodGet, true
	case "HEAD":
		req.method, req.replay = http.MethodHead, true
	case "POST":
		req.method = http.MethodPost
	case "PUT":
		req.method = http.MethodPut
	case "DELETE":
		req.method = http.MethodDelete
	case "PATCH":
		req.method = http.MethodPatch
	case "OPTIONS":
		req.method, req.replay = http.MethodOptions, true
	default:
		return false // CONNECT, TRACE, extension methods
	}
	line = line[sp1+1:]
	sp2 := bytes.IndexByte(line, ' ')
	if sp2 <= 0 || string(line[sp2+1:]) != "HTTP/1.1" {
		return false
	}
	target := line[:sp2]
	if target[0] != '/' {
		return false // absolute form, asterisk form
	}
	for _, b := range target {
		if b <= ' ' || b >= 0x7f {
			return false
		}
	}
	req.target = target
	rawPath := target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		rawPath, req.hasQuery = target[:i], true
	}
	if bytes.IndexByte(rawPath, '%') >= 0 {
		p, err := url.PathUnescape(string(rawPath))
		if err != nil {
			return false // net/http answers 400
		}
		req.path = p
	} else {
		req.path = string(rawPath)
	}

	// First pass: validate, find the headers that decide how the request is handled, and
	// the names the Connection header lists.
	var (
		hosts, cls int
		host       []byte
		connTokens [][]byte
		xff        bool
		te         bool
	)
	for r := rest; len(r) > 2; {
		l, next, _ := bytes.Cut(r, crlf)
		r = next
		name, value, ok := splitHeader(l)
		if !ok {
			return false
		}
		switch {
		case headerIs(name, "host"):
			hosts++
			host = value
		case headerIs(name, "content-length"):
			cls++
			n, ok := parseContentLength(value)
			if !ok {
				return false
			}
			req.cl = n
		case headerIs(name, "transfer-encoding"), headerIs(name, "upgrade"):
			return false
		case headerIs(name, "expect"):
			if !asciiEqualFold(value, "100-continue") {
				return false // net/http answers 417
			}
			req.expect = true
		case headerIs(name, "connection"):
			for tok := range tokens(value) {
				switch {
				case asciiEqualFold(tok, "close"):
					req.close = true
				case asciiEqualFold(tok, "keep-alive"):
				case asciiEqualFold(tok, "upgrade"):
					return false
				default:
					connTokens = append(connTokens, tok)
				}
			}
		case headerIs(name, "x-forwarded-for"):
			xff = true
		case headerIs(name, "te"):
			for tok := range tokens(value) {
				if asciiEqualFold(tok, "trailers") {
					te = true
				}
			}
		}
	}
	if hosts != 1 || cls > 1 || !validHost(host) {
		return false // net/http answers 400 (or merges equal Content-Lengths)
	}
	req.host = string(host)

	// Second pass: the upstream head.
	up := cc.up[:0]
	up = append(up, req.method...)
	up = append(up, ' ')
	up = append(up, target...)
	up = append(up, " HTTP/1.1\r\n"...)
	if xff {
		up = append(up, "X-Forwarded-For: "...)
	}
	first := true
	for r := rest; len(r) > 2; {
		l, next, _ := bytes.Cut(r, crlf)
		r = next
		name, value, _ := splitHeader(l)
		if hopByHop(name) || headerIs(name, "expect") || headerIs(name, "x-forwarded-host") ||
			headerIs(name, "x-forwarded-proto") || headerIs(name, "forwarded") || listed(connTokens, name) {
			continue
		}
		if headerIs(name, "x-forwarded-for") {
			// Collected into the first line, as ReverseProxy joins earlier values.
			if !first {
				up = append(up, ", "...)
			}
			first = false
			up = append(up, value...)
			continue
		}
		if xff {
			continue // written after the X-Forwarded-For line is complete
		}
		up = append(up, l...)
		up = append(up, crlf...)
	}
	if xff {
		if !first {
			up = append(up, ", "...)
		}
		up = append(up, cc.clientIP...)
		up = append(up, crlf...)
		// Now the other headers, in order.
		for r := rest; len(r) > 2; {
			l, next, _ := bytes.Cut(r, crlf)
			r = next
			name, _, _ := splitHeader(l)
			if hopByHop(name) || headerIs(name, "expect") || headerIs(name, "x-forwarded-host") || headerIs(name, "x-forwarded-proto") ||
				headerIs(name, "forwarded") || headerIs(name, "x-forwarded-for") || listed(connTokens, name) {
				continue
			}
			up = append(up, l...)
			up = append(up, crlf...)
		}
	} else {
		up = append(up, "X-Forwarded-For: "...)
		up = append(up, cc.clientIP...)
		up = append(up, crlf...)
	}
	if te {
		up = append(up, "Te: trailers\r\n"...)
	}
	up = append(up, "X-Forwarded-Host: "...)
	up = append(up, host...)
	up = append(up, "\r\nX-Forwarded-Proto: "...)
	up = append(up, cc.f.scheme...)
	up = append(up, "\r\n\r\n"...)
	cc.up = up
	return true
}

// splitHeader splits a header line into a valid name and its value without surrounding
// white space; false for anything net/http might treat differently.
func splitHeader(l []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = l[:i]
	for _, b := range name {
		if !isTokenChar[b] {
			return nil, nil, false
		}
	}
	value = l[i+1:]
	for _, b := range value {
		if b < ' ' && b != '\t' || b == 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.Trim(value, " \t"), true
}

var isTokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHost accepts the characters of host names, IPv4 and bracketed IPv6 addresses and a
// port; net/http rejects fewer, and those go to it.
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, b := range h {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '.', b == '-', b == ':', b == '[', b == ']', b == '_':
		default:
			return false
		}
	}
	return true
}

// headerIs compares a header name with a lower-case name, ignoring case.
func headerIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, lower string) bool { return headerIs(b, lower) }

// hopByHop reports the headers a proxy does not forward (as httputil.ReverseProxy).
func hopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return headerIs(name, "te")
	case 7:
		return headerIs(name, "upgrade") || headerIs(name, "trailer")
	case 10:
		return headerIs(name, "connection") || headerIs(name, "keep-alive")
	case 16:
		return headerIs(name, "proxy-connection")
	case 17:
		return headerIs(name, "transfer-encoding")
	case 18:
		return headerIs(name, "proxy-authenticate")
	case 19:
		return headerIs(name, "proxy-authorization")
	}
	return false
}

func listed(tokens [][]byte, name []byte) bool {
	for _, t := range tokens {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// tokens yields the comma-separated elements of a header value.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			var tok []byte
			tok, v, _ = bytes.Cut(v, []byte{','})
			tok = bytes.Trim(tok, " \t")
			if len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handle routes one parsed request and answers it. False closes the connection.
func (cc *clientConn) handle(req *request) bool {
	c := cc.f.c
	t := c.table.Load()
	_, be := t.match(normalizeHost(req.host), cleanPath(req.path))
	cc.br.Discard(req.headLen)
	ent := accessEntry{method: req.method, host: req.host, path: req.path, remote: cc.remote, start: req.start}
	var keep bool
	switch {
	case be == nil:
		keep = cc.respond(req, &ent, http.StatusNotFound, "404 page not found\n")
	case len(be.endpoints) == 0:
		ent.backend = be.key
		keep = cc.respond(req, &ent, http.StatusServiceUnavailable, "503 service unavailable: "+be.problem+"\n")
	default:
		ent.backend = be.key
		keep = cc.proxy(req, be, &ent)
	}
	c.accessLog(&ent)
	// Big buffers of one large exchange are not kept for the connection's life.
	if cap(cc.out) > maxKeptBuffer {
		cc.out = nil
	}
	if cap(cc.up) > maxKeptBuffer {
		cc.up = nil
	}
	return keep && !req.close
}

// respond answers a request itself with a text body.
func (cc *clientConn) respond(req *request, ent *accessEntry, status int, body string) bool {
	keep := cc.discardBody(req)
	ent.status = status
	out := appendStatusLine(cc.out[:0], status, "")
	out = append(out, "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: "...)
	out = appendDate(out)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	if !keep || req.close {
		out = append(out, "\r\nConnection: close"...)
	}
	out = append(out, "\r\n\r\n"...)
	if req.method != http.MethodHead {
		out = append(out, body...)
		ent.bytes = int64(len(body))
	}
	cc.out = out
	if _, err := cc.conn.Write(out); err != nil {
		return false
	}
	return keep
}

// discardBody drops the body of a request answered without it, when it is small or
// already read; false when the connection must close instead.
func (cc *clientConn) discardBody(req *request) bool {
	if req.cl == 0 || req.bodyRead {
		return true
	}
	if req.expect && int64(cc.br.Buffered()) < req.cl {
		// The client waits for a 100 Continue it will not get.
		return false
	}
	if req.cl > maxDiscard {
		return false
	}
	n, err := cc.br.Discard(int(req.cl))
	req.cl -= int64(n)
	return err == nil
}

func appendStatusLine(b []byte, status int, reason string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if reason == "" {
		reason = http.StatusText(status)
		if reason == "" {
			reason = "status code " + strconv.Itoa(status)
		}
	}
	b = append(b, reason...)
	return append(b, crlf...)
}

type dateCache struct {
	sec int64
	b   []byte
}

var cachedDate atomic.Pointer[dateCache]

// appendDate appends the current time in the format of the Date header, formatted once a
// second.
func appendDate(b []byte) []byte {
	now := time.Now()
	d := cachedDate.Load()
	if d == nil || d.sec != now.Unix() {
		d = &dateCache{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
		cachedDate.Store(d)
	}
	return append(b, d.b...)
}
