package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
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
//   - A consistent list or get asks etcd for its current revision (one round trip shared by
//     concurrent readers, see revisionBatcher) and waits until rev reaches it, asking etcd for
//     progress marks so that an idle resource catches up too.
//   - The etcd watch carries no previous values: an event's previous object is the one the
//     cache holds for its key. Updates and deletes start from the cache's copy (Store.
//     GuaranteedUpdate), checked by the transaction's ModRevision comparison.
//   - A watcher that falls more than its buffer behind is closed; its client resumes from the
//     last revision it saw, as Kubernetes clients do.
//   - If the etcd watch fails (etcd restarted, history compacted under us), the cache closes
//     every watcher and starts over from a fresh list.

const (
	// ringSize is the most recent events each resource keeps for watchers that resume.
	ringSize = 8192
	// ringMinSize events are always kept; older ones go once they are ringFresh old (as
	// upstream's watch cache keeps 75 s of history), so an idle resource holds few old
	// object versions.
	ringMinSize = 100
	ringFresh   = 75 * time.Second
	// memoWindow is how many of the latest events keep their encodings: watchers are
	// normally that close to the head; one further behind encodes what it sends itself.
	memoWindow = 512
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
	// ring holds the latest events, oldest first from ringPos; oldest is the revision from
	// which history is complete. times holds when each event arrived.
	ring    []Event
	times   []time.Time
	ringPos int
	count   int
	oldest  int64
	// changed is closed and replaced whenever rev moves.
	changed  chan struct{}
	watchers map[*cacheWatcher]struct{}
	// fields shares the managedFields field sets of the objects held (see fieldSets).
	fields fieldSets
}

type cacheWatcher struct {
	prefix string
	// after is the revision the watch started from: earlier events are not for it.
	after  int64
	ch     chan Event
	closed bool
}

// memo caches an event's encodings, so that N watchers of one event encode it once. Once
// the event is old (expired), encodings are computed but no longer kept.
type memo struct {
	mu      sync.Mutex
	data    map[string][]byte
	expired bool
}

func (m *memo) expire() {
	m.mu.Lock()
	m.expired, m.data = true, nil
	m.mu.Unlock()
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
	if e.memo.expired {
		return b, nil
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
	c.fields = fieldSets{}
	for _, obj := range objects {
		c.fields.intern(obj)
	}
	c.objects = objects
	c.ring, c.times = nil, nil
	c.ringPos, c.count = 0, 0
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
		for ev := range c.store.watchEtcd(wctx, c.store.prefix, from, false) {
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
	// The previous state is the cache's: etcd need not send it, nor this process decode it
	// again, and every event shares the object versions the cache already holds.
	prev, had := c.objects[ev.Key]
	switch ev.Type {
	case watch.Deleted:
		if !had {
			// Not known: nothing for watchers (cannot happen while the cache follows etcd).
			c.log.Warn("watch cache: deletion of an unknown key", "key", ev.Key)
			c.setRev(ev.Revision)
			return
		}
		ev.PrevObject = prev
		ev.Object = prev.DeepCopyObject()
		if err := setRV(ev.Object, ev.Revision); err != nil {
			c.log.Warn("watch cache: deleted object", "key", ev.Key, "err", err)
		}
		c.fields.intern(ev.Object)
		delete(c.objects, ev.Key)
	default:
		if had {
			ev.PrevObject = prev
		}
		c.fields.intern(ev.Object)
		c.objects[ev.Key] = ev.Object
	}
	ev.memo = &memo{}
	c.push(ev)
	if c.fields.full() {
		c.fields.rebuild(c.eachObject)
	}
	c.setRev(ev.Revision)
	for w := range c.watchers {
		if ev.Revision > w.after && strings.HasPrefix(ev.Key, w.prefix) {
			c.offer(w, ev)
		}
	}
}

// push appends ev to the ring, growing it up to ringSize; when full, the oldest event goes.
// Events older than ringFresh go too while the ring holds more than ringMinSize, and
// encodings are dropped from events further than memoWindow from the head.
func (c *cacher) push(ev Event) {
	now := time.Now()
	for c.count > ringMinSize && now.Sub(c.times[c.ringPos]) > ringFresh {
		c.dropOldest()
	}
	if c.count >= memoWindow {
		c.at(c.count - memoWindow).memo.expire()
	}
	if c.count == len(c.ring) {
		if len(c.ring) == ringSize {
			c.dropOldest()
		} else {
			size := min(max(2*len(c.ring), 64), ringSize)
			ring, times := make([]Event, size), make([]time.Time, size)
			for i := 0; i < c.count; i++ {
				j := (c.ringPos + i) % len(c.ring)
				ring[i], times[i] = c.ring[j], c.times[j]
			}
			c.ring, c.times, c.ringPos = ring, times, 0
		}
	}
	j := (c.ringPos + c.count) % len(c.ring)
	c.ring[j], c.times[j] = ev, now
	c.count++
}

// eachObject calls f on every object the cache holds: current ones and the ring's.
func (c *cacher) eachObject(f func(runtime.Object)) {
	for _, obj := range c.objects {
		f(obj)
	}
	for i := 0; i < c.count; i++ {
		ev := c.at(i)
		f(ev.Object)
		f(ev.PrevObject)
	}
}

// at returns the i-th event of the ring, oldest first.
func (c *cacher) at(i int) *Event { return &c.ring[(c.ringPos+i)%len(c.ring)] }

// dropOldest removes the oldest event: history is complete only from its revision on.
func (c *cacher) dropOldest() {
	c.oldest = c.ring[c.ringPos].Revision
	c.ring[c.ringPos] = Event{}
	c.ringPos = (c.ringPos + 1) % len(c.ring)
	c.count--
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
	for i := 0; i < c.count; i++ {
		ev := c.at(i)
		if ev.Revision > rev && strings.HasPrefix(ev.Key, prefix) {
			out = append(out, *ev)
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

// waitFor blocks until the cache has reached rev. On a busy resource the events that get it
// there are already on their way; when they do not come soon (the latest change was to
// another resource), it asks etcd for progress marks.
func (c *cacher) waitFor(ctx context.Context, rev int64) error {
	c.mu.Lock()
	cur, changed := c.rev, c.changed
	c.mu.Unlock()
	if cur >= rev {
		return nil
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	progress := time.NewTimer(2 * time.Millisecond)
	defer progress.Stop()
	for {
		select {
		case <-changed:
		case <-progress.C:
			c.store.RequestProgress(ctx)
			progress.Reset(50 * time.Millisecond)
		case <-deadline.C:
			return fmt.Errorf("storage: watch cache for %s did not reach revision %d (at %d)", c.store.prefix, rev, cur)
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		cur, changed = c.rev, c.changed
		c.mu.Unlock()
		if cur >= rev {
			return nil
		}
	}
}

// lookup returns the cached object at key and its revision. The object is shared.
func (c *cacher) lookup(key string) (runtime.Object, int64, bool) {
	c.mu.Lock()
	obj, ok := c.objects[key]
	c.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, 0, false
	}
	rev, err := strconv.ParseInt(a.GetResourceVersion(), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	return obj, rev, true
}

// get serves a read of one key from memory. ok is false when the cache cannot serve it.
func (c *cacher) get(ctx context.Context, key string, opts GetOptions) (runtime.Object, bool, error) {
	switch {
	case opts.Stale:
	case !c.consistent:
		return nil, false, nil
	case opts.MinRevision > 0:
		c.mu.Lock()
		cur := c.rev
		c.mu.Unlock()
		if cur < opts.MinRevision {
			// etcd has it (or knows the revision is in the future).
			return nil, false, nil
		}
	default:
		cur, err := c.store.revs.current(ctx)
		if err != nil {
			return nil, false, err
		}
		if err := c.waitFor(ctx, cur); err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			c.log.Debug("consistent read from etcd", "err", err)
			return nil, false, nil
		}
	}
	c.mu.Lock()
	obj, ok := c.objects[key]
	c.mu.Unlock()
	if !ok {
		return nil, true, ErrNotFound
	}
	return obj, true, nil
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
		cur, err := c.store.revs.current(ctx)
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

// CachedLen is how many objects the watch cache holds, and false when it is not running.
func (s *Store) CachedLen() (int, bool) {
	c := s.cache
	if c == nil {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.objects), c.ready
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
