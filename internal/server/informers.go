package server

import (
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/informers/admissionregistration"
	"k8s.io/client-go/informers/apiserverinternal"
	"k8s.io/client-go/informers/apps"
	"k8s.io/client-go/informers/autoscaling"
	"k8s.io/client-go/informers/batch"
	"k8s.io/client-go/informers/certificates"
	"k8s.io/client-go/informers/coordination"
	"k8s.io/client-go/informers/core"
	"k8s.io/client-go/informers/discovery"
	"k8s.io/client-go/informers/events"
	"k8s.io/client-go/informers/extensions"
	"k8s.io/client-go/informers/flowcontrol"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/informers/lifecycle"
	"k8s.io/client-go/informers/networking"
	"k8s.io/client-go/informers/node"
	"k8s.io/client-go/informers/policy"
	"k8s.io/client-go/informers/rbac"
	"k8s.io/client-go/informers/resource"
	"k8s.io/client-go/informers/scheduling"
	"k8s.io/client-go/informers/storage"
	"k8s.io/client-go/informers/storagemigration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// sharedInformers is one informer factory for the components of a process (the scheduler and
// the controller manager in `kijabi server`), so that each pod, node, ... is held in memory
// once and decoded once per change instead of once per component. Its informers run until
// stop is closed, whatever the components do.
//
// Each component gets a session (see session) that it uses as a factory of its own.
type sharedInformers struct {
	base informers.SharedInformerFactory
	stop <-chan struct{}
}

func newSharedInformers(base informers.SharedInformerFactory, stop <-chan struct{}) *sharedInformers {
	return &sharedInformers{base: base, stop: stop}
}

// newProcessInformers returns shared informers reading through a client of rc, with
// managedFields stripped, that run until stop is closed.
func newProcessInformers(rc *rest.Config, stop <-chan struct{}) (*sharedInformers, error) {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 100, 200 // lists and watches only
	rc.UserAgent = "kijabi-shared-informers"
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeProtobuf, protobufOrJSON
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("server: informer client: %w", err)
	}
	base := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllerutil.StripManagedFields))
	return newSharedInformers(base, stop), nil
}

// session returns a factory for one component. The component registers informers and
// handlers and calls Start and Shutdown as it would on a factory of its own, possibly many
// times (once per leader term):
//
//   - Start starts the shared informers not running yet; they stop only with the shared
//     factory, so another component's informers are never stopped by this one.
//   - Shutdown removes the event handlers the component added since the previous Shutdown,
//     so that a controller of an ended term is no longer called, and returns at once.
//   - AddIndexers with the name of an index that exists already is a no-op: within one
//     process an index of that name was added by the same code in an earlier term.
func (s *sharedInformers) session() informers.SharedInformerFactory {
	return &informerSession{SharedInformerFactory: s.base, shared: s}
}

// wait stops the shared informers' goroutines; stop must be closed first.
func (s *sharedInformers) wait() { s.base.Shutdown() }

type informerSession struct {
	informers.SharedInformerFactory // WaitForCacheSync, ForResource and the rest
	shared                          *sharedInformers

	mu       sync.Mutex
	handlers []registration
}

type registration struct {
	informer cache.SharedIndexInformer
	handle   cache.ResourceEventHandlerRegistration
}

func (f *informerSession) Start(<-chan struct{}) { f.shared.base.Start(f.shared.stop) }

func (f *informerSession) Shutdown() {
	f.mu.Lock()
	handlers := f.handlers
	f.handlers = nil
	f.mu.Unlock()
	for _, r := range handlers {
		_ = r.informer.RemoveEventHandler(r.handle)
	}
}

// InformerFor is what every typed informer (Core().V1().Pods() and so on) asks for its
// shared informer; the session hands out a wrapper that records handler registrations.
func (f *informerSession) InformerFor(obj runtime.Object, newFunc internalinterfaces.NewInformerFunc) cache.SharedIndexInformer {
	return &sessionInformer{SharedIndexInformer: f.shared.base.InformerFor(obj, newFunc), session: f}
}

// Every API group is built on the session, so that its informers come through InformerFor
// above (the factory's own methods would build them on the base factory).

func (f *informerSession) Admissionregistration() admissionregistration.Interface {
	return admissionregistration.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Internal() apiserverinternal.Interface {
	return apiserverinternal.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Apps() apps.Interface { return apps.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Autoscaling() autoscaling.Interface {
	return autoscaling.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Batch() batch.Interface { return batch.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Certificates() certificates.Interface {
	return certificates.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Coordination() coordination.Interface {
	return coordination.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Core() core.Interface { return core.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Discovery() discovery.Interface {
	return discovery.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Events() events.Interface { return events.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Extensions() extensions.Interface {
	return extensions.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Flowcontrol() flowcontrol.Interface {
	return flowcontrol.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Lifecycle() lifecycle.Interface {
	return lifecycle.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Networking() networking.Interface {
	return networking.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Node() node.Interface     { return node.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Policy() policy.Interface { return policy.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Rbac() rbac.Interface     { return rbac.New(f, metav1.NamespaceAll, nil) }
func (f *informerSession) Resource() resource.Interface {
	return resource.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Scheduling() scheduling.Interface {
	return scheduling.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Storage() storage.Interface {
	return storage.New(f, metav1.NamespaceAll, nil)
}
func (f *informerSession) Storagemigration() storagemigration.Interface {
	return storagemigration.New(f, metav1.NamespaceAll, nil)
}

type sessionInformer struct {
	cache.SharedIndexInformer
	session *informerSession
}

func (i *sessionInformer) record(h cache.ResourceEventHandlerRegistration, err error) (cache.ResourceEventHandlerRegistration, error) {
	if err == nil {
		i.session.mu.Lock()
		i.session.handlers = append(i.session.handlers, registration{informer: i.SharedIndexInformer, handle: h})
		i.session.mu.Unlock()
	}
	return h, err
}

func (i *sessionInformer) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return i.record(i.SharedIndexInformer.AddEventHandler(h))
}

func (i *sessionInformer) AddEventHandlerWithResyncPeriod(h cache.ResourceEventHandler, resync time.Duration) (cache.ResourceEventHandlerRegistration, error) {
	return i.record(i.SharedIndexInformer.AddEventHandlerWithResyncPeriod(h, resync))
}

func (i *sessionInformer) AddEventHandlerWithOptions(h cache.ResourceEventHandler, o cache.HandlerOptions) (cache.ResourceEventHandlerRegistration, error) {
	return i.record(i.SharedIndexInformer.AddEventHandlerWithOptions(h, o))
}

func (i *sessionInformer) AddIndexers(indexers cache.Indexers) error {
	existing := i.GetIndexer().GetIndexers()
	missing := cache.Indexers{}
	for name, fn := range indexers {
		if _, ok := existing[name]; !ok {
			missing[name] = fn
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return i.SharedIndexInformer.AddIndexers(missing)
}

// protobufOrJSON is what the components' clients accept: built-in kinds travel as protobuf,
// as with every Kubernetes component (cheaper to decode, and the API server sends stored
// objects as they are).
const protobufOrJSON = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
