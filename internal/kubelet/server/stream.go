package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	pfconstants "k8s.io/apimachinery/pkg/util/portforward"
	rcconstants "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// Timeouts of streaming sessions, the kubelet's.
const (
	streamIdleTimeout   = 4 * time.Hour
	writeStatusTimeout  = 10 * time.Second
	upstreamDialTimeout = 30 * time.Second
)

// serveStream connects the client to the runtime's streaming URL for one exec, attach
// (opts set) or port forward (opts nil). The runtime speaks SPDY and the old websocket
// protocols; kubectl asks for websocket protocols the runtime does not know first:
//
//   - v5.channel.k8s.io (exec, attach) is translated: the websocket channels are served
//     here and relayed to the runtime over SPDY, as the API server's stream translator
//     does upstream.
//   - SPDY/3.1+portforward.k8s.io (port forward) is SPDY framed in websocket messages:
//     the SPDY bytes are tunnelled unchanged to an SPDY upgrade of the runtime's URL.
//   - Everything else (SPDY, older websocket protocols) is proxied to the runtime as is.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, rawURL string, opts *streamOptions) {
	target, err := url.Parse(rawURL)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("runtime streaming URL %q: %w", rawURL, err))
		return
	}
	switch {
	case opts != nil && wsstream.IsWebSocketRequest(r) && offersProtocol(r, rcconstants.StreamProtocolV5Name):
		s.log.Debug("stream: websocket v5 translated to SPDY", "path", r.URL.Path)
		s.translate(w, r, target, *opts)
	case opts == nil && wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		s.log.Debug("stream: SPDY tunnelled over websocket", "path", r.URL.Path)
		s.tunnel(w, r, target)
	default:
		s.log.Debug("stream: proxied to the runtime", "path", r.URL.Path, "upgrade", r.Header.Get("Upgrade"))
		s.proxy(w, r, target)
	}
}

func offersProtocol(r *http.Request, protocol string) bool {
	for _, p := range gwebsocket.Subprotocols(r) {
		if p == protocol {
			return true
		}
	}
	return false
}

// proxy relays the request to the runtime's URL, upgrade included.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, target *url.URL) {
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = &url.URL{Scheme: target.Scheme, Host: target.Host, Path: target.Path, RawQuery: target.RawQuery}
			pr.Out.Host = target.Host
		},
		Transport: &http.Transport{
			DialContext:     (&net.Dialer{Timeout: upstreamDialTimeout}).DialContext,
			TLSClientConfig: runtimeTLS(),
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("proxying to the runtime's streaming server", "url", target.Redacted(), "err", err)
			writeText(w, http.StatusBadGateway, fmt.Sprintf("error proxying to the container runtime: %v", err))
		},
	}
	p.ServeHTTP(w, r)
}

// runtimeTLS is how the runtime's streaming server is reached when it serves TLS: its
// URL comes from the runtime over its local socket, and its certificate is usually
// self-signed.
func runtimeTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} //nolint:gosec // see above
}

// translate serves a v5.channel.k8s.io websocket and relays its channels to the
// runtime's URL over SPDY.
func (s *Server) translate(w http.ResponseWriter, r *http.Request, target *url.URL, opts streamOptions) {
	channels := make([]wsstream.ChannelType, 5)
	channel := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels[rcconstants.StreamStdIn] = channel(opts.stdin, wsstream.ReadChannel)
	channels[rcconstants.StreamStdOut] = channel(opts.stdout, wsstream.WriteChannel)
	channels[rcconstants.StreamStdErr] = channel(opts.stderr, wsstream.WriteChannel)
	channels[rcconstants.StreamErr] = wsstream.WriteChannel
	channels[rcconstants.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		rcconstants.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("websocket stream not opened", "err", err)
		return // Open answered the client
	}
	defer conn.Close()
	// An empty message on the first writable channel tells the client the session is up.
	first := rcconstants.StreamErr
	switch {
	case opts.stdout:
		first = rcconstants.StreamStdOut
	case opts.stderr:
		first = rcconstants.StreamStdErr
	}
	if _, err := streams[first].Write(nil); err != nil {
		return
	}
	writeStatus := func(st metav1.Status) {
		data, err := json.Marshal(st)
		if err != nil {
			return
		}
		conn.SetWriteDeadline(writeStatusTimeout)
		streams[rcconstants.StreamErr].Write(data)
	}

	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{TLS: runtimeTLS(), PingPeriod: 5 * time.Second})
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).Status())
		return
	}
	executor, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, rt, http.MethodPost, target)
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).Status())
		return
	}
	so := remotecommand.StreamOptions{Tty: opts.tty}
	if opts.stdin {
		so.Stdin = streams[rcconstants.StreamStdIn]
	}
	if opts.stdout {
		so.Stdout = streams[rcconstants.StreamStdOut]
	}
	if opts.stderr {
		so.Stderr = streams[rcconstants.StreamStdErr]
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if opts.tty {
		sizes := make(chan remotecommand.TerminalSize)
		go readResizes(ctx, streams[rcconstants.StreamResize], sizes)
		so.TerminalSizeQueue = sizeQueue(sizes)
	}
	err = executor.StreamWithContext(ctx, so)
	var status apierrors.APIStatus
	var exitErr exec.CodeExitError
	switch {
	case err == nil:
		writeStatus(metav1.Status{Status: metav1.StatusSuccess})
	case errors.As(err, &exitErr) && exitErr.Exited():
		writeStatus(metav1.Status{
			Status: metav1.StatusFailure,
			Reason: rcconstants.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: rcconstants.ExitCodeCauseType, Message: fmt.Sprintf("%d", exitErr.ExitStatus())},
			}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
		})
	case errors.As(err, &status):
		writeStatus(status.Status())
	default:
		writeStatus(apierrors.NewInternalError(err).Status())
	}
}

// readResizes decodes the terminal sizes the client sends on the resize channel.
func readResizes(ctx context.Context, r io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// sizeQueue hands the client's terminal sizes to the SPDY executor.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	size, ok := <-q
	if !ok {
		return nil
	}
	return &size
}

// tunnel serves a port forward whose SPDY session is framed in websocket messages: the
// runtime's URL is upgraded to SPDY, then the client's websocket is accepted and bytes
// are copied both ways.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, target *url.URL) {
	var spdyProtocols, wsProtocols []string
	for _, p := range gwebsocket.Subprotocols(r) {
		if strings.HasPrefix(p, pfconstants.WebsocketsSPDYTunnelingPrefix) && strings.HasSuffix(p, pfconstants.KubernetesSuffix) {
			spdyProtocols = append(spdyProtocols, strings.TrimPrefix(p, pfconstants.WebsocketsSPDYTunnelingPrefix))
		}
	}
	if len(spdyProtocols) == 0 {
		writeText(w, http.StatusBadRequest, "unable to upgrade: no tunneling spdy protocols provided")
		return
	}
	upstream, resp, err := dialUpgrade(r.Context(), target, spdyProtocols)
	if err != nil {
		s.log.Warn("upgrading the runtime's streaming URL", "url", target.Redacted(), "err", err)
		writeText(w, http.StatusBadGateway, fmt.Sprintf("error dialing the container runtime: %v", err))
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		writeText(w, resp.StatusCode, string(body))
		return
	}
	defer upstream.Close()
	if p := resp.Header.Get("X-Stream-Protocol-Version"); p != "" {
		wsProtocols = []string{pfconstants.WebsocketsSPDYTunnelingPrefix + p}
	} else {
		wsProtocols = []string{pfconstants.WebsocketsSPDYTunnelingPrefix + spdyProtocols[0]}
	}
	up := gwebsocket.Upgrader{
		Subprotocols: wsProtocols,
		// The client is authenticated by its certificate, not its origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket tunnel not opened", "err", err)
		return // Upgrade answered the client
	}
	client := portforward.NewTunnelingConnection("server", ws)
	defer client.Close()
	splice(client, upstream)
}

// splice copies between a and b until either side ends, then closes both.
func splice(a, b net.Conn) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer closeBoth()
		io.Copy(a, b)
	}()
	go func() {
		defer wg.Done()
		defer closeBoth()
		io.Copy(b, a)
	}()
	wg.Wait()
}

// dialUpgrade asks target for an SPDY upgrade with the given protocols. On 101 it returns
// the upgraded connection; otherwise the connection is closed and the response is
// returned with its body readable.
func dialUpgrade(ctx context.Context, target *url.URL, protocols []string) (net.Conn, *http.Response, error) {
	host := target.Host
	if target.Port() == "" {
		if target.Scheme == "https" {
			host = net.JoinHostPort(target.Hostname(), "443")
		} else {
			host = net.JoinHostPort(target.Hostname(), "80")
		}
	}
	d := &net.Dialer{Timeout: upstreamDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, fmt.Errorf("dialing %s: %w", host, err)
	}
	if target.Scheme == "https" {
		cfg := runtimeTLS()
		cfg.ServerName = target.Hostname()
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake with %s: %w", host, err)
		}
		conn = tc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", spdy.HeaderSpdy31)
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	conn.SetDeadline(time.Now().Add(upstreamDialTimeout))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("writing upgrade request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("reading upgrade response: %w", err)
	}
	conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		conn.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, resp, nil
	}
	return &bufferedConn{Conn: conn, r: br}, resp, nil
}

// bufferedConn reads what the response reader already buffered before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
