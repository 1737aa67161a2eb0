package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/kijabi/kijabi/internal/apiserver/crschema"
	"github.com/kijabi/kijabi/internal/apiserver/printers"
)

// crDecode decodes a custom resource body (JSON or YAML): its kind and version must be the
// resource's, metadata is coerced into ObjectMeta, fields the schema does not declare are
// pruned (refused with Strict, warned about with Warn) and defaults are applied.
func (s *Server) crDecode(w http.ResponseWriter, info runtime.SerializerInfo, validation string, res *resource, data []byte, expect schema.GroupVersionKind) (runtime.Object, error) {
	switch info.MediaType {
	case runtime.ContentTypeJSON:
	case runtime.ContentTypeYAML:
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
		data = j
	default:
		return nil, unsupportedMediaType(info.MediaType)
	}
	cannot := func(msg string) error {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %s", expect.Kind, expect.Version, expect.Kind, msg))
	}
	var content map[string]any
	if err := utiljson.Unmarshal(data, &content); err != nil {
		return nil, cannot(err.Error())
	}
	if content == nil {
		return nil, cannot("the object is null")
	}
	u := &unstructured.Unstructured{Object: content}
	if u.GetKind() == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Object 'Kind' is missing in '%s'", strings.TrimSpace(string(data))))
	}
	if u.GetAPIVersion() != expect.GroupVersion().String() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", u.GetAPIVersion(), expect.GroupVersion()))
	}
	if u.GetKind() != expect.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", u.GetKind(), expect.Kind))
	}
	var unknown []string
	if m, ok := content["metadata"]; ok && m != nil {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, cannot("metadata must be an object")
		}
		om := metav1.ObjectMeta{}
		err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(mm, &om, validation != "Ignore")
		if err != nil && !runtime.IsStrictDecodingError(err) {
			return nil, cannot(err.Error())
		}
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				unknown = append(unknown, strings.Replace(e.Error(), `unknown field "`, `unknown field "metadata.`, 1))
			}
		}
		meta, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&om)
		if err != nil {
			return nil, cannot(err.Error())
		}
		delete(meta, "creationTimestamp")
		if om.CreationTimestamp.IsZero() {
			delete(meta, "creationTimestamp")
		} else {
			meta["creationTimestamp"] = mm["creationTimestamp"]
		}
		content["metadata"] = meta
	}
	if res.cr.schema != nil {
		for _, p := range crschema.Prune(content, res.cr.schema) {
			unknown = append(unknown, fmt.Sprintf("unknown field %q", p))
		}
		crschema.Default(content, res.cr.schema)
	}
	if len(unknown) > 0 {
		switch validation {
		case "Strict":
			return nil, cannot("strict decoding error: " + strings.Join(unknown, ", "))
		case "Warn":
			for _, msg := range unknown {
				addWarning(w, msg)
			}
		}
	}
	if res.cr.hook == nil {
		u.SetGroupVersionKind(schema.GroupVersionKind{})
	}
	// With a conversion webhook the object keeps its version, which tells the store to
	// convert it (crconvert.go).
	return u, nil
}

// validateCRMeta validates a custom resource's metadata as Kubernetes does for every object.
func validateCRMeta(res *resource, u *unstructured.Unstructured) field.ErrorList {
	return apimachineryvalidation.ValidateObjectMetaAccessor(u, res.namespaced, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// prepareCRCreate sets what the server owns on a new custom resource.
func prepareCRCreate(res *resource, u *unstructured.Unstructured) {
	u.SetGeneration(1)
	if res.status {
		delete(u.Object, "status")
	}
}

// prepareCRUpdate keeps what an update may not change: with a status subresource the
// object's endpoint keeps the status and /status changes only the status. generation moves
// when anything but metadata (and status, with the subresource) changes.
func prepareCRUpdate(res *resource, subresource string, u, old *unstructured.Unstructured) {
	if subresource == "status" {
		status, ok := u.Object["status"]
		managed := u.GetManagedFields()
		u.Object = runtime.DeepCopyJSON(old.Object)
		u.SetManagedFields(managed)
		if ok {
			u.Object["status"] = status
		} else {
			delete(u.Object, "status")
		}
		return
	}
	if res.status {
		if st, ok := old.Object["status"]; ok {
			u.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(u.Object, "status")
		}
	}
	strip := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, v := range m {
			if k == "metadata" || k == "apiVersion" || k == "kind" || (res.status && k == "status") {
				continue
			}
			out[k] = v
		}
		return out
	}
	if !apiequality.Semantic.DeepEqual(strip(u.Object), strip(old.Object)) {
		u.SetGeneration(old.GetGeneration() + 1)
	}
}

// crItems returns copies of a custom resource list's items that carry the served version.
func crItems(res *resource, list *unstructured.UnstructuredList) {
	for i := range list.Items {
		content := make(map[string]any, len(list.Items[i].Object)+2)
		for k, v := range list.Items[i].Object {
			content[k] = v
		}
		content["apiVersion"] = res.gvk.GroupVersion().String()
		content["kind"] = res.gvk.Kind
		list.Items[i].Object = content
	}
}

// shallowUnstructured copies the top level of a custom resource, enough to set its TypeMeta.
func shallowUnstructured(u *unstructured.Unstructured) *unstructured.Unstructured {
	content := make(map[string]any, len(u.Object)+2)
	for k, v := range u.Object {
		content[k] = v
	}
	return &unstructured.Unstructured{Object: content}
}

// unstructuredMeta returns a custom resource's metadata as ObjectMeta.
func unstructuredMeta(u *unstructured.Unstructured) metav1.ObjectMeta {
	om := metav1.ObjectMeta{}
	if m, ok := u.Object["metadata"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(runtime.DeepCopyJSON(m), &om)
	}
	return om
}

// crPrinter renders a version's additionalPrinterColumns (or Age when it has none), after
// the name, as kube-apiserver does.
func crPrinter(v *apiextensionsv1.CustomResourceDefinitionVersion) printers.Printer {
	cols := v.AdditionalPrinterColumns
	if len(cols) == 0 {
		cols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: "CreationTimestamp is a timestamp representing the server time when this object was created."}}
	}
	p := printers.Printer{Columns: []metav1.TableColumnDefinition{{Name: "Name", Type: "string", Format: "name",
		Description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"}}}
	paths := make([]*jsonpath.JSONPath, len(cols))
	for i, c := range cols {
		p.Columns = append(p.Columns, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
		jp := jsonpath.New(c.Name).AllowMissingKeys(true)
		if err := jp.Parse(fmt.Sprintf("{%s}", c.JSONPath)); err == nil {
			paths[i] = jp
		}
	}
	p.Cells = func(obj runtime.Object, now time.Time) []interface{} {
		u, ok := obj.(*unstructured.Unstructured)
		cells := make([]interface{}, 0, len(cols)+1)
		if !ok {
			for range p.Columns {
				cells = append(cells, nil)
			}
			return cells
		}
		cells = append(cells, u.GetName())
		for i, c := range cols {
			cells = append(cells, crCell(paths[i], c.Type, u.Object, now))
		}
		return cells
	}
	return p
}

func crCell(jp *jsonpath.JSONPath, typ string, content map[string]any, now time.Time) interface{} {
	if jp == nil {
		return nil
	}
	results, err := jp.FindResults(content)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return nil
	}
	if len(results[0]) > 1 || (len(results) > 1) {
		// Several values are printed as a comma-separated list.
		var buf bytes.Buffer
		n := 0
		for _, rs := range results {
			for _, r := range rs {
				if n > 0 {
					buf.WriteString(",")
				}
				fmt.Fprint(&buf, r.Interface())
				n++
			}
		}
		return buf.String()
	}
	v := results[0][0].Interface()
	switch typ {
	case "date":
		if s, ok := v.(string); ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return s
			}
			return duration.HumanDuration(now.Sub(t))
		}
		return nil
	case "integer":
		switch n := v.(type) {
		case int64, int:
			return n
		case float64:
			if n == float64(int64(n)) {
				return int64(n)
			}
		}
		return nil
	case "number":
		switch n := v.(type) {
		case int64, float64, int:
			return n
		}
		return nil
	case "boolean":
		if b, ok := v.(bool); ok {
			return b
		}
		return nil
	case "string":
		if s, ok := v.(string); ok {
			return s
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice {
			b, _ := utiljson.Marshal(v)
			return string(b)
		}
		return fmt.Sprint(v)
	}
	return v
}
