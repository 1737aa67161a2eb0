package clusterroleaggregation

import (
	"context"
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	rbacinformers "k8s.io/client-go/informers/rbac/v1"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// Controller aggregates ClusterRoles.
type Controller struct {
	client kubernetes.Interface
	lister rbaclisters.ClusterRoleLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller on the ClusterRole informer.
func New(client kubernetes.Interface, informer rbacinformers.ClusterRoleInformer) *Controller {
	c := &Controller{
		client: client,
		lister: informer.Lister(),
		synced: informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusterrole-aggregation"}),
	}
	// Any change of any ClusterRole may change what an aggregated role selects: look at all
	// aggregated roles again (there are few).
	enqueueAll := func(any) {
		roles, err := c.lister.List(labels.Everything())
		if err != nil {
			return
		}
		for _, r := range roles {
			if r.AggregationRule != nil {
				c.queue.Add(r.Name)
			}
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueAll,
		UpdateFunc: func(_, cur any) { enqueueAll(cur) },
		DeleteFunc: enqueueAll,
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("clusterrole aggregation: adding event handler: %w", err))
	}
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting ClusterRoleAggregator controller")
	defer logger.Info("Shutting down ClusterRoleAggregator controller")
	// A conflict is the role written since the lister saw it (by this controller, as its
	// sources change in a burst at start): the retry works from the new copy.
	w := &controllerutil.Worker{Name: "clusterrole", LogKey: "clusterRole", Queue: c.queue, Sync: c.sync, Quiet: apierrors.IsConflict}
	w.Run(ctx, workers, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	role, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || role.AggregationRule == nil {
		return err
	}
	all, err := c.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	rules, err := Aggregate(role, all)
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(rules, role.Rules) || (len(rules) == 0 && len(role.Rules) == 0) {
		return nil
	}
	updated := role.DeepCopy()
	updated.Rules = rules
	_, err = c.client.RbacV1().ClusterRoles().Update(ctx, updated, metav1.UpdateOptions{FieldManager: "clusterrole-aggregation-controller"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Aggregate returns the rules role should hold: those of every other ClusterRole that one
// of its selectors matches, in name order, without duplicates.
func Aggregate(role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	var selectors []labels.Selector
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, fmt.Errorf("clusterrole %s: %w", role.Name, err)
		}
		if !sel.Empty() {
			selectors = append(selectors, sel)
		}
	}
	sources := make([]*rbacv1.ClusterRole, 0, len(all))
	for _, r := range all {
		if r.Name == role.Name {
			continue
		}
		for _, sel := range selectors {
			if sel.Matches(labels.Set(r.Labels)) {
				sources = append(sources, r)
				break
			}
		}
	}
	sort.Slice(sources, func(i, j int) bool { return sources[i].Name < sources[j].Name })
	var rules []rbacv1.PolicyRule
	for _, src := range sources {
	next:
		for _, r := range src.Rules {
			for i := range rules {
				if equality.Semantic.DeepEqual(rules[i], r) {
					continue next
				}
			}
			rules = append(rules, *r.DeepCopy())
		}
	}
	return rules, nil
}
