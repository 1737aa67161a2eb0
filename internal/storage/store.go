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
}

// New returns a Store for objects under prefix (which must end in "/"). newFunc returns an
// empty object of the resource's type.
func New(client *clientv3.Client, prefix string, codec Codec, newFunc func() runtime.Object) *Store {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{client: client, codec: codec, prefix: prefix, newFunc: newFunc}
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

// Get reads the object at key.
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

// Create stores obj at key unless the key exists, and returns the stored object.
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
	out := obj.DeepCopyObject()
	if err := setRV(out, resp.Header.Revision); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateFunc computes the new object from the current one. current is nil when the object
// does not exist (only when the update allows creation). It must not modify current.
// Returning the error ErrNoChange... is not needed: equal encodings are never written.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// GuaranteedUpdate reads key, applies tryUpdate and writes the result if nothing changed
// meanwhile, retrying with a fresh read otherwise. It returns the stored object. When
// allowCreate is false a missing key gives ErrNotFound; otherwise tryUpdate gets nil.
// Errors returned by tryUpdate end the update and are returned unchanged.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, allowCreate bool, tryUpdate UpdateFunc) (runtime.Object, error) {
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		var current runtime.Object
		var rev int64
		var oldData []byte
		if len(resp.Kvs) == 0 {
			if !allowCreate {
				return nil, ErrNotFound
			}
		} else {
			kv := resp.Kvs[0]
			rev, oldData = kv.ModRevision, kv.Value
			if current, err = s.decode(kv.Value, kv.ModRevision); err != nil {
				return nil, err
			}
		}
		updated, err := tryUpdate(current)
		if err != nil {
			return nil, err
		}
		data, err := s.encode(updated)
		if err != nil {
			return nil, err
		}
		if current != nil && bytes.Equal(data, oldData) {
			return current, nil
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(data))).
			Commit()
		if err != nil {
			return nil, err
		}
		if !txn.Succeeded {
			continue
		}
		out := updated.DeepCopyObject()
		if err := setRV(out, txn.Header.Revision); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// Delete removes key after check (if not nil) accepted the current object. It returns the
// deleted object, with the resourceVersion of the deletion.
func (s *Store) Delete(ctx context.Context, key string, check func(current runtime.Object) error) (runtime.Object, error) {
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		kv := resp.Kvs[0]
		current, err := s.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(current); err != nil {
				return nil, err
			}
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Commit()
		if err != nil {
			return nil, err
		}
		if !txn.Succeeded {
			continue
		}
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
}

// ListResult is one page of a list.
type ListResult struct {
	Items []runtime.Object
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
		if res, ok, err := s.cache.list(ctx, keyPrefix, opts); ok || err != nil {
			return res, err
		}
	}
	return s.listEtcd(ctx, keyPrefix, opts)
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
			obj, err := s.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if opts.Filter != nil && !opts.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			res.Keys = append(res.Keys, string(kv.Key))
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
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
