package printers

import (
	"sort"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// API Priority and Fairness objects, as kube-apiserver prints them.

func flowSchemaPrinter() Printer {
	p := typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
		column("MatchingPrecedence", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"]),
		column("DistinguisherMethod", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"]),
		ageColumn(),
		column("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
	}, func(fs *flowcontrolv1.FlowSchema, now time.Time) []interface{} {
		method := none
		if d := fs.Spec.DistinguisherMethod; d != nil {
			method = string(d.Type)
		}
		// The Dangling condition says whether the priority level exists; "?" until the
		// configuration controller has looked.
		missing := "?"
		for _, c := range fs.Status.Conditions {
			if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
				missing = string(c.Status)
				break
			}
		}
		return []interface{}{fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method,
			since(fs.CreationTimestamp, now), missing}
	})
	// Lists show the schemas in the order they are matched: by precedence, then by name.
	p.Sort = func(objs []runtime.Object) {
		sort.SliceStable(objs, func(i, j int) bool {
			a, aok := objs[i].(*flowcontrolv1.FlowSchema)
			b, bok := objs[j].(*flowcontrolv1.FlowSchema)
			if !aok || !bok || a == nil || b == nil {
				return false
			}
			if a.Spec.MatchingPrecedence != b.Spec.MatchingPrecedence {
				return a.Spec.MatchingPrecedence < b.Spec.MatchingPrecedence
			}
			return a.Name < b.Name
		})
	}
	return p
}

func priorityLevelPrinter() Printer {
	queuing := flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
		column("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
		column("Queues", "string", queuing["queues"]),
		column("HandSize", "string", queuing["handSize"]),
		column("QueueLengthLimit", "string", queuing["queueLengthLimit"]),
		ageColumn(),
	}, func(pl *flowcontrolv1.PriorityLevelConfiguration, now time.Time) []interface{} {
		var shares, queues, hand, limit interface{} = none, none, none, none
		if l := pl.Spec.Limited; l != nil {
			if l.NominalConcurrencyShares != nil {
				shares = int64(*l.NominalConcurrencyShares)
			} else {
				shares = int64(0)
			}
			if q := l.LimitResponse.Queuing; q != nil {
				queues, hand, limit = int64(q.Queues), int64(q.HandSize), int64(q.QueueLengthLimit)
			}
		}
		return []interface{}{pl.Name, string(pl.Spec.Type), shares, queues, hand, limit, since(pl.CreationTimestamp, now)}
	})
}
