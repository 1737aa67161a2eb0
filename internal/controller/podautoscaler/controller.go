package podautoscaler

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// SyncPeriod is how often every autoscaler is looked at again (upstream's
// --horizontal-pod-autoscaler-sync-period).
const SyncPeriod = 15 * time.Second

// Controller runs HorizontalPodAutoscalers.
type Controller struct {
	client      kubernetes.Interface
	lister      autoscalinglisters.HorizontalPodAutoscalerLister
	synced      cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	now         func() time.Time
}

// New returns a controller on the autoscaling/v2 informer.
func New(client kubernetes.Interface, informer autoscalinginformers.HorizontalPodAutoscalerInformer) *Controller {
	c := &Controller{
		client: client, lister: informer.Lister(), synced: informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "horizontalpodautoscaler"}),
		broadcaster: record.NewBroadcaster(),
		now:         time.Now,
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "horizontal-pod-autoscaler"})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("horizontal pod autoscaler: adding event handler: %w", err))
	}
	return c
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
	w.Run(ctx, workers, c.synced)
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
	return scaler{}, false
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	hpa, err := c.lister.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.queue.AddAfter(key, SyncPeriod)
	status := *hpa.Status.DeepCopy()
	now := metav1.NewTime(c.now())
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
	current := scale.Status.Replicas
	status.CurrentReplicas = current
	d := Decide(&hpa.Spec, scale.Spec.Replicas)
	setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now)
	switch {
	case d.Disabled:
		setCondition(&status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now)
	case d.Limited != "":
		setCondition(&status, autoscalingv2.ScalingLimited, corev1.ConditionTrue, d.Limited, "the desired replica count is "+map[string]string{
			"TooManyReplicas": "more than the maximum replica count", "TooFewReplicas": "less than the minimum replica count"}[d.Limited], now)
	default:
		setCondition(&status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric", metricsMessage(&hpa.Spec), now)
		setCondition(&status, autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range", now)
	}
	status.DesiredReplicas = d.Desired
	if d.Reason != "" && d.Desired != scale.Spec.Replicas {
		scale = scale.DeepCopy()
		scale.Spec.Replicas = d.Desired
		if _, err := sc.update(ctx, ref.Name, scale, metav1.UpdateOptions{}); err != nil {
			msg := fmt.Sprintf("New size: %d; reason: %s; error: %v", d.Desired, d.Reason, err)
			setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: "+err.Error(), now)
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedRescale", msg)
			_ = c.writeStatus(ctx, hpa, status)
			return err
		}
		setCondition(&status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.Desired), now)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", d.Desired, d.Reason)
		status.LastScaleTime = &now
	}
	return c.writeStatus(ctx, hpa, status)
}

func (c *Controller) writeStatus(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, status autoscalingv2.HorizontalPodAutoscalerStatus) error {
	if equality.Semantic.DeepEqual(status, hpa.Status) {
		return nil
	}
	updated := hpa.DeepCopy()
	updated.Status = status
	_, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
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
