package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors returned by Store. Callers map them to Kubernetes Status errors.
var (
	ErrNotFound      = errors.New("storage: object not found")
	ErrExists        = errors.New("storage: object already exists")
	ErrConflict      = errors.New("storage: resource version conflict")
	ErrCompacted     = errors.New("storage: resource version compacted")
	ErrFutureVersion = errors.New("storage: resource version is in the future")
	ErrBadContinue   = errors.New("storage: invalid continue token")
)

// Codec turns objects into bytes and back. into is always a new, empty object of the
// store's type.
type Codec interface {
	Encode(obj runtime.Object) ([]byte, error)
	Decode(data []byte, into runtime.Object) error
}

// Store keeps the objects of one resource in etcd.
type Store struct {
	client  *clientv3.Client
	codec   Codec
	prefix  string
	newFunc func() runtime.Object
	// cache, once started, serves lists and watches from memory.
	cache *cacher
	// revs shares etcd revision reads between concurrent consistent reads.
	revs revisionBatcher
}

// New returns a Store for objects under prefix (which must end in "/"). newFunc returns an
// empty object of the resource's type.
func New(client *clientv3.Client, prefix string, codec Codec, newFunc func() runtime.Object) *Store {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	st := &Store{client: client, codec: codec, prefix: prefix, newFunc: newFunc}
	st.revs.read = st.CurrentRevision
	return st
}

// Key returns the etcd key of an object. namespace is empty for cluster-scoped objects.
func (s *Store) Key(namespace, name string) string {
	if namespace == "" {
		return s.prefix + name
	}
	return s.prefix + namespace + "/" + name
}

// Prefix returns the key prefix of all objects in namespace, or of all objects when namespace
// is empty.
func (s *Store) Prefix(namespace string) string {
	if namespace == "" {
		return s.prefix
	}
	return s.prefix + namespace + "/"
}

func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := s.newFunc()
	if err := s.codec.Decode(data, obj); err != nil {
		return nil, fmt.Errorf("storage: decoding object: %w", err)
	}
	if err := setRV(obj, rev); err != nil {
		return nil, err
	}
	return obj, nil
}

func setRV(obj runtime.Object, rev int64) error {
	a, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	a.SetResourceVersion(strconv.FormatInt(rev, 10))
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return nil
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	// resourceVersion is derived from etcd, never stored.
	rv := a.GetResourceVersion()
	a.SetResourceVersion("")
	data, err := s.codec.Encode(obj)
	a.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("storage: encoding object: %w", err)
	}
	return data, nil
}

// GetOptions tells how recent the object returned by Read must be.
type GetOptions struct {
	// Stale accepts whatever state is at hand (resourceVersion "0").
	Stale bool
	// MinRevision accepts any state at least this recent (resourceVersion "N"); 0, without
	// Stale, asks for the latest state (a consistent read, resourceVersion "").
	MinRevision int64
}

// Read reads the object at key, from the watch cache when it can honour opts: a consistent
// read is served from memory once the cache has caught up with etcd's current revision
// (read in one round trip shared by concurrent readers). The object is a fresh copy.
func (s *Store) Read(ctx context.Context, key string, opts GetOptions) (runtime.Object, error) {
	if s.cache != nil {
		if e, ok, err := s.cache.get(ctx, key, opts); ok || err != nil {
			if err != nil {
				return nil, err
			}
			return s.decode(e.data, e.rev)
		}
	}
	return s.Get(ctx, key)
}

// StoredObject is an object in its stored encoding, which lacks its resourceVersion: that
// is Revision.
type StoredObject struct {
	Data     []byte
	Revision int64
}

// ReadStored is Read without decoding: it returns the object as stored. The bytes are
// shared: do not modify them.
func (s *Store) ReadStored(ctx context.Context, key string, opts GetOptions) (StoredObject, error) {
	if s.cache != nil {
		if e, ok, err := s.cache.get(ctx, key, opts); ok || err != nil {
			return StoredObject{Data: e.data, Revision: e.rev}, err
		}
	}
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return StoredObject{}, err
	}
	if len(resp.Kvs) == 0 {
		return StoredObject{}, ErrNotFound
	}
	return StoredObject{Data: resp.Kvs[0].Value, Revision: resp.Kvs[0].ModRevision}, nil
}

// Decode decodes an object read with ReadStored or ListOptions.Stored.
func (s *Store) Decode(o StoredObject) (runtime.Object, error) { return s.decode(o.Data, o.Revision) }

// Get reads the object at key from etcd.
func (s *Store) Get(ctx context.Context, key string) (runtime.Object, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.decode(kv.Value, kv.ModRevision)
}

// Create stores obj at key unless the key exists, and returns the stored object: obj
// itself, with its resourceVersion set (the caller hands it over).
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).
		Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, ErrExists
	}
	if err := setRV(obj, resp.Header.Revision); err != nil {
		return nil, err
	}
	return obj, nil
}

// UpdateFunc computes the new object from the current one. current is nil when the object
// does not exist (only when the update allows creation). current is decoded for this call
// alone, so the function may change it and return it; what it returns must be its own too
// (GuaranteedUpdate sets its resourceVersion and hands it back).
// Returning the error ErrNoChange... is not needed: equal encodings are never written.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// state is an object as read before a conditional write: its decoded form, the bytes stored
// in etcd (nil when they must be computed) and its ModRevision. obj is nil when the key does
// not exist. fromCache marks a state taken from the watch cache, which may be behind etcd.
type state struct {
	obj       runtime.Object
	data      []byte // obj's stored bytes (set whenever obj is)
	rev       int64
	fromCache bool
}

// readState reads key from etcd.
func (s *Store) readState(ctx context.Context, key string) (*state, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.stateFrom(resp.Kvs)
}

func (s *Store) stateFrom(kvs []*mvccpb.KeyValue) (*state, error) {
	if len(kvs) == 0 {
		return &state{}, nil
	}
	kv := kvs[0]
	obj, err := s.decode(kv.Value, kv.ModRevision)
	if err != nil {
		return nil, err
	}
	return &state{obj: obj, data: kv.Value, rev: kv.ModRevision}, nil
}

// failedState is the current state of key as returned by a failed conditional transaction
// (whose Else branch reads the key).
func (s *Store) failedState(txn *clientv3.TxnResponse) (*state, error) {
	if len(txn.Responses) == 0 {
		return &state{}, nil
	}
	r := txn.Responses[0].GetResponseRange()
	if r == nil {
		return &state{}, nil
	}
	return s.stateFrom(r.Kvs)
}

// initialState is the state a conditional write starts from: the watch cache's copy when it
// holds the key (as upstream's cached "suggestion": a stale copy only costs a failed
// transaction), otherwise a read from etcd.
func (s *Store) initialState(ctx context.Context, key string) (*state, error) {
	if s.cache != nil {
		if e, ok := s.cache.lookup(key); ok {
			obj, err := s.decode(e.data, e.rev)
			if err != nil {
				return nil, err
			}
			return &state{obj: obj, data: e.data, rev: e.rev, fromCache: true}, nil
		}
	}
	return s.readState(ctx, key)
}

// GuaranteedUpdate reads key, applies tryUpdate and writes the result if nothing changed
// meanwhile, retrying with a fresh read otherwise. It returns the stored object. When
// allowCreate is false a missing key gives ErrNotFound; otherwise tryUpdate gets nil.
// Errors returned by tryUpdate end the update and are returned unchanged.
//
// The first attempt may start from the watch cache's copy of the object. Whatever that
// attempt concludes other than a successful write (an error from tryUpdate, a missing key,
// nothing to change) is checked again against a fresh read from etcd, so a stale copy
// never decides the outcome.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, allowCreate bool, tryUpdate UpdateFunc) (runtime.Object, error) {
	st, err := s.initialState(ctx, key)
	if err != nil {
		return nil, err
	}
	refresh := func() error {
		st, err = s.readState(ctx, key)
		return err
	}
	for {
		if st.obj == nil && !allowCreate {
			if st.fromCache {
				if err := refresh(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, ErrNotFound
		}
		updated, err := tryUpdate(st.obj)
		if err != nil {
			if st.fromCache {
				if err := refresh(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		data, err := s.encode(updated)
		if err != nil {
			return nil, err
		}
		if st.obj != nil {
			// st.data, read with st.obj, is what is stored: tryUpdate may have changed st.obj.
			if bytes.Equal(data, st.data) {
				if st.fromCache {
					if err := refresh(); err != nil {
						return nil, err
					}
					continue
				}
				return st.obj, nil
			}
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", st.rev)).
			Then(clientv3.OpPut(key, string(data))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, err
		}
		if !txn.Succeeded {
			if st, err = s.failedState(txn); err != nil {
				return nil, err
			}
			continue
		}
		if err := setRV(updated, txn.Header.Revision); err != nil {
			return nil, err
		}
		return updated, nil
	}
}

// Delete removes key after check (if not nil) accepted the current object. It returns the
// deleted object, with the resourceVersion of the deletion. As with GuaranteedUpdate, the
// first attempt may start from the watch cache's copy; a refusal or a missing key is checked
// again against etcd.
func (s *Store) Delete(ctx context.Context, key string, check func(current runtime.Object) error) (runtime.Object, error) {
	st, err := s.initialState(ctx, key)
	if err != nil {
		return nil, err
	}
	for {
		if st.obj == nil {
			if st.fromCache {
				if st, err = s.readState(ctx, key); err != nil {
					return nil, err
				}
				continue
			}
			return nil, ErrNotFound
		}
		if check != nil {
			if err := check(st.obj); err != nil {
				if st.fromCache {
					if st, err = s.readState(ctx, key); err != nil {
						return nil, err
					}
					continue
				}
				return nil, err
			}
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", st.rev)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, err
		}
		if !txn.Succeeded {
			if st, err = s.failedState(txn); err != nil {
				return nil, err
			}
			continue
		}
		current := st.obj
		if err := setRV(current, txn.Header.Revision); err != nil {
			return nil, err
		}
		return current, nil
	}
}

// ListOptions selects what List returns.
type ListOptions struct {
	// Revision to read at exactly; 0 reads the latest.
	Revision int64
	// MinRevision, with Revision 0, accepts any state at least this recent (resourceVersion
	// with resourceVersionMatch=NotOlderThan).
	MinRevision int64
	// Stale, with Revision 0, accepts whatever state is at hand (resourceVersion "0").
	Stale bool
	// Limit is the most items to return; 0 means all.
	Limit int64
	// Continue resumes a previous paged list; it carries its own revision.
	Continue string
	// Filter, when not nil, keeps only the objects it accepts.
	Filter func(obj runtime.Object) bool
	// Stored asks for the objects as stored (ListResult.Stored) rather than decoded; they
	// are still decoded for Filter.
	Stored bool
}

// ListResult is one page of a list.
type ListResult struct {
	// Items are the objects, fresh copies; Stored, instead, with ListOptions.Stored (the
	// bytes are shared: do not modify them).
	Items  []runtime.Object
	Stored []StoredObject
	// Keys are the items' etcd keys.
	Keys     []string
	Revision int64
	// Continue is set when more items may follow.
	Continue string
	// Remaining is an estimate of the items after this page, when known.
	Remaining *int64
}

type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	Start      string `json:"start"`
}

// List reads the objects under keyPrefix (from Prefix), at one revision.
//
// With the cache started, lists at the latest (or a minimum) revision are served from memory:
// a consistent list first waits until the cache has caught up with etcd's current revision.
// Later pages of a paged list are read from etcd at the first page's revision.
func (s *Store) List(ctx context.Context, keyPrefix string, opts ListOptions) (*ListResult, error) {
	if s.cache != nil && opts.Revision == 0 && opts.Continue == "" {
		snap, ok, err := s.cache.list(ctx, keyPrefix, opts)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.page(snap, keyPrefix, opts)
		}
	}
	return s.listEtcd(ctx, keyPrefix, opts)
}

// page is the first page of a list served from a snapshot of the watch cache.
func (s *Store) page(snap *snapshot, keyPrefix string, opts ListOptions) (*ListResult, error) {
	res := &ListResult{Revision: snap.rev}
	if opts.Filter == nil {
		n := len(snap.keys)
		if opts.Limit > 0 && int64(n) > opts.Limit {
			n = int(opts.Limit)
		}
		if opts.Stored {
			res.Stored = make([]StoredObject, 0, n)
		} else {
			res.Items = make([]runtime.Object, 0, n)
		}
		res.Keys = make([]string, 0, n)
	}
	for i, e := range snap.entries {
		added, err := res.add(s, snap.keys[i], e.data, e.rev, opts)
		if err != nil {
			return nil, err
		}
		if added && opts.Limit > 0 && int64(len(res.Keys)) == opts.Limit {
			if i < len(snap.entries)-1 {
				// The next pages come from etcd at this revision: one consistent snapshot.
				res.Continue = encodeContinue(snap.rev, strings.TrimPrefix(snap.keys[i]+"\x00", keyPrefix))
				if opts.Filter == nil {
					remaining := int64(len(snap.entries) - i - 1)
					res.Remaining = &remaining
				}
			}
			break
		}
	}
	return res, nil
}

// add puts the object stored at key on the page, unless the list's filter refuses it.
func (r *ListResult) add(s *Store, key string, data []byte, rev int64, opts ListOptions) (bool, error) {
	var obj runtime.Object
	if !opts.Stored || opts.Filter != nil {
		var err error
		if obj, err = s.decode(data, rev); err != nil {
			return false, err
		}
		if opts.Filter != nil && !opts.Filter(obj) {
			return false, nil
		}
	}
	if opts.Stored {
		r.Stored = append(r.Stored, StoredObject{Data: data, Revision: rev})
	} else {
		r.Items = append(r.Items, obj)
	}
	r.Keys = append(r.Keys, key)
	return true, nil
}

func (s *Store) listEtcd(ctx context.Context, keyPrefix string, opts ListOptions) (*ListResult, error) {
	start := keyPrefix
	rev := opts.Revision
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue, keyPrefix)
		if err != nil {
			return nil, err
		}
		start, rev = keyPrefix+tok.Start, tok.Revision
	}
	end := clientv3.GetPrefixRangeEnd(keyPrefix)
	res := &ListResult{}
	// Pages are read from etcd in batches; with a filter, more batches may be needed to fill
	// one page.
	batch := opts.Limit
	if batch > 0 && opts.Filter != nil && batch < 100 {
		batch = 100
	}
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		if batch > 0 {
			getOpts = append(getOpts, clientv3.WithLimit(batch))
		}
		resp, err := s.client.Get(ctx, start, getOpts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, ErrCompacted
			}
			if errors.Is(err, rpctypes.ErrFutureRev) {
				return nil, ErrFutureVersion
			}
			return nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			added, err := res.add(s, string(kv.Key), kv.Value, kv.ModRevision, opts)
			if err != nil {
				return nil, err
			}
			if !added {
				continue
			}
			if opts.Limit > 0 && int64(len(res.Keys)) == opts.Limit {
				more := i < len(resp.Kvs)-1 || resp.More
				if more {
					next := string(kv.Key) + "\x00"
					res.Continue = encodeContinue(rev, strings.TrimPrefix(next, keyPrefix))
					if opts.Filter == nil {
						remaining := resp.Count - int64(i) - 1
						res.Remaining = &remaining
					}
				}
				res.Revision = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.Revision = rev
	return res, nil
}

func encodeContinue(rev int64, start string) string {
	data, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, Start: start})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(token, keyPrefix string) (*continueToken, error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, ErrBadContinue
	}
	var tok continueToken
	if err := json.Unmarshal(data, &tok); err != nil || tok.APIVersion != "meta.k8s.io/v1" || tok.Revision <= 0 {
		return nil, ErrBadContinue
	}
	// A token may not walk outside the prefix it was made for.
	if strings.Contains(tok.Start, "..") || strings.HasPrefix(tok.Start, "/") {
		return nil, ErrBadContinue
	}
	return &tok, nil
}

// CurrentRevision returns etcd's current revision (a round trip to etcd).
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithLimit(1), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Count returns how many objects are under keyPrefix.
func (s *Store) Count(ctx context.Context, keyPrefix string) (int64, error) {
	resp, err := s.client.Get(ctx, keyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}
