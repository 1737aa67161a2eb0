package ingress_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/network/ingress"
	"github.com/kijabi/kijabi/internal/testserver"
)

// inspect answers with what it received: the request line, the headers (sorted) and the
// body's length and SHA-256.
func inspect(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\nhost: %s\nlength: %d\nsha256: %s\n", r.Method, r.RequestURI, r.Proto, r.Host, len(body), hex.EncodeToString(sum[:]))
	var names []string
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], " | "))
	}
	fmt.Fprintf(&b, "te: %v\n", r.TransferEncoding)
	w.Header().Set("X-Backend", "inspect")
	io.WriteString(w, b.String())
}

// rawBackend answers every request with what respond returns (a raw response), reading
// requests with net/http's parser; it closes the connection when close is true.
func rawBackend(t *testing.T, respond func(r *http.Request) (raw string, close bool)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					raw, cl := respond(req)
					if _, err := io.WriteString(conn, raw); err != nil || cl {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// rawConn is a client connection to the ingress for hand-written requests.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr net.Addr) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request of method.
func (c *rawConn) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the ingress closed the connection (no more bytes, EOF).
func (c *rawConn) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.br.ReadByte()
	return err == io.EOF
}

func header(body, name string) string {
	for l := range strings.SplitSeq(body, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// TestHTTP1 checks the HTTP/1.1 semantics of the proxy: framing, hop-by-hop headers,
// bodies, 100-continue, HEAD, keep-alive to clients and endpoints, the requests handed to
// net/http, and client aborts.
func TestHTTP1(t *testing.T) {
	s := testserver.Start(t)
	client := s.Client
	ctx := context.Background()

	inspectSrv := httptest.NewUnstartedServer(http.HandlerFunc(inspect))
	var newConns atomic.Int64
	var closedConns atomic.Int64
	inspectSrv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			newConns.Add(1)
		case http.StateClosed:
			closedConns.Add(1)
		}
	}
	inspectSrv.Start()
	t.Cleanup(inspectSrv.Close)
	exposeEndpoints(t, client, "inspect", inspectSrv.Listener.Addr().(*net.TCPAddr).Port)

	slowStarted, slowCanceled := make(chan struct{}, 1), make(chan struct{}, 1)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	backend(t, client, "misc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			slowStarted <- struct{}{}
			<-r.Context().Done()
			slowCanceled <- struct{}{}
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part %d\n", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after hints")
		case "/head":
			w.Header().Set("Content-Length", "11")
			if r.Method != http.MethodHead {
				io.WriteString(w, "hello world")
			}
		}
	}))
	rawPort := rawBackend(t, func(r *http.Request) (string, bool) {
		switch r.URL.Path {
		case "/until-close":
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true
		case "/hop":
			return "HTTP/1.1 200 OK\r\nConnection: X-Resp-Drop\r\nX-Resp-Drop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: x\r\nX-Keep: 1\r\nContent-Length: 2\r\n\r\nok", false
		case "/http10":
			return "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!", false
		case "/garbage":
			return "NOT HTTP AT ALL\r\n\r\n", true
		case "/bad-length":
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", true
		}
		return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false
	})
	exposeEndpoints(t, client, "raw", rawPort)

	roots := tlsSecret(t, client, "h-tls", "h.example")
	c, logs := startIngress(t, client)
	httpAddr, httpsAddr := c.Addrs()
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "http1", Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("kijabi"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"h.example"}, SecretName: "h-tls"}},
			Rules: []networkingv1.IngressRule{
				rule("h.example", prefix("/", "inspect")),
				rule("misc.example", prefix("/", "misc")),
				rule("raw.example", prefix("/", "raw")),
				rule("none.example", prefix("/", "svc-none")),
			},
		},
	}
	if _, err := client.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := clientTo(httpAddr, nil)
	for _, h := range []string{"h", "misc", "raw"} {
		eventually(t, plain, "http://"+h+".example/", func(r result) bool { return r.status != http.StatusNotFound || h == "raw" })
	}
	eventually(t, plain, "http://h.example/", func(r result) bool { return r.backend == "inspect" })

	// A keep-alive client: the proxy keeps both sides' connections.
	keepAlive := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", httpAddr.String())
		},
	}}
	t.Cleanup(keepAlive.CloseIdleConnections)

	t.Run("hop-by-hop", func(t *testing.T) {
		rc := dialRaw(t, httpAddr)
		rc.send("GET /x?q=1 HTTP/1.1\r\nHost: h.example\r\nConnection: X-Drop, keep-alive\r\nX-Drop: 1\r\nKeep-Alive: 300\r\n" +
			"Proxy-Connection: keep-alive\r\nProxy-Authorization: secret\r\nTE: trailers, deflate\r\nX-Forwarded-For: 10.0.0.1\r\n" +
			"X-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nX-Keep: yes\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /x?q=1 HTTP/1.1\nhost: h.example\n") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		for _, h := range []string{"X-Drop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Connection", "Forwarded"} {
			if v := header(body, h); v != "" {
				t.Errorf("backend got %s: %s", h, v)
			}
		}
		for h, want := range map[string]string{
			"Te": "trailers", "X-Keep": "yes", "X-Forwarded-For": "10.0.0.1, 127.0.0.1",
			"X-Forwarded-Host": "h.example", "X-Forwarded-Proto": "http",
		} {
			if got := header(body, h); got != want {
				t.Errorf("backend got %s %q, want %q", h, got, want)
			}
		}
		// And in responses.
		rc.send("GET /hop HTTP/1.1\r\nHost: raw.example\r\n\r\n")
		resp, body = rc.read("GET")
		if body != "ok" || resp.Header.Get("X-Keep") != "1" {
			t.Errorf("/hop: %q %v", body, resp.Header)
		}
		for _, h := range []string{"X-Resp-Drop", "Keep-Alive", "Proxy-Authenticate", "Connection"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("client got %s: %s", h, v)
			}
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("no Date header")
		}
	})

	t.Run("bodies", func(t *testing.T) {
		for _, n := range []int{0, 1, 100 << 10, 3 << 20} {
			payload := bytes.Repeat([]byte{'x'}, n)
			resp, err := keepAlive.Post("http://h.example/upload", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := sha256.Sum256(payload)
			if header(string(body), "length") != strconv.Itoa(n) || header(string(body), "sha256") != hex.EncodeToString(sum[:]) {
				t.Errorf("POST %d bytes: backend got\n%s", n, body)
			}
		}
		// Chunked request bodies go to net/http, which passes them on.
		rc := dialRaw(t, httpAddr)
		rc.send("POST /chunked-upload HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		_, body := rc.read("POST")
		if header(body, "length") != "11" {
			t.Errorf("chunked upload: backend got\n%s", body)
		}
		// The connection goes on being served.
		rc.send("GET /after HTTP/1.1\r\nHost: h.example\r\n\r\n")
		if _, body := rc.read("GET"); !strings.HasPrefix(body, "GET /after ") {
			t.Errorf("request after the chunked upload: %q", body)
		}
		// Large responses.
		resp, err := keepAlive.Get("http://misc.example/big")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Errorf("big response: %d bytes, %v", len(got), err)
		}
	})

	t.Run("expect-continue", func(t *testing.T) {
		rc := dialRaw(t, httpAddr)
		rc.send("PUT /put HTTP/1.1\r\nHost: h.example\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		line, err := rc.br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		if blank, _ := rc.br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue not followed by a blank line: %q", blank)
		}
		rc.send("hello")
		resp, body := rc.read("PUT")
		if resp.StatusCode != 200 || header(body, "length") != "5" || header(body, "Expect") != "" {
			t.Errorf("%d\n%s", resp.StatusCode, body)
		}
		// net/http's client waits for the 100 too.
		req, _ := http.NewRequest(http.MethodPost, "http://h.example/post", strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		r, err := keepAlive.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if header(string(b), "length") != "7" {
			t.Errorf("Expect with net/http's client:\n%s", b)
		}
	})

	t.Run("framing", func(t *testing.T) {
		rc := dialRaw(t, httpAddr)
		// HEAD: Content-Length but no body, and the connection goes on.
		rc.send("HEAD /head HTTP/1.1\r\nHost: misc.example\r\n\r\n")
		resp, body := rc.read("HEAD")
		if resp.StatusCode != 200 || resp.ContentLength != 11 || body != "" {
			t.Errorf("HEAD: %d %d %q", resp.StatusCode, resp.ContentLength, body)
		}
		// Chunked responses stay chunked, with trailers.
		rc.send("GET /chunked HTTP/1.1\r\nHost: misc.example\r\n\r\n")
		resp, body = rc.read("GET")
		if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) || body != "part 0\npart 1\npart 2\n" || resp.Trailer.Get("X-Sum") != "3" {
			t.Errorf("chunked: %v %q trailer %v", resp.TransferEncoding, body, resp.Trailer)
		}
		// 103 Early Hints are passed on before the response.
		rc.send("GET /hints HTTP/1.1\r\nHost: misc.example\r\n\r\n")
		line, _ := rc.br.ReadString('\n')
		if line != "HTTP/1.1 103 Early Hints\r\n" {
			t.Errorf("first line %q, want the 103", line)
		}
		for {
			l, err := rc.br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "after hints" {
			t.Errorf("after 103: %d %q", resp.StatusCode, body)
		}
		// A body that ends with the endpoint's connection reaches the client chunked.
		rc.send("GET /until-close HTTP/1.1\r\nHost: raw.example\r\n\r\n")
		resp, body = rc.read("GET")
		if body != "until the end" || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
			t.Errorf("until-close: %q %v", body, resp.TransferEncoding)
		}
		// An HTTP/1.0 endpoint.
		rc.send("GET /http10 HTTP/1.1\r\nHost: raw.example\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "old!" || resp.ProtoMinor != 1 {
			t.Errorf("http10: %d %q %s", resp.StatusCode, body, resp.Proto)
		}
		// Pipelined requests are answered in order.
		rc.send("GET /one HTTP/1.1\r\nHost: h.example\r\n\r\nGET /two HTTP/1.1\r\nHost: h.example\r\n\r\n")
		_, b1 := rc.read("GET")
		_, b2 := rc.read("GET")
		if !strings.HasPrefix(b1, "GET /one ") || !strings.HasPrefix(b2, "GET /two ") {
			t.Errorf("pipelined: %q, %q", b1, b2)
		}
		// Broken endpoints: 502.
		for _, p := range []string{"/garbage", "/bad-length"} {
			rc.send("GET " + p + " HTTP/1.1\r\nHost: raw.example\r\n\r\n")
			if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("%s: %d, want 502", p, resp.StatusCode)
			}
		}
		// A body sent to a broken endpoint is not taken for the next request.
		rc.send("POST /garbage HTTP/1.1\r\nHost: raw.example\r\nContent-Length: 3\r\n\r\nabc")
		if resp, _ := rc.read("POST"); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("POST /garbage: %d, want 502", resp.StatusCode)
		}
		rc.send("GET /after-502 HTTP/1.1\r\nHost: h.example\r\n\r\n")
		if _, body := rc.read("GET"); !strings.HasPrefix(body, "GET /after-502 ") {
			t.Errorf("request after a 502: %q", body)
		}
		// No endpoints: 503, and the body of the request is dropped.
		rc.send("POST / HTTP/1.1\r\nHost: none.example\r\nContent-Length: 3\r\n\r\nabc")
		if resp, _ := rc.read("POST"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("no endpoints: %d", resp.StatusCode)
		}
		// Connection: close is honoured.
		rc.send("GET /last HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n")
		if resp, _ := rc.read("GET"); !resp.Close {
			t.Errorf("response to Connection: close does not close")
		}
		if !rc.closed() {
			t.Errorf("connection open after Connection: close")
		}
	})

	t.Run("handed-to-net-http", func(t *testing.T) {
		rc := dialRaw(t, httpAddr)
		rc.send("GET /old HTTP/1.0\r\nHost: h.example\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /old HTTP/1.1\n") {
			t.Errorf("HTTP/1.0: %d %q", resp.StatusCode, body)
		}
		if !rc.closed() {
			t.Errorf("HTTP/1.0 connection kept open")
		}
		// Missing Host: 400 from net/http.
		rc = dialRaw(t, httpAddr)
		rc.send("GET / HTTP/1.1\r\n\r\n")
		if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("no Host: %d", resp.StatusCode)
		}
		// HTTP/2 over TLS.
		h2 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", httpsAddr.String())
			},
		}}
		r, err := h2.Get("https://h.example/h2")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.ProtoMajor != 2 || header(string(b), "X-Forwarded-Proto") != "https" {
			t.Errorf("h2: %s\n%s", r.Proto, b)
		}
		// HTTP/1.1 over TLS is the fast path, with X-Forwarded-Proto https.
		r, err = clientTo(httpsAddr, roots).Get("https://h.example/h1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if r.ProtoMajor != 1 || header(string(b), "X-Forwarded-Proto") != "https" {
			t.Errorf("TLS HTTP/1.1: %s\n%s", r.Proto, b)
		}
	})

	t.Run("endpoint-connections", func(t *testing.T) {
		get := func(method, body string) {
			t.Helper()
			req, _ := http.NewRequest(method, "http://h.example/reuse", strings.NewReader(body))
			resp, err := keepAlive.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || header(string(b), "length") != strconv.Itoa(len(body)) {
				t.Fatalf("%s: %d %s", method, resp.StatusCode, b)
			}
		}
		get("GET", "")
		before := newConns.Load()
		for range 20 {
			get("GET", "")
		}
		if n := newConns.Load() - before; n != 0 {
			t.Errorf("20 sequential requests opened %d new endpoint connections", n)
		}
		// The endpoint closes its idle connections: the next requests, GET and POST, still
		// succeed (a GET is sent again on a new connection, a POST is not sent on a closed one).
		for _, method := range []string{"GET", "POST"} {
			closed := closedConns.Load()
			inspectSrv.CloseClientConnections()
			deadline := time.Now().Add(10 * time.Second)
			for closedConns.Load() == closed {
				if time.Now().After(deadline) {
					t.Fatal("endpoint connections not closed")
				}
				time.Sleep(5 * time.Millisecond) // polling interval
			}
			get(method, "data")
		}
	})

	t.Run("client-abort", func(t *testing.T) {
		rc := dialRaw(t, httpAddr)
		rc.send("GET /slow HTTP/1.1\r\nHost: misc.example\r\n\r\n")
		select {
		case <-slowStarted:
		case <-time.After(20 * time.Second):
			t.Fatal("the slow request did not reach the endpoint")
		}
		rc.conn.Close()
		select {
		case <-slowCanceled:
		case <-time.After(20 * time.Second):
			t.Fatal("the endpoint's request was not canceled when the client went away")
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "path=/slow status=499") {
			if time.Now().After(deadline) {
				t.Fatalf("no access log line with status 499")
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	})
}

// Config.AccessLog gets the access log lines, buffered, instead of Config.Log.
func TestBufferedAccessLog(t *testing.T) {
	s := testserver.Start(t)
	backend(t, s.Client, "logged", echo("logged"))
	logs, access := &syncBuffer{}, &syncBuffer{}
	c := runIngress(t, ingress.Config{
		Client: s.Client, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		AccessLog: access, Debounce: 20 * time.Millisecond,
	})
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "logged", Namespace: ns},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("log.example", prefix("/", "logged"))}},
	}
	if _, err := s.Client.NetworkingV1().Ingresses(ns).Create(context.Background(), ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	httpAddr, _ := c.Addrs()
	eventually(t, clientTo(httpAddr, nil), "http://log.example/buffered", func(r result) bool { return r.backend == "logged" })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(access.String(), "msg=access method=GET host=log.example path=/buffered status=200") {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line in Config.AccessLog:\n%s", access.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if strings.Contains(logs.String(), "msg=access") {
		t.Errorf("access log lines in Config.Log too:\n%s", logs.String())
	}
}
