package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
	"github.com/kijabi/kijabi/internal/auth"
	"github.com/kijabi/kijabi/internal/storage"
)

// The aggregation layer, as kube-apiserver's aggregator: every group version has an
// APIService. Local ones (no spec.service) are served here; for a remote one, requests for
// /apis/GROUP/VERSION/... are authenticated and authorized here and proxied to its Service
// over HTTPS, with the user's identity in the front-proxy headers (X-Remote-User,
// X-Remote-Uid, X-Remote-Group, X-Remote-Extra-*) and the front-proxy client certificate.
// The availability controller (apiservice_available.go) keeps each APIService's Available
// condition and the discovery document of remote group versions; discovery lists remote
// group versions with the resources their servers report, and orders groups and versions
// by the APIServices' priorities. A remote APIService for a group version served here
// takes it over.

// aggregator is the server's view of the APIServices; it is guarded by mu.
type aggregator struct {
	mu sync.RWMutex
	// apiServices are the APIServices as last seen, by name.
	apiServices map[string]*apiregistrationv1.APIService
	// remote are the group versions served by extension servers, by "group/version".
	remote map[string]*remoteAPI
	// discovery holds the resources each remote group version reported at its last
	// successful check, by "group/version".
	discovery map[string]*metav1.APIResourceList

	// queue holds the names of the APIServices whose availability is to be checked.
	queue workqueue.TypedRateLimitingInterface[string]
	// autoregister is signalled when the APIServices of custom resources may need work.
	autoregister chan struct{}

	// The front-proxy client certificate, loaded once; the proxy transports by target.
	certOnce   sync.Once
	cert       *tls.Certificate
	certErr    error
	tmu        sync.Mutex
	transports map[string]*http.Transport
}

// remoteAPI is a group version served by an extension server.
type remoteAPI struct {
	name               string // the APIService's
	group, version     string
	namespace, service string
	port               int32
	caBundle           []byte
	insecure           bool
	available          bool
}

func (r *remoteAPI) serverName() string { return r.service + "." + r.namespace + ".svc" }

func gvKey(group, version string) string { return group + "/" + version }

// remoteFor returns the extension server of a group version, or nil.
func (s *Server) remoteFor(group, version string) *remoteAPI {
	s.agg.mu.RLock()
	defer s.agg.mu.RUnlock()
	return s.agg.remote[gvKey(group, version)]
}

// setAPIService records an APIService as seen (nil obj: deleted), unless what is recorded
// is more recent, and rebuilds the remote table. It reports whether anything changed.
func (s *Server) setAPIService(name string, obj *apiregistrationv1.APIService) bool {
	s.agg.mu.Lock()
	defer s.agg.mu.Unlock()
	cur := s.agg.apiServices[name]
	if obj != nil && cur != nil && cur.UID == obj.UID && olderRV(obj.ResourceVersion, cur.ResourceVersion) {
		return false
	}
	if obj == nil {
		if cur == nil {
			return false
		}
		delete(s.agg.apiServices, name)
	} else {
		s.agg.apiServices[name] = obj
	}
	s.rebuildRemoteLocked()
	return true
}

// olderRV reports whether resourceVersion a is older than b.
func olderRV(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func (s *Server) rebuildRemoteLocked() {
	remote := map[string]*remoteAPI{}
	for name, a := range s.agg.apiServices {
		svc := a.Spec.Service
		if svc == nil || a.Spec.Group == "" || a.Spec.Group == apiregistrationv1.GroupName {
			// The core group and the aggregator's own group are always served here.
			continue
		}
		port := int32(443)
		if svc.Port != nil {
			port = *svc.Port
		}
		remote[gvKey(a.Spec.Group, a.Spec.Version)] = &remoteAPI{
			name: name, group: a.Spec.Group, version: a.Spec.Version,
			namespace: svc.Namespace, service: svc.Name, port: port,
			caBundle: a.Spec.CABundle, insecure: a.Spec.InsecureSkipTLSVerify, available: a.IsAvailable(),
		}
	}
	for key := range s.agg.discovery {
		if r := remote[key]; r == nil {
			delete(s.agg.discovery, key)
		}
	}
	s.agg.remote = remote
}

// startAggregator loads the APIServices, writes the local ones, publishes the front-proxy
// settings for extension servers and starts following APIServices, the Services they
// name, and custom resource definitions. Everything stops with ctx.
func (s *Server) startAggregator(ctx context.Context) error {
	res := s.apiServiceResource()
	if res == nil {
		return nil
	}
	s.agg.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](500*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "apiservice-availability"})
	s.agg.autoregister = make(chan struct{}, 1)
	if err := s.publishAuthenticationConfig(ctx); err != nil {
		return err
	}
	if err := s.registerLocalAPIServices(ctx); err != nil {
		return err
	}
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return fmt.Errorf("apiserver: listing APIServices: %w", err)
	}
	s.agg.mu.Lock()
	for _, obj := range list.Items {
		a := obj.(*apiregistrationv1.APIService)
		s.agg.apiServices[a.Name] = a
	}
	s.rebuildRemoteLocked()
	s.agg.mu.Unlock()
	for _, obj := range list.Items {
		s.agg.queue.Add(obj.(*apiregistrationv1.APIService).Name)
	}
	go func() {
		<-ctx.Done()
		s.agg.queue.ShutDown()
		s.closeProxyTransports()
	}()
	go s.followAPIServices(ctx, list.Revision)
	if r := s.coreResource("services"); r != nil {
		go s.follow(ctx, r, 0, func(_ watch.EventType, obj runtime.Object) {
			svc := obj.(*corev1.Service)
			s.serviceChanged(svc.Namespace, svc.Name)
		}, nil)
	}
	if r := s.coreResource("endpoints"); r != nil {
		go s.follow(ctx, r, 0, func(_ watch.EventType, obj runtime.Object) {
			ep := obj.(*corev1.Endpoints)
			s.serviceChanged(ep.Namespace, ep.Name)
		}, nil)
	}
	if r := s.byGroupResource["discovery.k8s.io/endpointslices"]; r != nil {
		go s.follow(ctx, r, 0, func(_ watch.EventType, obj runtime.Object) {
			es := obj.(*discoveryv1.EndpointSlice)
			if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
				s.serviceChanged(es.Namespace, name)
			}
		}, nil)
	}
	if crds := s.crdResource(); crds != nil {
		go s.follow(ctx, crds, 0, func(watch.EventType, runtime.Object) { s.kickAutoregister() }, nil)
	}
	go s.runAutoregister(ctx)
	for range 2 {
		go s.runAvailability(ctx)
	}
	go s.resyncAvailability(ctx)
	return nil
}

// follow calls handle for every change of res's objects from revision rev on (0: from a
// fresh list, whose objects are handled as Added), until ctx ends. After a watch failure it
// lists again, handles the objects as Added and gives relisted (when set) the whole list,
// so that it can forget objects deleted meanwhile.
func (s *Server) follow(ctx context.Context, res *resource, rev int64, handle func(watch.EventType, runtime.Object), relisted func([]runtime.Object)) {
	for ctx.Err() == nil {
		if rev == 0 {
			list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("aggregator: listing", "resource", res.gr, "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			for _, obj := range list.Items {
				handle(watch.Added, obj)
			}
			if relisted != nil {
				relisted(list.Items)
			}
			rev = list.Revision
		}
		for ev := range res.store.Watch(ctx, res.store.Prefix(""), rev) {
			switch ev.Type {
			case watch.Error:
				rev = 0
			case watch.Bookmark:
			default:
				if obj, err := ev.Object(); err == nil {
					handle(ev.Type, obj)
				}
				rev = ev.Revision
			}
		}
		rev = 0
	}
}

// followAPIServices keeps the aggregator's view of the APIServices.
func (s *Server) followAPIServices(ctx context.Context, rev int64) {
	s.follow(ctx, s.apiServiceResource(), rev, func(typ watch.EventType, obj runtime.Object) {
		a := obj.(*apiregistrationv1.APIService)
		if typ == watch.Deleted {
			s.apiServiceGone(a)
			return
		}
		s.setAPIService(a.Name, a.DeepCopy())
		s.agg.queue.Add(a.Name)
	}, func(items []runtime.Object) {
		seen := map[string]bool{}
		for _, obj := range items {
			seen[obj.(*apiregistrationv1.APIService).Name] = true
		}
		s.agg.mu.RLock()
		var gone []*apiregistrationv1.APIService
		for name, a := range s.agg.apiServices {
			if !seen[name] {
				gone = append(gone, a)
			}
		}
		s.agg.mu.RUnlock()
		for _, a := range gone {
			s.apiServiceGone(a)
		}
	})
}

// apiServiceGone forgets a deleted APIService; the custom resources' ones come back.
func (s *Server) apiServiceGone(a *apiregistrationv1.APIService) {
	s.setAPIService(a.Name, nil)
	if a.Labels[apiregistrationv1.AutoManagedLabel] == apiregistrationv1.AutoManagedAlways {
		s.kickAutoregister()
	}
}

// serviceChanged queues the APIServices served by a Service whose object, endpoints or
// endpoint slices changed.
func (s *Server) serviceChanged(namespace, name string) {
	s.agg.mu.RLock()
	var names []string
	for _, r := range s.agg.remote {
		if r.namespace == namespace && r.service == name {
			names = append(names, r.name)
		}
	}
	s.agg.mu.RUnlock()
	for _, n := range names {
		s.agg.queue.Add(n)
	}
}

// ---- Serving ----

// serveAggregated proxies a request for a group version served by an extension server;
// it reports false for the requests served here.
func (s *Server) serveAggregated(w http.ResponseWriter, r *http.Request, user *auth.User) bool {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 2 && parts[0] == "apis" && parts[1] == apiregistrationv1.GroupName {
		return !jsonOnly(w, r)
	}
	if len(parts) < 3 || parts[0] != "apis" {
		return false
	}
	remote := s.remoteFor(parts[1], parts[2])
	if remote == nil {
		return false
	}
	if !s.authorizeAggregated(w, r, user, parts) {
		return true
	}
	if !remote.available {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return true
	}
	rt, err := s.proxyTransport(remote)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return true
	}
	target := &url.URL{Scheme: "https", Host: net.JoinHostPort(remote.serverName(), strconv.Itoa(int(remote.port))),
		Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			setFrontProxyHeaders(pr.Out.Header, user)
		},
		Transport:     &serviceTransport{base: rt, resolve: s.resolverFor(remote)},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Debug("aggregator: proxy error", "apiservice", remote.name, "err", err)
			msg := err.Error()
			if errors.As(err, new(*resolveError)) {
				msg = "service unavailable"
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
		},
	}
	p.ServeHTTP(w, r)
	return true
}

// jsonOnly prepares a request for APIServices, which have no protobuf encoding: protobuf
// is taken off what the client accepts (it then gets JSON, as for custom resources), and a
// request that accepts or sends nothing else is refused. It reports whether the request
// may go on.
func jsonOnly(w http.ResponseWriter, r *http.Request) bool {
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, runtime.ContentTypeProtobuf) {
		writeError(w, unsupportedMediaType(ct))
		return false
	}
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, runtime.ContentTypeProtobuf) {
		return true
	}
	var keep []string
	for _, clause := range strings.Split(accept, ",") {
		if !strings.HasPrefix(strings.TrimSpace(clause), runtime.ContentTypeProtobuf) {
			keep = append(keep, clause)
		}
	}
	if len(keep) == 0 {
		writeError(w, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "",
			"only the following media types are accepted: application/json, application/yaml", 0, false))
		return false
	}
	r.Header.Set("Accept", strings.Join(keep, ","))
	return true
}

// authorizeAggregated authorizes a proxied request as kube-apiserver does before it
// proxies: the group version's discovery document as a path, anything else as a resource
// request parsed without knowing the resources (namespaces/NS/RESOURCE is namespaced,
// except a namespace's status and finalize).
func (s *Server) authorizeAggregated(w http.ResponseWriter, r *http.Request, user *auth.User, parts []string) bool {
	if len(parts) == 3 {
		ok, reason := s.cfg.Authorizer.Authorize(auth.Attributes{User: user, Verb: strings.ToLower(r.Method), Path: r.URL.Path})
		if !ok {
			writeError(w, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New(reason)))
		}
		return ok
	}
	info, ok := parseRequest(r, func(_, res string) (bool, bool) { return res != "status" && res != "finalize", true })
	if !ok {
		writeError(w, notFoundPath())
		return false
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.observed = observed{info: info}
	}
	allowed, reason := s.cfg.Authorizer.Authorize(auth.Attributes{User: user, Verb: info.verb, Group: info.group,
		Version: info.version, Resource: info.resource, Subresource: info.subresource, Namespace: info.namespace, Name: info.name})
	if allowed {
		return true
	}
	writeError(w, apierrors.NewForbidden(schema.GroupResource{Group: info.group, Resource: info.resource}, info.name, errors.New(forbiddenMessage(user.Name, info, reason))))
	return false
}

// setFrontProxyHeaders replaces the client's credentials with the front-proxy headers
// naming the user: extension servers trust them from the proxy's client certificate.
func setFrontProxyHeaders(h http.Header, user *auth.User) {
	h.Del("Authorization")
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "impersonate-") || strings.HasPrefix(lk, "x-remote-") {
			h.Del(k)
		}
	}
	h.Set("X-Remote-User", user.Name)
	if user.UID != "" {
		h.Set("X-Remote-Uid", user.UID)
	}
	for _, g := range user.Groups {
		h.Add("X-Remote-Group", g)
	}
	for k, vs := range user.Extra {
		for _, v := range vs {
			h.Add("X-Remote-Extra-"+headerKeyEscape(k), v)
		}
	}
}

// headerKeyEscape percent-encodes what may not appear in a header name (and '%'), so that
// an extra key such as "example.org/scope" survives as a header suffix.
func headerKeyEscape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == '%' || !isTokenByte(c) {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isTokenByte reports whether c may appear in an HTTP header name (RFC 7230 tchar).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&'*+-.^_`|~", c) >= 0
}

// resolveError is a failure to find where a Service is served.
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

// resolverFor resolves an extension server's Service for each request, as webhooks'
// Services are resolved: a ready endpoint, else the ClusterIP; an ExternalName's name.
func (s *Server) resolverFor(r *remoteAPI) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		addr, err := s.resolveWebhookService(ctx, r.namespace, r.service, r.port)
		if err != nil {
			return "", &resolveError{err}
		}
		return addr, nil
	}
}

// proxyClientCert is the front-proxy client certificate, or nil when none is configured.
func (s *Server) proxyClientCert() (*tls.Certificate, error) {
	s.agg.certOnce.Do(func() {
		if s.cfg.ProxyClientCertFile == "" {
			return
		}
		pair, err := tls.LoadX509KeyPair(s.cfg.ProxyClientCertFile, s.cfg.ProxyClientKeyFile)
		if err != nil {
			s.agg.certErr = fmt.Errorf("apiserver: loading the front-proxy client certificate: %w", err)
			return
		}
		s.agg.cert = &pair
	})
	return s.agg.cert, s.agg.certErr
}

// proxyTransport returns the transport to an extension server: its caBundle (the system
// roots without one) or no verification with insecureSkipTLSVerify, the Service's DNS name
// as the server name, the front-proxy client certificate. HTTP/1.1, so that upgrades pass.
func (s *Server) proxyTransport(r *remoteAPI) (*http.Transport, error) {
	sum := sha256.Sum256(r.caBundle)
	key := fmt.Sprintf("%s|%t|%s", r.serverName(), r.insecure, hex.EncodeToString(sum[:]))
	s.agg.tmu.Lock()
	defer s.agg.tmu.Unlock()
	if t := s.agg.transports[key]; t != nil {
		return t, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: r.serverName(), NextProtos: []string{"http/1.1"}}
	switch {
	case r.insecure:
		cfg.InsecureSkipVerify = true //nolint:gosec // the APIService asks for it
	case len(r.caBundle) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(r.caBundle) {
			return nil, errors.New("unable to load root certificates: unable to parse bytes as PEM block")
		}
		cfg.RootCAs = pool
	}
	t, err := s.newProxyTransport(cfg)
	if err != nil {
		return nil, err
	}
	if s.agg.transports == nil || len(s.agg.transports) >= 256 {
		for _, old := range s.agg.transports {
			old.CloseIdleConnections()
		}
		s.agg.transports = map[string]*http.Transport{}
	}
	s.agg.transports[key] = t
	return t, nil
}

func (s *Server) newProxyTransport(cfg *tls.Config) (*http.Transport, error) {
	cert, err := s.proxyClientCert()
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 16,
	}, nil
}

func (s *Server) closeProxyTransports() {
	s.agg.tmu.Lock()
	defer s.agg.tmu.Unlock()
	for _, t := range s.agg.transports {
		t.CloseIdleConnections()
	}
	s.agg.transports = nil
}

// ---- Discovery ----

// apiServicePriority is where a group version ranks in discovery.
type apiServicePriority struct {
	group, version int32
	// name is the APIService's, which breaks ties between groups.
	name string
}

// aggregateDiscovery adjusts the groups discovery lists to the APIServices: remote group
// versions replace the ones served here or join them (byGV loses the resources they
// replace), and groups and versions are ordered as kube-apiserver orders them: groups by
// their highest groupPriorityMinimum, then by APIService name; versions by
// versionPriority, then as Kubernetes versions.
func (s *Server) aggregateDiscovery(groups []groupInfo, byGV map[string][]*resource) []groupInfo {
	s.agg.mu.RLock()
	prio := make(map[string]apiServicePriority, len(s.agg.apiServices))
	for _, a := range s.agg.apiServices {
		prio[gvKey(a.Spec.Group, a.Spec.Version)] = apiServicePriority{a.Spec.GroupPriorityMinimum, a.Spec.VersionPriority, a.Name}
	}
	remote := make([]*remoteAPI, 0, len(s.agg.remote))
	for _, r := range s.agg.remote {
		remote = append(remote, r)
	}
	s.agg.mu.RUnlock()
	if len(prio) == 0 && len(remote) == 0 {
		return groups
	}
	index := map[string]int{}
	for i, g := range groups {
		index[g.name] = i
	}
	for _, r := range remote {
		delete(byGV, gvKey(r.group, r.version))
		groups = withGroupVersion(groups, index, r.group, r.version)
	}
	priorityOf := func(group, v string) apiServicePriority {
		if p, ok := prio[gvKey(group, v)]; ok {
			return p
		}
		return defaultPriority(s, group, v)
	}
	return orderGroups(groups, priorityOf)
}

// defaultPriority ranks a group version that has no APIService (yet): built-ins from
// kube-apiserver's table, custom resources as their APIServices will.
func defaultPriority(s *Server, group, v string) apiServicePriority {
	name := v + "." + group
	if s.servesBuiltin(group, v) {
		p := builtinPriority(group, v)
		return apiServicePriority{p.group, p.version, name}
	}
	return apiServicePriority{crdGroupPriority, crdVersionPriority, name}
}

// orderGroups sorts groups and their versions by priority (see aggregateDiscovery); the
// core group stays first.
func orderGroups(groups []groupInfo, priorityOf func(group, version string) apiServicePriority) []groupInfo {
	type ranked struct {
		g   groupInfo
		top apiServicePriority
	}
	out := make([]ranked, 0, len(groups))
	for _, g := range groups {
		versions := append([]string(nil), g.versions...)
		sort.SliceStable(versions, func(i, j int) bool {
			a, b := priorityOf(g.name, versions[i]), priorityOf(g.name, versions[j])
			if a.version != b.version {
				return a.version > b.version
			}
			return version.CompareKubeAwareVersionStrings(versions[i], versions[j]) > 0
		})
		var top apiServicePriority
		for i, v := range versions {
			p := priorityOf(g.name, v)
			if i == 0 || p.group > top.group || p.group == top.group && p.name < top.name {
				top = p
			}
		}
		out = append(out, ranked{groupInfo{name: g.name, versions: versions}, top})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.g.name == "") != (b.g.name == "") {
			return a.g.name == ""
		}
		if a.top.group != b.top.group {
			return a.top.group > b.top.group
		}
		return a.top.name < b.top.name
	})
	groups = groups[:0:0]
	for _, r := range out {
		groups = append(groups, r.g)
	}
	return groups
}

// remoteVersionDiscovery is the aggregated discovery of a remote group version: the
// resources its server reported at the last check, or none (the group version is listed
// all the same, as kube-apiserver lists it) while it is not available.
func (s *Server) remoteVersionDiscovery(group, v string) (apidiscoveryv2.APIVersionDiscovery, bool) {
	s.agg.mu.RLock()
	r := s.agg.remote[gvKey(group, v)]
	list := s.agg.discovery[gvKey(group, v)]
	s.agg.mu.RUnlock()
	if r == nil {
		return apidiscoveryv2.APIVersionDiscovery{}, false
	}
	vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	if r.available && list != nil {
		vd.Resources = resourceListDiscovery(group, v, list)
	}
	return vd, true
}

// resourceListDiscovery converts a group version's APIResourceList into aggregated
// discovery: "parent/sub" entries become subresources of their parent.
func resourceListDiscovery(group, v string, list *metav1.APIResourceList) []apidiscoveryv2.APIResourceDiscovery {
	var out []apidiscoveryv2.APIResourceDiscovery
	index := map[string]int{}
	kindOf := func(r metav1.APIResource) *metav1.GroupVersionKind {
		g, ver := group, v
		if r.Group != "" || r.Version != "" {
			g, ver = r.Group, r.Version
		}
		return &metav1.GroupVersionKind{Group: g, Version: ver, Kind: r.Kind}
	}
	for _, r := range list.APIResources {
		if strings.Contains(r.Name, "/") {
			continue
		}
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		index[r.Name] = len(out)
		out = append(out, apidiscoveryv2.APIResourceDiscovery{
			Resource: r.Name, ResponseKind: kindOf(r), Scope: scope, SingularResource: r.SingularName,
			Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
	}
	for _, r := range list.APIResources {
		parent, sub, ok := strings.Cut(r.Name, "/")
		if !ok {
			continue
		}
		i, ok := index[parent]
		if !ok {
			continue
		}
		out[i].Subresources = append(out[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource: sub, ResponseKind: kindOf(r), Verbs: r.Verbs,
		})
	}
	return out
}
