package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// eventPrinter prints core/v1 and events.k8s.io/v1 events alike: both are views of one stored object.
func eventPrinter() Printer {
	doc := corev1.Event{}.SwaggerDoc()
	columns := []metav1.TableColumnDefinition{
		column("Last Seen", "string", doc["lastTimestamp"]),
		column("Type", "string", doc["type"]),
		column("Reason", "string", doc["reason"]),
		column("Object", "string", doc["involvedObject"]),
		wideColumn("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		wideColumn("Source", "string", doc["source"]),
		column("Message", "string", doc["message"]),
		wideColumn("First Seen", "string", doc["firstTimestamp"]),
		wideColumn("Count", "string", doc["count"]),
		nameColumn(),
	}
	columns[len(columns)-1].Priority = 1
	return Printer{
		Columns: columns,
		Cells: func(obj runtime.Object, now time.Time) []interface{} {
			switch e := obj.(type) {
			case *corev1.Event:
				if e != nil {
					return eventCells(coreEventView(e), now)
				}
			case *eventsv1.Event:
				if e != nil {
					return eventCells(eventsEventView(e), now)
				}
			}
			// Name is the last column here, not the first.
			cells := fallbackCells(nil, len(columns))
			if m := metaOf(obj); m != nil {
				cells[len(cells)-1] = m.GetName()
			}
			return cells
		},
	}
}

// eventView holds the event fields the table shows, whichever API version the event came in.
type eventView struct {
	name, eventType, reason, message  string
	involved                          corev1.ObjectReference
	source                            corev1.EventSource
	reportingController, reportingIns string
	first, last                       metav1.Time
	eventTime                         metav1.MicroTime
	count                             int32
	series                            *eventsv1.EventSeries
}

func coreEventView(e *corev1.Event) eventView {
	v := eventView{
		name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Message,
		involved: e.InvolvedObject, source: e.Source,
		reportingController: e.ReportingController, reportingIns: e.ReportingInstance,
		first: e.FirstTimestamp, last: e.LastTimestamp, eventTime: e.EventTime, count: e.Count,
	}
	if e.Series != nil {
		v.series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return v
}

func eventsEventView(e *eventsv1.Event) eventView {
	return eventView{
		name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Note,
		involved: e.Regarding, source: e.DeprecatedSource,
		reportingController: e.ReportingController, reportingIns: e.ReportingInstance,
		first: e.DeprecatedFirstTimestamp, last: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
		count: e.DeprecatedCount, series: e.Series,
	}
}

func eventCells(e eventView, now time.Time) []interface{} {
	first := since(e.first, now)
	if e.first.IsZero() {
		first = sinceMicro(e.eventTime, now)
	}
	last := since(e.last, now)
	if e.last.IsZero() {
		last = first
	}
	count := e.count
	if e.series != nil {
		last = sinceMicro(e.series.LastObservedTime, now)
		count = e.series.Count
	} else if count == 0 {
		count = 1 // events of the new API that happened once carry no count
	}

	object := strings.ToLower(e.involved.Kind)
	if e.involved.Name != "" {
		object += "/" + e.involved.Name
	}

	component := e.source.Component
	if component == "" {
		component = e.reportingController
	}
	instance := e.source.Host
	if instance == "" {
		instance = e.reportingIns
	}
	source := component
	if instance != "" {
		source += ", " + instance
	}

	return []interface{}{
		last,
		e.eventType,
		e.reason,
		object,
		e.involved.FieldPath,
		source,
		strings.TrimSpace(e.message),
		first,
		int64(count),
		e.name,
	}
}
