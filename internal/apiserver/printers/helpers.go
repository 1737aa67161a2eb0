package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

const (
	none    = "<none>"
	unset   = "<unset>"
	unknown = "<unknown>"
)

// Column helpers. Type is the OpenAPI type of the cells ("string", "integer", "boolean", "date").

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn is a column kubectl shows only with -o wide.
func wideColumn(name, typ, description string) metav1.TableColumnDefinition {
	c := column(name, typ, description)
	c.Priority = 1
	return c
}

func objectMetaDoc(field string) string { return metav1.ObjectMeta{}.SwaggerDoc()[field] }

// nameColumn is the first column of nearly every table; format "name" marks it as the object's name.
func nameColumn() metav1.TableColumnDefinition {
	c := column("Name", "string", objectMetaDoc("name"))
	c.Format = "name"
	return c
}

func ageColumn() metav1.TableColumnDefinition {
	return column("Age", "string", objectMetaDoc("creationTimestamp"))
}

// Template columns shared by the workload controllers.

func containersColumn() metav1.TableColumnDefinition {
	return wideColumn("Containers", "string", "Names of each container in the template.")
}

func imagesColumn() metav1.TableColumnDefinition {
	return wideColumn("Images", "string", "Images referenced by each container in the template.")
}

// typed adapts a cell function for one concrete type to Printer.Cells. An object of any other type
// (or a nil pointer) yields a row of the right width instead of a panic.
func typed[T any, P interface {
	*T
	runtime.Object
}](columns []metav1.TableColumnDefinition, cells func(obj P, now time.Time) []interface{}) Printer {
	n := len(columns)
	return Printer{
		Columns: columns,
		Cells: func(obj runtime.Object, now time.Time) []interface{} {
			if o, ok := obj.(P); ok && o != nil {
				return cells(o, now)
			}
			return fallbackCells(obj, n)
		},
	}
}

// metaOf returns obj's metadata, or nil when it has none.
func metaOf(obj runtime.Object) metav1.Object {
	if obj == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

// fallbackCells is the row for an object a printer does not know: its name, then empty strings.
func fallbackCells(obj runtime.Object, n int) []interface{} {
	cells := make([]interface{}, n)
	for i := range cells {
		cells[i] = ""
	}
	if m := metaOf(obj); m != nil && n > 0 {
		cells[0] = m.GetName()
	}
	return cells
}

// since renders the time elapsed from t to now the way kubectl does ("5m", "3d4h"), or "<unknown>" for
// a zero time.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// sinceMicro is since for MicroTime fields.
func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// containerCells lists the names and images of containers, each comma-separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i := range containers {
		n[i] = containers[i].Name
		im[i] = containers[i].Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// selectorOrNone formats a label selector as "app=web,tier in (a,b)", "<none>" when it selects by nothing.
func selectorOrNone(s *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(s)
}

// boolPtr renders an optional boolean as "True"/"False", "<unset>" when nil.
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return unset
	case *b:
		return "True"
	default:
		return "False"
	}
}

// derefInt32 returns *p, or def when p is nil.
func derefInt32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// derefString returns *p, or def when p is nil.
func derefString(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// firstThree joins the first three items with commas and says how many more there were
// ("a,b,c + 2 more..."); with no items at all it is "<unset>".
func firstThree(items []string) string {
	const shown = 3
	if len(items) > shown {
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:shown], ","), len(items)-shown)
	}
	if len(items) == 0 {
		return unset
	}
	return strings.Join(items, ",")
}

// sortedUnique returns the distinct non-empty strings of in, sorted.
func sortedUnique(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
