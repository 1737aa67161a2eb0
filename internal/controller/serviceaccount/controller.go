package serviceaccount

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// Controller maintains the default ServiceAccount and the root CA ConfigMap of every namespace.
type Controller struct {
	client kubernetes.Interface
	bundle []byte

	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	cmLister corelisters.ConfigMapLister
	synced   []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller that keeps a "default" ServiceAccount in every active namespace
// and publishes caBundle as the kube-root-ca.crt ConfigMap in every namespace (not at all
// when caBundle is empty).
func New(client kubernetes.Interface, nsInformer coreinformers.NamespaceInformer, saInformer coreinformers.ServiceAccountInformer,
	cmInformer coreinformers.ConfigMapInformer, caBundle []byte) *Controller {
	c := &Controller{
		client:   client,
		bundle:   append([]byte(nil), caBundle...),
		nsLister: nsInformer.Lister(),
		saLister: saInformer.Lister(),
		cmLister: cmInformer.Lister(),
		synced: []cache.InformerSynced{nsInformer.Informer().HasSynced, saInformer.Informer().HasSynced,
			cmInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"},
		),
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("serviceaccount controller: adding event handler: %w", err))
		}
	}
	add(nsInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNamespace(obj) },
		UpdateFunc: func(_, cur any) { c.enqueueNamespace(cur) },
	})
	add(saInformer.Informer(), cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if m := metaOf(obj); m != nil && m.GetName() == DefaultServiceAccountName {
				c.queue.Add(m.GetNamespace())
			}
		},
	})
	if len(c.bundle) > 0 {
		onCM := func(obj any) {
			if m := metaOf(obj); m != nil && m.GetName() == RootCAConfigMapName {
				c.queue.Add(m.GetNamespace())
			}
		}
		add(cmInformer.Informer(), cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, cur any) { onCM(cur) },
			DeleteFunc: onCM,
		})
	}
	return c
}

func metaOf(obj any) metav1.Object {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, _ := obj.(metav1.Object)
	return m
}

func (c *Controller) enqueueNamespace(obj any) {
	if m := metaOf(obj); m != nil {
		c.queue.Add(m.GetName())
	}
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting serviceaccount controller")
	defer logger.Info("Shutting down serviceaccount controller")
	w := &controllerutil.Worker{Name: "namespace", LogKey: "namespace", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced...)
}

// sync ensures the namespace's default service account and root CA ConfigMap.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(c.syncServiceAccount(ctx, ns), c.syncRootCA(ctx, ns))
}

// ignorable reports whether a create failed only because the namespace is gone or going.
func ignorable(err error) bool {
	return apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

func (c *Controller) syncServiceAccount(ctx context.Context, ns *corev1.Namespace) error {
	_, err := c.saLister.ServiceAccounts(ns.Name).Get(DefaultServiceAccountName)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if !needsServiceAccount(ns, err == nil) {
		return nil
	}
	_, err = c.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, defaultServiceAccount(ns.Name), metav1.CreateOptions{})
	if err != nil && !ignorable(err) {
		return err
	}
	return nil
}

func (c *Controller) syncRootCA(ctx context.Context, ns *corev1.Namespace) error {
	if len(c.bundle) == 0 {
		return nil
	}
	current, err := c.cmLister.ConfigMaps(ns.Name).Get(RootCAConfigMapName)
	if apierrors.IsNotFound(err) {
		current, err = nil, nil
	}
	if err != nil {
		return err
	}
	cm, create := rootCAConfigMap(ns.Name, current, c.bundle)
	switch {
	case cm == nil:
		return nil
	case create:
		_, err = c.client.CoreV1().ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{})
		if err != nil && !ignorable(err) {
			return err
		}
		return nil
	default:
		_, err = c.client.CoreV1().ConfigMaps(ns.Name).Update(ctx, cm, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
}
