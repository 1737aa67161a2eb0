package storage

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one change seen by Watch.
//
// The objects of an event are decoded when first asked for (Object, PrevObject) and shared
// by everyone who asks: they are read-only. Stored gives the bytes kept in etcd, which a
// server can send as they are to clients that read the storage encoding.
type Event struct {
	// Type is Added, Modified, Deleted, Bookmark (a progress mark: Revision only) or Error.
	Type watch.EventType
	// Revision is the etcd revision of the change.
	Revision int64
	// Err is set for Error events: ErrCompacted, or a failure to watch.
	Err error
	// Key is the etcd key of the object.
	Key string

	// memo holds the event's objects, stored and decoded, and its encodings, shared by
	// every watcher that sends it. Nil for Bookmark and Error events.
	memo *memo
}

// Object returns the object after the change; for Deleted, the last state with the
// deletion's revision as its resourceVersion. It is shared: do not modify it.
func (e *Event) Object() (runtime.Object, error) {
	m := e.memo
	if m == nil || m.data == nil {
		return nil, fmt.Errorf("storage: %s event without an object", e.Type)
	}
	return m.decoded(&m.obj, func() (runtime.Object, error) { return m.store.decode(m.data, e.Revision) })
}

// PrevObject returns the object before the change (nil for Added). It is shared: do not
// modify it.
func (e *Event) PrevObject() (runtime.Object, error) {
	m := e.memo
	if m == nil || m.prevData == nil {
		return nil, nil
	}
	return m.decoded(&m.prev, func() (runtime.Object, error) { return m.store.decode(m.prevData, m.prevRev) })
}

// Stored returns the object after the change (as Object) in its stored encoding, whose
// resourceVersion is the event's Revision (it is not part of the stored bytes).
func (e *Event) Stored() []byte {
	if e.memo == nil {
		return nil
	}
	return e.memo.data
}

// StoredPrev returns the object before the change in its stored encoding (nil for Added);
// see Stored.
func (e *Event) StoredPrev() []byte {
	if e.memo == nil {
		return nil
	}
	return e.memo.prevData
}

// Watch streams the changes under keyPrefix made after revision rev (0: from now). The channel
// is closed when ctx ends or after an Error event. Progress marks arrive as Bookmark events
// after RequestProgress.
//
// With the cache started, watches are served from memory: one etcd watch per resource feeds
// every watcher, and a window of recent events lets watchers resume from a revision.
func (s *Store) Watch(ctx context.Context, keyPrefix string, rev int64) <-chan Event {
	if s.cache != nil {
		return s.cache.watch(ctx, keyPrefix, rev)
	}
	return s.watchEtcd(ctx, keyPrefix, rev, true)
}

// watchEtcd follows etcd. With prev false, etcd does not send previous values: Modified
// events come without a previous object and Deleted events without any (the watch cache
// knows them already). Events carry the stored bytes; nothing is decoded here.
func (s *Store) watchEtcd(ctx context.Context, keyPrefix string, rev int64, prev bool) <-chan Event {
	out := make(chan Event, 100)
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithProgressNotify()}
	if prev {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(wctx, keyPrefix, opts...)
	go func() {
		defer close(out)
		defer cancel()
		send := func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
					err = fmt.Errorf("%w: revision %d", ErrCompacted, resp.CompactRevision)
				}
				send(Event{Type: watch.Error, Err: err})
				return
			}
			if resp.IsProgressNotify() {
				if !send(Event{Type: watch.Bookmark, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, e := range resp.Events {
				ev, err := s.convert(e, prev)
				if err != nil {
					send(Event{Type: watch.Error, Err: err})
					return
				}
				if !send(ev) {
					return
				}
			}
		}
		if ctx.Err() == nil {
			send(Event{Type: watch.Error, Err: errors.New("storage: etcd watch closed")})
		}
	}()
	return out
}

func (s *Store) convert(e *clientv3.Event, prev bool) (Event, error) {
	kv := e.Kv
	m := &memo{store: s}
	ev := Event{Revision: kv.ModRevision, Key: string(kv.Key), memo: m}
	if e.PrevKv != nil {
		m.prevData, m.prevRev = e.PrevKv.Value, e.PrevKv.ModRevision
	}
	switch {
	case e.Type == mvccpb.DELETE:
		ev.Type = watch.Deleted
		if !prev {
			return ev, nil
		}
		if m.prevData == nil {
			return ev, fmt.Errorf("storage: delete event for %s without previous value", kv.Key)
		}
		m.data = m.prevData
	case e.IsCreate():
		ev.Type = watch.Added
		m.data = kv.Value
	default:
		ev.Type = watch.Modified
		m.data = kv.Value
	}
	return ev, nil
}

// RequestProgress asks etcd to send a progress mark to the watches opened with ctx's client.
func (s *Store) RequestProgress(ctx context.Context) error {
	return s.client.RequestProgress(clientv3.WithRequireLeader(ctx))
}
