package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// serveContainerLogs serves /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	namespace, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, previous, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeText(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	pod, err := s.lookupPod(namespace, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pod != nil && !hasContainer(pod, container) {
		writeText(w, http.StatusNotFound, fmt.Sprintf("container %q not found in pod %q", container, name))
		return
	}
	id, err := s.logContainer(ctx, pod, namespace, name, container, previous)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.cfg.Runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("container status of %s: %w", id, err))
		return
	}
	if st.Status.GetLogPath() == "" {
		writeText(w, http.StatusBadRequest, fmt.Sprintf("container %q in pod %q has no log file", container, name))
		return
	}
	running := func(ctx context.Context) (bool, error) {
		st, err := s.cfg.Runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("container status of %s: %w", id, err)
		}
		return st.Status.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING, nil
	}
	w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: w, rc: http.NewResponseController(w), flush: opts.Follow}
	if err := ReadLogs(ctx, st.Status.LogPath, opts, running, fw, fw); err != nil {
		if !fw.wrote {
			s.writeError(w, r, err)
			return
		}
		s.log.Debug("reading container log", "pod", namespace+"/"+name, "container", container, "err", err)
	}
}

// flushWriter sends what is written at once when following, so that lines reach the
// client as they are logged.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	flush bool
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if err == nil && f.flush {
		err = f.rc.Flush()
	}
	return n, err
}

// streamOptions are the streams an exec or attach asks for.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
	command                    []string
}

// parseStreamOptions reads the query of an exec or attach: the API server sends
// input/output/error/tty=1; stdin/stdout/stderr=true are accepted too.
func parseStreamOptions(r *http.Request) (streamOptions, error) {
	q := r.URL.Query()
	set := func(names ...string) bool {
		for _, n := range names {
			if v := q.Get(n); v == "1" || v == "true" {
				return true
			}
		}
		return false
	}
	o := streamOptions{
		stdin:   set("input", "stdin"),
		stdout:  set("output", "stdout"),
		stderr:  set("error", "stderr"),
		tty:     set("tty"),
		command: q["command"],
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errorf(http.StatusBadRequest, "you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.tty && o.stderr {
		// A terminal merges stderr into stdout.
		o.stderr = false
	}
	return o, nil
}

// serveExec serves /exec/{namespace}/{pod}/[{uid}/]{container}.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	opts, err := parseStreamOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(opts.command) == 0 {
		writeText(w, http.StatusBadRequest, "you must specify at least one command for the container")
		return
	}
	id, err := s.streamContainer(ctx, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.cfg.Runtime.Runtime.Exec(ctx, &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: opts.command, Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("exec in container %s: %w", id, err))
		return
	}
	s.serveStream(w, r, resp.Url, &opts)
}

// serveAttach serves /attach/{namespace}/{pod}/[{uid}/]{container}.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	opts, err := parseStreamOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := s.streamContainer(ctx, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.cfg.Runtime.Runtime.Attach(ctx, &runtimeapi.AttachRequest{
		ContainerId: id, Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("attach to container %s: %w", id, err))
		return
	}
	s.serveStream(w, r, resp.Url, &opts)
}

// streamContainer finds the running container an exec or attach request names.
func (s *Server) streamContainer(ctx context.Context, r *http.Request) (string, error) {
	namespace, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pod, err := s.lookupPod(namespace, name)
	if err != nil {
		return "", err
	}
	if uid := r.PathValue("uid"); pod != nil && uid != "" && uid != string(pod.UID) {
		return "", errorf(http.StatusNotFound, "pod %q does not exist", name)
	}
	c, err := s.runningContainer(ctx, pod, namespace, name, container)
	if err != nil {
		return "", err
	}
	return c.Id, nil
}

// servePortForward serves /portForward/{namespace}/{pod}[/{uid}].
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	namespace, name := r.PathValue("namespace"), r.PathValue("pod")
	pod, err := s.lookupPod(namespace, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if uid := r.PathValue("uid"); pod != nil && uid != "" && uid != string(pod.UID) {
		writeText(w, http.StatusNotFound, fmt.Sprintf("pod %q does not exist", name))
		return
	}
	// Ports come in the query for the websocket protocol; SPDY clients name them per
	// stream.
	var ports []int32
	for _, v := range r.URL.Query()["port"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				writeText(w, http.StatusBadRequest, fmt.Sprintf("invalid port %q", p))
				return
			}
			ports = append(ports, int32(n))
		}
	}
	sb, err := s.readySandbox(ctx, pod, namespace, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.cfg.Runtime.Runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: sb.Id, Port: ports})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("port forward to sandbox %s: %w", sb.Id, err))
		return
	}
	s.serveStream(w, r, resp.Url, nil)
}
