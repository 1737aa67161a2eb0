package defaults

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func registerFlowControl(s *runtime.Scheme) {
	addWithList(s, defaultFlowSchema, func(l *flowcontrolv1.FlowSchemaList) []flowcontrolv1.FlowSchema { return l.Items })
	addWithList(s, defaultPriorityLevelConfiguration, func(l *flowcontrolv1.PriorityLevelConfigurationList) []flowcontrolv1.PriorityLevelConfiguration {
		return l.Items
	})
}

// The defaults of API Priority and Fairness objects.
const (
	flowSchemaMatchingPrecedence  = 1000
	levelNominalConcurrencyShares = 30
	levelHandSize                 = 8
	levelQueues                   = 64
	levelQueueLengthLimit         = 50
)

func defaultFlowSchema(fs *flowcontrolv1.FlowSchema) {
	if fs.Spec.MatchingPrecedence == 0 {
		fs.Spec.MatchingPrecedence = flowSchemaMatchingPrecedence
	}
}

func defaultPriorityLevelConfiguration(pl *flowcontrolv1.PriorityLevelConfiguration) {
	if e := pl.Spec.Exempt; e != nil {
		if e.NominalConcurrencyShares == nil {
			e.NominalConcurrencyShares = ptr.To[int32](0)
		}
		if e.LendablePercent == nil {
			e.LendablePercent = ptr.To[int32](0)
		}
	}
	if l := pl.Spec.Limited; l != nil {
		if l.NominalConcurrencyShares == nil {
			l.NominalConcurrencyShares = ptr.To[int32](levelNominalConcurrencyShares)
		}
		if l.LendablePercent == nil {
			l.LendablePercent = ptr.To[int32](0)
		}
		if q := l.LimitResponse.Queuing; q != nil {
			if q.HandSize == 0 {
				q.HandSize = levelHandSize
			}
			if q.Queues == 0 {
				q.Queues = levelQueues
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = levelQueueLengthLimit
			}
		}
	}
}
