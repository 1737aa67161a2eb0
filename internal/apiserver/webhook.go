package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/kijabi/kijabi/internal/apiserver/crschema"
	"github.com/kijabi/kijabi/internal/auth"
)

// Dynamic admission: the webhooks of MutatingWebhookConfigurations and
// ValidatingWebhookConfigurations, called where kube-apiserver calls them. Mutating webhooks
// run after the built-in admission and before validation, one after the other (by
// configuration name, then in order), and may change the object with JSON patches; those
// with reinvocationPolicy IfNeeded run once more when a later webhook changed the object.
// Validating webhooks run after validation, just before the write, all at once. Both see
// creates, updates (subresources included: status, scale, ...), deletes and connections
// (exec, attach, port forward, proxy) of every resource, built-in or custom, except the
// admission configuration itself. See webhook_match.go for which webhooks a request calls
// and webhook_client.go for the calls.

// admissionRequestKey carries the client request being served to the admission code.
type admissionRequestKey struct{}

// admissionRequest is what the webhooks need of the request being served.
type admissionRequest struct {
	w    http.ResponseWriter
	info *requestInfo
	r    *http.Request
}

// withAdmissionRequest marks ctx as serving a client's write, for the webhooks. Writes the
// server makes on its own (bootstrapping, cleaning up) carry no mark and call no webhook.
func withAdmissionRequest(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) context.Context {
	switch info.verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return context.WithValue(ctx, admissionRequestKey{}, &admissionRequest{w: w, info: info, r: r})
	}
	return ctx
}

func admissionRequestFrom(ctx context.Context) *admissionRequest {
	req, _ := ctx.Value(admissionRequestKey{}).(*admissionRequest)
	return req
}

// admissionAttributes describe one admission request to the webhooks.
type admissionAttributes struct {
	operation   admissionv1.Operation
	kind        schema.GroupVersionKind
	resource    schema.GroupVersionResource
	subresource string
	namespace   string
	name        string
	// object and oldObject are what the webhooks see (nil when the operation has none).
	object, oldObject runtime.Object
	options           runtime.Object
	dryRun            bool
	user              *auth.User
	// equivalentVersions are the other served versions of the resource (custom resources),
	// which rules with matchPolicy Equivalent match too.
	equivalentVersions []string
	// apply takes a mutating webhook's patched object (JSON) into the request and reports
	// whether it changed; nil when the operation has no object a webhook may change.
	apply func(patched []byte) (bool, error)
	// warn passes a webhook's warning on to the client.
	warn func(msg string)
}

var (
	scaleGVKv1      = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	metaOptionsGV   = schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}
	admissionConfig = "admissionregistration.k8s.io"
)

// mayHaveWebhooks is false when no webhook configuration and no admission policy binding
// exists, which the watch caches tell without a read.
func (s *Server) mayHaveWebhooks() bool {
	if s.mayHavePolicies() {
		return true
	}
	for _, name := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
		res := s.byGroupResource[admissionConfig+"/"+name]
		if res == nil || res.store == nil {
			continue
		}
		if n, ok := res.store.CachedLen(); !ok || n > 0 {
			return true
		}
	}
	return false
}

// requestAttributes starts the attributes of a client's write of res with one of verbs, or
// returns nil when no webhook applies: a write the server makes itself, a write a request
// for another resource makes (an eviction's delete), or a write of the admission
// configuration itself, which webhooks never see (they could lock themselves in).
func (s *Server) requestAttributes(ctx context.Context, res *resource, verbs ...string) (*admissionAttributes, *admissionRequest) {
	if res.gr.Group == admissionConfig || !s.mayHaveWebhooks() {
		return nil, nil
	}
	req := admissionRequestFrom(ctx)
	if req == nil || req.info.group != res.gr.Group || req.info.resource != res.gr.Resource || req.info.version != res.gvk.Version {
		return nil, nil
	}
	if !contains(verbs, req.info.verb) {
		return nil, nil
	}
	a := s.baseAttributes(ctx, req.w, res)
	a.subresource, a.namespace, a.name = req.info.subresource, req.info.namespace, req.info.name
	a.dryRun = len(req.r.URL.Query()["dryRun"]) > 0
	return a, req
}

func (s *Server) baseAttributes(ctx context.Context, w http.ResponseWriter, res *resource) *admissionAttributes {
	user, _ := ctx.Value(userKey).(*auth.User)
	a := &admissionAttributes{
		kind:     res.gvk,
		resource: res.gvk.GroupVersion().WithResource(res.name),
		user:     user,
		warn:     func(string) {},
	}
	if w != nil {
		a.warn = func(msg string) { addWarning(w, msg) }
	}
	if res.cr != nil && res.cr.hook == nil {
		// Without conversion webhook a custom resource is the same in every version. (With
		// one, webhooks are only matched in the request's version.)
		for _, v := range res.cr.crd.Spec.Versions {
			if v.Served && v.Name != res.gvk.Version {
				a.equivalentVersions = append(a.equivalentVersions, v.Name)
			}
		}
	}
	return a
}

// admitWriteByWebhooks runs the mutating webhooks on a create (old nil) or an update of obj;
// createObject and updateObject call it after the built-in admission, before validation.
func (s *Server) admitWriteByWebhooks(ctx context.Context, res *resource, obj, old runtime.Object) error {
	a, req := s.writeAttributes(ctx, res, obj, old)
	if a == nil {
		return nil
	}
	if a.subresource == "scale" {
		if err := s.scaleAttributes(res, a, obj, old); err != nil {
			return err
		}
	} else {
		a.apply = s.patchInto(res, req.info.subresource, obj, old)
	}
	return s.runMutatingWebhooks(ctx, a)
}

// validateWriteByWebhooks runs the validating webhooks on a create (old nil) or an update
// of obj, after validation.
func (s *Server) validateWriteByWebhooks(ctx context.Context, res *resource, obj, old runtime.Object) error {
	a, _ := s.writeAttributes(ctx, res, obj, old)
	if a == nil {
		return nil
	}
	if a.subresource == "scale" {
		if err := s.scaleAttributes(res, a, obj, old); err != nil {
			return err
		}
	}
	return s.runValidatingWebhooks(ctx, a)
}

func (s *Server) writeAttributes(ctx context.Context, res *resource, obj, old runtime.Object) (*admissionAttributes, *admissionRequest) {
	verbs := []string{"create", "patch"} // patch: server-side apply creates
	if old != nil {
		verbs = []string{"update", "patch"}
	}
	a, req := s.requestAttributes(ctx, res, verbs...)
	if a == nil {
		return nil, nil
	}
	q := req.r.URL.Query()
	dry := q["dryRun"]
	a.object, a.oldObject = obj, old
	if m, err := meta.Accessor(obj); err == nil {
		a.name = m.GetName()
	}
	if old == nil {
		a.operation = admissionv1.Create
		a.options = &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: metaOptionsGV.String(), Kind: "CreateOptions"},
			DryRun: dry, FieldManager: q.Get("fieldManager"), FieldValidation: q.Get("fieldValidation")}
	} else {
		a.operation = admissionv1.Update
		a.options = &metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: metaOptionsGV.String(), Kind: "UpdateOptions"},
			DryRun: dry, FieldManager: q.Get("fieldManager"), FieldValidation: q.Get("fieldValidation")}
		if res.gr == namespacesGR {
			a.namespace = a.name // a Namespace's requests name it as their namespace
		}
	}
	return a, req
}

// scaleAttributes makes a scale write look as kube-apiserver shows it: an autoscaling/v1
// Scale, whose spec.replicas a mutating webhook may change.
func (s *Server) scaleAttributes(res *resource, a *admissionAttributes, obj, old runtime.Object) error {
	newScale, err := res.scaleOf(obj)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	oldScale, err := res.scaleOf(old)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	a.kind, a.object, a.oldObject = scaleGVKv1, newScale, oldScale
	a.apply = func(patched []byte) (bool, error) {
		var sc autoscalingv1.Scale
		if err := utiljson.Unmarshal(patched, &sc); err != nil {
			return false, err
		}
		cur := a.object.(*autoscalingv1.Scale)
		changed := sc.Spec.Replicas != cur.Spec.Replicas
		if err := res.setReplicas(obj, sc.Spec.Replicas); err != nil {
			return false, err
		}
		a.object, err = res.scaleOf(obj)
		return changed, err
	}
	return nil
}

// patchInto returns the apply of a create or update: the patched object replaces obj in
// place (so that the caller's references stay good), defaulted, with what the server owns
// kept as the strategy set it.
func (s *Server) patchInto(res *resource, subresource string, obj, old runtime.Object) func([]byte) (bool, error) {
	return func(patched []byte) (bool, error) {
		before := obj.DeepCopyObject()
		changed, err := s.replaceObject(res, obj, patched)
		if err != nil || !changed {
			return changed, err
		}
		if old != nil {
			prepareUpdate(res, subresource, obj, old)
			return true, nil
		}
		a, _ := meta.Accessor(obj)
		b, _ := meta.Accessor(before)
		if a != nil && b != nil && a.GetNamespace() != b.GetNamespace() {
			return true, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		keepCreateFields(res, obj, before)
		return true, nil
	}
}

// replaceObject decodes data (JSON of obj's kind) into obj, in place, and defaults it.
func (s *Server) replaceObject(res *resource, obj runtime.Object, data []byte) (bool, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		var content map[string]any
		if err := utiljson.Unmarshal(data, &content); err != nil {
			return false, err
		}
		if content == nil {
			return false, errors.New("the patched object is null")
		}
		fresh := &unstructured.Unstructured{Object: content}
		fresh.SetGroupVersionKind(u.GroupVersionKind())
		if res != nil && res.cr != nil && res.cr.schema != nil {
			crschema.Prune(content, res.cr.schema)
			crschema.Default(content, res.cr.schema)
		}
		changed := !equality.Semantic.DeepEqual(u.Object, fresh.Object)
		u.Object = fresh.Object
		return changed, nil
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false, fmt.Errorf("cannot patch %T", obj)
	}
	fresh, ok := reflect.New(v.Elem().Type()).Interface().(runtime.Object)
	if !ok {
		return false, fmt.Errorf("cannot patch %T", obj)
	}
	if err := utiljson.Unmarshal(data, fresh); err != nil {
		return false, err
	}
	fresh.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	changed := !equality.Semantic.DeepEqual(obj, fresh)
	s.scheme.Default(fresh)
	v.Elem().Set(reflect.ValueOf(fresh).Elem())
	return changed, nil
}

// keepCreateFields restores on a new object what the server set before the webhooks ran:
// identity, timestamps and, for resources with a status subresource, the status.
func keepCreateFields(res *resource, obj, before runtime.Object) {
	a, err1 := meta.Accessor(obj)
	b, err2 := meta.Accessor(before)
	if err1 != nil || err2 != nil {
		return
	}
	a.SetUID(b.GetUID())
	a.SetCreationTimestamp(b.GetCreationTimestamp())
	a.SetDeletionTimestamp(nil)
	a.SetDeletionGracePeriodSeconds(nil)
	a.SetGeneration(b.GetGeneration())
	a.SetResourceVersion("")
	a.SetManagedFields(b.GetManagedFields())
	if !res.status {
		return
	}
	switch res.gr.Resource {
	case "nodes", "persistentvolumes", "namespaces":
		return // their creators may set the initial status
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		delete(u.Object, "status")
		if st, ok := before.(*unstructured.Unstructured).Object["status"]; ok {
			u.Object["status"] = st
		}
		return
	}
	copyField(obj, before, "Status")
	if pod, ok := obj.(*corev1.Pod); ok {
		pod.Status.QOSClass = qosClass(&pod.Spec)
	}
}

// admitDeleteByWebhooks runs the mutating and then the validating webhooks on a client's
// delete (one item of a deletecollection included); the object is the one stored.
func (s *Server) admitDeleteByWebhooks(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) error {
	a, _ := s.requestAttributes(ctx, res, "delete", "deletecollection")
	if a == nil {
		return nil
	}
	old, err := res.store.Get(ctx, res.store.Key(namespace, name))
	if err != nil {
		return nil // the delete itself says what is wrong
	}
	if old, err = s.crCurrent(ctx, res, old); err != nil {
		return err
	}
	a.operation, a.oldObject, a.namespace, a.name = admissionv1.Delete, old, namespace, name
	if res.gr == namespacesGR {
		a.namespace = name
	}
	o := opts.DeepCopy()
	o.TypeMeta = metav1.TypeMeta{APIVersion: metaOptionsGV.String(), Kind: "DeleteOptions"}
	a.options, a.dryRun = o, len(opts.DryRun) > 0
	if err := s.runMutatingWebhooks(ctx, a); err != nil {
		return err
	}
	return s.runValidatingWebhooks(ctx, a)
}

// admitConnectByWebhooks runs the webhooks on a connection to pods/exec, attach,
// portforward and proxy, services/proxy and nodes/proxy: the object is the options of the
// connection (PodExecOptions, ...), which mutating webhooks cannot change.
func (s *Server) admitConnectByWebhooks(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if !s.mayHaveWebhooks() {
		return nil
	}
	opts := connectOptions(res, info, r.URL.Query())
	if opts == nil {
		return nil
	}
	kinds, _, err := s.scheme.ObjectKinds(opts)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	a := s.baseAttributes(ctx, w, res)
	a.operation, a.kind, a.subresource, a.namespace, a.name = admissionv1.Connect, kinds[0], info.subresource, info.namespace, info.name
	a.object = opts
	a.apply = func([]byte) (bool, error) { return false, nil }
	if err := s.runMutatingWebhooks(ctx, a); err != nil {
		return err
	}
	return s.runValidatingWebhooks(ctx, a)
}

// connectOptions are the options of a connection as kube-apiserver decodes them from the
// query; nil for what is not a connection (logs).
func connectOptions(res *resource, info *requestInfo, q url.Values) runtime.Object {
	isTrue := func(k string) bool { b, _ := strconv.ParseBool(q.Get(k)); return b }
	switch res.gr {
	case schema.GroupResource{Resource: "pods"}:
		switch info.subresource {
		case "exec":
			return &corev1.PodExecOptions{Stdin: isTrue("stdin"), Stdout: isTrue("stdout"), Stderr: isTrue("stderr"), TTY: isTrue("tty"),
				Container: q.Get("container"), Command: q["command"]}
		case "attach":
			return &corev1.PodAttachOptions{Stdin: isTrue("stdin"), Stdout: isTrue("stdout"), Stderr: isTrue("stderr"), TTY: isTrue("tty"),
				Container: q.Get("container")}
		case "portforward":
			var ports []int32
			for _, p := range q["ports"] {
				for _, one := range strings.Split(p, ",") {
					if n, err := strconv.ParseInt(strings.TrimSpace(one), 10, 32); err == nil {
						ports = append(ports, int32(n))
					}
				}
			}
			return &corev1.PodPortForwardOptions{Ports: ports}
		case "proxy":
			return &corev1.PodProxyOptions{Path: proxyOptionPath(info)}
		}
	case schema.GroupResource{Resource: "services"}:
		if info.subresource == "proxy" {
			return &corev1.ServiceProxyOptions{Path: proxyOptionPath(info)}
		}
	case schema.GroupResource{Resource: "nodes"}:
		if info.subresource == "proxy" {
			return &corev1.NodeProxyOptions{Path: proxyOptionPath(info)}
		}
	}
	return nil
}

func proxyOptionPath(info *requestInfo) string {
	if info.rest == "" {
		return ""
	}
	return "/" + info.rest
}

// admitSubresourceCreateByWebhooks runs the webhooks on a create of a subresource that is
// not stored as such (pods/binding, pods/eviction, serviceaccounts/token): obj is the
// request's Binding, Eviction or TokenRequest, which mutating webhooks may change.
func (s *Server) admitSubresourceCreateByWebhooks(ctx context.Context, w http.ResponseWriter, res *resource, info *requestInfo, obj runtime.Object, dry bool) error {
	if res.gr.Group == admissionConfig || !s.mayHaveWebhooks() {
		return nil
	}
	kinds, _, err := s.scheme.ObjectKinds(obj)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	a := s.baseAttributes(ctx, w, res)
	a.operation, a.kind, a.subresource, a.namespace, a.name = admissionv1.Create, kinds[0], info.subresource, info.namespace, info.name
	a.object, a.dryRun = obj, dry
	var dryRun []string
	if dry {
		dryRun = []string{metav1.DryRunAll}
	}
	a.options = &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: metaOptionsGV.String(), Kind: "CreateOptions"}, DryRun: dryRun}
	a.apply = func(patched []byte) (bool, error) { return s.replaceObject(nil, obj, patched) }
	if err := s.runMutatingWebhooks(ctx, a); err != nil {
		return err
	}
	return s.runValidatingWebhooks(ctx, a)
}

// Dispatch.

// runMutatingWebhooks runs the mutating phase: the MutatingAdmissionPolicies
// (mutatingpolicy.go), then the matching mutating webhooks one after the other, applying
// their patches; policies and webhooks with reinvocationPolicy IfNeeded whose output a later
// one changed run once more.
func (s *Server) runMutatingWebhooks(ctx context.Context, a *admissionAttributes) error {
	return s.runMutatingAdmission(ctx, a)
}

func (s *Server) mutateWith(ctx context.Context, hooks []*webhookHook, a *admissionAttributes, nsLabels namespaceLabeler) error {
	re := newReinvocation()
	changed, err := s.mutatingWebhookPass(ctx, hooks, a, nsLabels, re, false)
	if err != nil || !changed || len(re.reinvoke) == 0 {
		return err
	}
	_, err = s.mutatingWebhookPass(ctx, hooks, a, nsLabels, re, true)
	return err
}

// mutatingWebhookPass calls the matching mutating webhooks once (again: only those marked
// for reinvocation) and tells whether they changed the object.
func (s *Server) mutatingWebhookPass(ctx context.Context, hooks []*webhookHook, a *admissionAttributes, nsLabels namespaceLabeler, re *reinvocation, again bool) (bool, error) {
	changedAny := false
	for _, h := range hooks {
		if again && !re.reinvoke[h.id] {
			continue
		}
		inv, err := h.shouldCall(ctx, a, nsLabels)
		if err != nil {
			return changedAny, err
		}
		if inv == nil {
			continue
		}
		changed, err := s.callMutatingWebhook(ctx, h, inv, a)
		if changed {
			// What the webhooks called so far saw is no longer the object.
			re.changed()
			changedAny = true
		}
		if h.reinvoke {
			re.invoked[h.id] = true
		}
		if err := s.webhookOutcome(ctx, h, err); err != nil {
			return changedAny, err
		}
	}
	return changedAny, nil
}

func (s *Server) callMutatingWebhook(ctx context.Context, h *webhookHook, inv *webhookInvocation, a *admissionAttributes) (bool, error) {
	p, err := webhookPayloadFor(a, inv.kind)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	answer, err := s.callWebhook(ctx, h, inv, a, p)
	if err != nil {
		return false, err
	}
	for _, msg := range answer.warnings {
		a.warn(msg)
	}
	if !answer.allowed {
		return false, webhookDenied(h.name, answer.status)
	}
	if len(answer.patch) == 0 {
		return false, nil
	}
	patch, err := jsonpatch.DecodePatch(answer.patch)
	if err != nil {
		return false, &webhookCallError{h.name, fmt.Errorf("received undecodable patch in webhook response: %w", err)}
	}
	if len(patch) == 0 {
		return false, nil
	}
	if a.apply == nil || p.object == nil {
		return false, apierrors.NewInternalError(fmt.Errorf("admission webhook %q attempted to modify the object, which is not supported for this operation", h.name))
	}
	if answer.patchType != admissionv1.PatchTypeJSONPatch {
		return false, &webhookCallError{h.name, fmt.Errorf("unsupported patch type %q", answer.patchType)}
	}
	patched, err := patch.Apply(p.object)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	changed, err := a.apply(patched)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return changed, err
		}
		return false, apierrors.NewInternalError(err)
	}
	return changed, nil
}

// runValidatingWebhooks evaluates the ValidatingAdmissionPolicies (policy.go), then calls
// the matching validating webhooks at once; the first failure, in the webhooks' order,
// fails the request.
func (s *Server) runValidatingWebhooks(ctx context.Context, a *admissionAttributes) error {
	if err := s.runValidatingPolicies(ctx, a); err != nil {
		return err
	}
	hooks, err := s.webhookHooks(ctx, false)
	if err != nil || len(hooks) == 0 {
		return err
	}
	return s.validateWith(ctx, hooks, a, cachedNamespaceLabels(s.namespaceLabels))
}

func (s *Server) validateWith(ctx context.Context, hooks []*webhookHook, a *admissionAttributes, nsLabels namespaceLabeler) error {
	type call struct {
		h   *webhookHook
		inv *webhookInvocation
		p   *webhookPayload
	}
	var calls []call
	payloads := map[schema.GroupVersionKind]*webhookPayload{}
	for _, h := range hooks {
		inv, err := h.shouldCall(ctx, a, nsLabels)
		if err != nil {
			return err
		}
		if inv == nil {
			continue
		}
		p := payloads[inv.kind]
		if p == nil {
			if p, err = webhookPayloadFor(a, inv.kind); err != nil {
				return apierrors.NewInternalError(err)
			}
			payloads[inv.kind] = p
		}
		calls = append(calls, call{h, inv, p})
	}
	if len(calls) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
	}
	errs := make([]error, len(calls))
	warnings := make([][]string, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answer, err := s.callWebhook(ctx, c.h, c.inv, a, c.p)
			if err == nil {
				warnings[i] = answer.warnings
				if !answer.allowed {
					err = webhookDenied(c.h.name, answer.status)
				}
			}
			errs[i] = s.webhookOutcome(ctx, c.h, err)
		}()
	}
	wg.Wait()
	for _, ws := range warnings {
		for _, msg := range ws {
			a.warn(msg)
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// webhookOutcome applies h's failure policy to a failed call: Ignore goes on, Fail fails
// the request with 500. Denials and other errors fail it as they are.
func (s *Server) webhookOutcome(ctx context.Context, h *webhookHook, err error) error {
	var callErr *webhookCallError
	if !errors.As(err, &callErr) {
		return err
	}
	if h.failurePolicy == admissionregistrationv1.Ignore {
		s.log.Warn("failed calling webhook, failing open", "webhook", h.name, "err", callErr.reason)
		if ctx.Err() != nil {
			return apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
		}
		return nil
	}
	s.log.Warn("failed calling webhook, failing closed", "webhook", h.name, "err", callErr.reason)
	return apierrors.NewInternalError(callErr)
}

// webhookPayloadFor encodes the objects and options of a as JSON, the objects as kind.
func webhookPayloadFor(a *admissionAttributes, kind schema.GroupVersionKind) (*webhookPayload, error) {
	var p webhookPayload
	var err error
	if p.object, err = encodeForWebhook(a.object, kind); err != nil {
		return nil, err
	}
	if p.oldObject, err = encodeForWebhook(a.oldObject, kind); err != nil {
		return nil, err
	}
	if a.options != nil {
		if p.options, err = json.Marshal(a.options); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// encodeForWebhook is obj as JSON with apiVersion and kind set to gvk (for custom resources,
// any served version: their conversion is None). obj is not changed.
func encodeForWebhook(obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	if obj == nil {
		return nil, nil
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		content := make(map[string]any, len(u.Object)+2)
		for k, v := range u.Object {
			content[k] = v
		}
		content["apiVersion"], content["kind"] = gvk.GroupVersion().String(), gvk.Kind
		return json.Marshal(content)
	}
	c, ok := shallowCopy(obj)
	if !ok {
		c = obj.DeepCopyObject()
	}
	c.GetObjectKind().SetGroupVersionKind(gvk)
	return json.Marshal(c)
}
