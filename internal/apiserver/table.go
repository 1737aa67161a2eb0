package apiserver

import (
	"bytes"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kijabi/kijabi/internal/apiserver/printers"
)

// toTable renders an object or a list as a meta.k8s.io Table, the server-side printing that
// `kubectl get` asks for. Each row carries the object's metadata (includeObject=Metadata, the
// default), the whole object (Object) or nothing (None).
func (s *Server) toTable(r *http.Request, t target, res *resource, obj runtime.Object) (runtime.Object, error) {
	include := r.URL.Query().Get("includeObject")
	switch include {
	case "":
		include = "Metadata"
	case "None", "Metadata", "Object":
	default:
		return nil, apierrors.NewBadRequest("includeObject must be one of None, Metadata or Object")
	}
	var items []runtime.Object
	isList := meta.IsListType(obj)
	if isList {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	} else {
		items = []runtime.Object{obj}
	}
	table := printers.Table(res.printer, items, time.Now(), false)
	table.TypeMeta = metav1.TypeMeta{APIVersion: "meta.k8s.io/" + t.asVersion, Kind: "Table"}
	if isList {
		lm, _ := meta.ListAccessor(obj)
		table.ResourceVersion = lm.GetResourceVersion()
		table.Continue = lm.GetContinue()
		table.RemainingItemCount = lm.GetRemainingItemCount()
	} else {
		a, _ := meta.Accessor(obj)
		table.ResourceVersion = a.GetResourceVersion()
	}
	var buf bytes.Buffer
	for i := range table.Rows {
		var rowObj runtime.Object
		switch include {
		case "None":
			continue
		case "Metadata":
			pom := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
			pom.ObjectMeta = objectMeta(items[i])
			rowObj = pom
		case "Object":
			rowObj = items[i].DeepCopyObject()
			rowObj.GetObjectKind().SetGroupVersionKind(res.gvk)
		}
		buf.Reset()
		if err := t.info.Serializer.Encode(rowObj, &buf); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		table.Rows[i].Object = runtime.RawExtension{Raw: bytes.TrimRight(append([]byte(nil), buf.Bytes()...), "\n")}
	}
	return table, nil
}

// toPartial returns only the metadata of an object or a list, for metadata-only clients
// (garbage collectors, `kubectl get` with metadata informers).
func toPartial(t target, obj runtime.Object) (runtime.Object, error) {
	partial := func(o runtime.Object) (*metav1.PartialObjectMetadata, error) {
		pom := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + t.asVersion, Kind: "PartialObjectMetadata"}}
		pom.ObjectMeta = objectMeta(o)
		return pom, nil
	}
	if !meta.IsListType(obj) {
		if t.as != "PartialObjectMetadata" {
			return nil, apierrors.NewBadRequest("a single object is not a list")
		}
		return partial(obj)
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + t.asVersion, Kind: "PartialObjectMetadataList"}}
	lm, _ := meta.ListAccessor(obj)
	list.ResourceVersion, list.Continue, list.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
	for _, it := range items {
		p, err := partial(it)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		p.TypeMeta = metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}
		list.Items = append(list.Items, *p)
	}
	return list, nil
}

// objectMeta returns a copy of an API object's metadata.
func objectMeta(obj runtime.Object) metav1.ObjectMeta {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return unstructuredMeta(u)
	}
	if f := structField(obj, "ObjectMeta"); f.IsValid() {
		if om, ok := f.Interface().(metav1.ObjectMeta); ok {
			return *om.DeepCopy()
		}
	}
	return metav1.ObjectMeta{}
}
