package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// The watch cache. One per Store, started by StartCache:
//
//   - run() lists the resource once, then follows a single etcd watch; it alone writes the
//     cache. Each change updates objects (key → latest object), appends to a ring of recent
//     events, advances rev and is offered to every watcher, all under mu, so every watcher
//     sees every change in revision order.
//   - Objects in the cache are shared and read-only: whoever receives one (lists, watch
//     events) must copy it before changing it.
//   - A consistent list asks etcd for its current revision and waits until rev reaches it,
//     asking etcd for progress marks so that an idle resource catches up too.
//   - A watcher that falls more than its buffer behind is closed; its client resumes from the
//     last revision it saw, as Kubernetes clients do.
//   - If the etcd watch fails (etcd restarted, history compacted under us), the cache closes
//     every watcher and starts over from a fresh list.

const (
	// ringSize is how many recent events each resource keeps for watchers that resume.
	ringSize = 8192
	// watcherBuffer is how far a watcher may fall behind before it is closed.
	watcherBuffer = 2048
)

type cacher struct {
	store *Store
	log   *slog.Logger
	// consistent tells whether consistent lists may be served from memory (see
	// Backend.ProgressSafe); otherwise they go to etcd.
	consistent bool

	mu      sync.Mutex
	ready   bool
	objects map[string]runtime.Object
	rev     int64
	// ring holds the latest events; oldest is the revision from which history is complete.
	ring    []Event
	ringPos int
	oldest  int64
	// changed is closed and replaced whenever rev moves.
	changed  chan struct{}
	watchers map[*cacheWatcher]struct{}
}

type cacheWatcher struct {
	prefix string
	// after is the revision the watch started from: earlier events are not for it.
	after  int64
	ch     chan Event
	closed bool
}

// memo caches an event's encodings, so that N watchers of one event encode it once.
type memo struct {
	mu   sync.Mutex
	data map[string][]byte
}

// Encoded returns the encoding of the event stored under key, computing it once with enc.
// Events that did not come from the cache compute it every time.
func (e *Event) Encoded(key string, enc func() ([]byte, error)) ([]byte, error) {
	if e.memo == nil {
		return enc()
	}
	e.memo.mu.Lock()
	defer e.memo.mu.Unlock()
	if b, ok := e.memo.data[key]; ok {
		return b, nil
	}
	b, err := enc()
	if err != nil {
		return nil, err
	}
	if e.memo.data == nil {
		e.memo.data = map[string][]byte{}
	}
	e.memo.data[key] = b
	return b, nil
}

// StartCache starts serving lists and watches from memory; the cache stops with ctx. It
// returns once the cache holds the current state. With consistent false, lists that must be
// current are read from etcd, and only watches and resourceVersion="0" lists use the cache.
func (s *Store) StartCache(ctx context.Context, log *slog.Logger, consistent bool) error {
	c := &cacher{store: s, log: log, consistent: consistent, changed: make(chan struct{}), watchers: map[*cacheWatcher]struct{}{}}
	if err := c.reload(ctx); err != nil {
		return err
	}
	s.cache = c
	go c.run(ctx)
	return nil
}

// reload replaces the cache's content with a fresh list from etcd.
func (c *cacher) reload(ctx context.Context) error {
	list, err := c.store.listEtcd(ctx, c.store.prefix, ListOptions{})
	if err != nil {
		return fmt.Errorf("storage: filling watch cache for %s: %w", c.store.prefix, err)
	}
	objects := make(map[string]runtime.Object, len(list.Items))
	for i, obj := range list.Items {
		objects[list.Keys[i]] = obj
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		c.closeWatcher(w)
	}
	c.objects = objects
	c.ring = make([]Event, 0, 64)
	c.ringPos = 0
	c.oldest = list.Revision
	c.setRev(list.Revision)
	c.ready = true
	return nil
}

func (c *cacher) setRev(rev int64) {
	if rev > c.rev {
		c.rev = rev
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *cacher) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		from := c.rev
		c.mu.Unlock()
		wctx, cancel := context.WithCancel(ctx)
		for ev := range c.store.watchEtcd(wctx, c.store.prefix, from) {
			if ev.Type == watch.Error {
				c.log.Warn("watch cache lost its etcd watch; reloading", "prefix", c.store.prefix, "err", ev.Err)
				break
			}
			c.apply(ev)
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
		for ctx.Err() == nil {
			if err := c.reload(ctx); err == nil {
				break
			} else {
				c.log.Warn("reloading watch cache", "prefix", c.store.prefix, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	c.mu.Lock()
	for w := range c.watchers {
		c.closeWatcher(w)
	}
	c.mu.Unlock()
}

// apply records one change from etcd and offers it to the watchers.
func (c *cacher) apply(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Type == watch.Bookmark {
		c.setRev(ev.Revision)
		for w := range c.watchers {
			c.offer(w, ev)
		}
		return
	}
	if ev.Revision <= c.rev {
		return // already known from the list the cache started with
	}
	switch ev.Type {
	case watch.Deleted:
		delete(c.objects, ev.Key)
	default:
		c.objects[ev.Key] = ev.Object
	}
	ev.memo = &memo{}
	if len(c.ring) < ringSize {
		c.ring = append(c.ring, ev)
	} else {
		c.oldest = c.ring[c.ringPos].Revision
		c.ring[c.ringPos] = ev
		c.ringPos = (c.ringPos + 1) % ringSize
	}
	c.setRev(ev.Revision)
	for w := range c.watchers {
		if ev.Revision > w.after && strings.HasPrefix(ev.Key, w.prefix) {
			c.offer(w, ev)
		}
	}
}

// offer hands ev to w without blocking; a watcher too far behind is closed.
func (c *cacher) offer(w *cacheWatcher, ev Event) {
	select {
	case w.ch <- ev:
	default:
		c.closeWatcher(w)
	}
}

func (c *cacher) closeWatcher(w *cacheWatcher) {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	delete(c.watchers, w)
}

// eventsSince returns the ring's events after rev under prefix, oldest first.
func (c *cacher) eventsSince(prefix string, rev int64) []Event {
	var out []Event
	n := len(c.ring)
	for i := 0; i < n; i++ {
		ev := c.ring[(c.ringPos+i)%n]
		if ev.Revision > rev && strings.HasPrefix(ev.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func (c *cacher) watch(ctx context.Context, prefix string, rev int64) <-chan Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev == 0 {
		rev = c.rev
	}
	if rev < c.oldest {
		ch := make(chan Event, 1)
		ch <- Event{Type: watch.Error, Err: fmt.Errorf("%w: revision %d is older than the watch window (from %d)", ErrCompacted, rev, c.oldest)}
		close(ch)
		return ch
	}
	replay := c.eventsSince(prefix, rev)
	w := &cacheWatcher{prefix: prefix, after: rev, ch: make(chan Event, len(replay)+watcherBuffer)}
	for _, ev := range replay {
		w.ch <- ev
	}
	c.watchers[w] = struct{}{}
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		c.closeWatcher(w)
		c.mu.Unlock()
	}()
	return w.ch
}

// waitFor blocks until the cache has reached rev, asking etcd for progress marks meanwhile.
func (c *cacher) waitFor(ctx context.Context, rev int64) error {
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	asked := false
	for {
		c.mu.Lock()
		cur, changed := c.rev, c.changed
		c.mu.Unlock()
		if cur >= rev {
			return nil
		}
		if !asked {
			c.store.RequestProgress(ctx)
			asked = true
		}
		select {
		case <-changed:
		case <-tick.C:
			asked = false
		case <-deadline.C:
			return fmt.Errorf("storage: watch cache for %s did not reach revision %d (at %d)", c.store.prefix, rev, cur)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// list serves a list from memory. ok is false when the cache cannot serve it.
func (c *cacher) list(ctx context.Context, prefix string, opts ListOptions) (*ListResult, bool, error) {
	switch {
	case opts.Stale:
	case !c.consistent:
		return nil, false, nil
	case opts.MinRevision > 0:
		if err := c.waitFor(ctx, opts.MinRevision); err != nil {
			return nil, false, nil
		}
	default:
		cur, err := c.store.CurrentRevision(ctx)
		if err != nil {
			return nil, false, err
		}
		if err := c.waitFor(ctx, cur); err != nil {
			// Fall back to etcd rather than fail the request.
			c.log.Debug("consistent list from etcd", "err", err)
			return nil, false, nil
		}
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.objects))
	for k := range c.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	rev := c.rev
	objs := make([]runtime.Object, len(keys))
	sort.Strings(keys)
	for i, k := range keys {
		objs[i] = c.objects[k]
	}
	c.mu.Unlock()

	res := &ListResult{Revision: rev}
	for i, obj := range objs {
		if opts.Filter != nil && !opts.Filter(obj) {
			continue
		}
		res.Items = append(res.Items, obj)
		res.Keys = append(res.Keys, keys[i])
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
			if i < len(objs)-1 {
				// The next pages come from etcd at this revision: one consistent snapshot.
				res.Continue = encodeContinue(rev, strings.TrimPrefix(keys[i]+"\x00", prefix))
				if opts.Filter == nil {
					remaining := int64(len(objs) - i - 1)
					res.Remaining = &remaining
				}
			}
			break
		}
	}
	return res, true, nil
}

// Cached returns the object at key as the watch cache holds it (possibly slightly behind
// etcd), and false when the cache is not running or does not hold the key. The object is
// shared: callers must not modify it.
func (s *Store) Cached(key string) (runtime.Object, bool) {
	if s.cache == nil {
		return nil, false
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	obj, ok := s.cache.objects[key]
	return obj, ok
}
