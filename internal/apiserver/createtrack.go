package apiserver

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// A create is tracked by upstream's manager as an update from an empty object: it compares
// the new object with an empty one, and records what the comparison found added or
// modified, less the metadata it never tracks (name, namespace, uid, resourceVersion,
// generation, creationTimestamp, selfLink, managedFields: the strip set of its
// stripMetaManager), in one entry of the writer. Without other managers' entries there is
// nothing else to do, and most of the manager's layers (decoding entries, merging,
// capping, encoding the manager's identity to JSON and back, sorting) are work for nothing:
// trackCreateDirect does the comparison and builds the entry. Objects that bring entries of
// their own go to the manager, which keeps them.
//
// The entry is a function of the new object alone, but for its manager and time, and the
// untracked metadata are leaves whose values decide only whether their own path is found,
// and that path is stripped: two objects equal but for them get the same fields. The
// objects a client creates in numbers are often alike in that sense (ConfigMaps, pods
// without a service account token), so createCache remembers the fields of the last few
// objects of a resource, and an equal one is given them without the comparison. Resources
// whose objects are rarely alike (Events; pods, whose token volume has a random name) are
// looked up only now and then.

// createCacheSize is how many objects a resource's createCache remembers.
const createCacheSize = 8

// createCache remembers, for a built-in resource, the fields upstream's manager recorded
// for the last objects created. It is safe for concurrent use.
type createCache struct {
	once sync.Once
	plan *createPlan // nil when the resource's objects are not handled
	// entries is the list of remembered objects, newest first; it is replaced, never
	// changed, so that lookups need no lock.
	entries atomic.Pointer[[]*createEntry]
	mu      sync.Mutex // serialises the replacements of entries
	// tc and conv are the type and object converters of the resource's field managers.
	tc   managedfields.TypeConverter
	conv runtime.ObjectConvertor
	// misses counts the creates since the last one that found its object: a resource whose
	// objects are all different (Events) stops copying them into the cache after a few.
	misses atomic.Uint32
}

// createPlan is how the objects of one Go type are compared.
type createPlan struct {
	typ    reflect.Type
	meta   int   // index of the embedded ObjectMeta
	fields []int // indexes of the other fields but the TypeMeta
}

// createEntry is a remembered object: a deep copy with the untracked metadata blanked, and
// the fields the manager recorded for it (nil when it recorded none: it then writes no
// entry).
type createEntry struct {
	obj    reflect.Value // the struct
	fields []byte
}

// newCreatePlan returns the plan for objects like obj, or nil when they are not pointers
// to structs made of a TypeMeta, an ObjectMeta and exported fields.
func newCreatePlan(obj runtime.Object) *createPlan {
	t := reflect.TypeOf(obj)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	p := &createPlan{typ: t, meta: -1}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case f.Anonymous && f.Type == typeMetaType:
		case f.Anonymous && f.Type == objectMetaType && p.meta < 0:
			p.meta = i
		case !f.Anonymous && f.IsExported():
			p.fields = append(p.fields, i)
		default:
			return nil
		}
	}
	if p.meta < 0 {
		return nil
	}
	return p
}

var typeMetaType = reflect.TypeFor[metav1.TypeMeta]()

// untracked returns a copy of m without the metadata the manager does not track.
func untracked(m *metav1.ObjectMeta) *metav1.ObjectMeta {
	c := *m
	c.Name, c.Namespace, c.UID, c.ResourceVersion, c.SelfLink = "", "", "", "", ""
	c.Generation = 0
	c.CreationTimestamp = metav1.Time{}
	c.ManagedFields = nil
	return &c
}

// lookupIf is lookup when probe is set; it returns nil otherwise.
func (c *createCache) lookupIf(probe bool, v reflect.Value) *createEntry {
	if !probe {
		return nil
	}
	return c.lookup(v)
}

// lookup returns the entry of an object equal to v (a struct of the plan's type) but for
// its untracked metadata.
func (c *createCache) lookup(v reflect.Value) *createEntry {
	list := c.entries.Load()
	if list == nil {
		return nil
	}
	p := c.plan
	var m *metav1.ObjectMeta
	for _, e := range *list {
		equal := true
		for _, i := range p.fields {
			if !reflect.DeepEqual(e.obj.Field(i).Addr().Interface(), v.Field(i).Addr().Interface()) {
				equal = false
				break
			}
		}
		if !equal {
			continue
		}
		if m == nil {
			m = untracked(v.Field(p.meta).Addr().Interface().(*metav1.ObjectMeta))
		}
		if reflect.DeepEqual(e.obj.Field(p.meta).Addr().Interface(), m) {
			return e
		}
	}
	return nil
}

// remember adds key (an object as tracked, or its renamed copy) and the fields recorded for
// it (nil: none) to the cache.
func (c *createCache) remember(key runtime.Object, fields []byte) {
	cp := reflect.ValueOf(key.DeepCopyObject()).Elem()
	meta := cp.Field(c.plan.meta).Addr().Interface().(*metav1.ObjectMeta)
	*meta = *untracked(meta)
	e := &createEntry{obj: cp, fields: fields}
	c.mu.Lock()
	defer c.mu.Unlock()
	list := []*createEntry{e}
	if old := c.entries.Load(); old != nil {
		list = append(list, (*old)[:min(len(*old), createCacheSize-1)]...)
	}
	c.entries.Store(&list)
}

// trackCreateCached records in obj's managedFields that manager set its fields, as
// upstream's manager does, from the cache when it can. ok is false when obj is not of a
// kind the cache handles: the caller then asks the manager.
func (r *resource) trackCreateCached(obj runtime.Object, manager string) (out runtime.Object, ok bool, err error) {
	c := &r.creates
	c.once.Do(func() {
		if r.cr == nil && r.managers[""] != nil {
			c.plan = newCreatePlan(r.newObj())
		}
	})
	if c.plan == nil || !utf8.ValidString(manager) {
		return nil, false, nil
	}
	v := reflect.ValueOf(obj)
	if v.Type() != reflect.PointerTo(c.plan.typ) || v.IsNil() {
		return nil, false, nil
	}
	v = v.Elem()
	om := v.Field(c.plan.meta).Addr().Interface().(*metav1.ObjectMeta)
	if !ignoredManagedFields(om.ManagedFields) {
		// The client's own entries are kept, merged with the create's: the manager's work.
		return nil, false, nil
	}
	// A resource whose objects have not been alike for a while (pods get a token volume of
	// a random name) is looked up only now and then.
	probe := c.misses.Load() <= 16 || c.misses.Load()%64 == 0
	key, token := obj, ""
	if pod, ok := obj.(*corev1.Pod); ok && probe {
		if renamed, name, ok := renameTokenVolume(pod); ok {
			key, token = renamed, name
			v = reflect.ValueOf(renamed).Elem()
		}
	}
	if e := c.lookupIf(probe, v); e != nil {
		if c.misses.Load() != 0 {
			c.misses.Store(0)
		}
		om.ManagedFields = nil
		if e.fields != nil {
			if manager == "" {
				manager = "unknown"
			}
			var raw []byte
			if token != "" {
				raw = bytes.Replace(e.fields, []byte(tokenVolumePlaceholder), []byte(token), 1)
			} else {
				raw = append([]byte(nil), e.fields...)
			}
			om.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: r.gvk.GroupVersion().String(), Time: &metav1.Time{Time: time.Now().UTC()}, FieldsType: "FieldsV1",
				FieldsV1: &metav1.FieldsV1{Raw: raw}}}
		}
		return obj, true, nil
	}
	out, err = r.trackCreateDirect(obj, om, manager)
	if err != nil {
		return nil, true, err
	}
	c.misses.Add(1)
	if !probe {
		// Objects of this resource are rarely alike: copying them costs more than it saves.
		return out, true, nil
	}
	a, err := meta.Accessor(out)
	if err != nil || out != obj {
		return out, true, nil
	}
	mf := a.GetManagedFields()
	if len(mf) == 0 {
		c.remember(key, nil)
		return out, true, nil
	}
	if len(mf) != 1 || mf[0].Operation != metav1.ManagedFieldsOperationUpdate || mf[0].APIVersion != r.gvk.GroupVersion().String() ||
		mf[0].Subresource != "" || mf[0].FieldsType != "FieldsV1" || mf[0].FieldsV1 == nil {
		return out, true, nil
	}
	raw := mf[0].FieldsV1.Raw
	if token == "" {
		// Copied: the object's own bytes go on with it.
		c.remember(key, append([]byte{}, raw...))
		return out, true, nil
	}
	// The token volume's name is found once, as its key, or the entry is not remembered.
	if bytes.Count(raw, []byte(token)) == 1 && !bytes.Contains(raw, []byte(tokenVolumePlaceholder)) {
		c.remember(key, bytes.Replace(raw, []byte(token), []byte(tokenVolumePlaceholder), 1))
	}
	return out, true, nil
}

// ignoredManagedFields reports whether the manager ignores the managedFields a new object
// comes with: none, or the reset marker (an empty list, or one empty entry).
func ignoredManagedFields(mf []metav1.ManagedFieldsEntry) bool {
	switch len(mf) {
	case 0:
		return true
	case 1:
		return reflect.DeepEqual(mf[0], metav1.ManagedFieldsEntry{})
	}
	return false
}

// trackCreateDirect does what upstream's manager does for a create whose object comes
// without managedFields of its own (om is its metadata), without the manager's layers: there
// are no other managers' entries to decode, reconcile, merge, cap or sort, only the one of
// this create to build. What it records is what the manager's comparison of the empty and
// the new object finds added or modified, less the strip set. Anything unexpected goes to
// the manager.
func (r *resource) trackCreateDirect(obj runtime.Object, om *metav1.ObjectMeta, manager string) (runtime.Object, error) {
	c := &r.creates
	if c.tc == nil || c.conv == nil {
		return r.managers[""].Update(r.newObj(), obj, manager)
	}
	gv := r.gvk.GroupVersion()
	set, err := createdFields(c.tc, c.conv, gv, r.newObj(), obj)
	if err != nil {
		return r.managers[""].Update(r.newObj(), obj, manager)
	}
	om.ManagedFields = nil
	if set.Empty() {
		return obj, nil
	}
	raw, err := set.ToJSON()
	if err != nil {
		return r.managers[""].Update(r.newObj(), obj, manager)
	}
	if manager == "" {
		manager = "unknown"
	}
	om.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: gv.String(), Time: &metav1.Time{Time: time.Now().UTC()}, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: raw}}}
	return obj, nil
}

// createdFields returns the fields of obj that a comparison with the empty object empty
// finds added or modified, both converted to gv, less those the managers never track.
func createdFields(tc managedfields.TypeConverter, conv runtime.ObjectConvertor, gv schema.GroupVersion, empty, obj runtime.Object) (*fieldpath.Set, error) {
	newV, err := conv.ConvertToVersion(obj, gv)
	if err != nil {
		return nil, err
	}
	emptyV, err := conv.ConvertToVersion(empty, gv)
	if err != nil {
		return nil, err
	}
	newT, err := tc.ObjectToTyped(newV, typed.AllowDuplicates)
	if err != nil {
		return nil, err
	}
	emptyT, err := tc.ObjectToTyped(emptyV, typed.AllowDuplicates)
	if err != nil {
		return nil, err
	}
	cmp, err := emptyT.Compare(newT)
	if err != nil {
		return nil, err
	}
	return cmp.Modified.Union(cmp.Added).Difference(untrackedFields), nil
}

// untrackedFields are the fields the managers strip from every entry (their
// stripMetaManager's set).
var untrackedFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// tokenVolumePlaceholder stands for the name of a pod's token volume in the cache.
const tokenVolumePlaceholder = serviceAccountVolumePrefix + "placeholder"

// renameTokenVolume returns a copy of pod (sharing what it does not change) whose only
// volume, a service account token volume, and the mounts of it, are renamed to
// tokenVolumePlaceholder, and the volume's name. Pods are otherwise never alike: the service
// account admission names the volume at random. The rename changes one key of the fields
// recorded, and nothing else: the volume is the only item of its list (the order of items
// is that of their keys), and a mount's name is a value, whose fields do not depend on it.
func renameTokenVolume(pod *corev1.Pod) (*corev1.Pod, string, bool) {
	if len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, serviceAccountVolumePrefix) ||
		pod.Spec.Volumes[0].Name == tokenVolumePlaceholder {
		return nil, "", false
	}
	name := pod.Spec.Volumes[0].Name
	p := *pod
	p.Spec.Volumes = []corev1.Volume{pod.Spec.Volumes[0]}
	p.Spec.Volumes[0].Name = tokenVolumePlaceholder
	rename := func(mounts []corev1.VolumeMount) []corev1.VolumeMount {
		if !slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool { return m.Name == name }) {
			return mounts
		}
		out := slices.Clone(mounts)
		for i := range out {
			if out[i].Name == name {
				out[i].Name = tokenVolumePlaceholder
			}
		}
		return out
	}
	containers := func(cs []corev1.Container) []corev1.Container {
		if !slices.ContainsFunc(cs, func(c corev1.Container) bool {
			return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name })
		}) {
			return cs
		}
		out := slices.Clone(cs)
		for i := range out {
			out[i].VolumeMounts = rename(out[i].VolumeMounts)
		}
		return out
	}
	p.Spec.Containers = containers(pod.Spec.Containers)
	p.Spec.InitContainers = containers(pod.Spec.InitContainers)
	if slices.ContainsFunc(pod.Spec.EphemeralContainers, func(c corev1.EphemeralContainer) bool {
		return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name })
	}) {
		p.Spec.EphemeralContainers = slices.Clone(pod.Spec.EphemeralContainers)
		for i := range p.Spec.EphemeralContainers {
			p.Spec.EphemeralContainers[i].VolumeMounts = rename(p.Spec.EphemeralContainers[i].VolumeMounts)
		}
	}
	return &p, name, true
}
