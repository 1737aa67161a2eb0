package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsac "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"github.com/kijabi/kijabi/internal/apiserver/openapi"
	"github.com/kijabi/kijabi/internal/apiserver/printers"
	"github.com/kijabi/kijabi/internal/auth"
	"github.com/kijabi/kijabi/internal/storage"
)

// Config configures a Server.
type Config struct {
	// Storage is the etcd connection; the server owns no other state.
	Storage *storage.Backend
	// ServiceCIDR is the range ClusterIPs are allocated from.
	ServiceCIDR *net.IPNet
	// NodePortMin and NodePortMax bound NodePort allocation (default 30000-32767).
	NodePortMin, NodePortMax int
	// AdvertiseAddress and Port are where clients reach this server; they become the
	// endpoints of the `kubernetes` Service.
	AdvertiseAddress net.IP
	Port             int
	// Authenticator identifies requests; Authorizer allows or denies them.
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer
	// CompactionInterval is how often etcd is compacted (default 5m; 0 uses the default,
	// negative disables).
	CompactionInterval time.Duration
	// KubeletClientCertFile and KubeletClientKeyFile are the client certificate the
	// server presents to kubelets (logs, exec, attach, port forward, node proxy).
	KubeletClientCertFile, KubeletClientKeyFile string
	// KubeletCA verifies kubelets' serving certificates; if nil they are not verified.
	KubeletCA *x509.CertPool
	// ServiceAccountIssuer signs service account tokens (serviceaccounts/token, legacy
	// token Secrets); nil disables them.
	ServiceAccountIssuer *auth.TokenIssuer
	// APIAudiences are the default audiences of tokens (default: the issuer's name).
	APIAudiences []string
	// ServiceAccountMaxTokenExpiration caps the lifetime a TokenRequest may ask for
	// (--service-account-max-token-expiration; 0: no cap beyond validation's 2^32s).
	ServiceAccountMaxTokenExpiration time.Duration
	// ClientCA verifies client certificates (default RootCA); RequestHeaderCA verifies the
	// front-proxy client certificate (ProxyClientCertFile, ProxyClientKeyFile) the server
	// presents to extension API servers, whose common name is one of
	// RequestHeaderAllowedNames. They are published for extension servers in the
	// extension-apiserver-authentication ConfigMap (aggregator.go, frontproxy.go).
	ClientCA, RequestHeaderCA               []byte
	RequestHeaderAllowedNames               []string
	ProxyClientCertFile, ProxyClientKeyFile string

	// RootCA is the cluster CA bundle put in legacy service account token Secrets.
	RootCA []byte
	Log    *slog.Logger
}

// Server is the Kubernetes API server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	scheme    *runtime.Scheme
	codecs    serializer.CodecFactory
	resources map[schema.GroupVersionResource]*resource
	// byGroupResource finds a resource by group and plural name (for request parsing).
	byGroupResource map[string]*resource
	groups          []groupInfo
	// crs are the custom resources served (crd.go).
	crs crRegistry
	// openapi holds the OpenAPI documents, rebuilt when custom resources change
	// (openapi.go).
	openapi     openapiState
	openapiBase []openapi.Resource
	alloc       *allocator
	start       time.Time
	// kubeletRT reaches kubelets; built once (kubeletTransport).
	kubeletOnce sync.Once
	kubeletRT   *http.Transport
	kubeletErr  error
	// metrics holds the resource metrics read from kubelets (metrics.go).
	metrics resourceMetrics
	// instruments are the server's Prometheus metrics (instrumentation.go).
	instruments *instruments
	// webhooks holds the compiled webhook configurations and webhook clients (webhook.go).
	webhooks webhookState
	// policies holds the compiled ValidatingAdmissionPolicies and bindings (policy.go).
	policies policyState
	// agg is the aggregation layer's state: APIServices and extension servers (aggregator.go).
	agg aggregator
	// stopped is closed when the server stops (set by Start).
	stopped <-chan struct{}
	// defaultPriority is the default PriorityClass of pods, remembered (podadmission.go).
	defaultPriority priorityDefault
}

type groupInfo struct {
	name     string
	versions []string
}

// resource is a served resource with what serving it needs.
type resource struct {
	resourceDef
	gvk, listGVK schema.GroupVersionKind
	gr           schema.GroupResource
	store        *storage.Store
	printer      printers.Printer
	// cr is set for custom resources (see crd.go); singular is their singular name.
	cr       *crInfo
	singular string
	// managers tracks managedFields for the object (""), its status ("status") and other
	// subresources that write part of it ("approval").
	managers map[string]*managedfields.FieldManager
	// creates remembers the fields recorded for the last objects created (createtrack.go).
	creates createCache
	// stored is set when objects are stored in the protobuf encoding of the served kind:
	// protobuf clients can then be sent the stored bytes (see passthrough.go).
	stored bool
}

// New builds a Server on cfg.Storage.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.NodePortMin == 0 {
		cfg.NodePortMin, cfg.NodePortMax = 30000, 32767
	}
	if cfg.ServiceCIDR == nil {
		_, cfg.ServiceCIDR, _ = net.ParseCIDR("10.96.0.0/12")
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = auth.AllowAll{}
	}
	s := &Server{
		cfg:             cfg,
		log:             cfg.Log,
		scheme:          NewScheme(),
		resources:       map[schema.GroupVersionResource]*resource{},
		byGroupResource: map[string]*resource{},
		start:           time.Now(),
		crs: crRegistry{resources: map[schema.GroupVersionResource]*resource{}, byGR: map[string]*resource{},
			serving: map[string]*crdServing{}, crds: map[string]*apiextensionsv1.CustomResourceDefinition{}},
	}
	s.codecs = serializer.NewCodecFactory(s.scheme, serializer.EnablePretty)
	s.instruments = newInstruments(s)
	proto := protobuf.NewSerializer(s.scheme, s.scheme)
	var typeConverter managedfields.TypeConverter = &writeTypeConverter{TypeConverter: applyconfigurations.NewTypeConverter(s.scheme)}
	crdTypeConverter := apiextensionsac.NewTypeConverter(s.scheme)
	// The managers convert objects without deep copies where none is needed (fieldtrack.go).
	objectConverter := noCopyConverter{ObjectConvertor: s.scheme, scheme: s.scheme}
	var oas []openapi.Resource
	groupVersions := map[string][]string{}
	var groupOrder []string
	for _, def := range resourceDefs() {
		r := &resource{resourceDef: def}
		r.gvk = schema.GroupVersionKind{Group: def.group, Version: def.version, Kind: def.kind}
		r.listGVK = r.gvk.GroupVersion().WithKind(def.kind + "List")
		r.gr = schema.GroupResource{Group: def.group, Resource: def.name}
		prefix := def.storagePrefix
		if prefix == "" {
			prefix = def.name
			if def.group != "" {
				prefix = def.group + "/" + def.name
			}
		}
		if def.review != nil || def.view != nil {
			// Reviews and views are computed per request: no storage or field managers.
			r.printer = printers.Default()
			if p, ok := printers.For(def.group, def.name); ok {
				r.printer = p
			}
			s.resources[r.gvk.GroupVersion().WithResource(def.name)] = r
			s.byGroupResource[def.group+"/"+def.name] = r
			if _, ok := groupVersions[def.group]; !ok {
				groupOrder = append(groupOrder, def.group)
			}
			if !contains(groupVersions[def.group], def.version) {
				groupVersions[def.group] = append(groupVersions[def.group], def.version)
			}
			oas = append(oas, openapi.Resource{Group: def.group, Version: def.version, Kind: def.kind, Resource: def.name,
				Namespaced: def.namespaced, Verbs: r.verbs()})
			continue
		}
		var codec storage.Codec = newStorageCodec(r.gvk, proto, s.scheme)
		r.stored = true
		if r.gvk.Group == "events.k8s.io" {
			codec = &eventsCodec{core: newStorageCodec(coreEventGVK, proto, s.scheme)}
			r.stored = false
		}
		if isHPAv1(r.gvk) {
			codec = &hpaV1Codec{v2: newStorageCodec(hpaV2GVK, proto, s.scheme), scheme: s.scheme}
			r.stored = false
		}
		r.store = storage.New(cfg.Storage.Client, "/registry/"+prefix+"/", codec, def.newObj)
		if p, ok := printers.For(def.group, def.name); ok {
			r.printer = p
		} else {
			r.printer = printers.Default()
		}
		r.managers = map[string]*managedfields.FieldManager{}
		subs := []string{""}
		if def.status {
			subs = append(subs, "status")
		}
		for _, sub := range []string{"ephemeralcontainers", "resize"} {
			if contains(def.extraSubs, sub) {
				subs = append(subs, sub)
			}
		}
		if contains(def.extraSubs, "approval") {
			// Writes to a CSR's approval are tracked apart, as upstream does.
			subs = append(subs, "approval")
		}
		for _, sub := range subs {
			tc := typeConverter
			if def.group == crdGR.Group {
				tc = crdTypeConverter
			}
			fm, err := managedfields.NewDefaultFieldManager(tc, objectConverter, s.scheme, s.scheme, r.gvk, r.gvk.GroupVersion(), sub, nil)
			if err != nil {
				return nil, fmt.Errorf("apiserver: field manager for %s: %w", r.gr, err)
			}
			r.managers[sub] = fm
		}
		// The create tracking of createtrack.go converts as the managers do.
		r.creates.tc, r.creates.conv = typeConverter, objectConverter
		if def.group == crdGR.Group {
			r.creates.tc = crdTypeConverter
		}
		s.resources[r.gvk.GroupVersion().WithResource(def.name)] = r
		if _, ok := s.byGroupResource[def.group+"/"+def.name]; !ok {
			// A resource served in several versions is found by its first (preferred) one.
			s.byGroupResource[def.group+"/"+def.name] = r
		}
		if _, ok := groupVersions[def.group]; !ok {
			groupOrder = append(groupOrder, def.group)
		}
		if !contains(groupVersions[def.group], def.version) {
			groupVersions[def.group] = append(groupVersions[def.group], def.version)
		}
		oas = append(oas, openapi.Resource{Group: def.group, Version: def.version, Kind: def.kind, Resource: def.name,
			Namespaced: def.namespaced, Verbs: r.verbs(), Subresources: r.subresources()})
	}
	for _, g := range groupOrder {
		s.groups = append(s.groups, groupInfo{name: g, versions: groupVersions[g]})
	}
	// The OpenAPI documents take a few hundred milliseconds to build: that happens in the
	// background, and only requests for them wait.
	s.openapiBase = oas
	s.openapiChanged()
	s.alloc = newAllocator(cfg.ServiceCIDR, cfg.NodePortMin, cfg.NodePortMax)
	if err := s.initAPIServices(); err != nil {
		return nil, err
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *resource) verbs() []string {
	if r.review != nil {
		return []string{"create"}
	}
	if r.view != nil {
		return []string{"get", "list"}
	}
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

func (r *resource) subresources() []string {
	var subs []string
	if r.status {
		subs = append(subs, "status")
	}
	if r.scale {
		subs = append(subs, "scale")
	}
	subs = append(subs, r.extraSubs...)
	sort.Strings(subs)
	return subs
}

// Run serves until ctx ends, then stops background work. It runs the etcd compactor and
// bootstraps the built-in objects.
func (s *Server) Start(ctx context.Context) error {
	s.stopped = ctx.Done()
	for _, r := range s.resources {
		if r.store == nil {
			continue // reviews are answered, never stored
		}
		if err := r.store.StartCache(ctx, s.log, s.cfg.Storage.ProgressSafe()); err != nil {
			return err
		}
	}
	if err := s.startCRDController(ctx); err != nil {
		return err
	}
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	if err := s.bootstrapPolicy(ctx); err != nil {
		return err
	}
	if err := s.startAggregator(ctx); err != nil {
		return err
	}
	if p, ok := s.cfg.Authorizer.(policyAuthorizer); ok {
		if err := s.feedPolicy(ctx, p); err != nil {
			return err
		}
	}
	interval := s.cfg.CompactionInterval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	if interval > 0 {
		go storage.Compact(ctx, s.cfg.Storage.Client, interval, s.log)
	}
	return nil
}

type ctxKey int

const userKey ctxKey = 0

// ServeHTTP implements http.Handler: authentication, authorization, then the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	user, err := s.authenticate(r)
	if err == nil {
		user, err = s.impersonate(r, user)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey, user))
	if r.Method != http.MethodGet {
		growStack()
	}
	rw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	done := s.instruments.track(r, rw)
	s.route(rw, r, user)
	done()
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("request", "method", r.Method, "path", r.URL.RequestURI(), "code", rw.code, "user", user.Name, "took", time.Since(start))
	}
}

func (s *Server) authenticate(r *http.Request) (*auth.User, error) {
	if s.cfg.Authenticator == nil {
		return &auth.User{Name: "system:admin", Groups: []string{auth.GroupMasters, auth.GroupAuthenticated}}, nil
	}
	u, ok, err := s.cfg.Authenticator.Authenticate(r)
	if err != nil || !ok {
		return nil, apierrors.NewUnauthorized("Unauthorized")
	}
	return u, nil
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, user *auth.User) {
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/livez" || p == "/readyz" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
		s.serveHealth(w, r)
		return
	}
	if !s.authorizeNonResource(w, user, r, p) {
		return
	}
	switch {
	case p == "/metrics":
		s.serveMetrics(w, r)
	case strings.HasPrefix(p, "/debug/pprof"):
		// Profiling, as kube-apiserver offers it (--profiling); only for authorized users.
		servePprof(w, r)
	case p == "/version" || p == "/version/":
		s.serveVersion(w, r)
	case p == "/.well-known/openid-configuration" || p == "/openid/v1/jwks":
		s.serveIssuerDiscovery(w, r)
	case p == "/api" || p == "/api/":
		s.serveLegacyAPIs(w, r)
	case p == "/apis" || p == "/apis/":
		s.serveAPIGroups(w, r)
	case p == "/openapi/v2":
		s.serveOpenAPIV2(w, r)
	case p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/"):
		s.serveOpenAPIV3(w, r)
	case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
		if !s.serveAggregated(w, r, user) {
			s.serveAPI(w, r, user)
		}
	default:
		writeError(w, notFoundPath())
	}
}

// notFoundPath is kube-apiserver's answer for a path it does not serve.
func notFoundPath() *apierrors.StatusError {
	err := apierrors.NewNotFound(schema.GroupResource{}, "")
	err.ErrStatus.Message = "the server could not find the requested resource"
	err.ErrStatus.Details = nil
	return err
}

func (s *Server) authorizeNonResource(w http.ResponseWriter, user *auth.User, r *http.Request, p string) bool {
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/") {
		return true // resource requests are authorized once parsed
	}
	ok, reason := s.cfg.Authorizer.Authorize(auth.Attributes{User: user, Verb: strings.ToLower(r.Method), Path: p})
	if !ok {
		writeError(w, apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("%s", reason)))
	}
	return ok
}

// statusRecorder remembers the response code for logging, and lets streaming handlers flush.
type statusRecorder struct {
	http.ResponseWriter
	code int
	// observed is filled in by the API handlers for the request's metrics.
	observed observed
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// lookup finds the resource of a request.
func (s *Server) lookup(info *requestInfo) *resource {
	gvr := schema.GroupVersionResource{Group: info.group, Version: info.version, Resource: info.resource}
	if r := s.resources[gvr]; r != nil {
		return r
	}
	return s.crLookup(gvr)
}

func (s *Server) namespaced(group, res string) (bool, bool) {
	r, ok := s.byGroupResource[group+"/"+res]
	if !ok {
		return s.crNamespaced(group, res)
	}
	return r.namespaced, true
}
