package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/apiserver/crschema"
	"github.com/kijabi/kijabi/internal/storage"
)

// Custom resources: the server watches CustomResourceDefinitions and, for each established
// one, serves its resource under /apis/GROUP/VERSION for every served version. Objects are
// *unstructured.Unstructured, stored as JSON under /registry/GROUP/PLURAL/ in the storage
// version; with conversion None, serving another version only rewrites apiVersion, with
// Webhook the definition's conversion webhook converts objects (crconvert.go).

const crdCleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

var crdGR = schema.GroupResource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}

// crInfo is what a served custom resource version needs from its definition.
type crInfo struct {
	crd     *apiextensionsv1.CustomResourceDefinition
	version *apiextensionsv1.CustomResourceDefinitionVersion
	schema  *apiextensionsv1.JSONSchemaProps
	// rules are the schema's compiled x-kubernetes-validations (nil: none).
	rules *crschema.Rules
	// storageVersion is the version objects are stored in.
	storageVersion string
	// hook is the definition's conversion webhook (nil for strategy None).
	hook *crdWebhook
}

func (c *crInfo) terminating() bool { return c.crd.DeletionTimestamp != nil }

// crdServing is the storage of one definition, shared by its versions.
type crdServing struct {
	uid    string
	store  *storage.Store
	codec  *crdCodec
	cancel context.CancelFunc
	// cleaning is set once the definition's instances are being deleted.
	cleaning bool
}

// crRegistry holds the custom resources being served; it is guarded by mu.
type crRegistry struct {
	mu        sync.RWMutex
	resources map[schema.GroupVersionResource]*resource
	byGR      map[string]*resource // group/plural → the storage version's resource
	serving   map[string]*crdServing
	// crds are the definitions currently served, by name.
	crds map[string]*apiextensionsv1.CustomResourceDefinition
}

func (s *Server) crdResource() *resource {
	return s.byGroupResource[crdGR.Group+"/"+crdGR.Resource]
}

// crLookup returns a served custom resource.
func (s *Server) crLookup(gvr schema.GroupVersionResource) *resource {
	s.crs.mu.RLock()
	defer s.crs.mu.RUnlock()
	return s.crs.resources[gvr]
}

func (s *Server) crNamespaced(group, plural string) (bool, bool) {
	s.crs.mu.RLock()
	defer s.crs.mu.RUnlock()
	r, ok := s.crs.byGR[group+"/"+plural]
	if !ok {
		return false, false
	}
	return r.namespaced, true
}

// crSnapshot returns the served custom resources, ordered by group, version priority and
// plural.
func (s *Server) crSnapshot() []*resource {
	s.crs.mu.RLock()
	out := make([]*resource, 0, len(s.crs.resources))
	for _, r := range s.crs.resources {
		out = append(out, r)
	}
	s.crs.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.version != b.version {
			return version.CompareKubeAwareVersionStrings(a.version, b.version) > 0
		}
		return a.name < b.name
	})
	return out
}

// crdCodec stores custom resources as JSON in the definition's storage version.
// Its version changes when the definition's storage version does.
type crdCodec struct {
	gvk atomic.Pointer[schema.GroupVersionKind]
	// conv converts objects of other versions with the definition's conversion webhook
	// (nil for strategy None).
	conv atomic.Pointer[crdConversion]
}

func newCRDCodec(gvk schema.GroupVersionKind) *crdCodec {
	c := &crdCodec{}
	c.gvk.Store(&gvk)
	return c
}

func (c *crdCodec) Encode(obj runtime.Object) ([]byte, error) {
	gvk := *c.gvk.Load()
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("custom resource is %T, not unstructured", obj)
	}
	if conv := c.conv.Load(); conv != nil {
		// An object in another version is converted in place, so that what the store
		// returns after writing it is in the storage version, as it is stored.
		if err := conv.toStorage(u, gvk); err != nil {
			return nil, err
		}
	}
	content := make(map[string]any, len(u.Object)+2)
	for k, v := range u.Object {
		content[k] = v
	}
	content["apiVersion"] = gvk.GroupVersion().String()
	content["kind"] = gvk.Kind
	return json.Marshal(content)
}

func (c *crdCodec) Decode(data []byte, into runtime.Object) error {
	u, ok := into.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("custom resource decodes into %T, not unstructured", into)
	}
	if err := u.UnmarshalJSON(data); err != nil {
		return err
	}
	// Objects stored in an earlier storage version are converted into the current one:
	// decoded objects lose their apiVersion (storage.setRV) and are taken to be in it.
	if conv := c.conv.Load(); conv != nil {
		return conv.toStorage(u, *c.gvk.Load())
	}
	return nil
}

// crConverter converts custom resources between versions with strategy None (rewriting
// apiVersion), creates and defaults them, for the field managers.
type crConverter struct{}

func (crConverter) Convert(in, out, _ any) error {
	u, ok := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok || !ok2 {
		return fmt.Errorf("cannot convert %T into %T", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (crConverter) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("cannot convert %T", in)
	}
	kind := u.GroupVersionKind()
	if target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{kind}); ok && target.Version != "" {
		if kind.Version == target.Version && kind.Group == target.Group {
			return u, nil
		}
		out := u.DeepCopy()
		out.SetAPIVersion(target.GroupVersion().String())
		if out.GetKind() == "" {
			out.SetKind(target.Kind)
		}
		return out, nil
	}
	return u, nil
}

func (crConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

func (crConverter) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

func (crConverter) Default(runtime.Object) {}

// storageVersionOf returns the definition's storage version.
func storageVersionOf(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// buildCRResources returns the resources of crd's served versions, sharing store.
func buildCRResources(crd *apiextensionsv1.CustomResourceDefinition, store *storage.Store) (map[schema.GroupVersionResource]*resource, *resource, error) {
	out := map[schema.GroupVersionResource]*resource{}
	var storageRes *resource
	names := crd.Status.AcceptedNames
	if names.Plural == "" {
		names = crd.Spec.Names
	}
	storageVersion := storageVersionOf(crd)
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		info := &crInfo{crd: crd, version: v, storageVersion: storageVersion, hook: newCRDWebhook(crd)}
		if v.Schema != nil {
			info.schema = v.Schema.OpenAPIV3Schema
			info.rules = crschema.CompileRules(info.schema)
		}
		r := &resource{resourceDef: resourceDef{
			group: crd.Spec.Group, version: v.Name, name: names.Plural, kind: names.Kind,
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			shortNames: names.ShortNames, categories: names.Categories,
			newObj:  func() runtime.Object { return &unstructured.Unstructured{} },
			newList: func() runtime.Object { return &unstructured.UnstructuredList{} },
		}}
		if v.Subresources != nil {
			r.status = v.Subresources.Status != nil
			r.scale = v.Subresources.Scale != nil
		}
		r.cr = info
		r.singular = names.Singular
		r.gvk = schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: names.Kind}
		r.listGVK = r.gvk.GroupVersion().WithKind(names.ListKind)
		r.gr = schema.GroupResource{Group: crd.Spec.Group, Resource: names.Plural}
		r.store = store
		r.printer = crPrinter(v)
		r.managers = map[string]*managedfields.FieldManager{}
		subs := []string{""}
		if r.status {
			subs = append(subs, "status")
		}
		for _, sub := range subs {
			fm, err := managedfields.NewDefaultCRDFieldManager(managedfields.NewDeducedTypeConverter(), crConverter{}, crConverter{}, crConverter{},
				r.gvk, r.gvk.GroupVersion(), sub, nil)
			if err != nil {
				return nil, nil, err
			}
			r.managers[sub] = fm
		}
		if v.Name == storageVersion {
			storageRes = r
		}
		if v.Served {
			out[r.gvk.GroupVersion().WithResource(names.Plural)] = r
		}
	}
	if storageRes == nil {
		return nil, nil, fmt.Errorf("no storage version")
	}
	return out, storageRes, nil
}

// serveCRD starts (or updates) serving crd's resources.
func (s *Server) serveCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	storageVersion := storageVersionOf(crd)
	names := crd.Status.AcceptedNames
	if names.Plural == "" {
		names = crd.Spec.Names
	}
	s.crs.mu.RLock()
	sv := s.crs.serving[crd.Name]
	s.crs.mu.RUnlock()
	if sv != nil && sv.uid != string(crd.UID) {
		s.unserveCRD(crd.Name)
		sv = nil
	}
	storageGVK := schema.GroupVersionKind{Group: crd.Spec.Group, Version: storageVersion, Kind: names.Kind}
	var conv *crdConversion
	if hook := newCRDWebhook(crd); hook != nil {
		conv = &crdConversion{server: s, hook: hook}
	}
	if sv == nil {
		codec := newCRDCodec(storageGVK)
		codec.conv.Store(conv)
		store := storage.New(s.cfg.Storage.Client, "/registry/"+crd.Spec.Group+"/"+crd.Spec.Names.Plural+"/",
			codec, func() runtime.Object { return &unstructured.Unstructured{} })
		cctx, cancel := context.WithCancel(ctx)
		if err := store.StartCache(cctx, s.log, s.cfg.Storage.ProgressSafe()); err != nil {
			cancel()
			return err
		}
		sv = &crdServing{uid: string(crd.UID), store: store, codec: codec, cancel: cancel}
	} else {
		// The storage version and the conversion may have changed: new writes use them.
		sv.codec.gvk.Store(&storageGVK)
		sv.codec.conv.Store(conv)
	}
	resources, storageRes, err := buildCRResources(crd, sv.store)
	if err != nil {
		return err
	}
	s.crs.mu.Lock()
	s.crs.serving[crd.Name] = sv
	for gvr, r := range s.crs.resources {
		if r.cr.crd.Name == crd.Name {
			delete(s.crs.resources, gvr)
		}
	}
	for gvr, r := range resources {
		s.crs.resources[gvr] = r
	}
	s.crs.byGR[storageRes.group+"/"+storageRes.name] = storageRes
	s.crs.crds[crd.Name] = crd
	s.crs.mu.Unlock()
	s.openapiChanged()
	return nil
}

// unserveCRD stops serving a definition's resources.
func (s *Server) unserveCRD(name string) {
	s.crs.mu.Lock()
	sv := s.crs.serving[name]
	delete(s.crs.serving, name)
	for gvr, r := range s.crs.resources {
		if r.cr.crd.Name == name {
			delete(s.crs.resources, gvr)
		}
	}
	for k, r := range s.crs.byGR {
		if r.cr.crd.Name == name {
			delete(s.crs.byGR, k)
		}
	}
	delete(s.crs.crds, name)
	s.crs.mu.Unlock()
	if sv != nil {
		sv.cancel()
	}
	s.openapiChanged()
}

// runCRDController loads the definitions and follows their changes: it serves them, keeps
// their status (names accepted, established, stored versions) and deletes the instances of
// definitions being deleted.
func (s *Server) startCRDController(ctx context.Context) error {
	res := s.crdResource()
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return err
	}
	for _, obj := range list.Items {
		s.syncCRD(ctx, obj.(*apiextensionsv1.CustomResourceDefinition).DeepCopy())
	}
	go func() {
		rev := list.Revision
		for ctx.Err() == nil {
			rev = s.watchCRDs(ctx, rev)
			if ctx.Err() != nil {
				return
			}
			// Start over from a fresh list.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			l, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
			if err != nil {
				s.log.Error("listing CustomResourceDefinitions", "err", err)
				continue
			}
			seen := map[string]bool{}
			for _, obj := range l.Items {
				crd := obj.(*apiextensionsv1.CustomResourceDefinition)
				seen[crd.Name] = true
				s.syncCRD(ctx, crd.DeepCopy())
			}
			s.crs.mu.RLock()
			var gone []string
			for name := range s.crs.serving {
				if !seen[name] {
					gone = append(gone, name)
				}
			}
			s.crs.mu.RUnlock()
			for _, name := range gone {
				s.unserveCRD(name)
			}
			rev = l.Revision
		}
	}()
	return nil
}

func (s *Server) watchCRDs(ctx context.Context, rev int64) int64 {
	res := s.crdResource()
	events := res.store.Watch(ctx, res.store.Prefix(""), rev)
	for ev := range events {
		switch ev.Type {
		case watch.Error:
			return rev
		case watch.Bookmark:
			continue
		case watch.Deleted:
			if obj, err := ev.Object(); err == nil {
				s.unserveCRD(obj.(*apiextensionsv1.CustomResourceDefinition).Name)
			}
		default:
			if obj, err := ev.Object(); err == nil {
				s.syncCRD(ctx, obj.(*apiextensionsv1.CustomResourceDefinition).DeepCopy())
			}
		}
		rev = ev.Revision
	}
	return rev
}

// syncCRD brings one definition's serving and status up to date.
func (s *Server) syncCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	accepted, reason, msg := s.namesAccepted(crd)
	if accepted {
		status := crd.Status.DeepCopy()
		status.AcceptedNames = crd.Spec.Names
		served := *crd
		served.Status = *status
		if err := s.serveCRD(ctx, &served); err != nil {
			s.log.Error("serving CustomResourceDefinition", "name", crd.Name, "err", err)
			return
		}
	}
	if crd.DeletionTimestamp != nil {
		s.crs.mu.Lock()
		sv := s.crs.serving[crd.Name]
		start := sv != nil && !sv.cleaning
		if start {
			sv.cleaning = true
		}
		s.crs.mu.Unlock()
		if start || sv == nil {
			go s.cleanupCRD(ctx, crd)
		}
		return
	}
	s.updateCRDStatus(ctx, crd.Name, func(c *apiextensionsv1.CustomResourceDefinition) {
		if accepted {
			c.Status.AcceptedNames = c.Spec.Names
			setCRDCondition(c, apiextensionsv1.NamesAccepted, apiextensionsv1.ConditionTrue, "NoConflicts", "no conflicts found")
			setCRDCondition(c, apiextensionsv1.Established, apiextensionsv1.ConditionTrue, "InitialNamesAccepted", "the initial names have been accepted")
		} else {
			setCRDCondition(c, apiextensionsv1.NamesAccepted, apiextensionsv1.ConditionFalse, reason, msg)
			if !isCRDEstablished(c) {
				setCRDCondition(c, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "NotAccepted", "not all names are accepted")
			}
		}
		if sv := storageVersionOf(c); sv != "" && !contains(c.Status.StoredVersions, sv) {
			c.Status.StoredVersions = append(c.Status.StoredVersions, sv)
		}
	})
}

func isCRDEstablished(c *apiextensionsv1.CustomResourceDefinition) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// namesAccepted checks crd's names against the built-in resources and the other
// definitions of its group.
func (s *Server) namesAccepted(crd *apiextensionsv1.CustomResourceDefinition) (bool, string, string) {
	n := crd.Spec.Names
	if _, ok := s.byGroupResource[crd.Spec.Group+"/"+n.Plural]; ok {
		return false, "PluralConflict", fmt.Sprintf("%q is already in use", n.Plural)
	}
	s.crs.mu.RLock()
	defer s.crs.mu.RUnlock()
	for name, other := range s.crs.crds {
		if name == crd.Name || other.Spec.Group != crd.Spec.Group {
			continue
		}
		on := other.Status.AcceptedNames
		if on.Plural == "" {
			on = other.Spec.Names
		}
		if on.Singular == n.Singular || on.Plural == n.Singular || on.Singular == n.Plural {
			return false, "SingularConflict", fmt.Sprintf("%q is already in use", n.Singular)
		}
		for _, sn := range n.ShortNames {
			if contains(on.ShortNames, sn) {
				return false, "ShortNamesConflict", fmt.Sprintf("%q is already in use", sn)
			}
		}
		if on.Kind == n.Kind {
			return false, "KindConflict", fmt.Sprintf("%q is already in use", n.Kind)
		}
		if on.ListKind == n.ListKind {
			return false, "ListKindConflict", fmt.Sprintf("%q is already in use", n.ListKind)
		}
	}
	return true, "", ""
}

func setCRDCondition(c *apiextensionsv1.CustomResourceDefinition, typ apiextensionsv1.CustomResourceDefinitionConditionType,
	status apiextensionsv1.ConditionStatus, reason, message string) {
	for i := range c.Status.Conditions {
		cond := &c.Status.Conditions[i]
		if cond.Type != typ {
			continue
		}
		if cond.Status != status {
			cond.LastTransitionTime = metav1.NewTime(time.Now().UTC().Truncate(time.Second))
		}
		cond.Status, cond.Reason, cond.Message = status, reason, message
		return
	}
	c.Status.Conditions = append(c.Status.Conditions, apiextensionsv1.CustomResourceDefinitionCondition{
		Type: typ, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
	})
}

// updateCRDStatus changes a definition as the server (no field manager); nothing is
// written when mutate changes nothing.
func (s *Server) updateCRDStatus(ctx context.Context, name string, mutate func(*apiextensionsv1.CustomResourceDefinition)) {
	res := s.crdResource()
	_, err := res.store.GuaranteedUpdate(ctx, res.store.Key("", name), false, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, storage.ErrNotFound
		}
		c := current.(*apiextensionsv1.CustomResourceDefinition).DeepCopy()
		mutate(c)
		return c, nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
		s.log.Error("updating CustomResourceDefinition status", "name", name, "err", err)
	}
}

// cleanupCRD deletes every instance of a definition being deleted, then removes its
// finalizer so that the definition goes.
func (s *Server) cleanupCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	s.updateCRDStatus(ctx, crd.Name, func(c *apiextensionsv1.CustomResourceDefinition) {
		setCRDCondition(c, apiextensionsv1.Terminating, apiextensionsv1.ConditionTrue, "InstanceDeletionInProgress", "CustomResource deletion is in progress")
	})
	s.crs.mu.RLock()
	res := s.crs.byGR[crd.Spec.Group+"/"+crd.Status.AcceptedNames.Plural]
	if res == nil {
		res = s.crs.byGR[crd.Spec.Group+"/"+crd.Spec.Names.Plural]
	}
	s.crs.mu.RUnlock()
	if res != nil {
		for ctx.Err() == nil {
			list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
			if err == nil && len(list.Items) == 0 {
				break
			}
			if err == nil {
				for _, obj := range list.Items {
					a, _ := meta.Accessor(obj)
					if a.GetDeletionTimestamp() != nil {
						continue
					}
					if _, _, err := s.deleteObject(ctx, res, a.GetNamespace(), a.GetName(), &metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
						s.log.Warn("deleting custom resource", "resource", res.gr, "name", a.GetName(), "err", err)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	crdRes := s.crdResource()
	key := crdRes.store.Key("", crd.Name)
	out, err := crdRes.store.GuaranteedUpdate(ctx, key, false, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, storage.ErrNotFound
		}
		c := current.(*apiextensionsv1.CustomResourceDefinition).DeepCopy()
		if c.UID != crd.UID {
			return nil, storage.ErrNotFound
		}
		c.Finalizers = removeString(c.Finalizers, crdCleanupFinalizer)
		setCRDCondition(c, apiextensionsv1.Terminating, apiextensionsv1.ConditionTrue, "InstanceDeletionCompleted", "removed all instances")
		return c, nil
	})
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			s.log.Error("finalizing CustomResourceDefinition", "name", crd.Name, "err", err)
		}
		return
	}
	if finished(out) {
		if _, err := crdRes.store.Delete(ctx, key, func(current runtime.Object) error {
			if !finished(current) {
				return errNotFinished
			}
			return nil
		}); err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, errNotFinished) {
			s.log.Error("removing CustomResourceDefinition", "name", crd.Name, "err", err)
		}
	}
}

// validateCR prunes, defaults and validates a custom resource.
// validateCR validates a custom resource (old is the stored one on updates): metadata, then
// the schema, then its x-kubernetes-validations rules unless the schema found errors that
// make them meaningless (as kube-apiserver, which then says so).
func validateCR(res *resource, obj, old runtime.Object) field.ErrorList {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("custom resource is %T", obj))}
	}
	var errs field.ErrorList
	errs = append(errs, validateCRMeta(res, u)...)
	if res.cr.schema == nil {
		return errs
	}
	crschema.Prune(u.Object, res.cr.schema)
	crschema.Default(u.Object, res.cr.schema)
	content := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		if k != "metadata" && k != "apiVersion" && k != "kind" {
			content[k] = v
		}
	}
	root := *res.cr.schema
	root.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
	for k, p := range res.cr.schema.Properties {
		if k != "metadata" && k != "apiVersion" && k != "kind" {
			root.Properties[k] = p
		}
	}
	var req []string
	for _, r := range root.Required {
		if r != "metadata" && r != "apiVersion" && r != "kind" {
			req = append(req, r)
		}
	}
	root.Required = req
	errs = append(errs, crschema.Validate(nil, content, &root)...)
	if ms, ok := res.cr.schema.Properties["metadata"]; ok {
		for _, k := range []string{"name", "generateName"} {
			if p, ok := ms.Properties[k]; ok {
				if v, found, _ := unstructured.NestedString(u.Object, "metadata", k); found && v != "" {
					errs = append(errs, crschema.Validate(field.NewPath("metadata", k), v, &p)...)
				}
			}
		}
	}
	if res.cr.rules != nil {
		if blocking(errs) {
			return append(errs, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
		}
		var oldContent map[string]any
		if o, ok := old.(*unstructured.Unstructured); ok {
			oldContent = o.Object
		}
		errs = append(errs, res.cr.rules.Validate(context.Background(), u.Object, oldContent)...)
	}
	return errs
}

// blocking tells whether schema errors keep the rules from running: missing, unsupported,
// too long or mistyped values.
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
		if strings.Contains(e.Detail, " in body must be of type ") {
			return true
		}
	}
	return false
}
