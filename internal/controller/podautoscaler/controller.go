package podautoscaler

import (
	"context"
	"fmt"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// SyncPeriod is how often every autoscaler is looked at again (upstream's
// --horizontal-pod-autoscaler-sync-period).
const SyncPeriod = 15 * time.Second

// Controller runs HorizontalPodAutoscalers.
type Controller struct {
	client      kubernetes.Interface
	metrics     metricsclient.Interface
	lister      autoscalinglisters.HorizontalPodAutoscalerLister
	podLister   corelisters.PodLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	now         func() time.Time
	// syncPeriod is how often every autoscaler is looked at again (SyncPeriod unless
	// WithSyncPeriod).
	syncPeriod time.Duration

	// scales and mapper reach the scale subresource of any other kind (custom resources)
	// when set (WithScales).
	scales scale.ScalesGetter
	mapper meta.ResettableRESTMapper

	// mu guards histories: per autoscaler key, the recommendations, rescales and selector
	// the controller remembers between syncs.
	mu        sync.Mutex
	histories map[string]*history
}

// New returns a controller on the autoscaling/v2 informer, reading resource metrics
// (metrics.k8s.io/v1beta1 PodMetrics) through metrics and the targets' pods from pods.
func New(client kubernetes.Interface, metrics metricsclient.Interface, informer autoscalinginformers.HorizontalPodAutoscalerInformer,
	pods coreinformers.PodInformer, opts ...Option) *Controller {
	c := &Controller{
		client: client, metrics: metrics, lister: informer.Lister(), podLister: pods.Lister(),
		synced: []cache.InformerSynced{informer.Informer().HasSynced, pods.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "horizontalpodautoscaler"}),
		broadcaster: record.NewBroadcaster(),
		now:         time.Now,
		syncPeriod:  SyncPeriod,
		histories:   map[string]*history{},
	}
	for _, o := range opts {
		o(c)
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "horizontal-pod-autoscaler"})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		// The controller's own status updates wait for the next period, as every sync does
		// upstream: a rescale is looked at again a sync period later, not at once.
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*autoscalingv2.HorizontalPodAutoscaler)
			n, ok2 := cur.(*autoscalingv2.HorizontalPodAutoscaler)
			if !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.Spec, n.Spec) {
				enqueue(cur)
			}
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.forget(key)
			}
		},
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("horizontal pod autoscaler: adding event handler: %w", err))
	}
	return c
}

// Option configures a Controller.
type Option func(*Controller)

// WithScales lets the controller scale any kind with a scale subresource (custom
// resources among them), found through mapper; a kind the mapper does not know yet makes
// it reset the mapper and look again, so definitions made later are found.
func WithScales(scales scale.ScalesGetter, mapper meta.ResettableRESTMapper) Option {
	return func(c *Controller) { c.scales, c.mapper = scales, mapper }
}

// WithSyncPeriod sets how often every autoscaler is looked at again (default SyncPeriod;
// tests shorten it).
func WithSyncPeriod(d time.Duration) Option {
	return func(c *Controller) {
		if d > 0 {
			c.syncPeriod = d
		}
	}
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	logger.Info("Starting HPA controller")
	defer logger.Info("Shutting down HPA controller")
	w := &controllerutil.Worker{Name: "HorizontalPodAutoscaler", LogKey: "hpa", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced...)
}

// scaler reads and writes the scale subresource of the kinds that have one.
type scaler struct {
	get    func(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
	update func(ctx context.Context, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

func (c *Controller) scalerFor(ns string, ref autoscalingv2.CrossVersionObjectReference) (scaler, bool) {
	switch {
	case ref.Kind == "Deployment" && (ref.APIVersion == "apps/v1" || ref.APIVersion == ""):
		d := c.client.AppsV1().Deployments(ns)
		return scaler{d.GetScale, d.UpdateScale}, true
	case ref.Kind == "ReplicaSet" && (ref.APIVersion == "apps/v1" || ref.APIVersion == ""):
		r := c.client.AppsV1().ReplicaSets(ns)
		return scaler{r.GetScale, r.UpdateScale}, true
	case ref.Kind == "StatefulSet" && (ref.APIVersion == "apps/v1" || ref.APIVersion == ""):
		s := c.client.AppsV1().StatefulSets(ns)
		return scaler{s.GetScale, s.UpdateScale}, true
	case ref.Kind == "ReplicationController" && (ref.APIVersion == "v1" || ref.APIVersion == ""):
		r := c.client.CoreV1().ReplicationControllers(ns)
		return scaler{r.GetScale, r.UpdateScale}, true
	}
	if c.scales == nil {
		return scaler{}, false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return scaler{}, false
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	mapping, err := c.mapper.RESTMapping(gk, gv.Version)
	if err != nil {
		c.mapper.Reset()
		if mapping, err = c.mapper.RESTMapping(gk, gv.Version); err != nil {
			return scaler{}, false
		}
	}
	gr, sc := mapping.Resource.GroupResource(), c.scales.Scales(ns)
	return scaler{
		get: func(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error) {
			return sc.Get(ctx, gr, name, opts)
		},
		update: func(ctx context.Context, _ string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
			return sc.Update(ctx, gr, s, opts)
		},
	}, true
}

// historyFor returns the memory of the autoscaler with key, making it on first use.
func (c *Controller) historyFor(key string) *history {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.histories[key]
	if h == nil {
		h = &history{}
		c.histories[key] = h
	}
	return h
}

// forget drops what the controller remembers of a deleted autoscaler.
func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.histories, key)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	hpa, err := c.lister.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	c.queue.AddAfter(key, c.syncPeriod)
	status := *hpa.Status.DeepCopy()
	nowTime := c.now()
	now := metav1.NewTime(nowTime)
	ref := hpa.Spec.ScaleTargetRef
	sc, ok := c.scalerFor(ns, ref)
	var scale *autoscalingv1.Scale
	if ok {
		scale, err = sc.get(ctx, ref.Name, metav1.GetOptions{})
	}
	if !ok || err != nil {
		msg := fmt.Sprintf("the HPA controller was unable to get the target's current scale: %s %s not supported", ref.APIVersion, ref.Kind)
		if ok {
			msg = fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err)
		}
		setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", msg, now)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", msg)
		return c.writeStatus(ctx, hpa, status)
	}
	setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	h := c.historyFor(key)
	c.mu.Lock()
	h.recordInitial(current, nowTime)
	c.mu.Unlock()

	behavior := completeBehavior(hpa.Spec.Behavior)
	var metricStatuses []autoscalingv2.MetricStatus
	d := Decide(&hpa.Spec, current)
	desired, reason, rescale := d.Desired, d.Reason, true
	switch {
	case d.Disabled:
		rescale = false
		setCondition(&status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now)
	case d.Limited != "":
		setCondition(&status, autoscalingv2.ScalingLimited, corev1.ConditionTrue, d.Limited, map[string]string{
			"TooManyReplicas": msgTooMany, "TooFewReplicas": msgTooFew}[d.Limited], now)
	default:
		out := c.computeReplicasForMetrics(ctx, key, hpa, scale, &status, tolerancesFor(behavior), nowTime)
		reference := fmt.Sprintf("%s/%s/%s", ref.Kind, ns, ref.Name)
		if out.replicas == -1 {
			status.CurrentReplicas, status.CurrentMetrics = current, out.statuses
			if err := c.writeStatus(ctx, hpa, status); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Updating HorizontalPodAutoscaler status failed", "hpa", key)
			}
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", out.err.Error())
			// Retried at the next period, not sooner: the metrics will not be back faster.
			klog.FromContext(ctx).V(2).Info("Failed to compute desired number of replicas based on listed metrics",
				"hpa", key, "reference", reference, "err", out.err)
			return nil
		}
		if out.err != nil {
			klog.FromContext(ctx).V(2).Info("Some metrics failed; scaling on the others", "hpa", key, "reference", reference, "err", out.err)
		}
		desired, reason = max(out.replicas, 0), ""
		switch {
		case desired > current:
			reason = out.metric + " above target"
		case desired < current:
			reason = "All metrics below target"
		}
		c.mu.Lock()
		n := normalize(h, behavior, minReplicasOf(&hpa.Spec), hpa.Spec.MaxReplicas, current, desired, nowTime)
		c.mu.Unlock()
		setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionTrue, n.AbleReason, n.AbleMessage, now)
		limited := corev1.ConditionFalse
		if n.Limited {
			limited = corev1.ConditionTrue
		}
		setCondition(&status, autoscalingv2.ScalingLimited, limited, n.LimitedReason, n.LimitedMessage, now)
		desired, rescale = n.Desired, n.Desired != current
		metricStatuses = out.statuses
	}
	if rescale {
		scale = scale.DeepCopy()
		scale.Spec.Replicas = desired
		if _, err := sc.update(ctx, ref.Name, scale, metav1.UpdateOptions{}); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err)
			setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: "+err.Error(), now)
			status.CurrentReplicas, status.CurrentMetrics = current, metricStatuses
			_ = c.writeStatus(ctx, hpa, status)
			return err
		}
		setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		c.mu.Lock()
		h.recordScale(behavior, current, desired, nowTime)
		c.mu.Unlock()
		status.LastScaleTime = &now
	} else {
		desired = current
	}
	status.CurrentReplicas, status.DesiredReplicas, status.CurrentMetrics = current, desired, metricStatuses
	return c.writeStatus(ctx, hpa, status)
}

func (c *Controller) writeStatus(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, status autoscalingv2.HorizontalPodAutoscalerStatus) error {
	if equality.Semantic.DeepEqual(status, hpa.Status) {
		return nil
	}
	// The controller is the status' only writer, so a conflict (the lister had not yet
	// seen this controller's previous write) is answered by writing the same status over
	// the latest object: otherwise what a sync did — a rescale's lastScaleTime — would be
	// lost, and later syncs that compute no new size would never write it.
	hpas := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace)
	updated := hpa.DeepCopy()
	updated.Status = status
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		_, err := hpas.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			latest, gerr := hpas.Get(ctx, hpa.Name, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			updated = latest.DeepCopy()
			updated.Status = status
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setCondition sets a condition, keeping its transition time when its status is unchanged.
func setCondition(s *autoscalingv2.HorizontalPodAutoscalerStatus, typ autoscalingv2.HorizontalPodAutoscalerConditionType,
	status corev1.ConditionStatus, reason, message string, now metav1.Time) {
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	s.Conditions = append(s.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: typ, Status: status,
		Reason: reason, Message: message, LastTransitionTime: now})
}
