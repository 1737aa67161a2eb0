package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/auth"
	"github.com/kijabi/kijabi/internal/storage"
)

// maxBodyBytes is the largest request body accepted, as in Kubernetes.
const maxBodyBytes = 3 * 1024 * 1024

// serveAPI serves /api/... and /apis/...: discovery of one group or version, or a resource.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, user *auth.User) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "api" && len(parts) == 2:
		s.serveResourceList(w, r, "", parts[1])
		return
	case parts[0] == "apis" && len(parts) == 2:
		s.serveAPIGroup(w, r, parts[1])
		return
	case parts[0] == "apis" && len(parts) == 3:
		s.serveResourceList(w, r, parts[1], parts[2])
		return
	}
	info, ok := parseRequest(r, s.namespaced)
	if !ok {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	connectVerb(info)
	if rec, ok := w.(*statusRecorder); ok {
		rec.observed = observed{info: info, dryRun: r.URL.Query().Get("dryRun") == "All"}
	}
	if info.verb == "watch" || connectSubresources[info.subresource] {
		g := s.instruments.longRunningGauge(r, info)
		g.Inc()
		defer g.Dec()
	}
	res := s.lookup(info)
	if res == nil {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: info.group, Resource: info.resource}, ""))
		return
	}
	if allowed, reason := s.cfg.Authorizer.Authorize(auth.Attributes{User: user, Verb: info.verb, Group: info.group,
		Version: info.version, Resource: info.resource, Subresource: info.subresource, Namespace: info.namespace, Name: info.name}); !allowed {
		writeError(w, apierrors.NewForbidden(res.gr, info.name, errors.New(forbiddenMessage(user.Name, info, reason))))
		return
	}
	if res.review != nil {
		if err := s.serveReview(w, r, res, info, user); err != nil {
			writeError(w, err)
		}
		return
	}
	if res.view != nil {
		if err := s.serveView(w, r, res, info); err != nil {
			writeError(w, err)
		}
		return
	}
	if res.namespaced && info.namespace == "" && info.verb != "list" && info.verb != "watch" {
		writeError(w, apierrors.NewNotFound(res.gr, info.name))
		return
	}
	if info.subresource != "" && !contains(res.subresources(), info.subresource) {
		writeError(w, apierrors.NewNotFound(res.gr, info.name))
		return
	}
	if res.cr != nil && res.cr.terminating() && info.verb == "create" {
		writeError(w, apierrors.NewMethodNotSupported(res.gr, "create"))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	ctx := r.Context()
	ctx = withAdmissionRequest(ctx, w, r, info)
	var err error
	switch info.subresource {
	case "", "status", "approval", "ephemeralcontainers", "resize":
		err = s.serveObject(ctx, w, r, res, info)
	case "scale":
		err = s.serveScale(ctx, w, r, res, info)
	case "binding":
		err = s.serveBinding(ctx, w, r, res, info)
	case "finalize":
		err = s.serveObject(ctx, w, r, res, info)
	case "eviction":
		err = s.serveEviction(ctx, w, r, res, info)
	case "token":
		err = s.serveToken(ctx, w, r, res, info)
	case "log", "exec", "attach", "portforward", "proxy":
		err = s.serveConnect(ctx, w, r, res, info)
	default:
		err = apierrors.NewServiceUnavailable(fmt.Sprintf("the %s subresource is not available yet", info.subresource))
	}
	if err != nil {
		writeError(w, err)
	}
}

func (s *Server) serveObject(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	switch info.verb {
	case "get":
		return s.get(ctx, w, r, res, info)
	case "list":
		if info.subresource != "" {
			return apierrors.NewNotFound(res.gr, "")
		}
		return s.list(ctx, w, r, res, info)
	case "watch":
		return s.watch(ctx, w, r, res, info)
	case "create":
		if info.subresource != "" || info.name != "" {
			return methodNotSupported(res.gr, "create")
		}
		return s.create(ctx, w, r, res, info)
	case "update":
		return s.update(ctx, w, r, res, info)
	case "patch":
		return s.patch(ctx, w, r, res, info)
	case "delete":
		if info.subresource != "" {
			return methodNotSupported(res.gr, "delete")
		}
		return s.delete(ctx, w, r, res, info)
	case "deletecollection":
		return s.deleteCollection(ctx, w, r, res, info)
	}
	return methodNotSupported(res.gr, info.verb)
}

func (s *Server) objectTarget(r *http.Request) (target, error) {
	return s.negotiate(r.Header.Get("Accept"), func(as, g, v string) bool {
		return g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") && (as == "Table" || as == "PartialObjectMetadata")
	})
}

func (s *Server) listTarget(r *http.Request) (target, error) {
	return s.negotiate(r.Header.Get("Accept"), func(as, g, v string) bool {
		return g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") && (as == "Table" || as == "PartialObjectMetadataList")
	})
}

// respond writes one object in the representation the client asked for.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, code int, res *resource, obj runtime.Object) {
	t, err := s.objectTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.transform(r, t, res, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeObject(w, r, code, t, out)
}

// transform converts obj (an object or a list) into the requested representation, with its
// TypeMeta set.
func (s *Server) transform(r *http.Request, t target, res *resource, obj runtime.Object) (runtime.Object, error) {
	if err := s.crServed(r.Context(), res, obj); err != nil {
		return nil, err
	}
	switch t.as {
	case "":
		if l, ok := obj.(*unstructured.UnstructuredList); ok && res.cr != nil {
			crItems(res, l)
		}
		if meta.IsListType(obj) {
			obj.GetObjectKind().SetGroupVersionKind(res.listGVK)
		} else {
			obj.GetObjectKind().SetGroupVersionKind(res.gvk)
		}
		return obj, nil
	case "Table":
		return s.toTable(r, t, res, obj)
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return toPartial(t, obj)
	}
	return nil, apierrors.NewBadRequest("unsupported representation " + t.as)
}

// getOptions maps a get's resourceVersion onto storage options: "" is the latest state (a
// consistent read), "0" any state, N any state at least that recent.
func getOptions(q map[string][]string) (storage.GetOptions, error) {
	switch rv := first(q["resourceVersion"]); rv {
	case "":
		return storage.GetOptions{}, nil
	case "0":
		return storage.GetOptions{Stale: true}, nil
	default:
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			return storage.GetOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
		}
		return storage.GetOptions{MinRevision: n}, nil
	}
}

func (s *Server) get(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	opts, err := getOptions(r.URL.Query())
	if err != nil {
		return err
	}
	key := res.store.Key(info.namespace, info.name)
	if t, err := s.objectTarget(r); err == nil && res.wantsStored(t) {
		so, err := res.store.ReadStored(ctx, key, opts)
		if err != nil {
			return storageError(err, res.gr, info.name)
		}
		data, err := encodeStored(t, so)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		writeEncoded(w, r, http.StatusOK, t, data)
		return nil
	}
	obj, err := res.store.Read(ctx, key, opts)
	if err != nil {
		return storageError(err, res.gr, info.name)
	}
	s.respond(w, r, http.StatusOK, res, obj)
	return nil
}

// forResponse returns a copy of a shared object (from the watch cache) that respond and
// transform may change: they set only the TypeMeta of the object itself, so a shallow copy
// does; other representations (tables, metadata) get a deep copy.
func forResponse(r *http.Request, obj runtime.Object) runtime.Object {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return shallowUnstructured(u)
	}
	if !strings.Contains(r.Header.Get("Accept"), "as=") {
		if c, ok := shallowCopy(obj); ok {
			return c
		}
	}
	return obj.DeepCopyObject()
}

// shallowCopy copies the struct a typed object points to.
func shallowCopy(obj runtime.Object) (runtime.Object, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	out, ok := c.Interface().(runtime.Object)
	return out, ok
}

// selection is a parsed label and field selector.
type selection struct {
	labels labels.Selector
	fields fields.Selector
}

func (s *Server) parseSelection(q map[string][]string, res *resource) (*selection, error) {
	sel := &selection{labels: labels.Everything(), fields: fields.Everything()}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if ls := get("labelSelector"); ls != "" {
		l, err := labels.Parse(ls)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		sel.labels = l
	}
	if fs := get("fieldSelector"); fs != "" {
		f, err := fields.ParseSelector(fs)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		// Only fields the resource declares may be selected on, as in Kubernetes.
		sample := res.fieldSet(res.newObj())
		for _, req := range f.Requirements() {
			if _, ok := sample[req.Field]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		sel.fields = f
	}
	return sel, nil
}

func (r *resource) fieldSet(obj runtime.Object) fields.Set {
	a, _ := meta.Accessor(obj)
	set := fields.Set{"metadata.name": a.GetName()}
	if r.namespaced {
		set["metadata.namespace"] = a.GetNamespace()
	}
	if r.fields != nil {
		for k, v := range r.fields(obj) {
			set[k] = v
		}
	}
	return set
}

func (sel *selection) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (sel *selection) matches(res *resource, obj runtime.Object) bool {
	if sel.empty() {
		return true
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !sel.labels.Matches(labels.Set(a.GetLabels())) {
		return false
	}
	return sel.fields.Empty() || sel.fields.Matches(res.fieldSet(obj))
}

// listRevision maps a list's resourceVersion and resourceVersionMatch onto storage options:
// "" is the latest state (a consistent read), "0" any recent state, N with Exact that
// revision, and N otherwise any state at least that recent.
func listRevision(q map[string][]string) (storage.ListOptions, error) {
	rv, match := first(q["resourceVersion"]), first(q["resourceVersionMatch"])
	if rv == "" || rv == "0" {
		if match == string(metav1.ResourceVersionMatchExact) {
			return storage.ListOptions{}, apierrors.NewBadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"\" or \"0\"")
		}
		if match != "" && match != string(metav1.ResourceVersionMatchNotOlderThan) {
			return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersionMatch %q", match))
		}
		return storage.ListOptions{Stale: rv == "0"}, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
	}
	switch match {
	case string(metav1.ResourceVersionMatchExact):
		return storage.ListOptions{Revision: n}, nil
	case "", string(metav1.ResourceVersionMatchNotOlderThan):
		return storage.ListOptions{MinRevision: n}, nil
	}
	return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersionMatch %q", match))
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s *Server) list(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	q := r.URL.Query()
	t, err := s.listTarget(r)
	if err != nil {
		return err
	}
	sel, err := s.parseSelection(q, res)
	if err != nil {
		return err
	}
	opts, err := listRevision(q)
	if err != nil {
		return err
	}
	var limit int64
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.ParseInt(l, 10, 64); err != nil || limit < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
	}
	cont := q.Get("continue")
	if cont != "" && q.Get("resourceVersion") != "" && q.Get("resourceVersion") != "0" {
		return apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	opts.Limit, opts.Continue = limit, cont
	if !sel.empty() {
		opts.Filter = func(o runtime.Object) bool { return sel.matches(res, o) }
	}
	opts.Stored = res.wantsStored(t)
	result, err := res.store.List(ctx, res.store.Prefix(info.namespace), opts)
	if err != nil {
		if errors.Is(err, storage.ErrCompacted) && cont != "" {
			return apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
		}
		return storageError(err, res.gr, "")
	}
	if opts.Stored {
		lm := &metav1.ListMeta{ResourceVersion: strconv.FormatInt(result.Revision, 10), Continue: result.Continue, RemainingItemCount: result.Remaining}
		data, err := res.encodeStoredList(t, lm, result.Stored)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		writeEncoded(w, r, http.StatusOK, t, data)
		return nil
	}
	list := res.newList()
	if err := meta.SetList(list, result.Items); err != nil {
		return apierrors.NewInternalError(err)
	}
	lm, _ := meta.ListAccessor(list)
	lm.SetResourceVersion(strconv.FormatInt(result.Revision, 10))
	lm.SetContinue(result.Continue)
	lm.SetRemainingItemCount(result.Remaining)
	out, err := s.transform(r, t, res, list)
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, t, out)
	return nil
}

// readBody reads a request body, mapping an oversized body to 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if len(data) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	return data, nil
}

// fieldValidation is the fieldValidation query parameter: Strict, Warn (the default) or
// Ignore.
func fieldValidation(r *http.Request) (string, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation parameter unsupported: %v", v))
}

// decodeBody decodes a create or update body into a new object of res's type, applying the
// request's field validation: strict decoding errors fail a Strict request and become
// warnings for Warn.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, res *resource, expect schema.GroupVersionKind) (runtime.Object, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return s.decodeData(w, r, res, data, expect)
}

func (s *Server) decodeData(w http.ResponseWriter, r *http.Request, res *resource, data []byte, expect schema.GroupVersionKind) (runtime.Object, error) {
	info, err := s.bodyInfo(r)
	if err != nil {
		return nil, err
	}
	validation, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	return s.decodeWith(w, info, validation, res, data, expect)
}

func (s *Server) decodeWith(w http.ResponseWriter, info runtime.SerializerInfo, validation string, res *resource, data []byte, expect schema.GroupVersionKind) (runtime.Object, error) {
	if res.cr != nil {
		return s.crDecode(w, info, validation, res, data, expect)
	}
	dec := info.Serializer
	if validation != "Ignore" && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	into, err := s.scheme.New(expect)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if info.MediaType == runtime.ContentTypeProtobuf && decodeInPlace(data, typeMetaMessage(expect), into) {
		return into, nil
	}
	obj, gvk, err := dec.Decode(data, &expect, into)
	if err != nil {
		if runtime.IsStrictDecodingError(err) && obj != nil {
			strict, _ := runtime.AsStrictDecodingError(err)
			if validation == "Strict" {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			for _, e := range strict.Errors() {
				addWarning(w, e.Error())
			}
		} else {
			if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
		}
	}
	if gvk != nil && *gvk != expect {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), expect.GroupVersion()))
	}
	if obj != into {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is of kind %T, not %s", obj, expect.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return obj, nil
}

func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", fmt.Sprintf("299 - %s", strconv.Quote(msg)))
}

// dryRun reports whether the request asks for dryRun=All, refusing other values.
func dryRun(r *http.Request) (bool, error) {
	vals := r.URL.Query()["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, supported values: \"All\"", v))
		}
	}
	return len(vals) > 0, nil
}

// managerName is the field manager of a write: the fieldManager parameter, or the user
// agent's first segment.
func managerName(r *http.Request) (string, error) {
	m := r.URL.Query().Get("fieldManager")
	if m == "" {
		m = r.UserAgent()
		if i := strings.Index(m, "/"); i >= 0 {
			m = m[:i]
		}
		if len(m) > 128 {
			m = m[:128]
		}
		return m, nil
	}
	if len(m) > 128 {
		return "", apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	return m, nil
}

func (s *Server) create(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	obj, err := s.decodeBody(w, r, res, res.gvk)
	if err != nil {
		return err
	}
	manager, err := managerName(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	out, err := s.createObject(ctx, w, res, info.namespace, obj, manager, dry, false)
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusCreated, res, out)
	return nil
}

// createObject runs a new object through admission, defaulting and validation, and stores it
// unless dry.
func (s *Server) createObject(ctx context.Context, w http.ResponseWriter, res *resource, namespace string, obj runtime.Object, manager string, dry, applied bool) (runtime.Object, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.namespaced {
		if a.GetNamespace() != "" && a.GetNamespace() != namespace {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		a.SetNamespace(namespace)
	} else {
		a.SetNamespace("")
	}
	generated := a.GetName() == "" && a.GetGenerateName() != ""
	if generated {
		a.SetName(generateName(a.GetGenerateName()))
	}
	if a.GetName() == "" {
		return nil, apierrors.NewInvalid(res.gvk.GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if res.namespaced {
		if err := s.admitNamespace(ctx, namespace); err != nil {
			return nil, err
		}
	}
	// A server-side apply that creates has already tracked its fields: keep them.
	var tracked []metav1.ManagedFieldsEntry
	if applied {
		tracked = a.GetManagedFields()
	}
	prepareCreate(res, a, obj)
	if applied {
		a.SetManagedFields(tracked)
	}
	s.scheme.Default(obj)
	if err := s.admitCreate(ctx, res, obj, dry); err != nil {
		return nil, err
	}
	if err := s.admitWriteByWebhooks(ctx, res, obj, nil); err != nil {
		s.releaseOnFailure(res, obj, dry)
		return nil, err
	}
	if errs := validateCreate(res, obj); len(errs) > 0 {
		s.releaseOnFailure(res, obj, dry)
		return nil, apierrors.NewInvalid(res.gvk.GroupKind(), a.GetName(), errs)
	}
	if err := s.validateWriteByWebhooks(ctx, res, obj, nil); err != nil {
		s.releaseOnFailure(res, obj, dry)
		return nil, err
	}
	if err := s.chargeQuota(ctx, res, obj, nil, dry); err != nil {
		s.releaseOnFailure(res, obj, dry)
		return nil, err
	}
	if !applied {
		tracked, err := res.trackCreate(obj, manager)
		if err != nil {
			s.releaseOnFailure(res, obj, dry)
			return nil, apierrors.NewInternalError(err)
		}
		obj = tracked
	}
	if dry {
		return obj, nil
	}
	out, err := res.store.Create(ctx, res.store.Key(namespace, a.GetName()), obj)
	// A generated name that is taken is generated again, as kube-apiserver does
	// (RetryGenerateName): five random characters collide now and then among the
	// thousands of pods of one ReplicaSet.
	for try := 1; generated && try < maxGenerateNameAttempts && errors.Is(err, storage.ErrExists); try++ {
		a, _ = meta.Accessor(obj) // obj may be a copy made after a was taken
		a.SetName(generateName(a.GetGenerateName()))
		out, err = res.store.Create(ctx, res.store.Key(namespace, a.GetName()), obj)
	}
	if err != nil {
		s.releaseOnFailure(res, obj, dry)
		return nil, storageError(err, res.gr, a.GetName())
	}
	return out, nil
}

// maxGenerateNameAttempts is how many names a create with generateName tries, as
// kube-apiserver.
const maxGenerateNameAttempts = 8

func (s *Server) update(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	obj, err := s.decodeBody(w, r, res, res.gvk)
	if err != nil {
		return err
	}
	manager, err := managerName(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if a.GetName() != info.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", a.GetName(), info.name))
	}
	if res.namespaced && a.GetNamespace() != "" && a.GetNamespace() != info.namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	out, created, err := s.updateObject(ctx, w, res, info, manager, dry, false, func(current runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.respond(w, r, code, res, out)
	return nil
}

// updateFunc computes a new object from the current one (nil when it does not exist).
type updateFunc func(current runtime.Object) (runtime.Object, error)

// updateObject replaces an object with what compute returns, through defaulting, validation
// and optimistic concurrency: a resourceVersion in the new object must match the stored one.
// For the status subresource only the status changes; for the object, only everything else.
// With applied, compute has already tracked managedFields (server-side apply).
func (s *Server) updateObject(ctx context.Context, w http.ResponseWriter, res *resource, info *requestInfo, manager string, dry, applied bool, compute updateFunc) (runtime.Object, bool, error) {
	key := res.store.Key(info.namespace, info.name)
	created := false
	var result runtime.Object
	tryUpdate := func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(res.gr, info.name)
		}
		// A custom resource is updated in the request's version (crconvert.go).
		current, err := s.crCurrent(ctx, res, current)
		if err != nil {
			return nil, err
		}
		obj, err := compute(current)
		if err != nil {
			return nil, err
		}
		a, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		cur, _ := meta.Accessor(current)
		if rv := a.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.gr, info.name, errors.New(conflictMessage))
		}
		if uid := a.GetUID(); uid != "" && uid != cur.GetUID() {
			return nil, apierrors.NewConflict(res.gr, info.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", cur.GetUID(), uid))
		}
		if a.GetResourceVersion() == "" {
			// An unconditional update: it applies to what is stored now.
			a.SetResourceVersion(cur.GetResourceVersion())
		}
		a.SetNamespace(info.namespace)
		if !res.namespaced {
			a.SetNamespace("")
		}
		// Defaults first, as decoding gives them upstream: a write that only leaves out what
		// defaulting fills in changes nothing (not even the generation).
		s.scheme.Default(obj)
		prepareUpdate(res, info.subresource, obj, current)
		if err := s.admitUpdate(ctx, res, info.subresource, obj, current, dry); err != nil {
			return nil, err
		}
		if err := s.admitWriteByWebhooks(ctx, res, obj, current); err != nil {
			return nil, err
		}
		var errs field.ErrorList
		errs = append(errs, validateMetaUpdate(a, cur)...)
		switch info.subresource {
		case "status":
			errs = append(errs, validateStatusUpdate(res, obj, current)...)
		case "approval":
			errs = append(errs, validateApprovalUpdate(obj, current)...)
		case "ephemeralcontainers":
			errs = append(errs, validateEphemeralUpdate(obj, current)...)
		case "resize":
			errs = append(errs, validateResize(obj, current)...)
		default:
			errs = append(errs, validateUpdate(res, obj, current)...)
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.gvk.GroupKind(), info.name, errs)
		}
		if err := s.validateWriteByWebhooks(ctx, res, obj, current); err != nil {
			return nil, err
		}
		if info.subresource == "" && (res.gr == servicesGR || res.gr == claimsGR) {
			// What a Service or claim counts can grow on update (a NodePort, more storage).
			if err := s.chargeQuota(ctx, res, obj, current, dry); err != nil {
				return nil, err
			}
		}
		tracked := obj
		if !applied {
			if tracked, err = res.trackUpdate(info.subresource, current, obj, manager); err != nil {
				return nil, apierrors.NewInternalError(err)
			}
		}
		if dry {
			result = tracked
			return nil, errDryRun
		}
		return tracked, nil
	}
	out, err := res.store.GuaranteedUpdate(ctx, key, false, tryUpdate)
	if errors.Is(err, errDryRun) {
		return result, false, nil
	}
	if err != nil {
		return nil, false, storageError(err, res.gr, info.name)
	}
	if finished(out) {
		// The last finalizer of a terminating object is gone: the object goes now.
		deleted, err := res.store.Delete(ctx, key, func(current runtime.Object) error {
			if !finished(current) {
				return errNotFinished
			}
			return nil
		})
		switch {
		case err == nil:
			s.afterDelete(res, deleted)
			return deleted, false, nil
		case errors.Is(err, errNotFinished), errors.Is(err, storage.ErrNotFound):
		default:
			return nil, false, storageError(err, res.gr, info.name)
		}
	}
	return out, created, nil
}

// errDryRun stops an update after admission and validation, before anything is written.
var errDryRun = errors.New("dry run")

func (s *Server) delete(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	out, deleted, err := s.deleteObject(ctx, res, info.namespace, info.name, opts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !deleted {
		code = http.StatusAccepted
		if opts.DryRun != nil || out == nil {
			code = http.StatusOK
		}
	}
	s.respond(w, r, code, res, out)
	return nil
}

func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if r.Body != nil {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			info, err := s.bodyInfo(r)
			if err != nil {
				return nil, err
			}
			gvk := schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}
			if _, _, err := info.Serializer.Decode(data, &gvk, opts); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding DeleteOptions: %v", err))
			}
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := q.Get("orphanDependents"); o != "" {
		b := isTrue(o)
		opts.OrphanDependents = &b
	}
	if vals := q["dryRun"]; len(vals) > 0 {
		opts.DryRun = vals
	}
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q", v))
		}
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "DeleteOptions"}, "", field.ErrorList{
				field.NotSupported(field.NewPath("propagationPolicy"), *opts.PropagationPolicy, []string{"Foreground", "Background", "Orphan", "nil"})})
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

// deleteObject deletes one object, honouring preconditions, finalizers, propagation and
// graceful deletion. deleted is false when the object stays, marked for deletion.
func (s *Server) deleteObject(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	key := res.store.Key(namespace, name)
	dry := len(opts.DryRun) > 0
	checkPre := func(cur metav1.Object) error {
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cur.GetUID() {
				return apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, cur.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != cur.GetResourceVersion() {
				return apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, cur.GetResourceVersion()))
			}
		}
		return nil
	}
	if err := s.admitDelete(ctx, res, namespace, name); err != nil {
		return nil, false, err
	}
	if err := s.admitDeleteByWebhooks(ctx, res, namespace, name, opts); err != nil {
		return nil, false, err
	}
	// First, mark the object when it cannot go at once: finalizers, a propagation policy that
	// needs the garbage collector, or a grace period.
	var marked runtime.Object
	var stays bool
	var dryResult runtime.Object
	out, err := res.store.GuaranteedUpdate(ctx, key, false, func(current runtime.Object) (runtime.Object, error) {
		obj := current.DeepCopyObject()
		a, _ := meta.Accessor(obj)
		if err := checkPre(a); err != nil {
			return nil, err
		}
		stays = markForDeletion(res, a, obj, opts)
		if dry {
			dryResult = obj
			return nil, errDryRun
		}
		if !stays {
			return current, nil // unchanged: nothing is written
		}
		return obj, nil
	})
	if errors.Is(err, errDryRun) {
		return dryResult, !stays, nil
	}
	if err != nil {
		return nil, false, storageError(err, res.gr, name)
	}
	marked = out
	if stays {
		return marked, false, nil
	}
	deleted, err := res.store.Delete(ctx, key, func(current runtime.Object) error {
		a, _ := meta.Accessor(current)
		if err := checkPre(a); err != nil {
			return err
		}
		if len(a.GetFinalizers()) > 0 {
			return errFinalizersAppeared
		}
		return nil
	})
	if errors.Is(err, errFinalizersAppeared) {
		// A finalizer was added between our two steps; start again.
		return s.deleteObject(ctx, res, namespace, name, opts)
	}
	if err != nil {
		return nil, false, storageError(err, res.gr, name)
	}
	s.afterDelete(res, deleted)
	return deleted, true, nil
}

var errNotFinished = errors.New("object is not ready to be removed")

// finished reports whether a terminating object has nothing left to wait for.
func finished(obj runtime.Object) bool {
	a, err := meta.Accessor(obj)
	if err != nil || a.GetDeletionTimestamp() == nil || len(a.GetFinalizers()) > 0 || pendingSpecFinalizers(obj) {
		return false
	}
	g := a.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

// pendingSpecFinalizers reports whether a namespace still waits for its content to go.
func pendingSpecFinalizers(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

var errFinalizersAppeared = errors.New("finalizers appeared")

// markForDeletion updates obj (the current object, copied) for a delete request. It returns
// whether the object stays in storage, marked with a deletionTimestamp.
func markForDeletion(res *resource, a metav1.Object, obj runtime.Object, opts *metav1.DeleteOptions) bool {
	policy := metav1.DeletePropagationBackground
	if res.gr.Resource == "replicationcontrollers" || (res.gr.Group == "" && res.gr.Resource == "") {
		policy = metav1.DeletePropagationBackground
	}
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		policy = metav1.DeletePropagationOrphan
	}
	finalizers := a.GetFinalizers()
	if _, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok && a.GetDeletionTimestamp() == nil {
		// A definition goes once its instances are gone (crd.go).
		finalizers = addString(finalizers, crdCleanupFinalizer)
	}
	switch policy {
	case metav1.DeletePropagationForeground:
		finalizers = addString(removeString(finalizers, metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
	case metav1.DeletePropagationOrphan:
		finalizers = addString(removeString(finalizers, metav1.FinalizerDeleteDependents), metav1.FinalizerOrphanDependents)
	}
	if a.GetDeletionTimestamp() != nil {
		// Already terminating: only the propagation finalizers may change, and a shorter grace
		// period may be asked for.
		a.SetFinalizers(finalizers)
		if len(finalizers) == 0 && !pendingSpecFinalizers(obj) && (a.GetDeletionGracePeriodSeconds() == nil || *a.GetDeletionGracePeriodSeconds() == 0) {
			return false
		}
		if g := opts.GracePeriodSeconds; g != nil && a.GetDeletionGracePeriodSeconds() != nil && *g < *a.GetDeletionGracePeriodSeconds() {
			now := metav1.NewTime(time.Now().Add(time.Duration(*g) * time.Second))
			a.SetDeletionTimestamp(&now)
			a.SetDeletionGracePeriodSeconds(g)
			if *g == 0 && len(finalizers) == 0 {
				return false
			}
		}
		return true
	}
	grace := gracePeriod(res, obj, opts)
	if len(finalizers) == 0 && grace == 0 && !pendingSpecFinalizers(obj) {
		return false
	}
	now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
	a.SetDeletionTimestamp(&now)
	a.SetDeletionGracePeriodSeconds(&grace)
	a.SetFinalizers(finalizers)
	a.SetGeneration(a.GetGeneration() + 1)
	onMarkedForDeletion(res, obj)
	return true
}

func addString(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) deleteCollection(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	sel, err := s.parseSelection(r.URL.Query(), res)
	if err != nil {
		return err
	}
	// Only the keys are kept of what is listed: each object is read again as it is deleted,
	// so a collection of thousands is not held decoded twice (as listed, and as deleted).
	lo := storage.ListOptions{Stored: true}
	if !sel.empty() {
		lo.Filter = func(o runtime.Object) bool { return sel.matches(res, o) }
	}
	result, err := res.store.List(ctx, res.store.Prefix(info.namespace), lo)
	if err != nil {
		return storageError(err, res.gr, "")
	}
	result.Stored = nil
	var items []runtime.Object
	all := res.store.Prefix("")
	for _, key := range result.Keys {
		namespace, name, found := strings.Cut(strings.TrimPrefix(key, all), "/")
		if !found {
			namespace, name = "", namespace
		}
		out, _, err := s.deleteObject(ctx, res, namespace, name, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		items = append(items, out)
	}
	list := res.newList()
	if err := meta.SetList(list, items); err != nil {
		return apierrors.NewInternalError(err)
	}
	s.respond(w, r, http.StatusOK, res, list)
	return nil
}

// forbiddenMessage is kube-apiserver's wording of a request the authorizer refused.
func forbiddenMessage(user string, info *requestInfo, reason string) string {
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", user, info.verb, info.resource, info.group)
	if info.namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", info.namespace)
	} else {
		msg += " at the cluster scope"
	}
	if reason != "" {
		msg += ": " + reason
	}
	return msg
}
