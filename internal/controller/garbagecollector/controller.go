package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// ignored reports whether a resource is never collected (as in Kubernetes: events are too
// many to watch).
func ignored(gr schema.GroupResource) bool {
	return gr.Resource == "events" && (gr.Group == "" || gr.Group == "events.k8s.io")
}

// DefaultDiscoveryPeriod is how often the collector looks for new resources by default.
const DefaultDiscoveryPeriod = 30 * time.Second

// defaultSettle is how long the collector waits before acting on an owner that starts a
// foreground deletion or orphaning: informers of different resources deliver events
// independently, and a dependent created just before the owner's deletion must be in the
// graph by then.
const defaultSettle = 2 * time.Second

// Controller is the garbage collector.
type Controller struct {
	client kubernetes.Interface
	meta   metadata.Interface
	disco  discovery.DiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	discoveryPeriod time.Duration
	settle          time.Duration
	graph           *graph
	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]

	mu       sync.Mutex
	monitors map[schema.GroupVersionResource]*monitor
}

// monitor is the metadata informer of one resource.
type monitor struct {
	informer cache.SharedIndexInformer
	// handler is our handler's registration: synced once the initial list reached the graph.
	handler cache.ResourceEventHandlerRegistration
	stop    chan struct{}
}

// Option configures a Controller.
type Option func(*Controller)

// WithDiscoveryPeriod sets how often the collector re-reads discovery for new resources.
func WithDiscoveryPeriod(d time.Duration) Option {
	return func(c *Controller) { c.discoveryPeriod = d }
}

// New returns a garbage collector that watches the metadata of every deletable resource disco
// reports (client's discovery when disco is nil) through meta, and reads, patches and deletes
// through meta.
func New(client kubernetes.Interface, meta metadata.Interface, disco discovery.DiscoveryInterface, opts ...Option) *Controller {
	if disco == nil {
		disco = client.Discovery()
	}
	c := &Controller{
		client:          client,
		meta:            meta,
		disco:           disco,
		mapper:          restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
		discoveryPeriod: DefaultDiscoveryPeriod,
		settle:          defaultSettle,
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan"}),
		monitors: map[schema.GroupVersionResource]*monitor{},
	}
	c.graph = newGraph(c.attemptToDelete.Add, func(uid types.UID, orphan bool) {
		if orphan {
			c.attemptToOrphan.AddAfter(uid, c.settle)
		} else {
			c.attemptToDelete.AddAfter(uid, c.settle)
		}
	})
	for _, o := range opts {
		o(c)
	}
	return c
}

// Run collects garbage until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.attemptToDelete.ShutDown()
	defer c.attemptToOrphan.ShutDown()
	defer c.stopMonitors()
	logger := klog.FromContext(ctx)
	logger.Info("Starting garbage collector")
	defer logger.Info("Shutting down garbage collector")

	// Monitors for whatever discovery offers, retried until it offers something.
	_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.syncMonitors(ctx); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Garbage collector discovery failed")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.monitors) > 0, nil
	})
	if !cache.WaitForCacheSync(ctx.Done(), c.monitorsSynced) {
		return
	}
	logger.Info("Garbage collector: all resource monitors have synced")
	for range max(workers, 1) {
		go wait.UntilWithContext(ctx, c.runDeleteWorker, time.Second)
		go wait.UntilWithContext(ctx, c.runOrphanWorker, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		c.mapper.Reset()
		if err := c.syncMonitors(ctx); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Garbage collector discovery failed")
		}
	}, c.discoveryPeriod)
	<-ctx.Done()
}

// --- monitors

// deletableResources returns the resources that can be listed, watched and deleted, with
// their kinds (in the preferred version of each group).
func deletableResources(lists []*metav1.APIResourceList) map[schema.GroupVersionResource]schema.GroupVersionKind {
	out := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || ignored(schema.GroupResource{Group: gv.Group, Resource: r.Name}) {
				continue
			}
			if !slices.Contains(r.Verbs, "delete") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
				continue
			}
			out[gv.WithResource(r.Name)] = gv.WithKind(r.Kind)
		}
	}
	return out
}

// syncMonitors starts monitors for new deletable resources and stops those of resources gone.
func (c *Controller) syncMonitors(ctx context.Context) error {
	lists, err := c.disco.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return err
	}
	want := deletableResources(lists)
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvr, m := range c.monitors {
		if _, ok := want[gvr]; !ok && err == nil {
			close(m.stop)
			delete(c.monitors, gvr)
		}
	}
	for gvr, gvk := range want {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		inf := metadatainformer.NewFilteredMetadataInformer(c.meta, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
		// The graph needs owner references, not managedFields (often most of the metadata).
		if err := inf.SetTransform(controllerutil.StripManagedFields); err != nil {
			return err
		}
		reg, herr := inf.AddEventHandler(c.handler(gvk))
		if herr != nil {
			return herr
		}
		m := &monitor{informer: inf, handler: reg, stop: make(chan struct{})}
		c.monitors[gvr] = m
		go inf.Run(m.stop)
		klog.FromContext(ctx).V(4).Info("Garbage collector monitoring", "resource", gvr)
	}
	return err
}

func (c *Controller) monitorsSynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.monitors {
		if !m.handler.HasSynced() {
			return false
		}
	}
	return true
}

func (c *Controller) stopMonitors() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvr, m := range c.monitors {
		close(m.stop)
		delete(c.monitors, gvr)
	}
}

// handler feeds the graph from one resource's informer.
func (c *Controller) handler(gvk schema.GroupVersionKind) cache.ResourceEventHandler {
	apiVersion := gvk.GroupVersion().String()
	identity := func(o metav1.Object) objectRef {
		return objectRef{APIVersion: apiVersion, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUID()}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, err := meta.Accessor(obj); err == nil {
				c.graph.observe(identity(o), o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, err := meta.Accessor(obj); err == nil {
				c.graph.observe(identity(o), o)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, err := meta.Accessor(obj); err == nil {
				c.graph.remove(o.GetUID(), false)
			}
		},
	}
}

// --- live access

// resourceFor maps an apiVersion and kind to its resource and namespace.
func (c *Controller) resourceFor(apiVersion, kind, namespace string) (metadata.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		c.mapper.Reset()
		return nil, fmt.Errorf("mapping %s %s: %w", apiVersion, kind, err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	return c.meta.Resource(mapping.Resource).Namespace(namespace), nil
}

// get reads the object afresh; NotFound when it is gone or was replaced (another UID).
func (c *Controller) get(ctx context.Context, id objectRef) (*metav1.PartialObjectMetadata, error) {
	res, err := c.resourceFor(id.APIVersion, id.Kind, id.Namespace)
	if err != nil {
		return nil, err
	}
	obj, err := res.Get(ctx, id.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if obj.UID != id.UID {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: id.Kind}, id.Name)
	}
	return obj, nil
}

// patchMeta applies a JSON merge patch of the object's metadata computed by fn from the live
// object (fn returns false for nothing to do), with the object's resourceVersion as a
// precondition, retrying on conflicts.
func (c *Controller) patchMeta(ctx context.Context, id objectRef, fn func(*metav1.PartialObjectMetadata) (map[string]any, bool)) error {
	res, err := c.resourceFor(id.APIVersion, id.Kind, id.Namespace)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj, err := c.get(ctx, id)
		if err != nil {
			return err
		}
		fields, ok := fn(obj)
		if !ok {
			return nil
		}
		fields["resourceVersion"] = obj.ResourceVersion
		fields["uid"] = obj.UID
		patch, err := json.Marshal(map[string]any{"metadata": fields})
		if err != nil {
			return err
		}
		_, err = res.Patch(ctx, id.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// removeOwnerRefs drops the references to the owners with the UIDs from the object.
func (c *Controller) removeOwnerRefs(ctx context.Context, id objectRef, owners ...types.UID) error {
	return c.patchMeta(ctx, id, func(o *metav1.PartialObjectMetadata) (map[string]any, bool) {
		refs := slices.DeleteFunc(slices.Clone(o.OwnerReferences), func(r metav1.OwnerReference) bool { return slices.Contains(owners, r.UID) })
		if len(refs) == len(o.OwnerReferences) {
			return nil, false
		}
		return map[string]any{"ownerReferences": refs}, true
	})
}

// unblockOwnerRefs sets blockOwnerDeletion=false on all the object's references.
func (c *Controller) unblockOwnerRefs(ctx context.Context, id objectRef) error {
	return c.patchMeta(ctx, id, func(o *metav1.PartialObjectMetadata) (map[string]any, bool) {
		refs := slices.Clone(o.OwnerReferences)
		changed := false
		for i := range refs {
			if blocks(refs[i]) {
				f := false
				refs[i].BlockOwnerDeletion = &f
				changed = true
			}
		}
		return map[string]any{"ownerReferences": refs}, changed
	})
}

// removeFinalizer drops the finalizer from the object.
func (c *Controller) removeFinalizer(ctx context.Context, id objectRef, finalizer string) error {
	return c.patchMeta(ctx, id, func(o *metav1.PartialObjectMetadata) (map[string]any, bool) {
		if !slices.Contains(o.Finalizers, finalizer) {
			return nil, false
		}
		return map[string]any{"finalizers": slices.DeleteFunc(slices.Clone(o.Finalizers), func(f string) bool { return f == finalizer })}, true
	})
}

func (c *Controller) deleteObject(ctx context.Context, id objectRef, policy metav1.DeletionPropagation) error {
	res, err := c.resourceFor(id.APIVersion, id.Kind, id.Namespace)
	if err != nil {
		return err
	}
	uid := id.UID
	err = res.Delete(ctx, id.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by a namesake
	}
	return err
}

// --- workers

func (c *Controller) runDeleteWorker(ctx context.Context) {
	for processNext(ctx, c.attemptToDelete, c.attemptToDeleteItem) {
	}
}

func (c *Controller) runOrphanWorker(ctx context.Context) {
	for processNext(ctx, c.attemptToOrphan, c.attemptToOrphanItem) {
	}
}

func processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID], fn func(context.Context, types.UID) error) bool {
	uid, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(uid)
	if err := fn(ctx, uid); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Garbage collection failed", "uid", uid)
		q.AddRateLimited(uid)
		return true
	}
	q.Forget(uid)
	return true
}

// attemptToDeleteItem decides about one object: delete it if its owners are all gone, shed
// references to owners that went, or finish its foreground deletion.
func (c *Controller) attemptToDeleteItem(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.snapshot(uid)
	if !ok || n.beingDeleted && !n.deletingDependents {
		return nil
	}
	latest, err := c.get(ctx, n.identity)
	if apierrors.IsNotFound(err) {
		// Absent. A virtual node goes now (its dependents are looked at); an informer will
		// report a real one.
		c.graph.remove(uid, true)
		return nil
	}
	if err != nil {
		return err
	}
	if n.virtual {
		return nil // it exists: its informer will report it, if it is watched
	}
	if latest.DeletionTimestamp != nil {
		if !hasFinalizer(latest, metav1.FinalizerDeleteDependents) {
			return nil
		}
		return c.processDeletingDependents(ctx, n)
	}
	refs := latest.OwnerReferences
	if len(refs) == 0 {
		return nil
	}
	states := make([]ownerState, len(refs))
	var gone []types.UID
	for i, ref := range refs {
		owner, err := c.get(ctx, objectRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: n.identity.Namespace, Name: ref.Name, UID: ref.UID})
		switch {
		case apierrors.IsNotFound(err):
			states[i] = dangling
		case err != nil:
			return err
		default:
			states[i] = classifyOwner(ref, owner)
		}
		if states[i] != solid {
			gone = append(gone, ref.UID)
		}
	}
	a := decide(latest, states, len(n.dependents) > 0, n.dependentDeletingDependents)
	logger := klog.FromContext(ctx)
	switch a.kind {
	case removeRefs:
		logger.V(2).Info("Removing references to absent owners", "object", n.identity)
		return c.removeOwnerRefs(ctx, n.identity, gone...)
	case deleteObject:
		if a.unblock {
			if err := c.unblockOwnerRefs(ctx, n.identity); err != nil {
				return err
			}
		}
		logger.V(2).Info("Deleting object whose owners are gone", "object", n.identity, "propagationPolicy", a.policy)
		return c.deleteObject(ctx, n.identity, a.policy)
	}
	return nil
}

// processDeletingDependents finishes the foreground deletion of an owner once no dependent
// blocks it, and otherwise nudges its blocking dependents.
func (c *Controller) processDeletingDependents(ctx context.Context, n snapshot) error {
	if len(n.blocking) == 0 {
		return c.removeFinalizer(ctx, n.identity, metav1.FinalizerDeleteDependents)
	}
	for _, d := range n.blocking {
		if !d.deletingDependents {
			c.attemptToDelete.Add(d.uid)
		}
	}
	return nil
}

// attemptToOrphanItem removes the owner's references from its dependents and then its
// orphan finalizer.
func (c *Controller) attemptToOrphanItem(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.snapshot(uid)
	if !ok {
		return nil
	}
	var errs []error
	for _, d := range n.dependents {
		if err := c.removeOwnerRefs(ctx, d, uid); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, n.identity, metav1.FinalizerOrphanDependents)
}
