package ingress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// maxIdlePerEndpoint bounds the idle keep-alive connections kept to one endpoint. It is
	// sized for the client concurrency of a busy node: with fewer, bursts close and redial.
	maxIdlePerEndpoint = 1024
	idleConnTimeout    = 90 * time.Second
	upstreamBufferSize = 16 << 10 // the largest response head accepted, as nginx's proxy_buffer_size
	// inlineBody is the largest request body sent with the head in one write when the client
	// sent it along; larger or later bodies are copied by a goroutine while the response is read.
	inlineBody = 64 << 10
	// flushAt is how much response data is gathered before a write to the client even when
	// more is buffered.
	flushAt = 64 << 10
	// watchAfter is how long a response may take before the proxy starts watching the client
	// connection, to abort the upstream request when the client goes away.
	watchAfter = time.Second
)

var aLongTimeAgo = time.Unix(1, 0)

// upstreams are the keep-alive connections to endpoints, by endpoint address.
type upstreams struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	pools sync.Map // address → *hostPool
}

type hostPool struct {
	mu   sync.Mutex
	idle []*upConn // most recently used last
}

type upConn struct {
	conn      net.Conn
	br        *bufio.Reader
	idleSince time.Time
	reused    bool
	deadline  time.Time // the read deadline set, zero for none
}

func newUpstreams(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *upstreams {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &upstreams{dial: dial}
}

func (u *upstreams) pool(addr string) *hostPool {
	if p, ok := u.pools.Load(addr); ok {
		return p.(*hostPool)
	}
	p, _ := u.pools.LoadOrStore(addr, &hostPool{})
	return p.(*hostPool)
}

// get returns an idle connection to addr, or dials one. Before a request that cannot be
// sent again goes on a pooled connection, the connection is checked for a close by the
// endpoint (one non-blocking peek; nginx learns the same from epoll, net/http from its
// per-connection reader).
func (u *upstreams) get(addr string, replayable bool) (*upConn, error) {
	p := u.pool(addr)
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		uc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := time.Since(uc.idleSince)
		if idle > idleConnTimeout || (!replayable && !connAlive(uc.conn)) {
			uc.conn.Close()
			continue
		}
		uc.reused = true
		return uc, nil
	}
	return u.dialConn(addr)
}

func (u *upstreams) dialConn(addr string) (*upConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := u.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &upConn{conn: conn, br: bufio.NewReaderSize(conn, upstreamBufferSize)}, nil
}

// put returns a connection after a complete exchange.
func (u *upstreams) put(addr string, uc *upConn) {
	if uc.br.Buffered() > 0 {
		uc.conn.Close() // the endpoint sent more than the response
		return
	}
	uc.idleSince = time.Now()
	p := u.pool(addr)
	p.mu.Lock()
	if len(p.idle) >= maxIdlePerEndpoint {
		p.mu.Unlock()
		uc.conn.Close()
		return
	}
	p.idle = append(p.idle, uc)
	p.mu.Unlock()
}

// sweep closes connections idle for longer than idleConnTimeout (all with force) and
// forgets empty pools.
func (u *upstreams) sweep(force bool) {
	now := time.Now()
	u.pools.Range(func(k, v any) bool {
		p := v.(*hostPool)
		p.mu.Lock()
		keep := p.idle[:0]
		for _, uc := range p.idle {
			if force || now.Sub(uc.idleSince) > idleConnTimeout {
				uc.conn.Close()
			} else {
				keep = append(keep, uc)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		if len(keep) == 0 {
			u.pools.CompareAndDelete(k, v)
		}
		p.mu.Unlock()
		return true
	})
}

func (u *upstreams) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(idleConnTimeout / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			u.sweep(false)
		}
	}
}

// connAlive reports whether an idle connection is still open: nothing to read, no EOF.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	rc.Read(func(fd uintptr) bool {
		alive = peekAlive(fd)
		return true
	})
	return alive
}

// proxy sends a request to an endpoint of be and relays the response. False closes the
// client connection.
func (cc *clientConn) proxy(req *request, be *backend, ent *accessEntry) bool {
	u := cc.f.c.upstreams
	addr, first := be.pick()
	var uc *upConn
	var err error
	for attempt := 0; ; attempt++ {
		// A refused connection sent nothing: any request may go to the next endpoint.
		uc, err = u.get(addr, req.replay && req.cl == 0)
		if err == nil || attempt >= maxRetries || attempt+1 >= len(be.endpoints) || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		addr = be.endpoints[(first+attempt+1)%len(be.endpoints)]
	}
	ent.upstream = addr
	if err != nil {
		ent.err = err
		return cc.respondEmpty(req, ent, http.StatusBadGateway)
	}

	if req.expect && req.cl > 0 && cc.br.Buffered() == 0 {
		// nginx's way: the proxy asks for the body itself and does not pass Expect on.
		if _, err := cc.conn.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			u.put(addr, uc)
			ent.status, ent.err = 499, err
			return false
		}
	}
	msg := cc.up
	inline := req.cl == 0 || (req.cl <= inlineBody && int64(cc.br.Buffered()) >= req.cl)
	if inline && req.cl > 0 {
		b, _ := cc.br.Peek(int(req.cl))
		msg = append(msg, b...)
		cc.br.Discard(int(req.cl))
		cc.up = msg
		req.bodyRead = true
	}

	r := relay{cc: cc, uc: uc, req: req, ent: ent, out: cc.out[:0]}
	var bodyDone chan error
	for {
		r.setDeadline()
		_, werr := uc.conn.Write(msg)
		if werr == nil && !inline {
			bodyDone = make(chan error, 1)
			cc.clearReadDeadline()
			go func(uc *upConn, n int64) { bodyDone <- copyBody(uc.conn, cc.br, n) }(uc, req.cl)
		}
		r.watchOK = bodyDone == nil
		var got bool
		got, err = r.readHead()
		if err != nil && !got && uc.reused && inline && req.replay && !r.gone() {
			// The endpoint closed the pooled connection before it saw the request: once
			// more on a new connection, as net/http's Transport does.
			uc.conn.Close()
			r.unwatch()
			if uc, err = u.dialConn(addr); err != nil {
				break
			}
			r = relay{cc: cc, uc: uc, req: req, ent: ent, out: cc.out[:0]}
			continue
		}
		if err != nil && werr != nil && !got {
			err = werr
		}
		break
	}
	if err != nil {
		if uc != nil {
			uc.conn.Close()
		}
		gone := r.unwatch()
		if bodyDone != nil {
			if !r.sent {
				cc.conn.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
				ent.status = http.StatusBadGateway
			}
			cc.conn.Close()
			<-bodyDone
			ent.err = err
			return false
		}
		ent.err = err
		if gone {
			ent.status = 499
			return false
		}
		return cc.respondEmpty(req, ent, http.StatusBadGateway)
	}
	err = r.relayBody()
	gone := r.unwatch()
	keep := err == nil && !gone
	if bodyDone != nil {
		select {
		case berr := <-bodyDone:
			if berr != nil {
				keep = false
			}
		default:
			// The response ended before the request body: the endpoint will not read it.
			keep = false
			uc.conn.Close()
			cc.conn.Close()
			<-bodyDone
			ent.err = errors.New("response complete before the request body was sent")
			return false
		}
	}
	if err != nil {
		ent.err = err
	}
	if gone && ent.err == nil {
		ent.err = errors.New("client went away")
	}
	if keep && r.upKeep {
		u.put(addr, uc)
	} else {
		uc.conn.Close()
	}
	return keep && r.werr == nil
}

// respondEmpty answers with a status and no body (the ReverseProxy's 502).
func (cc *clientConn) respondEmpty(req *request, ent *accessEntry, status int) bool {
	keep := cc.discardBody(req)
	ent.status = status
	out := appendStatusLine(cc.out[:0], status, "")
	out = append(out, "Date: "...)
	out = appendDate(out)
	out = append(out, "\r\nContent-Length: 0\r\n"...)
	if !keep || req.close {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, crlf...)
	cc.out = out
	if _, err := cc.conn.Write(out); err != nil {
		return false
	}
	return keep
}

// copyBody copies n bytes of request body from the client to the endpoint.
func copyBody(dst net.Conn, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if _, err := src.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				dst.Close() // the endpoint must not take a truncated body as complete
				return fmt.Errorf("reading request body: %w", err)
			}
		}
		k := int(min(int64(src.Buffered()), n))
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			// The endpoint stopped reading (perhaps it answered already); drain nothing more.
			return fmt.Errorf("writing request body: %w", err)
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// relay reads a response from an endpoint and writes it to the client.
type relay struct {
	cc  *clientConn
	uc  *upConn
	req *request
	ent *accessEntry

	out     []byte
	werr    error // writing to the client failed
	watchOK bool  // the client connection may be watched (no body copy reads it)
	w       *watcher

	upKeep  bool  // the endpoint connection may be reused after the body
	cl      int64 // -1: unknown
	chunked bool
	noBody  bool
	sent    bool // something was written to the client
}

type watcher struct {
	done chan struct{}
	gone atomic.Bool
}

// setDeadline arms the watchAfter timer of a request: a read deadline on the endpoint
// connection. Coarsely: a deadline still more than half of watchAfter away stays, which
// saves a timer update on most requests and at worst starts watching the client earlier.
func (r *relay) setDeadline() {
	now := time.Now()
	if r.uc.deadline.IsZero() || r.uc.deadline.Sub(now) < watchAfter/2 {
		r.uc.deadline = now.Add(watchAfter)
		r.uc.conn.SetReadDeadline(r.uc.deadline)
	}
}

// fill reads more from the endpoint until at least n bytes are buffered. When the endpoint
// is slow it starts watching the client connection.
func (r *relay) fill(n int) error {
	for {
		_, err := r.uc.br.Peek(n)
		if err == nil {
			return nil
		}
		if isTimeout(err) && !r.uc.deadline.IsZero() {
			r.uc.deadline = time.Time{}
			r.uc.conn.SetReadDeadline(time.Time{})
			r.watch()
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return errors.New("response head or chunk line too large")
		}
		return err
	}
}

// watch reads from the client while the endpoint works: an error means the client went
// away, and the endpoint connection is closed to end the exchange.
func (r *relay) watch() {
	if !r.watchOK || r.w != nil {
		return
	}
	cc, up := r.cc, r.uc.conn
	cc.clearReadDeadline()
	w := &watcher{done: make(chan struct{})}
	r.w = w
	go func() {
		defer close(w.done)
		if _, err := cc.br.Peek(1); err != nil && !isTimeout(err) {
			w.gone.Store(true)
			up.Close()
		}
	}()
}

// unwatch stops watching and reports whether the client went away.
func (r *relay) unwatch() bool {
	w := r.w
	if w == nil {
		return false
	}
	r.w = nil
	r.cc.conn.SetReadDeadline(aLongTimeAgo)
	<-w.done
	r.cc.conn.SetReadDeadline(time.Time{})
	r.cc.deadline = time.Time{}
	return w.gone.Load()
}

func (r *relay) gone() bool { return r.w != nil && r.w.gone.Load() }

// readHead reads the response head (passing informational responses on) and writes the
// head to the client buffer. got reports whether the endpoint sent anything.
func (r *relay) readHead() (got bool, err error) {
	br := r.uc.br
	for {
		if err := r.fill(1); err != nil {
			return got, err
		}
		got = true
		var end int
		for {
			buf, _ := br.Peek(br.Buffered())
			if end = headEnd(buf); end > 0 {
				break
			}
			if err := r.fill(len(buf) + 1); err != nil {
				return got, err
			}
		}
		head, _ := br.Peek(end)
		status, err := r.parseHead(head)
		br.Discard(end)
		if err != nil {
			return got, err
		}
		if status >= 200 {
			return got, nil
		}
		if status != http.StatusContinue {
			// 102, 103: passed on as ReverseProxy does.
			if err := r.flush(); err != nil {
				return got, err
			}
		} else {
			r.out = r.out[:0]
		}
	}
}

// headEnd returns the length of the head in buf including its empty line (CRLF or LF
// line ends), or 0.
func headEnd(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(buf) && buf[i] == '\n' {
			return i + 1
		}
		if i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
			return i + 2
		}
	}
}

var errBadResponse = errors.New("malformed HTTP response from the endpoint")

const (
	keepLine = iota
	dropLine
	lengthLine
	trailerLine
)

type headLine struct {
	l    []byte
	name []byte
	kind uint8
}

// parseHead parses a response head (one pass; the lines are kept on the stack) and appends
// what the client gets to r.out.
func (r *relay) parseHead(head []byte) (int, error) {
	nl := bytes.IndexByte(head, '\n')
	l := trimCR(head[:nl])
	pos := nl + 1
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[8] != ' ' || (len(l) > 12 && l[12] != ' ') {
		return 0, errBadResponse
	}
	r.upKeep, r.cl, r.chunked = l[7] == '1', -1, false
	status := 0
	for _, d := range l[9:12] {
		if d < '0' || d > '9' {
			return 0, errBadResponse
		}
		status = status*10 + int(d-'0')
	}
	if status < 100 {
		return 0, errBadResponse
	}
	var reason []byte
	if len(l) > 13 {
		reason = l[13:]
		for _, b := range reason {
			if b < ' ' && b != '\t' || b == 0x7f {
				reason = nil
				break
			}
		}
	}
	var (
		store      [48]headLine
		hl         = store[:0]
		connTokens [][]byte
		cls        int
		hasDate    bool
		te         []byte
	)
	for pos < len(head) {
		nl := bytes.IndexByte(head[pos:], '\n')
		l := trimCR(head[pos : pos+nl])
		pos += nl + 1
		if len(l) == 0 {
			break
		}
		name, value, ok := splitHeader(l)
		if !ok {
			return 0, errBadResponse
		}
		kind := uint8(keepLine)
		switch len(name) {
		case 4:
			hasDate = hasDate || headerIs(name, "date")
		case 7:
			if headerIs(name, "trailer") {
				kind = trailerLine
			}
		case 10:
			if headerIs(name, "connection") {
				kind = dropLine
				for tok := range tokens(value) {
					if asciiEqualFold(tok, "close") {
						r.upKeep = false
					} else if !asciiEqualFold(tok, "keep-alive") {
						connTokens = append(connTokens, tok)
					}
				}
			}
		case 14:
			if headerIs(name, "content-length") {
				n, ok := parseContentLength(value)
				if !ok || (cls > 0 && n != r.cl) {
					return 0, errBadResponse
				}
				cls++
				r.cl = n
				kind = lengthLine
			}
		case 17:
			if headerIs(name, "transfer-encoding") {
				te = value
				kind = dropLine
			}
		}
		if kind == keepLine && hopByHop(name) {
			kind = dropLine
		}
		hl = append(hl, headLine{l: l, name: name, kind: kind})
	}
	if status == http.StatusSwitchingProtocols {
		return 0, errors.New("endpoint switched protocols without an upgrade request")
	}
	if te != nil {
		if !asciiEqualFold(te, "chunked") {
			return 0, fmt.Errorf("unsupported transfer encoding %q", te)
		}
		r.chunked = true
		if cls > 0 {
			r.upKeep = false // both framings: do not trust the connection afterwards
		}
		r.cl = -1
	}
	r.noBody = r.req.method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified || status < 200
	if !r.noBody && !r.chunked && r.cl < 0 {
		r.upKeep = false // the body ends with the connection
	}

	out := appendStatusLine(r.out[:0], status, string(reason))
	for _, h := range hl {
		switch h.kind {
		case dropLine:
			continue
		case trailerLine:
			if !r.chunked || r.noBody {
				continue
			}
		case lengthLine:
			if r.chunked || cls > 1 {
				continue
			}
		}
		if connTokens != nil && listed(connTokens, h.name) {
			continue
		}
		out = append(out, h.l...)
		out = append(out, crlf...)
	}
	if status >= 200 {
		if cls > 1 && !r.chunked {
			out = append(out, "Content-Length: "...)
			out = strconv.AppendInt(out, r.cl, 10)
			out = append(out, crlf...)
		}
		if !r.noBody && (r.chunked || r.cl < 0) {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
		if !hasDate {
			out = append(out, "Date: "...)
			out = appendDate(out)
			out = append(out, crlf...)
		}
		if r.req.close {
			out = append(out, "Connection: close\r\n"...)
		}
		r.ent.status = status
	}
	out = append(out, crlf...)
	r.out = out
	return status, nil
}

func trimCR(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		return l[:n-1]
	}
	return l
}

// flush writes what was gathered to the client.
func (r *relay) flush() error {
	if r.werr != nil {
		return r.werr
	}
	if len(r.out) == 0 {
		return nil
	}
	_, err := r.cc.conn.Write(r.out)
	r.sent = true
	r.out = r.out[:0]
	if err != nil {
		r.werr = err
		if r.ent.status != 0 && !r.gone() {
			r.ent.err = fmt.Errorf("writing to the client: %w", err)
		}
	}
	return err
}

// need makes at least n bytes available from the endpoint, writing what was gathered to
// the client first when that means waiting.
func (r *relay) need(n int) error {
	if r.uc.br.Buffered() >= n {
		return nil
	}
	if err := r.flush(); err != nil {
		return err
	}
	return r.fill(n)
}

// relayBody passes the response body on and writes everything to the client.
func (r *relay) relayBody() error {
	defer func() { r.cc.out = r.out[:0] }()
	err := r.body()
	if ferr := r.flush(); err == nil {
		err = ferr
	}
	return err
}

func (r *relay) body() error {
	br := r.uc.br
	switch {
	case r.noBody:
		return nil
	case r.chunked:
		return r.chunks()
	case r.cl >= 0:
		return r.copyBody(r.cl, "response body")
	default:
		// Until the endpoint closes; to the client in chunks.
		for {
			if err := r.need(1); err != nil {
				if errors.Is(err, io.EOF) {
					r.out = append(r.out, "0\r\n\r\n"...)
					return nil
				}
				return fmt.Errorf("response body: %w", err)
			}
			k := br.Buffered()
			b, _ := br.Peek(k)
			r.out = strconv.AppendInt(r.out, int64(k), 16)
			r.out = append(r.out, crlf...)
			r.out = append(r.out, b...)
			r.out = append(r.out, crlf...)
			br.Discard(k)
			r.ent.bytes += int64(k)
			if len(r.out) >= flushAt {
				if err := r.flush(); err != nil {
					return err
				}
			}
		}
	}
}

// line returns the next line (without its line end) of a chunked body.
func (r *relay) line() ([]byte, error) {
	br := r.uc.br
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			l := bytes.TrimSuffix(buf[:i], []byte{'\r'})
			r.out = append(r.out, l...)
			r.out = append(r.out, crlf...)
			br.Discard(i + 1)
			return r.out[len(r.out)-len(l)-2 : len(r.out)-2], nil
		}
		if err := r.need(len(buf) + 1); err != nil {
			return nil, fmt.Errorf("chunked response body: %w", err)
		}
	}
}

// copyBody passes the next n body bytes from the endpoint on to the client, flushing as the
// output fills; what names the body in errors.
func (r *relay) copyBody(n int64, what string) error {
	br := r.uc.br
	for n > 0 {
		if err := r.need(1); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		k := int(min(int64(br.Buffered()), n))
		b, _ := br.Peek(k)
		r.out = append(r.out, b...)
		br.Discard(k)
		n -= int64(k)
		r.ent.bytes += int64(k)
		if len(r.out) >= flushAt {
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunks passes a chunked body on as it comes: chunk lines, data and trailers as sent.
func (r *relay) chunks() error {
	for {
		l, err := r.line()
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(l)
		if !ok {
			return errors.New("chunked response body: bad chunk size line")
		}
		if size == 0 {
			for {
				l, err := r.line()
				if err != nil {
					return err
				}
				if len(l) == 0 {
					return nil
				}
			}
		}
		if err := r.copyBody(size, "chunked response body"); err != nil {
			return err
		}
		if l, err := r.line(); err != nil || len(l) != 0 {
			return errors.New("chunked response body: no line end after chunk data")
		}
	}
}

func parseChunkSize(l []byte) (int64, bool) {
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = bytes.TrimRight(l, " \t")
	if len(l) == 0 || len(l) > 15 {
		return 0, false
	}
	var n int64
	for _, b := range l {
		switch {
		case '0' <= b && b <= '9':
			n = n<<4 | int64(b-'0')
		case 'a' <= b && b <= 'f':
			n = n<<4 | int64(b-'a'+10)
		case 'A' <= b && b <= 'F':
			n = n<<4 | int64(b-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
