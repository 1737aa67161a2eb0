package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/cri"
)

// PodLister gives the server the kubelet's view of the pods bound to its node
// (*kubelet.Kubelet is one). The pods returned belong to the lister: the server never
// modifies them. Implementations must be safe for concurrent use.
type PodLister interface {
	// Pods returns every pod bound to the node.
	Pods() ([]*corev1.Pod, error)
}

// Config configures the kubelet server.
type Config struct {
	// Addr is the address to listen on (default ":10250").
	Addr string
	// Runtime is the CRI runtime whose containers are served.
	Runtime *cri.Runtime
	// TLS holds the serving certificate and the ClientCAs that client certificates are
	// verified against (ClientAuth tls.VerifyClientCertIfGiven). Required by Serve.
	TLS *tls.Config
	// Authorize decides whether a request may be served. If nil, only requests that
	// present a client certificate verified against TLS.ClientCAs are.
	Authorize func(r *http.Request) bool
	// Pods lists the pods of the node. If nil, /pods is empty and containers are found
	// by the pod's namespace and name labels alone.
	Pods PodLister
	// NodeName names the node in /stats/summary (default: the host name).
	NodeName string
	// Log receives the server's logs (default slog.Default()).
	Log *slog.Logger
}

// Server serves the kubelet API over a CRI runtime.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	cpu nodeCPU
}

// NewHandler returns the kubelet API as an http.Handler: Serve without the listener and
// TLS, for tests and for embedding.
func NewHandler(cfg Config) (*Server, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("kubelet server: a CRI runtime is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	s.mux.HandleFunc("GET /pods", s.servePods)
	s.mux.HandleFunc("GET /pods/{$}", s.servePods)
	s.mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveContainerLogs)
	for _, p := range []string{"/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}"} {
		s.mux.HandleFunc("GET "+p, s.serveExec)
		s.mux.HandleFunc("POST "+p, s.serveExec)
	}
	for _, p := range []string{"/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"} {
		s.mux.HandleFunc("GET "+p, s.serveAttach)
		s.mux.HandleFunc("POST "+p, s.serveAttach)
	}
	for _, p := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
		s.mux.HandleFunc("GET "+p, s.servePortForward)
		s.mux.HandleFunc("POST "+p, s.servePortForward)
	}
	s.mux.HandleFunc("GET /stats/summary", s.serveStatsSummary)
	return s, nil
}

// ServeHTTP authorizes the request and serves it. /healthz needs no authorization.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" && !s.authorized(r) {
		s.log.Debug("unauthorized kubelet request", "path", r.URL.Path, "remote", r.RemoteAddr)
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Authorize != nil {
		return s.cfg.Authorize(r)
	}
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0
}

// Serve listens on cfg.Addr with cfg.TLS and serves until ctx ends.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.TLS == nil {
		return errors.New("kubelet server: a TLS configuration is required")
	}
	h, err := NewHandler(cfg)
	if err != nil {
		return err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":10250"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubelet server: listening on %s: %w", addr, err)
	}
	tlsConfig := cfg.TLS.Clone()
	// Streams hijack their connection: HTTP/2 cannot, so only HTTP/1.1 is offered.
	tlsConfig.NextProtos = []string{"http/1.1"}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			srv.Close()
		}
	}()
	h.log.Info("kubelet server listening", "addr", ln.Addr().String())
	err = srv.Serve(tls.NewListener(ln, tlsConfig))
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kubelet server: %w", err)
}

// writeText writes an error as the kubelet does: plain text, which the API server turns
// into a Status with the same message.
func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg))
}

func (s *Server) servePods(w http.ResponseWriter, r *http.Request) {
	list := &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{}}
	if s.cfg.Pods != nil {
		pods, err := s.cfg.Pods.Pods()
		if err != nil {
			s.writeError(w, r, fmt.Errorf("listing pods: %w", err))
			return
		}
		for _, p := range pods {
			list.Items = append(list.Items, *p)
		}
	}
	data, err := json.Marshal(list)
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}
