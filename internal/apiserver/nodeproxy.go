package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file serves the subresources that the API server proxies rather than stores:
// pods/log, pods/exec, pods/attach and pods/portforward go to the kubelet of the pod's
// node (/containerLogs, /exec, /attach, /portForward), nodes/proxy to the kubelet (or
// another port of the node), pods/proxy to the pod and services/proxy to one of the
// service's endpoints. Upgrades (exec, attach, port forward, whatever their protocol) are
// proxied as raw connections; the kubelet translates protocols.

// kubeletDefaultPort is the kubelet's port when a node does not say.
const kubeletDefaultPort = 10250

// connectVerb corrects the verb of a request to a connect subresource: exec, attach and
// port forward need "create" whether they come as GET (websocket) or POST (SPDY).
func connectVerb(info *requestInfo) {
	if info.group == "" && info.resource == "pods" {
		switch info.subresource {
		case "exec", "attach", "portforward":
			info.verb = "create"
		}
	}
}

// serveConnect serves the proxied subresources.
func (s *Server) serveConnect(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if err := s.admitConnectByWebhooks(ctx, w, r, res, info); err != nil {
		return err
	}
	switch {
	case res.gr.Group == "" && res.gr.Resource == "pods":
		switch info.subresource {
		case "log":
			if info.verb != "get" {
				return methodNotSupported(res.gr, info.verb)
			}
			return s.servePodLog(ctx, w, r, info)
		case "exec", "attach":
			return s.servePodStream(ctx, w, r, info)
		case "portforward":
			return s.servePortForward(ctx, w, r, info)
		case "proxy":
			return s.servePodProxy(ctx, w, r, info)
		}
	case res.gr.Group == "" && res.gr.Resource == "nodes" && info.subresource == "proxy":
		return s.serveNodeProxy(ctx, w, r, info)
	case res.gr.Group == "" && res.gr.Resource == "services" && info.subresource == "proxy":
		return s.serveServiceProxy(ctx, w, r, info)
	}
	return apierrors.NewNotFound(res.gr, info.name)
}

// kubeletTransport is how the API server reaches kubelets: with its kubelet client
// certificate, verifying kubelets' serving certificates only when a CA is configured
// (kube-apiserver without --kubelet-certificate-authority does not).
func (s *Server) kubeletTransport() (*http.Transport, error) {
	s.kubeletOnce.Do(func() {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		if s.cfg.KubeletCA != nil {
			cfg.RootCAs = s.cfg.KubeletCA
		} else {
			cfg.InsecureSkipVerify = true //nolint:gosec // as kube-apiserver without a kubelet CA
		}
		if s.cfg.KubeletClientCertFile != "" {
			pair, err := tls.LoadX509KeyPair(s.cfg.KubeletClientCertFile, s.cfg.KubeletClientKeyFile)
			if err != nil {
				s.kubeletErr = fmt.Errorf("apiserver: loading the kubelet client certificate: %w", err)
				return
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		s.kubeletRT = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     cfg,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
	})
	return s.kubeletRT, s.kubeletErr
}

// KubeletCertPool reads a PEM bundle for Config.KubeletCA.
func KubeletCertPool(pemFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("apiserver: reading kubelet CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("apiserver: no certificates in %s", pemFile)
	}
	return pool, nil
}

// coreResource is a resource of the core group.
func (s *Server) coreResource(name string) *resource { return s.byGroupResource["/"+name] }

func (s *Server) getPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	res := s.coreResource("pods")
	obj, err := res.store.Get(ctx, res.store.Key(namespace, name))
	if err != nil {
		return nil, storageError(err, res.gr, name)
	}
	return obj.(*corev1.Pod), nil
}

// kubeletLocation is where the kubelet of a node listens: the node's InternalIP (else
// Hostname, else any address) and its daemonEndpoints port.
func (s *Server) kubeletLocation(ctx context.Context, nodeName string) (host string, port int, err error) {
	res := s.coreResource("nodes")
	obj, err := res.store.Get(ctx, res.store.Key("", nodeName))
	if err != nil {
		return "", 0, storageError(err, res.gr, nodeName)
	}
	node := obj.(*corev1.Node)
	host, err = nodeAddress(node)
	if err != nil {
		return "", 0, err
	}
	port = int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = kubeletDefaultPort
	}
	return host, port, nil
}

func nodeAddress(node *corev1.Node) (string, error) {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalIP, corev1.NodeExternalDNS} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("no preferred addresses found; known addresses: %v", node.Status.Addresses))
}

// validateContainer picks the container a request names, or the pod's only one; the
// messages are kube-apiserver's.
func validateContainer(container string, pod *corev1.Pod) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		var names []string
		for _, c := range pod.Spec.InitContainers {
			names = append(names, c.Name)
		}
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, c := range pod.Spec.EphemeralContainers {
			names = append(names, c.Name)
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// queryBool reads a boolean query parameter as the parameter codec does.
func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for %s: %v", v, name, err))
	}
	return b, nil
}

func queryInt(q url.Values, name string) (*int64, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for %s: %v", v, name, err))
	}
	return &n, nil
}

// servePodLog serves pods/log: the log is read from the kubelet and streamed back.
func (s *Server) servePodLog(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	q := r.URL.Query()
	params := url.Values{}
	var errs field.ErrorList
	for _, name := range []string{"follow", "previous", "timestamps"} {
		b, err := queryBool(q, name)
		if err != nil {
			return err
		}
		if b {
			params.Set(name, "true")
		}
	}
	tail, err := queryInt(q, "tailLines")
	if err != nil {
		return err
	}
	if tail != nil {
		if *tail < 0 {
			errs = append(errs, field.Invalid(field.NewPath("tailLines"), *tail, "must be greater than or equal to 0"))
		}
		params.Set("tailLines", strconv.FormatInt(*tail, 10))
	}
	limit, err := queryInt(q, "limitBytes")
	if err != nil {
		return err
	}
	if limit != nil {
		if *limit < 1 {
			errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *limit, "must be greater than 0"))
		}
		params.Set("limitBytes", strconv.FormatInt(*limit, 10))
	}
	since, err := queryInt(q, "sinceSeconds")
	if err != nil {
		return err
	}
	sinceTime := q.Get("sinceTime")
	switch {
	case since != nil && sinceTime != "":
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case since != nil:
		if *since < 1 {
			errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *since, "must be greater than 0"))
		}
		params.Set("sinceSeconds", strconv.FormatInt(*since, 10))
	case sinceTime != "":
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for sinceTime: %v", sinceTime, err))
		}
		params.Set("sinceTime", t.Format(time.RFC3339))
	}
	if st := q.Get("stream"); st != "" {
		switch st {
		case "All", "Stdout", "Stderr":
			params.Set("stream", st)
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), st, []string{"All", "Stdout", "Stderr"}))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, info.name, errs)
	}
	pod, err := s.getPod(ctx, info.namespace, info.name)
	if err != nil {
		return err
	}
	container, err := validateContainer(q.Get("container"), pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		// As kube-apiserver: a pod without a node has no log yet.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	host, port, err := s.kubeletLocation(ctx, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	rt, err := s.kubeletTransport()
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	loc := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)),
		Path: fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container), RawQuery: params.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	defer resp.Body.Close()
	if err := kubeletResponseError(resp, schema.GroupResource{Resource: "pods/log"}, info.name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			rc.Flush()
		}
		if err != nil {
			return nil // the response has begun: nothing more to report
		}
	}
}

// kubeletResponseError turns an error answer of a kubelet into the Status error
// kube-apiserver makes of it (its GenericHttpResponseChecker).
func kubeletResponseError(resp *http.Response, gr schema.GroupResource, name string) error {
	if resp.StatusCode >= http.StatusOK && resp.StatusCode <= http.StatusPartialContent {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 50000))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	text := strings.TrimSpace(string(data))
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(text))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", gr, name, text, 0, false)
}

// isUpgrade reports whether r asks for a connection upgrade.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// servePodStream serves pods/exec and pods/attach.
func (s *Server) servePodStream(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	q := r.URL.Query()
	params := url.Values{}
	for _, p := range []struct{ query, kubelet string }{{"stdin", "input"}, {"stdout", "output"}, {"stderr", "error"}, {"tty", "tty"}} {
		b, err := queryBool(q, p.query)
		if err != nil {
			return err
		}
		if b {
			params.Set(p.kubelet, "1")
		}
	}
	if info.subresource == "exec" {
		for _, c := range q["command"] {
			params.Add("command", c)
		}
	}
	pod, err := s.getPod(ctx, info.namespace, info.name)
	if err != nil {
		return err
	}
	container, err := validateContainer(q.Get("container"), pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", info.name))
	}
	if !isUpgrade(r) {
		return apierrors.NewBadRequest("Upgrade request required")
	}
	host, port, err := s.kubeletLocation(ctx, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	loc := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)),
		Path: fmt.Sprintf("/%s/%s/%s/%s", info.subresource, pod.Namespace, pod.Name, container), RawQuery: params.Encode()}
	return s.proxyToKubelet(w, r, loc)
}

// servePortForward serves pods/portforward.
func (s *Server) servePortForward(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	params := url.Values{}
	var ports []string
	for _, v := range r.URL.Query()["ports"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", p))
			}
			ports = append(ports, strconv.FormatUint(n, 10))
		}
	}
	if len(ports) > 0 {
		params.Set("port", strings.Join(ports, ","))
	}
	pod, err := s.getPod(ctx, info.namespace, info.name)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", info.name))
	}
	if !isUpgrade(r) {
		return apierrors.NewBadRequest("Upgrade request required")
	}
	host, port, err := s.kubeletLocation(ctx, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	loc := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)),
		Path: fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name), RawQuery: params.Encode()}
	return s.proxyToKubelet(w, r, loc)
}

func (s *Server) proxyToKubelet(w http.ResponseWriter, r *http.Request, loc *url.URL) error {
	rt, err := s.kubeletTransport()
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	s.proxy(w, r, loc, rt)
	return nil
}

// proxy relays r to loc, connection upgrades included. The client's credentials are not
// passed on: the API server speaks for itself.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, loc *url.URL, rt http.RoundTripper) {
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = loc
			pr.Out.Host = loc.Host
			pr.Out.Header.Del("Authorization")
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport:     rt,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("proxy error", "url", loc.Redacted(), "err", err)
			writeError(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)))
		},
	}
	p.ServeHTTP(w, r)
}

// proxyPath is what follows {name}/proxy in r's path, with its trailing slash ("/" if
// nothing does).
func proxyPath(r *http.Request, info *requestInfo) string {
	marker := "/" + info.resource + "/" + info.name + "/proxy"
	p := r.URL.Path
	if i := strings.Index(p, marker); i >= 0 {
		p = p[i+len(marker):]
	} else {
		p = "/" + info.rest
	}
	if p == "" {
		p = "/"
	}
	return p
}

// splitSchemeNamePort splits "[scheme:]name[:port]" as kube-apiserver does for proxy
// names.
func splitSchemeNamePort(id string) (scheme, name, port string, ok bool) {
	parts := strings.Split(id, ":")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		name, port = parts[0], parts[1]
	case 3:
		scheme, name, port = parts[0], parts[1], parts[2]
	default:
		return "", "", "", false
	}
	if name == "" || (scheme != "" && scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	return scheme, name, port, true
}

// plainTransport reaches pods and non-kubelet node ports.
var plainTransport = &http.Transport{
	DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}, //nolint:gosec // as kube-apiserver's proxy transport
	TLSHandshakeTimeout: 10 * time.Second,
	IdleConnTimeout:     90 * time.Second,
}

// serveNodeProxy serves nodes/proxy: the kubelet's API, or another port of the node.
func (s *Server) serveNodeProxy(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	scheme, name, portReq, ok := splitSchemeNamePort(info.name)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", info.name))
	}
	host, port, err := s.kubeletLocation(ctx, name)
	if err != nil {
		return err
	}
	rt := http.RoundTripper(plainTransport)
	if portReq == "" || portReq == strconv.Itoa(port) {
		portReq, scheme = strconv.Itoa(port), "https"
		if rt, err = s.kubeletTransport(); err != nil {
			return apierrors.NewInternalError(err)
		}
	} else if scheme == "" {
		scheme = "http"
	}
	loc := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, portReq), Path: proxyPath(r, info), RawQuery: r.URL.RawQuery}
	s.proxy(w, r, loc, rt)
	return nil
}

// servePodProxy serves pods/proxy: a port of the pod, by default its first declared one.
func (s *Server) servePodProxy(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	scheme, name, port, ok := splitSchemeNamePort(info.name)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", info.name))
	}
	pod, err := s.getPod(ctx, info.namespace, name)
	if err != nil {
		return err
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	ip := net.ParseIP(pod.Status.PodIP)
	if ip == nil || !ip.IsGlobalUnicast() && !ip.IsLoopback() {
		return apierrors.NewBadRequest("address not allowed")
	}
	if scheme == "" {
		scheme = "http"
	}
	host := pod.Status.PodIP
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if ip.To4() == nil {
		host = "[" + host + "]"
	}
	loc := &url.URL{Scheme: scheme, Host: host, Path: proxyPath(r, info), RawQuery: r.URL.RawQuery}
	s.proxy(w, r, loc, plainTransport)
	return nil
}

// serveServiceProxy serves services/proxy: a ready endpoint of the service's port (by
// name or number; the only port when none is given).
func (s *Server) serveServiceProxy(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) error {
	scheme, name, portReq, ok := splitSchemeNamePort(info.name)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid service request %q", info.name))
	}
	svcs := s.coreResource("services")
	obj, err := svcs.store.Get(ctx, svcs.store.Key(info.namespace, name))
	if err != nil {
		return storageError(err, svcs.gr, name)
	}
	svc := obj.(*corev1.Service)
	var svcPort *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if portReq == "" && len(svc.Spec.Ports) == 1 || p.Name == portReq || strconv.Itoa(int(p.Port)) == portReq {
			svcPort = &svc.Spec.Ports[i]
			break
		}
	}
	if svcPort == nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", info.name))
	}
	eps := s.coreResource("endpoints")
	obj, err = eps.store.Get(ctx, eps.store.Key(info.namespace, name))
	if err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", info.name))
	}
	for _, subset := range obj.(*corev1.Endpoints).Subsets {
		for _, p := range subset.Ports {
			if p.Name != svcPort.Name || len(subset.Addresses) == 0 {
				continue
			}
			if scheme == "" {
				scheme = "http"
			}
			addr := subset.Addresses[0].IP
			loc := &url.URL{Scheme: scheme, Host: net.JoinHostPort(addr, strconv.Itoa(int(p.Port))), Path: proxyPath(r, info), RawQuery: r.URL.RawQuery}
			s.proxy(w, r, loc, plainTransport)
			return nil
		}
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", info.name))
}
