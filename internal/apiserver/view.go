package apiserver

import (
	"context"
	"net/http"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Views are read-only resources computed on each request (resource metrics, component
// statuses): get and list, with label and field selectors (metadata.name,
// metadata.namespace), nothing stored and nothing to watch.

// viewFunc lists the objects of a read-only resource computed per request, in namespace
// ("" for all namespaces or a cluster-scoped resource).
type viewFunc func(ctx context.Context, s *Server, namespace string) ([]runtime.Object, error)

// serveView answers get and list of a computed read-only resource.
func (s *Server) serveView(w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if info.subresource != "" {
		return apierrors.NewNotFound(res.gr, info.name)
	}
	if info.verb != "get" && info.verb != "list" {
		return methodNotSupported(res.gr, info.verb)
	}
	if res.namespaced && info.namespace == "" && info.verb == "get" {
		return apierrors.NewNotFound(res.gr, info.name)
	}
	if res.gr.Group == "" && res.gr.Resource == "componentstatuses" {
		w.Header().Add("Warning", componentStatusWarning)
	}
	items, err := res.view(r.Context(), s, info.namespace)
	if err != nil {
		return err
	}
	if info.verb == "get" {
		for _, obj := range items {
			if a, _ := meta.Accessor(obj); a != nil && a.GetName() == info.name {
				s.respond(w, r, http.StatusOK, res, obj)
				return nil
			}
		}
		// As metrics-server words it: podmetrics.metrics.k8s.io "x" not found.
		return apierrors.NewNotFound(schema.GroupResource{Group: res.gr.Group, Resource: strings.ToLower(res.kind)}, info.name)
	}
	q := r.URL.Query()
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	kept := items[:0]
	for _, obj := range items {
		a, _ := meta.Accessor(obj)
		if a == nil || !sel.Matches(labels.Set(a.GetLabels())) ||
			!fsel.Matches(fields.Set{"metadata.name": a.GetName(), "metadata.namespace": a.GetNamespace()}) {
			continue
		}
		kept = append(kept, obj)
	}
	sort.Slice(kept, func(i, j int) bool {
		a, _ := meta.Accessor(kept[i])
		b, _ := meta.Accessor(kept[j])
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
	list := res.newList()
	if err := meta.SetList(list, kept); err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, res, list)
	return nil
}
