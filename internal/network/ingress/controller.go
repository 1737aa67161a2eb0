package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures the ingress controller.
type Config struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// HTTPAddr and HTTPSAddr are the listen addresses (default ":80" and ":443").
	HTTPAddr, HTTPSAddr string
	// ClassName is the IngressClass to create and serve (default "kijabi").
	ClassName string
	// StatusAddresses returns the addresses to write into status.loadBalancer.ingress of
	// the Ingresses served (the node addresses): IPs become ip entries, anything else a
	// hostname. Nil, or an empty result, leaves the status alone.
	StatusAddresses func() []string
	// Log receives the controller's messages and, at Info level, one access log line per
	// request unless AccessLog is set (default slog.Default()).
	Log *slog.Logger
	// AccessLog, when set, receives the access log lines instead of Log: slog text lines
	// gathered in a buffer that is written every 100 ms or when 64 KiB are full (as nginx's
	// access_log with buffer= and flush=), so that a request costs no write of its own. The
	// lines of the last 100 ms may be lost if the process dies.
	AccessLog io.Writer
	// DialContext dials backend endpoints (default: a net.Dialer with a 5s timeout). Tests
	// use it to reach endpoints on loopback, which the API server does not accept in
	// EndpointSlices.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Debounce is how long the controller waits after a change before rebuilding the route
	// table (default 50ms), so that a burst of changes costs one rebuild.
	Debounce time.Duration
}

// Controller is the ingress controller: the route table builder and the proxy.
type Controller struct {
	cfg       Config
	log       *slog.Logger
	table     atomic.Pointer[table]
	proxy     *proxy     // the ReverseProxy of the requests the fast path hands over
	upstreams *upstreams // the fast path's endpoint connections
	accessBuf *bufferedLog
	access    *slog.Logger // the access log when Config.AccessLog is set
	fallback  *tls.Certificate

	trigger       chan struct{}
	statusTrigger chan struct{}
	ready         chan struct{}

	mu                  sync.Mutex
	httpAddr, httpsAddr net.Addr

	// Owned by the rebuild loop.
	counters map[string]*atomic.Uint64
	certs    map[string]cachedCert
	noted    map[string]bool
	src      *cacheSource
	recorder record.EventRecorder
}

// New returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("ingress: Config.Client is required")
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":80"
	}
	if cfg.HTTPSAddr == "" {
		cfg.HTTPSAddr = ":443"
	}
	if cfg.ClassName == "" {
		cfg.ClassName = DefaultClassName
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 50 * time.Millisecond
	}
	fallback, err := selfSignedCertificate()
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	c := &Controller{
		cfg: cfg, log: cfg.Log, fallback: fallback,
		trigger: make(chan struct{}, 1), statusTrigger: make(chan struct{}, 1), ready: make(chan struct{}),
		counters: map[string]*atomic.Uint64{}, certs: map[string]cachedCert{}, noted: map[string]bool{},
	}
	c.table.Store(buildTable(emptySource{}, cfg.ClassName, nil, nil))
	c.proxy = newProxy(c.log, cfg.DialContext)
	c.upstreams = newUpstreams(cfg.DialContext)
	if cfg.AccessLog != nil {
		c.accessBuf = &bufferedLog{w: cfg.AccessLog}
		c.access = slog.New(slog.NewTextHandler(c.accessBuf, nil))
	}
	return c, nil
}

// Addrs returns the bound HTTP and HTTPS listen addresses, or nils before Run has bound them.
func (c *Controller) Addrs() (httpAddr, httpsAddr net.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.httpAddr, c.httpsAddr
}

// Ready is closed once the controller serves with a route table built from synced caches.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Handler returns a net/http handler serving the current route table (with the
// ReverseProxy; the listeners of Run serve most requests on a faster path).
func (c *Controller) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		c.serveHTTP(w, r, scheme)
	})
}

// Run binds the listeners, ensures the IngressClass, and serves until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", c.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ingress: listening on %s: %w", c.cfg.HTTPAddr, err)
	}
	httpsLn, err := lc.Listen(ctx, "tcp", c.cfg.HTTPSAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("ingress: listening on %s: %w", c.cfg.HTTPSAddr, err)
	}
	c.mu.Lock()
	c.httpAddr, c.httpsAddr = httpLn.Addr(), httpsLn.Addr()
	c.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	// One attempt before serving, so that Ready implies the class exists when the API is up.
	if err := c.ensureClass(ctx); err != nil {
		c.log.Warn("ingress: ensuring the IngressClass", "class", c.cfg.ClassName, "err", err)
		wg.Go(func() { c.ensureClassLoop(ctx) })
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	defer broadcaster.Shutdown()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.cfg.Client.CoreV1().Events("")})
	c.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kijabi-ingress"})

	factory := informers.NewSharedInformerFactoryWithOptions(c.cfg.Client, 0, informers.WithTransform(stripManagedFields))
	secretFactory := informers.NewSharedInformerFactoryWithOptions(c.cfg.Client, 0, informers.WithTransform(stripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)).String()
		}))
	ingInf := factory.Networking().V1().Ingresses()
	classInf := factory.Networking().V1().IngressClasses()
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	secretInf := secretFactory.Core().V1().Secrets()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: indexSliceByService}); err != nil {
		return fmt.Errorf("ingress: endpointslice index: %w", err)
	}
	c.src = &cacheSource{
		classes: classInf.Lister(), ingresses: ingInf.Lister(), services: svcInf.Lister(),
		slices: sliceInf.Informer().GetIndexer(), secrets: secretInf.Lister(),
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.poke() },
		UpdateFunc: func(any, any) { c.poke() },
		DeleteFunc: func(any) { c.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{ingInf.Informer(), classInf.Informer(), svcInf.Informer(), sliceInf.Informer(), secretInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("ingress: event handler: %w", err)
		}
	}
	factory.Start(ctx.Done())
	secretFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer secretFactory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return fmt.Errorf("ingress: %v cache did not sync: %w", typ, context.Cause(ctx))
		}
	}
	for typ, ok := range secretFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return fmt.Errorf("ingress: %v cache did not sync: %w", typ, context.Cause(ctx))
		}
	}
	c.rebuild()

	httpFront := newFrontend(c, httpLn, "http", nil)
	httpsFront := newFrontend(c, httpsLn, "https", &tls.Config{
		MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate, NextProtos: []string{"h2", "http/1.1"},
	})
	serveErr := make(chan error, 2)
	wg.Go(func() { serveErr <- httpFront.serve(httpLn) })
	wg.Go(func() { serveErr <- httpsFront.serve(httpsLn) })
	wg.Go(func() { c.upstreams.sweepLoop(ctx) })
	if c.accessBuf != nil {
		wg.Go(func() { c.accessBuf.flushLoop(ctx) })
	}
	wg.Go(func() { c.rebuildLoop(ctx) })
	wg.Go(func() { c.statusLoop(ctx) })
	close(c.ready)
	c.log.Info("ingress controller serving", "http", httpLn.Addr().String(), "https", httpsLn.Addr().String(), "class", c.cfg.ClassName)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("ingress: serving: %w", err)
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	httpLn.Close()
	httpsLn.Close()
	var shut sync.WaitGroup
	shut.Go(func() { httpFront.shutdown(shutdownCtx) })
	shut.Go(func() { httpsFront.shutdown(shutdownCtx) })
	shut.Wait()
	c.proxy.transport.CloseIdleConnections()
	c.upstreams.sweep(true)
	if c.accessBuf != nil {
		c.accessBuf.flush()
	}
	return runErr
}

func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// poke asks for a rebuild of the route table.
func (c *Controller) poke() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

func (c *Controller) rebuildLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.trigger:
		}
		timer.Reset(c.cfg.Debounce)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// Changes seen during the wait are in the caches already.
		select {
		case <-c.trigger:
		default:
		}
		c.rebuild()
	}
}

// rebuild builds a route table from the caches and swaps it in.
func (c *Controller) rebuild() {
	start := time.Now()
	t := buildTable(c.src, c.cfg.ClassName, c.counters, c.certs)
	c.table.Store(t)
	c.log.Debug("ingress route table rebuilt", "ingresses", len(t.served), "took", time.Since(start))
	c.report(t.notes)
	select {
	case c.statusTrigger <- struct{}{}:
	default:
	}
}

// report logs and records the table's notes, once per Ingress generation.
func (c *Controller) report(notes []note) {
	current := map[string]bool{}
	for _, n := range notes {
		key := fmt.Sprintf("%s/%d/%s/%s", n.ing.UID, n.ing.Generation, n.reason, n.msg)
		current[key] = true
		if c.noted[key] {
			continue
		}
		c.log.Warn("ingress: "+n.msg, "ingress", ingressKey(n.ing), "reason", n.reason)
		if c.recorder != nil {
			c.recorder.Event(n.ing, corev1.EventTypeWarning, n.reason, n.msg)
		}
	}
	c.noted = current
}

func (c *Controller) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if e := c.table.Load().certificate(hello.ServerName); e != nil {
		return e.cert, nil
	}
	return c.fallback, nil
}

// ensureClassLoop retries ensureClass until it succeeds or ctx ends.
func (c *Controller) ensureClassLoop(ctx context.Context) {
	delay := 500 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		err := c.ensureClass(ctx)
		if err == nil {
			return
		}
		c.log.Warn("ingress: ensuring the IngressClass", "class", c.cfg.ClassName, "err", err)
		delay = min(2*delay, 30*time.Second)
	}
}

// ensureClass creates our IngressClass, as the default class unless another class already
// is. An existing class is left as its user made it, except that one without the
// default-class annotation gets it (when no other class is the default).
func (c *Controller) ensureClass(ctx context.Context) error {
	classes := c.cfg.Client.NetworkingV1().IngressClasses()
	list, err := classes.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing IngressClasses: %w", err)
	}
	otherDefault := ""
	var ours *networkingv1.IngressClass
	for i := range list.Items {
		ic := &list.Items[i]
		if ic.Name == c.cfg.ClassName {
			ours = ic
		} else if ic.Annotations[DefaultClassAnnotation] == "true" {
			otherDefault = ic.Name
		}
	}
	if ours != nil {
		if ours.Spec.Controller != ControllerName {
			c.log.Warn("ingress: IngressClass has another controller; its Ingresses are served anyway",
				"class", ours.Name, "controller", ours.Spec.Controller)
		}
		if _, set := ours.Annotations[DefaultClassAnnotation]; set || otherDefault != "" {
			return nil
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"true"}}}`, DefaultClassAnnotation)
		if _, err := classes.Patch(ctx, ours.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("annotating IngressClass %s as the default: %w", ours.Name, err)
		}
		return nil
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: c.cfg.ClassName},
		Spec:       networkingv1.IngressClassSpec{Controller: ControllerName},
	}
	if otherDefault == "" {
		ic.Annotations = map[string]string{DefaultClassAnnotation: "true"}
	} else {
		c.log.Info("ingress: another IngressClass is the default; ours is not", "default", otherDefault)
	}
	if _, err := classes.Create(ctx, ic, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating IngressClass %s: %w", c.cfg.ClassName, err)
	}
	return nil
}

func (c *Controller) statusLoop(ctx context.Context) {
	if c.cfg.StatusAddresses == nil {
		return
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.statusTrigger:
		case <-tick.C:
		}
		c.writeStatus(ctx)
	}
}

// loadBalancerStatus turns addresses into status entries: ip for IPs, hostname otherwise.
func loadBalancerStatus(addrs []string) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		if net.ParseIP(a) != nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	return out
}

// writeStatus writes status.loadBalancer.ingress of the Ingresses served where it differs.
func (c *Controller) writeStatus(ctx context.Context) {
	want := loadBalancerStatus(c.cfg.StatusAddresses())
	if len(want) == 0 {
		return
	}
	for _, ing := range c.table.Load().served {
		cur, err := c.src.ingresses.Ingresses(ing.Namespace).Get(ing.Name)
		if err != nil || cur.UID != ing.UID {
			continue
		}
		if slices.EqualFunc(cur.Status.LoadBalancer.Ingress, want, lbEqual) {
			continue
		}
		upd := cur.DeepCopy()
		upd.Status.LoadBalancer.Ingress = want
		if _, err := c.cfg.Client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				c.log.Warn("ingress: writing status", "ingress", ingressKey(ing), "err", err)
			}
			continue
		}
		c.log.Debug("ingress status written", "ingress", ingressKey(ing))
	}
}

func lbEqual(a, b networkingv1.IngressLoadBalancerIngress) bool {
	return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0 && len(b.Ports) == 0
}

const sliceServiceIndex = "service"

func indexSliceByService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + svc}, nil
}

// cacheSource reads the informer caches.
type cacheSource struct {
	classes   networkinglisters.IngressClassLister
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	slices    cache.Indexer
	secrets   corelisters.SecretLister
}

func (s *cacheSource) IngressClasses() []*networkingv1.IngressClass {
	l, _ := s.classes.List(labels.Everything())
	return l
}

func (s *cacheSource) Ingresses() []*networkingv1.Ingress {
	l, _ := s.ingresses.List(labels.Everything())
	return l
}

func (s *cacheSource) Service(namespace, name string) *corev1.Service {
	svc, err := s.services.Services(namespace).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

func (s *cacheSource) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	objs, _ := s.slices.ByIndex(sliceServiceIndex, namespace+"/"+service)
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, es)
		}
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *cacheSource) Secret(namespace, name string) *corev1.Secret {
	sec, err := s.secrets.Secrets(namespace).Get(name)
	if err != nil {
		return nil
	}
	return sec
}

type emptySource struct{}

func (emptySource) IngressClasses() []*networkingv1.IngressClass               { return nil }
func (emptySource) Ingresses() []*networkingv1.Ingress                         { return nil }
func (emptySource) Service(string, string) *corev1.Service                     { return nil }
func (emptySource) EndpointSlices(string, string) []*discoveryv1.EndpointSlice { return nil }
func (emptySource) Secret(string, string) *corev1.Secret                       { return nil }
