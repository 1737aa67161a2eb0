package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
	"github.com/kijabi/kijabi/internal/quota"
)

// DefaultResyncPeriod is how often every quota is recalculated (kube-controller-manager's
// --resource-quota-sync-period default).
const DefaultResyncPeriod = 5 * time.Minute

// The resources the controller has informers for, in the order usage is summed.
var (
	podsResource      = schema.GroupResource{Resource: "pods"}
	servicesResource  = schema.GroupResource{Resource: "services"}
	claimsResource    = schema.GroupResource{Resource: "persistentvolumeclaims"}
	configMapResource = schema.GroupResource{Resource: "configmaps"}
	secretsResource   = schema.GroupResource{Resource: "secrets"}
	rcsResource       = schema.GroupResource{Resource: "replicationcontrollers"}
	quotasResource    = schema.GroupResource{Resource: "resourcequotas"}
)

// Controller keeps the status of ResourceQuotas.
type Controller struct {
	client kubernetes.Interface
	quotas corelisters.ResourceQuotaLister
	// sources list a namespace's objects of the resources with informers.
	sources []source
	counter Counter
	synced  []cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	resync  time.Duration
	now     func() time.Time
}

// source lists the objects of one resource in a namespace from an informer's cache.
type source struct {
	gr   schema.GroupResource
	list func(namespace string) ([]runtime.Object, error)
}

func lister[T runtime.Object](gr schema.GroupResource, list func(namespace string) ([]T, error)) source {
	return source{gr: gr, list: func(ns string) ([]runtime.Object, error) {
		items, err := list(ns)
		if err != nil {
			return nil, err
		}
		out := make([]runtime.Object, len(items))
		for i, item := range items {
			out[i] = item
		}
		return out, nil
	}}
}

// Option configures a Controller.
type Option func(*Controller)

// WithResyncPeriod sets how often every quota is recalculated (DefaultResyncPeriod).
func WithResyncPeriod(d time.Duration) Option { return func(c *Controller) { c.resync = d } }

// WithCounter sets how count/<resource>.<group> names of resources without an informer here
// are counted; without one they are left out.
func WithCounter(counter Counter) Option { return func(c *Controller) { c.counter = counter } }

// New returns a controller on the given informers.
func New(client kubernetes.Interface, quotas coreinformers.ResourceQuotaInformer, pods coreinformers.PodInformer,
	services coreinformers.ServiceInformer, claims coreinformers.PersistentVolumeClaimInformer,
	configMaps coreinformers.ConfigMapInformer, secrets coreinformers.SecretInformer,
	rcs coreinformers.ReplicationControllerInformer, opts ...Option) *Controller {
	all := labels.Everything()
	c := &Controller{
		client: client,
		quotas: quotas.Lister(),
		sources: []source{
			lister(podsResource, func(ns string) ([]*corev1.Pod, error) { return pods.Lister().Pods(ns).List(all) }),
			lister(servicesResource, func(ns string) ([]*corev1.Service, error) { return services.Lister().Services(ns).List(all) }),
			lister(claimsResource, func(ns string) ([]*corev1.PersistentVolumeClaim, error) {
				return claims.Lister().PersistentVolumeClaims(ns).List(all)
			}),
			lister(configMapResource, func(ns string) ([]*corev1.ConfigMap, error) { return configMaps.Lister().ConfigMaps(ns).List(all) }),
			lister(secretsResource, func(ns string) ([]*corev1.Secret, error) { return secrets.Lister().Secrets(ns).List(all) }),
			lister(rcsResource, func(ns string) ([]*corev1.ReplicationController, error) {
				return rcs.Lister().ReplicationControllers(ns).List(all)
			}),
			lister(quotasResource, func(ns string) ([]*corev1.ResourceQuota, error) { return quotas.Lister().ResourceQuotas(ns).List(all) }),
		},
		synced: []cache.InformerSynced{quotas.Informer().HasSynced, pods.Informer().HasSynced, services.Informer().HasSynced,
			claims.Informer().HasSynced, configMaps.Informer().HasSynced, secrets.Informer().HasSynced, rcs.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}),
		resync: DefaultResyncPeriod,
		now:    time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("resourcequota controller: adding event handler: %w", err))
		}
	}
	add(quotas.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.ResourceQuota)
			n, ok2 := cur.(*corev1.ResourceQuota)
			if ok1 && ok2 && NeedsRecalculation(o, n) {
				c.enqueue(n)
			}
		},
		DeleteFunc: func(obj any) {
			// Other quotas may count resourcequotas.
			if q, ok := controllerutil.FromEvent[*corev1.ResourceQuota](obj); ok {
				c.replenish(quotasResource, q.Namespace)
			}
		},
	})
	counted := func(gr schema.GroupResource, inf cache.SharedIndexInformer) {
		add(inf, cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(runtime.Object)
				n, ok2 := cur.(runtime.Object)
				if ok1 && ok2 {
					c.updated(gr, o, n)
				}
			},
			DeleteFunc: func(obj any) {
				o, ok := controllerutil.FromEvent[runtime.Object](obj)
				if !ok {
					return
				}
				if m, err := meta.Accessor(o); err == nil {
					c.replenish(gr, m.GetNamespace())
				}
			},
		})
	}
	counted(podsResource, pods.Informer())
	counted(servicesResource, services.Informer())
	counted(claimsResource, claims.Informer())
	counted(configMapResource, configMaps.Informer())
	counted(secretsResource, secrets.Informer())
	counted(rcsResource, rcs.Informer())
	return c
}

// NeedsRecalculation reports whether an update of a quota from old to cur calls for a
// recalculation: its spec changed, or its status.hard is not its spec.hard. Updates of
// status.used alone — admission's charges, this controller's own writes — do not: a
// recalculation right after a charge could miss the object being created (not in the
// informers yet) and hand its quota back.
func NeedsRecalculation(old, cur *corev1.ResourceQuota) bool {
	return !equality.Semantic.DeepEqual(old.Spec, cur.Spec) || !quota.Equals(cur.Spec.Hard, cur.Status.Hard)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// replenish queues the quotas of namespace whose hard names track gr (after an object of gr
// was deleted there).
func (c *Controller) replenish(gr schema.GroupResource, namespace string) {
	quotas, err := c.quotas.ResourceQuotas(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		if len(quota.MatchingResources(gr, hardNames(q))) == 0 {
			continue
		}
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

// updated queues the quotas an update of a counted object changes the usage of: those whose
// scopes selected the object before or after and for which its masked usage differs, and
// those whose scopes select it on one side only. A pod being deleted is looked at again when
// its grace period ends.
func (c *Controller) updated(gr schema.GroupResource, old, cur runtime.Object) {
	m, err := meta.Accessor(cur)
	if err != nil {
		return
	}
	quotas, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil || len(quotas) == 0 {
		return
	}
	now := c.now()
	oldUsage, curUsage := quota.Usage(gr, old), quota.Usage(gr, cur)
	usageChanged := !quota.Equals(oldUsage, curUsage)
	var chargeEnds time.Time
	if gr == podsResource {
		chargeEnds = terminationRecheck(old, cur, now)
	}
	for _, q := range quotas {
		if len(quota.MatchingResources(gr, hardNames(q))) == 0 {
			continue
		}
		key := q.Namespace + "/" + q.Name
		before, after := quota.Matches(q, gr, old), quota.Matches(q, gr, cur)
		switch {
		case before != after:
			c.queue.Add(key)
		case before && usageChanged && !quota.Equals(quota.Mask(oldUsage, q.Spec.Hard), quota.Mask(curUsage, q.Spec.Hard)):
			c.queue.Add(key)
		}
		if after && !chargeEnds.IsZero() {
			c.queue.AddAfter(key, chargeEnds.Sub(now)+time.Second)
		}
	}
}

// terminationRecheck returns when a pod that has just been given (or changed) a deletion
// grace period stops counting against quota, if that is still to come.
func terminationRecheck(old, cur runtime.Object, now time.Time) time.Time {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return time.Time{}
	}
	charged, until := quota.PodCharged(n, now)
	if !charged || until.IsZero() {
		return time.Time{}
	}
	if _, before := quota.PodCharged(o, now); before.Equal(until) {
		return time.Time{} // already scheduled
	}
	return until
}

func hardNames(q *corev1.ResourceQuota) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(q.Spec.Hard))
	for name := range q.Spec.Hard {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Run runs workers until ctx ends, and queues every quota each resync period.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting resource quota controller")
	defer logger.Info("Shutting down resource quota controller")
	w := &controllerutil.Worker{Name: "ResourceQuota", LogKey: "resourcequota", Queue: c.queue, Sync: c.sync,
		Quiet: func(err error) bool { return apierrors.IsConflict(err) || ctx.Err() != nil }}
	defer w.Stop()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	w.Start(ctx, workers)
	if c.resync <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(c.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.enqueueAll()
		}
	}
}

func (c *Controller) enqueueAll() {
	quotas, err := c.quotas.List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, calcErr := c.calculate(ctx, q)
	status := Status(q, used)
	if quota.Equals(status.Hard, q.Status.Hard) && quota.Equals(status.Used, q.Status.Used) {
		return calcErr
	}
	updated := q.DeepCopy()
	updated.Status = status
	_, err = c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	// A conflict (admission charged the quota meanwhile) retries with the newer quota.
	return errors.Join(calcErr, err)
}

// Status is the status to write for q given freshly calculated usage: hard is spec.hard, and
// used has, for every name hard lists, the calculated usage, or what status.used had where
// nothing was calculated.
func Status(q *corev1.ResourceQuota, calculated corev1.ResourceList) corev1.ResourceQuotaStatus {
	used := corev1.ResourceList{}
	for name, v := range q.Status.Used {
		used[name] = v.DeepCopy()
	}
	for name, v := range calculated {
		used[name] = v.DeepCopy()
	}
	return corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy(), Used: quota.Mask(used, q.Spec.Hard)}
}

// calculate sums the usage of the objects q's scopes select in its namespace, for the names
// of q's spec.hard it can: every name one of the informer-backed resources tracks (0 when no
// object counts) and, through the counter, other count/ names. On errors it returns what it
// could calculate with them.
func (c *Controller) calculate(ctx context.Context, q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	names := hardNames(q)
	used := corev1.ResourceList{}
	var errs []error
	for _, src := range c.sources {
		tracked := quota.MatchingResources(src.gr, names)
		if len(tracked) == 0 {
			continue
		}
		objs, err := src.list(q.Namespace)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", src.gr, err))
			continue
		}
		mask := corev1.ResourceList{}
		for _, name := range tracked {
			mask[name] = q.Spec.Hard[name]
			if _, ok := used[name]; !ok {
				used[name] = zero()
			}
		}
		for _, obj := range objs {
			if !quota.Matches(q, src.gr, obj) {
				continue
			}
			for name, v := range quota.Mask(quota.Usage(src.gr, obj), mask) {
				sum := used[name]
				sum.Add(v)
				used[name] = sum
			}
		}
	}
	for _, name := range names {
		if _, done := used[name]; done {
			continue
		}
		gr, ok := quota.ParseObjectCountName(name)
		if !ok || c.counter == nil {
			continue
		}
		if scoped(q) {
			// Scopes select pods (and claims): no object of another kind matches.
			used[name] = zero()
			continue
		}
		n, err := c.counter(ctx, gr, q.Namespace)
		if errors.Is(err, ErrUnknownResource) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("counting %s: %w", gr, err))
			continue
		}
		used[name] = *resourceQuantity(n)
	}
	return used, errors.Join(errs...)
}

func scoped(q *corev1.ResourceQuota) bool {
	return len(q.Spec.Scopes) > 0 || (q.Spec.ScopeSelector != nil && len(q.Spec.ScopeSelector.MatchExpressions) > 0)
}
