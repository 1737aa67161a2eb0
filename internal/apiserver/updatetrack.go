package apiserver

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// An update is tracked by upstream's manager in layers, each doing a part of one simple
// computation, and most of them going through JSON: every entry of the object is decoded
// into a field set (its identity, through a JSON encoding of the entry), the live and the
// new object are compared, the sets are changed, the entries over the cap merged, and every
// entry is encoded back to JSON and sorted. Only the comparison depends on the objects; the
// rest is bookkeeping, and for an object whose entries were written by this server (all of
// its own version, of known operations) it can be done without the layers:
//
//   - the comparison is upstream's: SMD's Compare of the live object (with its
//     managedFields, as the manager sees it) and of the new one without them, converted
//     and typed by the resource's converters, on the projections of fieldtrack.go;
//   - every other entry (the writer's previous one too: the manager compares under a
//     placeholder name, "current-operation") loses the fields the writer modified or added
//     (conflicts, forced for updates) and those removed; emptied entries go;
//   - the writer's set is what was modified or added, less the untracked metadata; when it
//     is not empty it is merged with what is left of the writer's previous entry, stamped
//     now; otherwise that entry keeps its time (and whatever it still owns);
//   - more than maxUpdateManagers update entries: the oldest are merged into
//     "ancient-changes", as upstream's capManagersManager does (rare; done as it does it);
//   - the entries are sorted as upstream sorts them.
//
// Decoding the entries is most of the bookkeeping's cost, and the same entries are decoded
// on every update of an object (and many objects have identical ones): fieldsCache
// remembers the sets of recent FieldsV1 bytes. Entries that lose nothing keep their bytes:
// a set decoded from bytes that are its own encoding encodes to them again.
//
// The managers are built without reset fields (server.go passes none), so nothing is
// filtered out of the comparison; the differential tests run the resource's own managers
// too, and would see a difference if that changed.
//
// Anything else goes to the manager: custom resources, entries of another version or of an
// unknown operation or type, duplicate identities, a request bringing managedFields other
// than the live object's, names that are not valid UTF-8 (the manager's JSON identities
// would rewrite them), sets that the schema reconciliation would change, errors.

// maxUpdateManagers is the cap on update entries of upstream's default managers.
const maxUpdateManagers = 10

// ancientChanges is the manager of the entries the cap merges.
const ancientChanges = "ancient-changes"

// entryID is an entry's identity, as the manager's JSON identity distinguishes entries:
// apiVersion does not count for Apply entries.
type entryID struct {
	manager     string
	operation   metav1.ManagedFieldsOperationType
	apiVersion  string
	subresource string
}

func idOf(e *metav1.ManagedFieldsEntry) entryID {
	id := entryID{manager: e.Manager, operation: e.Operation, apiVersion: e.APIVersion, subresource: e.Subresource}
	if e.Operation == metav1.ManagedFieldsOperationApply {
		id.apiVersion = ""
	}
	return id
}

// trackedEntry is an entry as the update changes it.
type trackedEntry struct {
	id         entryID
	apiVersion string
	time       *metav1.Time
	set        *fieldpath.Set
	// raw is the encoding of set while it is unchanged (nil: to encode).
	raw []byte
}

// trackUpdateDirect records in obj's managedFields what manager changed from live to obj
// through subresource, as upstream's manager does, without its layers; projLive and
// projObj are the projections of live and obj (projectUnchanged). ok is false when it
// cannot be sure of upstream's result: obj is then untouched, for the manager.
func (r *resource) trackUpdateDirect(subresource string, live, obj, projLive, projObj runtime.Object, manager string) (runtime.Object, bool) {
	c := &r.creates
	if c.tc == nil || c.conv == nil || r.managers[""] == nil || !utf8.ValidString(manager) {
		return nil, false
	}
	// A subresource without a manager of its own is tracked by the object's.
	sub := subresource
	if r.managers[sub] == nil {
		sub = ""
	}
	la, err := meta.Accessor(live)
	if err != nil {
		return nil, false
	}
	na, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	// The manager starts from the entries the request brings, for the object itself, and
	// from the live object's otherwise; only the same entries are taken here.
	source := la.GetManagedFields()
	if own := na.GetManagedFields(); sub == "" && own != nil {
		if isResetManagedFields(own) || !sameEntries(own, source) {
			return nil, false
		}
		source = own
	}
	if manager == "" {
		manager = "unknown"
	}
	gv := r.gvk.GroupVersion()
	version := gv.String()
	if len(source) == 0 && na.GetUID() != "" {
		// An existing object nobody tracks: the manager leaves it so (its
		// skipNonAppliedManager), without comparing.
		na.SetManagedFields(nil)
		return obj, true
	}

	// The comparison, as the manager makes it: the new object without its managedFields.
	newV, err := c.conv.ConvertToVersion(projObj, gv)
	if err != nil || newV == projObj || newV == obj {
		return nil, false
	}
	nva, err := meta.Accessor(newV)
	if err != nil {
		return nil, false
	}
	nva.SetManagedFields(nil)
	liveV, err := c.conv.ConvertToVersion(projLive, gv)
	if err != nil {
		return nil, false
	}
	newT, err := c.tc.ObjectToTyped(newV, typed.AllowDuplicates)
	if err != nil {
		return nil, false
	}
	liveT, err := c.tc.ObjectToTyped(liveV, typed.AllowDuplicates)
	if err != nil {
		return nil, false
	}

	entries := make([]*trackedEntry, 0, len(source)+1)
	for i := range source {
		e := &source[i]
		if (e.Operation != metav1.ManagedFieldsOperationUpdate && e.Operation != metav1.ManagedFieldsOperationApply) ||
			e.APIVersion != version || e.FieldsType != "FieldsV1" ||
			!utf8.ValidString(e.Manager) || !utf8.ValidString(e.Subresource) {
			return nil, false
		}
		te := &trackedEntry{id: idOf(e), apiVersion: e.APIVersion, time: e.Time}
		for _, o := range entries {
			if o.id == te.id {
				// The manager keeps one of them: its business.
				return nil, false
			}
		}
		if e.FieldsV1 == nil {
			te.set = fieldpath.NewSet() // an empty entry: it goes
		} else {
			d := lookupFields(r.gvk, e.FieldsV1.Raw, liveT)
			if d == nil {
				return nil, false
			}
			te.set = d.set
			if d.enc == nil {
				te.raw = e.FieldsV1.Raw
			} else {
				te.raw = append([]byte(nil), d.enc...)
			}
		}
		entries = append(entries, te)
	}

	compared, err := liveT.Compare(newT)
	if err != nil {
		return nil, false
	}
	removed := compared.Removed
	changed := compared.Modified.Union(compared.Added)
	kept := entries[:0]
	for _, e := range entries {
		if conflicts := e.set.Intersection(changed); !conflicts.Empty() {
			e.set, e.raw = e.set.Difference(conflicts), nil
		}
		// A set that has none of the removed fields is left as it is by the difference.
		if !removed.Empty() && !e.set.Intersection(removed).Empty() {
			e.set, e.raw = e.set.Difference(removed), nil
		}
		if !e.set.Empty() {
			kept = append(kept, e)
		}
	}
	entries = kept

	writer := entryID{manager: manager, operation: metav1.ManagedFieldsOperationUpdate, apiVersion: version, subresource: sub}
	own := fieldpath.NewSet().Difference(removed).Union(compared.Modified).Union(compared.Added)
	if !own.Empty() {
		own = own.Difference(untrackedFields)
	}
	if !own.Empty() {
		now := &metav1.Time{Time: time.Now().UTC()}
		i := slices.IndexFunc(entries, func(e *trackedEntry) bool { return e.id == writer })
		if i >= 0 {
			entries[i].set, entries[i].raw, entries[i].time = own.Union(entries[i].set), nil, now
		} else {
			entries = append(entries, &trackedEntry{id: writer, apiVersion: version, time: now, set: own})
		}
	}

	updates := 0
	for _, e := range entries {
		if e.id.operation == metav1.ManagedFieldsOperationUpdate {
			updates++
		}
	}
	if updates > maxUpdateManagers {
		var ok bool
		if entries, ok = capUpdateEntries(entries); !ok {
			return nil, false
		}
	}

	var out []metav1.ManagedFieldsEntry
	if len(entries) > 0 {
		out = make([]metav1.ManagedFieldsEntry, len(entries))
	}
	for i, e := range entries {
		raw := e.raw
		if raw == nil {
			if raw, err = e.set.ToJSON(); err != nil {
				return nil, false
			}
		}
		out[i] = metav1.ManagedFieldsEntry{Manager: e.id.manager, Operation: e.id.operation, APIVersion: e.apiVersion, Time: e.time,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw}, Subresource: e.id.subresource}
	}
	slices.SortFunc(out, compareEntries)
	na.SetManagedFields(out)
	return obj, true
}

// sameEntries reports whether a and b are the same entries, for the manager: the same
// identities, versions, types and FieldsV1 bytes.
func sameEntries(a, b []metav1.ManagedFieldsEntry) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Manager != y.Manager || x.Operation != y.Operation || x.APIVersion != y.APIVersion || x.Subresource != y.Subresource ||
			x.FieldsType != y.FieldsType || (x.FieldsV1 == nil) != (y.FieldsV1 == nil) ||
			(x.FieldsV1 != nil && !bytes.Equal(x.FieldsV1.Raw, y.FieldsV1.Raw)) {
			return false
		}
	}
	return true
}

// isResetManagedFields reports whether mf is the marker of a request that resets the
// managedFields: an empty list (not nil), or one empty entry.
func isResetManagedFields(mf []metav1.ManagedFieldsEntry) bool {
	return mf != nil && ignoredManagedFields(mf)
}

// compareEntries orders entries as upstream's encoding sorts them: Apply before Update,
// then by the second of their time (none first), manager, version and subresource.
func compareEntries(p, q metav1.ManagedFieldsEntry) int {
	return cmp.Or(cmp.Compare(p.Operation, q.Operation), cmp.Compare(seconds(p.Time), seconds(q.Time)),
		cmp.Compare(p.Manager, q.Manager), cmp.Compare(p.APIVersion, q.APIVersion), cmp.Compare(p.Subresource, q.Subresource))
}

func seconds(t *metav1.Time) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}

// capUpdateEntries merges the oldest update entries into "ancient-changes" entries of
// their version until at most maxUpdateManagers are left, step by step as upstream's
// capManagersManager does (with its quirks: ties are broken by the JSON identities, the
// first entry of a version only moves into the bucket when a second one comes, and the
// bucket takes the time of the last entry merged into it).
func capUpdateEntries(entries []*trackedEntry) ([]*trackedEntry, bool) {
	identity := func(id entryID) (string, bool) {
		b, err := json.Marshal(&metav1.ManagedFieldsEntry{Manager: id.manager, Operation: id.operation, APIVersion: id.apiVersion, Subresource: id.subresource})
		return string(b), err == nil
	}
	byID := make(map[string]*trackedEntry, len(entries))
	var updaters []string
	for _, e := range entries {
		k, ok := identity(e.id)
		if !ok {
			return nil, false
		}
		byID[k] = e
		if e.id.operation == metav1.ManagedFieldsOperationUpdate {
			updaters = append(updaters, k)
		}
	}
	sort.Slice(updaters, func(i, j int) bool {
		si, sj := seconds(byID[updaters[i]].time), seconds(byID[updaters[j]].time)
		if si != sj {
			return si < sj
		}
		return updaters[i] < updaters[j]
	})
	first := map[string]string{}
	for i, n := 0, len(updaters); i < len(updaters) && n > maxUpdateManagers; i++ {
		k := updaters[i]
		e := byID[k]
		if e == nil {
			return nil, false
		}
		bucketID := entryID{manager: ancientChanges, operation: metav1.ManagedFieldsOperationUpdate, apiVersion: e.apiVersion}
		bucket, ok := identity(bucketID)
		if !ok {
			return nil, false
		}
		f, seen := first[e.apiVersion]
		if !seen {
			first[e.apiVersion] = k
			continue
		}
		if _, ok := byID[bucket]; !ok {
			if byID[f] == nil {
				return nil, false
			}
			moved := *byID[f]
			moved.id = bucketID
			delete(byID, f)
			byID[bucket] = &moved
		}
		merged := &trackedEntry{id: bucketID, apiVersion: e.apiVersion, set: e.set.Union(byID[bucket].set), time: e.time}
		byID[bucket] = merged
		delete(byID, k) // the bucket itself, when it is the entry merged: as upstream
		n--
	}
	out := make([]*trackedEntry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	return out, true
}

// fieldsCacheSize is how many FieldsV1 encodings fieldsCache remembers, per generation,
// and fieldsCacheBytes how many bytes of encodings: a decoded set takes ≈ 25–30 times its
// encoding's size in memory (a pod's entry of 1 KiB, ≈ 30 KiB), so the bytes bound it
// (≈ 2 MiB of sets per generation). What the cache is for are the entries many objects
// share (every Lease's holder's, the nodes' status writers') and those of an object
// written again soon; most entries of pods are unique (each names its own token volume).
const (
	fieldsCacheSize  = 256
	fieldsCacheBytes = 64 << 10
)

// maxCachedFields is the size of the largest FieldsV1 encoding remembered.
const maxCachedFields = 4 << 10

// decodedFields is the field set of a FieldsV1 encoding. The set is shared: it is never
// changed.
type decodedFields struct {
	set *fieldpath.Set
	// enc is the set's encoding when it is not the encoding it was decoded from (nil
	// otherwise).
	enc []byte
	// bad is set when the encoding does not decode.
	bad bool
	// kinds are the kinds whose schema leaves the set as it is (the manager reconciles
	// every set with the schema of the object's kind before using it).
	kinds []schema.GroupVersionKind
}

// fieldsCache remembers the field sets of recent FieldsV1 encodings, in two generations:
// when the newer is full it becomes the older, and what is found in the older moves to the
// newer.
var fieldsCache struct {
	mu       sync.RWMutex
	cur, old map[string]*decodedFields
	curBytes int // the length of cur's encodings
}

// lookupFields returns the set of raw, an entry of an object of kind gvk whose typed value
// is tv, or nil when it does not decode or the manager's reconciliation with the schema
// would change it.
func lookupFields(gvk schema.GroupVersionKind, raw []byte, tv *typed.TypedValue) *decodedFields {
	fc := &fieldsCache
	fc.mu.RLock()
	d, fresh := fc.cur[string(raw)]
	if d == nil {
		d = fc.old[string(raw)]
	}
	known := d != nil && slices.Contains(d.kinds, gvk)
	fc.mu.RUnlock()
	if known && fresh {
		return d
	}
	if d == nil {
		d = &decodedFields{}
		var s fieldpath.Set
		if err := s.FromJSON(bytes.NewReader(raw)); err != nil {
			d.bad = true
		} else {
			d.set = &s
			enc, err := s.ToJSON()
			if err != nil {
				d.bad = true
			} else if !bytes.Equal(enc, raw) {
				d.enc = enc
			}
		}
	}
	if d.bad {
		return nil
	}
	if !known {
		// The reconciliation depends on the set and the kind's schema alone.
		if reconciled, err := typed.ReconcileFieldSetWithSchema(d.set, tv); err != nil || reconciled != nil {
			return nil
		}
	}
	if len(raw) > maxCachedFields {
		return d
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if cur := fc.cur[string(raw)]; cur != nil {
		d = cur
	} else {
		if fc.cur == nil || len(fc.cur) >= fieldsCacheSize || fc.curBytes+len(raw) > fieldsCacheBytes {
			fc.old, fc.cur, fc.curBytes = fc.cur, make(map[string]*decodedFields, 64), 0
		}
		fc.cur[string(raw)] = d
		fc.curBytes += len(raw)
	}
	if !slices.Contains(d.kinds, gvk) {
		d.kinds = append(d.kinds, gvk)
	}
	return d
}
