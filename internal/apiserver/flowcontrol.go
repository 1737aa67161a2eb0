package apiserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	bootstrap "github.com/kijabi/kijabi/internal/apiserver/apf"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/storage"
)

// API Priority and Fairness (flowcontrol.apiserver.k8s.io/v1) is configured here, not
// enforced: requests are not queued. What kube-apiserver does with the configuration
// objects themselves is done:
//
//   - At start the mandatory priority levels and flow schemas (exempt, catch-all) and the
//     suggested ones (system, node-high, leader-election, workload-high, workload-low,
//     global-default and their schemas) are created when missing, with upstream's content.
//   - Every FlowSchema's Dangling condition tells whether the priority level it names exists,
//     kept up to date as schemas and levels come and go (kubectl's MISSINGPL column).

const (
	flowSchemasGroupResource    = "flowcontrol.apiserver.k8s.io/flowschemas"
	priorityLevelsGroupResource = "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations"
	// apfConsumerManager is the field manager of the status the configuration consumer writes.
	apfConsumerManager = "api-priority-and-fairness-config-consumer-v1"
)

// bootstrapFlowControl creates the mandatory and suggested configuration objects that are
// missing: the priority levels first, so that no schema is created dangling.
func (s *Server) bootstrapFlowControl(ctx context.Context) error {
	var levels []*flowcontrolv1.PriorityLevelConfiguration
	levels = append(levels, bootstrap.MandatoryPriorityLevelConfigurations...)
	levels = append(levels, bootstrap.SuggestedPriorityLevelConfigurations...)
	for _, pl := range levels {
		if err := s.ensure(ctx, priorityLevelsGroupResource, "", pl.DeepCopy()); err != nil {
			return err
		}
	}
	var schemas []*flowcontrolv1.FlowSchema
	schemas = append(schemas, bootstrap.MandatoryFlowSchemas...)
	schemas = append(schemas, bootstrap.SuggestedFlowSchemas...)
	for _, fs := range schemas {
		if err := s.ensure(ctx, flowSchemasGroupResource, "", fs.DeepCopy()); err != nil {
			return err
		}
	}
	return nil
}

// danglingCondition is the Dangling condition a schema naming level should have.
func danglingCondition(level string, exists bool) flowcontrolv1.FlowSchemaCondition {
	if exists {
		return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse,
			Reason: "Found", Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q and it exists", level)}
	}
	return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionTrue,
		Reason: "NotFound", Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q but there is no such object", level)}
}

// runFlowSchemaStatus keeps the Dangling conditions until ctx ends: a pass over all schemas
// at start and after every change of a schema or a level.
func (s *Server) runFlowSchemaStatus(ctx context.Context) {
	kick := make(chan struct{}, 1)
	signal := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{}, 2)
	for _, gr := range []string{flowSchemasGroupResource, priorityLevelsGroupResource} {
		res := s.byGroupResource[gr]
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				// A watch from now, then a pass: nothing changed before it goes unseen.
				events := res.store.Watch(ctx, res.store.Prefix(""), 0)
				signal()
				for ev := range events {
					if ev.Type != watch.Bookmark {
						signal()
					}
				}
				// The watch ended (compaction, an etcd error): a moment, then again.
				t := time.NewTimer(100 * time.Millisecond)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}()
	}
	defer func() { <-done; <-done }()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-retry.C:
		}
		if err := s.syncFlowSchemaStatus(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("updating FlowSchema conditions", "err", err)
			retry.Reset(time.Second)
		}
	}
}

// syncFlowSchemaStatus sets the Dangling condition of every schema whose condition is not
// what it should be.
func (s *Server) syncFlowSchemaStatus(ctx context.Context) error {
	fsRes, plRes := s.byGroupResource[flowSchemasGroupResource], s.byGroupResource[priorityLevelsGroupResource]
	levels, err := plRes.store.List(ctx, plRes.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, o := range levels.Items {
		exists[o.(*flowcontrolv1.PriorityLevelConfiguration).Name] = true
	}
	schemas, err := fsRes.store.List(ctx, fsRes.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return err
	}
	var firstErr error
	for _, o := range schemas.Items {
		fs := o.(*flowcontrolv1.FlowSchema)
		want := danglingCondition(fs.Spec.PriorityLevelConfiguration.Name, exists[fs.Spec.PriorityLevelConfiguration.Name])
		if hasCondition(fs.Status.Conditions, want) || fs.DeletionTimestamp != nil {
			continue
		}
		info := &requestInfo{group: fsRes.group, version: fsRes.version, resource: fsRes.name, name: fs.Name, subresource: "status", verb: "update"}
		_, _, err := s.updateObject(ctx, nil, fsRes, info, apfConsumerManager, false, false, func(current runtime.Object) (runtime.Object, error) {
			c := current.DeepCopyObject().(*flowcontrolv1.FlowSchema)
			if c.Spec.PriorityLevelConfiguration.Name != fs.Spec.PriorityLevelConfiguration.Name {
				// Changed meanwhile: its event brings another pass.
				return nil, apierrors.NewConflict(fsRes.gr, fs.Name, errors.New("the priority level changed"))
			}
			setFlowSchemaCondition(c, want)
			return c, nil
		})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func hasCondition(conds []flowcontrolv1.FlowSchemaCondition, want flowcontrolv1.FlowSchemaCondition) bool {
	for _, c := range conds {
		if c.Type == want.Type {
			return c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message
		}
	}
	return false
}

func setFlowSchemaCondition(fs *flowcontrolv1.FlowSchema, c flowcontrolv1.FlowSchemaCondition) {
	c.LastTransitionTime = metav1.Now()
	for i := range fs.Status.Conditions {
		if fs.Status.Conditions[i].Type == c.Type {
			if fs.Status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = fs.Status.Conditions[i].LastTransitionTime
			}
			fs.Status.Conditions[i] = c
			return
		}
	}
	fs.Status.Conditions = append(fs.Status.Conditions, c)
}
