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

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The watch cache. One per Store, started by StartCache:
//
//   - run() lists the resource once, then follows a single etcd watch; it alone writes the
//     cache. Each change updates objects (key → latest stored bytes), appends to a ring of
//     recent events, advances rev and is offered to every watcher, all under mu, so every
//     watcher sees every change in revision order.
//   - The cache keeps objects as etcd stores them (a pod is ~1–2 KiB of protobuf instead of
//     ~5 KiB decoded) and decodes on demand: a get or list decodes what it returns (a fresh
//     copy, the caller's to keep), and an event is decoded once, when a watcher first needs
//     it, for every watcher of it. Servers may also send the stored bytes as they are.
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
	// memoWindow is how many of the latest events keep their decoded objects and
	// encodings: watchers are normally that close to the head; one further behind decodes
	// and encodes what it sends itself.
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
	objects map[string]entry
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
}

// entry is an object as etcd stores it, and its ModRevision (its resourceVersion).
type entry struct {
	data []byte
	rev  int64
}

type cacheWatcher struct {
	prefix string
	// after is the revision the watch started from: earlier events are not for it.
	after  int64
	ch     chan Event
	closed bool
}

// memo is what the watchers of one event share: the stored objects (kept out of Event,
// which every watcher's channel holds by value), their decoded forms and the event's
// encodings, so that N watchers of an event decode and encode it once. Once the event is old
// (expired), decoded objects and encodings are computed but no longer kept. Encoding may
// decode (under encMu), never the reverse.
type memo struct {
	// data is the stored object after the change (for Deleted, the last state, which takes
	// the deletion's revision); prevData, at prevRev, the object before the change (nil
	// for Added).
	data, prevData []byte
	prevRev        int64
	store          *Store

	encMu   sync.Mutex
	enc     map[string][]byte
	decMu   sync.Mutex
	obj     runtime.Object
	prev    runtime.Object
	expired bool
}

func (m *memo) expire() {
	m.encMu.Lock()
	m.decMu.Lock()
	m.expired, m.enc, m.obj, m.prev = true, nil, nil, nil
	m.decMu.Unlock()
	m.encMu.Unlock()
}

// decoded returns *slot, decoding it with dec first if needed.
func (m *memo) decoded(slot *runtime.Object, dec func() (runtime.Object, error)) (runtime.Object, error) {
	m.decMu.Lock()
	defer m.decMu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	obj, err := dec()
	if err != nil {
		return nil, err
	}
	if !m.expired {
		*slot = obj
	}
	return obj, nil
}

// Encoded returns the encoding of the event stored under key, computing it once with enc
// (which may call Object and PrevObject).
func (e *Event) Encoded(key string, enc func() ([]byte, error)) ([]byte, error) {
	if e.memo == nil {
		return enc()
	}
	m := e.memo
	m.encMu.Lock()
	defer m.encMu.Unlock()
	if b, ok := m.enc[key]; ok {
		return b, nil
	}
	b, err := enc()
	if err != nil {
		return nil, err
	}
	if m.expired {
		return b, nil
	}
	if m.enc == nil {
		m.enc = map[string][]byte{}
	}
	m.enc[key] = b
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
	resp, err := c.store.client.Get(ctx, c.store.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("storage: filling watch cache for %s: %w", c.store.prefix, err)
	}
	objects := make(map[string]entry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		objects[string(kv.Key)] = entry{data: kv.Value, rev: kv.ModRevision}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		c.closeWatcher(w)
	}
	c.objects = objects
	c.ring, c.times = nil, nil
	c.ringPos, c.count = 0, 0
	c.oldest = resp.Header.Revision
	c.setRev(resp.Header.Revision)
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
	// The previous state is the cache's: etcd need not send it, and every event shares the
	// stored bytes the cache already holds.
	prev, had := c.objects[ev.Key]
	m := ev.memo
	if had {
		m.prevData, m.prevRev = prev.data, prev.rev
	}
	switch ev.Type {
	case watch.Deleted:
		if !had {
			// Not known: nothing for watchers (cannot happen while the cache follows etcd).
			c.log.Warn("watch cache: deletion of an unknown key", "key", ev.Key)
			c.setRev(ev.Revision)
			return
		}
		m.data = prev.data
		delete(c.objects, ev.Key)
	default:
		c.objects[ev.Key] = entry{data: m.data, rev: ev.Revision}
	}
	c.push(ev)
	c.setRev(ev.Revision)
	for w := range c.watchers {
		if ev.Revision > w.after && strings.HasPrefix(ev.Key, w.prefix) {
			c.offer(w, ev)
		}
	}
}

// push appends ev to the ring, growing it up to ringSize; when full, the oldest event goes.
// Events older than ringFresh go too while the ring holds more than ringMinSize, and
// decoded objects and encodings are dropped from events further than memoWindow from the head.
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
	// As kube-apiserver's watch cache, give up after 3 s (the caller then reads etcd).
	deadline := time.NewTimer(3 * time.Second)
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

// lookup returns the cached entry at key.
func (c *cacher) lookup(key string) (entry, bool) {
	c.mu.Lock()
	e, ok := c.objects[key]
	c.mu.Unlock()
	return e, ok
}

// catchUp waits until the cache may answer a read: any state (stale), one at least minRev
// recent (waiting for it when wait is set), or the latest. ok is false when the cache
// cannot answer (etcd must).
func (c *cacher) catchUp(ctx context.Context, stale bool, minRev int64, wait bool) (ok bool, err error) {
	switch {
	case stale:
	case !c.consistent:
		return false, nil
	case minRev > 0:
		c.mu.Lock()
		cur := c.rev
		c.mu.Unlock()
		if cur < minRev {
			// etcd has it, or knows the revision is in the future.
			if !wait {
				return false, nil
			}
			if err := c.waitFor(ctx, minRev); err != nil {
				return false, nil
			}
		}
	default:
		cur, err := c.store.revs.current(ctx)
		if err != nil {
			return false, err
		}
		if err := c.waitFor(ctx, cur); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			// Fall back to etcd rather than fail the request.
			c.log.Debug("consistent read from etcd", "err", err)
			return false, nil
		}
	}
	return true, nil
}

// get serves a read of one key from memory. ok is false when the cache cannot serve it.
func (c *cacher) get(ctx context.Context, key string, opts GetOptions) (entry, bool, error) {
	if ok, err := c.catchUp(ctx, opts.Stale, opts.MinRevision, false); !ok || err != nil {
		return entry{}, false, err
	}
	c.mu.Lock()
	e, found := c.objects[key]
	c.mu.Unlock()
	if !found {
		return entry{}, true, ErrNotFound
	}
	return e, true, nil
}

// snapshot is the cache's content under a prefix at one revision, in key order.
type snapshot struct {
	keys    []string
	entries []entry
	rev     int64
}

// list takes a snapshot of prefix for a list. ok is false when the cache cannot serve it.
func (c *cacher) list(ctx context.Context, prefix string, opts ListOptions) (*snapshot, bool, error) {
	if ok, err := c.catchUp(ctx, opts.Stale, opts.MinRevision, true); !ok || err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.objects))
	for k := range c.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	rev := c.rev
	sort.Strings(keys)
	entries := make([]entry, len(keys))
	for i, k := range keys {
		entries[i] = c.objects[k]
	}
	c.mu.Unlock()
	return &snapshot{keys: keys, entries: entries, rev: rev}, true, nil
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
// etcd), and false when the cache is not running or does not hold the key (or cannot
// decode it). The object is a fresh copy.
func (s *Store) Cached(key string) (runtime.Object, bool) {
	if s.cache == nil {
		return nil, false
	}
	e, ok := s.cache.lookup(key)
	if !ok {
		return nil, false
	}
	obj, err := s.decode(e.data, e.rev)
	if err != nil {
		s.cache.log.Warn("watch cache: undecodable object", "key", key, "err", err)
		return nil, false
	}
	return obj, true
}
