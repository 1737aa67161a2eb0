package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// Controller keeps the status of PodDisruptionBudgets.
type Controller struct {
	client kubernetes.Interface
	pdbs   policylisters.PodDisruptionBudgetLister
	pods   corelisters.PodLister
	rcs    corelisters.ReplicationControllerLister
	rss    appslisters.ReplicaSetLister
	deps   appslisters.DeploymentLister
	sets   appslisters.StatefulSetLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	now    func() time.Time
}

// New returns a controller on the given informers.
func New(client kubernetes.Interface, pdbs policyinformers.PodDisruptionBudgetInformer, pods coreinformers.PodInformer,
	rcs coreinformers.ReplicationControllerInformer, rss appsinformers.ReplicaSetInformer,
	deps appsinformers.DeploymentInformer, sets appsinformers.StatefulSetInformer) *Controller {
	c := &Controller{
		client: client,
		pdbs:   pdbs.Lister(), pods: pods.Lister(), rcs: rcs.Lister(), rss: rss.Lister(), deps: deps.Lister(), sets: sets.Lister(),
		synced: []cache.InformerSynced{pdbs.Informer().HasSynced, pods.Informer().HasSynced, rcs.Informer().HasSynced,
			rss.Informer().HasSynced, deps.Informer().HasSynced, sets.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption"}),
		now: time.Now,
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("disruption controller: adding event handler: %w", err))
		}
	}
	enqueuePDB := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	add(pdbs.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueuePDB,
		UpdateFunc: func(_, cur any) { enqueuePDB(cur) },
	})
	add(pods.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePod,
		UpdateFunc: func(old, cur any) {
			c.enqueuePod(cur)
			if o, n := old.(*corev1.Pod), cur.(*corev1.Pod); !equality.Semantic.DeepEqual(o.Labels, n.Labels) {
				c.enqueuePod(old)
			}
		},
		DeleteFunc: c.enqueuePod,
	})
	return c
}

// enqueuePod queues the budgets that select the pod.
func (c *Controller) enqueuePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if Selects(pdb, pod) {
			c.queue.Add(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

// Selects reports whether the budget covers the pod: in policy/v1 an empty selector matches
// every pod of the namespace, a missing one none.
func Selects(pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	if pdb.Spec.Selector == nil || pdb.Namespace != pod.Namespace {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	return err == nil && sel.Matches(labels.Set(pod.Labels))
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting disruption controller")
	defer logger.Info("Shutting down disruption controller")
	w := &controllerutil.Worker{Name: "PodDisruptionBudget", LogKey: "pdb", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	if pdb.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			return nil // validation refuses such selectors
		}
		if pods, err = c.pods.Pods(ns).List(sel); err != nil {
			return err
		}
	}
	status, recheck := Status(Input{PDB: pdb, Pods: pods, Now: c.now(),
		ExpectedScale: func() (int32, error) { return c.expectedScale(pods) }})
	if recheck > 0 {
		c.queue.AddAfter(key, recheck)
	}
	if equality.Semantic.DeepEqual(status, pdb.Status) {
		return nil
	}
	updated := pdb.DeepCopy()
	updated.Status = status
	_, err = c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err // a conflict retries with the newer budget
}

// expectedScale sums the replicas wanted by the controllers of the pods, each controller
// once; a Deployment's ReplicaSets count as the Deployment.
func (c *Controller) expectedScale(pods []*corev1.Pod) (int32, error) {
	seen := map[types.UID]bool{}
	var total int32
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			return 0, fmt.Errorf("found no controller ref for pod %q", pod.Name)
		}
		uid, replicas, err := c.scaleOf(pod.Namespace, ref)
		if err != nil {
			return 0, err
		}
		if !seen[uid] {
			seen[uid] = true
			total += replicas
		}
	}
	return total, nil
}

func (c *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	notFound := fmt.Errorf("%s %q of a pod not found", ref.Kind, ref.Name)
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, notFound
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
			return c.deploymentScale(ns, dref)
		}
		return rs.UID, replicas(rs.Spec.Replicas), nil
	case "Deployment":
		return c.deploymentScale(ns, ref)
	case "StatefulSet":
		ss, err := c.sets.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, notFound
		}
		return ss.UID, replicas(ss.Spec.Replicas), nil
	case "ReplicationController":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, notFound
		}
		return rc.UID, replicas(rc.Spec.Replicas), nil
	}
	return "", 0, fmt.Errorf("the controller of a pod, %s %q, has no scale this controller knows", ref.Kind, ref.Name)
}

func (c *Controller) deploymentScale(ns string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	d, err := c.deps.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return "", 0, fmt.Errorf("Deployment %q of a pod not found", ref.Name)
	}
	return d.UID, replicas(d.Spec.Replicas), nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
