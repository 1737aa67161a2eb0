package storage_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/storage"
	"github.com/kijabi/kijabi/internal/testserver"
)

// The conformance suite: one set of behaviours every etcd backend must show. It runs
// against the embedded etcd and against an external etcd server.

type jsonCodec struct{ s *k8sjson.Serializer }

func (c jsonCodec) Encode(obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	return runtime.Encode(c.s, obj)
}
func (c jsonCodec) Decode(data []byte, into runtime.Object) error {
	_, _, err := c.s.Decode(data, nil, into)
	return err
}

func newStore(t *testing.T, b *storage.Backend) *storage.Store {
	t.Helper()
	st := newPlainStore(t, b)
	if cached(t) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		if err := st.StartCache(ctx, slog.Default(), b.ProgressSafe()); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// cached tells whether the test runs against the watch cache: subtests under "cached/".
func cached(t *testing.T) bool { return strings.Contains(t.Name(), "/cached/") }

func newPlainStore(t *testing.T, b *storage.Backend) *storage.Store {
	s := runtime.NewScheme()
	corev1.AddToScheme(s)
	codec := jsonCodec{k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, s, s, k8sjson.SerializerOptions{})}
	return storage.New(b.Client, fmt.Sprintf("/registry/test-%d/configmaps/", time.Now().UnixNano()), codec, func() runtime.Object { return &corev1.ConfigMap{} })
}

// sameResource is another Store over s's keys, without a cache: a second API server.
func sameResource(s *storage.Store, b *storage.Backend) *storage.Store {
	sc := runtime.NewScheme()
	corev1.AddToScheme(sc)
	codec := jsonCodec{k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, sc, sc, k8sjson.SerializerOptions{})}
	return storage.New(b.Client, s.Prefix(""), codec, func() runtime.Object { return &corev1.ConfigMap{} })
}

func cm(ns, name, value string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string]string{"v": value},
	}
}

func rv(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.(*corev1.ConfigMap).ResourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", obj.(*corev1.ConfigMap).ResourceVersion, err)
	}
	return n
}

func TestConformanceEmbedded(t *testing.T) {
	b, err := storage.OpenEmbedded(context.Background(), storage.EmbeddedConfig{Dir: t.TempDir(), UnsafeNoFsync: true}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	t.Run("etcd", func(t *testing.T) { runConformance(t, b) })
	t.Run("cached", func(t *testing.T) { runConformance(t, b) })
}

func TestConformanceExternal(t *testing.T) {
	url := testserver.StartEtcd(t)
	b, err := storage.OpenExternal(context.Background(), []string{url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	t.Run("etcd", func(t *testing.T) { runConformance(t, b) })
	t.Run("cached", func(t *testing.T) { runConformance(t, b) })
}

func runConformance(t *testing.T, b *storage.Backend) {
	ctx := context.Background()
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t, b)
		out, err := s.Create(ctx, s.Key("a", "one"), cm("a", "one", "1"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, s.Key("a", "one"))
		if err != nil {
			t.Fatal(err)
		}
		if rv(t, got) != rv(t, out) || got.(*corev1.ConfigMap).Data["v"] != "1" {
			t.Fatalf("got %+v, created %+v", got, out)
		}
		if _, err := s.Create(ctx, s.Key("a", "one"), cm("a", "one", "2")); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: got %v, want ErrExists", err)
		}
		if _, err := s.Get(ctx, s.Key("a", "missing")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get missing: got %v, want ErrNotFound", err)
		}
	})
	t.Run("UpdateBumpsVersionOnlyOnChange", func(t *testing.T) {
		s := newStore(t, b)
		created, _ := s.Create(ctx, s.Key("a", "x"), cm("a", "x", "1"))
		same, err := s.GuaranteedUpdate(ctx, s.Key("a", "x"), false, func(cur runtime.Object) (runtime.Object, error) {
			return cur.DeepCopyObject(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rv(t, same) != rv(t, created) {
			t.Fatalf("no-op update moved resourceVersion %d → %d", rv(t, created), rv(t, same))
		}
		changed, err := s.GuaranteedUpdate(ctx, s.Key("a", "x"), false, func(cur runtime.Object) (runtime.Object, error) {
			c := cur.DeepCopyObject().(*corev1.ConfigMap)
			c.Data["v"] = "2"
			return c, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rv(t, changed) <= rv(t, created) {
			t.Fatalf("update did not move resourceVersion: %d → %d", rv(t, created), rv(t, changed))
		}
		if _, err := s.GuaranteedUpdate(ctx, s.Key("a", "nope"), false, func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update of missing: %v", err)
		}
	})
	t.Run("ConcurrentUpdatesAllLand", func(t *testing.T) {
		s := newStore(t, b)
		s.Create(ctx, s.Key("a", "counter"), cm("a", "counter", "0"))
		const writers = 8
		var wg sync.WaitGroup
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.GuaranteedUpdate(ctx, s.Key("a", "counter"), false, func(cur runtime.Object) (runtime.Object, error) {
					c := cur.DeepCopyObject().(*corev1.ConfigMap)
					n, _ := strconv.Atoi(c.Data["v"])
					c.Data["v"] = strconv.Itoa(n + 1)
					return c, nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _ := s.Get(ctx, s.Key("a", "counter"))
		if v := got.(*corev1.ConfigMap).Data["v"]; v != strconv.Itoa(writers) {
			t.Fatalf("counter = %s, want %d: an update was lost", v, writers)
		}
	})
	t.Run("DeleteWithPrecondition", func(t *testing.T) {
		s := newStore(t, b)
		s.Create(ctx, s.Key("a", "d"), cm("a", "d", "1"))
		refuse := errors.New("refused")
		if _, err := s.Delete(ctx, s.Key("a", "d"), func(runtime.Object) error { return refuse }); !errors.Is(err, refuse) {
			t.Fatalf("delete with failing check: %v", err)
		}
		if _, err := s.Get(ctx, s.Key("a", "d")); err != nil {
			t.Fatalf("object gone after refused delete: %v", err)
		}
		deleted, err := s.Delete(ctx, s.Key("a", "d"), nil)
		if err != nil || deleted.(*corev1.ConfigMap).Data["v"] != "1" {
			t.Fatalf("delete: %v %+v", err, deleted)
		}
		if _, err := s.Delete(ctx, s.Key("a", "d"), nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
	t.Run("ReadSeesWritesOfOtherClients", func(t *testing.T) {
		s := newStore(t, b)
		other := sameResource(s, b) // another API server on the same etcd: no shared cache
		key := s.Key("r", "x")
		for i := 0; i < 20; i++ {
			var want runtime.Object
			var err error
			if i == 0 {
				want, err = other.Create(ctx, key, cm("r", "x", "0"))
			} else {
				want, err = other.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) {
					c := cur.DeepCopyObject().(*corev1.ConfigMap)
					c.Data["v"] = strconv.Itoa(i)
					return c, nil
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			// A consistent read right after the write, through the other store.
			got, err := s.Read(ctx, key, storage.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rv(t, got) != rv(t, want) || got.(*corev1.ConfigMap).Data["v"] != strconv.Itoa(i) {
				t.Fatalf("write %d: consistent read got rv %d v=%s, want rv %d", i, rv(t, got), got.(*corev1.ConfigMap).Data["v"], rv(t, want))
			}
			// A read not older than the write's revision.
			got, err = s.Read(ctx, key, storage.GetOptions{MinRevision: rv(t, want)})
			if err != nil || rv(t, got) < rv(t, want) {
				t.Fatalf("write %d: read at least %d: %v %v", i, rv(t, want), got, err)
			}
		}
		if _, err := other.Delete(ctx, key, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(ctx, key, storage.GetOptions{}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("consistent read after delete: %v, want ErrNotFound", err)
		}
		if _, err := s.Read(ctx, s.Key("r", "never"), storage.GetOptions{Stale: true}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("stale read of a missing key: %v", err)
		}
	})
	t.Run("ConcurrentConsistentReads", func(t *testing.T) {
		s := newStore(t, b)
		other := sameResource(s, b)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				key := s.Key("cr", fmt.Sprintf("o%d", w))
				want, err := other.Create(ctx, key, cm("cr", fmt.Sprintf("o%d", w), "1"))
				if err != nil {
					t.Error(err)
					return
				}
				for i := 2; i < 10; i++ {
					got, err := s.Read(ctx, key, storage.GetOptions{})
					if err != nil || rv(t, got) != rv(t, want) {
						t.Errorf("reader %d: got %v (%v), want rv %d", w, got, err, rv(t, want))
						return
					}
					if want, err = other.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) {
						c := cur.DeepCopyObject().(*corev1.ConfigMap)
						c.Data["v"] = strconv.Itoa(i)
						return c, nil
					}); err != nil {
						t.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
	})
	t.Run("UpdateAfterOtherClientsWrite", func(t *testing.T) {
		// Writes through another store may not have reached this store's cache: an update
		// whose precondition holds only for the latest state must still succeed, and one that
		// holds only for an older state must fail.
		s := newStore(t, b)
		other := sameResource(s, b)
		key := s.Key("u", "x")
		if _, err := s.Create(ctx, key, cm("u", "x", "0")); err != nil {
			t.Fatal(err)
		}
		conflict := errors.New("conflict")
		for i := 1; i <= 20; i++ {
			latest, err := other.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) {
				c := cur.DeepCopyObject().(*corev1.ConfigMap)
				c.Data["v"] = strconv.Itoa(i)
				return c, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) {
				if rv(t, cur) != rv(t, latest) {
					return nil, conflict
				}
				c := cur.DeepCopyObject().(*corev1.ConfigMap)
				c.Data["w"] = strconv.Itoa(i)
				return c, nil
			})
			if err != nil {
				t.Fatalf("update %d on the latest state: %v", i, err)
			}
			if got := out.(*corev1.ConfigMap).Data; got["v"] != strconv.Itoa(i) || got["w"] != strconv.Itoa(i) {
				t.Fatalf("update %d: got %v", i, got)
			}
			// No-op updates report the latest state, not a cached one.
			same, err := s.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) {
				return cur.DeepCopyObject(), nil
			})
			if err != nil || rv(t, same) != rv(t, out) {
				t.Fatalf("no-op update %d: %v, rv %v want %d", i, err, same, rv(t, out))
			}
		}
		if _, err := other.Delete(ctx, key, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GuaranteedUpdate(ctx, key, false, func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update after another client's delete: %v, want ErrNotFound", err)
		}
		if _, err := s.Delete(ctx, key, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("delete after another client's delete: %v, want ErrNotFound", err)
		}
	})
	t.Run("PagedListIsOneSnapshot", func(t *testing.T) {
		s := newStore(t, b)
		for i := 0; i < 7; i++ {
			s.Create(ctx, s.Key("p", fmt.Sprintf("o%d", i)), cm("p", fmt.Sprintf("o%d", i), "1"))
		}
		s.Create(ctx, s.Key("other", "x"), cm("other", "x", "1"))
		page, err := s.List(ctx, s.Prefix("p"), storage.ListOptions{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 3 || page.Continue == "" || page.Remaining == nil || *page.Remaining != 4 {
			t.Fatalf("first page: %d items, continue %q, remaining %v", len(page.Items), page.Continue, page.Remaining)
		}
		// Changes after the first page must not show in later pages.
		s.Create(ctx, s.Key("p", "o9"), cm("p", "o9", "1"))
		names := []string{}
		for _, it := range page.Items {
			names = append(names, it.(*corev1.ConfigMap).Name)
		}
		cont := page.Continue
		for cont != "" {
			next, err := s.List(ctx, s.Prefix("p"), storage.ListOptions{Limit: 3, Continue: cont})
			if err != nil {
				t.Fatal(err)
			}
			if next.Revision != page.Revision {
				t.Fatalf("page at revision %d, first at %d", next.Revision, page.Revision)
			}
			for _, it := range next.Items {
				names = append(names, it.(*corev1.ConfigMap).Name)
			}
			cont = next.Continue
		}
		if fmt.Sprint(names) != "[o0 o1 o2 o3 o4 o5 o6]" {
			t.Fatalf("paged names %v", names)
		}
		all, _ := s.List(ctx, s.Prefix(""), storage.ListOptions{})
		if len(all.Items) != 9 {
			t.Fatalf("all namespaces: %d items, want 9", len(all.Items))
		}
		filtered, _ := s.List(ctx, s.Prefix(""), storage.ListOptions{Limit: 2, Filter: func(o runtime.Object) bool {
			return o.(*corev1.ConfigMap).Name == "o5" || o.(*corev1.ConfigMap).Name == "x"
		}})
		if len(filtered.Items) != 2 {
			t.Fatalf("filtered page: %d items", len(filtered.Items))
		}
		if _, err := s.List(ctx, s.Prefix("p"), storage.ListOptions{Continue: "garbage"}); !errors.Is(err, storage.ErrBadContinue) {
			t.Fatalf("bad continue: %v", err)
		}
	})
	t.Run("WatchFromRevision", func(t *testing.T) {
		s := newStore(t, b)
		start, _ := s.CurrentRevision(ctx)
		created, _ := s.Create(ctx, s.Key("w", "a"), cm("w", "a", "1"))
		s.GuaranteedUpdate(ctx, s.Key("w", "a"), false, func(cur runtime.Object) (runtime.Object, error) {
			c := cur.DeepCopyObject().(*corev1.ConfigMap)
			c.Data["v"] = "2"
			return c, nil
		})
		s.Delete(ctx, s.Key("w", "a"), nil)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		events := s.Watch(wctx, s.Prefix("w"), start)
		want := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
		last := int64(0)
		for i, typ := range want {
			ev := <-events
			if ev.Type != typ {
				t.Fatalf("event %d: %s (%v), want %s", i, ev.Type, ev.Err, typ)
			}
			obj, err := ev.Object()
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if r := rv(t, obj); r <= last || (i == 0 && r != rv(t, created)) || r != ev.Revision {
				t.Fatalf("event %d resourceVersion %d after %d (event revision %d)", i, r, last, ev.Revision)
			} else {
				last = r
			}
			// Each event carries the state before it, and the stored bytes of its object.
			prev, err := ev.PrevObject()
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			wantV := map[watch.EventType]string{watch.Added: "1", watch.Modified: "2", watch.Deleted: "2"}[typ]
			if got := obj.(*corev1.ConfigMap).Data["v"]; got != wantV {
				t.Fatalf("event %d: object has v=%q, want %q", i, got, wantV)
			}
			switch {
			case typ == watch.Added && prev != nil:
				t.Fatalf("added event with a previous object %v", prev)
			case typ == watch.Modified && (prev == nil || prev.(*corev1.ConfigMap).Data["v"] != "1"):
				t.Fatalf("modified event: previous object %v", prev)
			case typ == watch.Deleted && (prev == nil || prev.(*corev1.ConfigMap).Data["v"] != "2"):
				t.Fatalf("deleted event: previous object %v", prev)
			}
			if d, err := s.Decode(storage.StoredObject{Data: ev.Stored(), Revision: ev.Revision}); err != nil || d.(*corev1.ConfigMap).Data["v"] != wantV {
				t.Fatalf("event %d: stored bytes decode to %v, %v", i, d, err)
			}
		}
	})
	t.Run("StoredReadsAndLists", func(t *testing.T) {
		s := newStore(t, b)
		var made []runtime.Object
		for _, n := range []string{"a", "b", "c"} {
			obj, err := s.Create(ctx, s.Key("st", n), cm("st", n, n))
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, obj)
		}
		so, err := s.ReadStored(ctx, s.Key("st", "b"), storage.GetOptions{})
		if err != nil || so.Revision != rv(t, made[1]) {
			t.Fatalf("ReadStored: %v at %d, want %d", err, so.Revision, rv(t, made[1]))
		}
		if got, err := s.Decode(so); err != nil || got.(*corev1.ConfigMap).Data["v"] != "b" || rv(t, got) != so.Revision {
			t.Fatalf("decoded stored object: %v, %v", got, err)
		}
		if _, err := s.ReadStored(ctx, s.Key("st", "nope"), storage.GetOptions{}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("ReadStored of a missing key: %v", err)
		}
		page, err := s.List(ctx, s.Prefix("st"), storage.ListOptions{Stored: true, Limit: 2, Filter: func(o runtime.Object) bool {
			return o.(*corev1.ConfigMap).Name != "a"
		}})
		if err != nil || len(page.Stored) != 2 || page.Items != nil || len(page.Keys) != 2 {
			t.Fatalf("stored list: %+v, %v", page, err)
		}
		for i, want := range []string{"b", "c"} {
			got, err := s.Decode(page.Stored[i])
			if err != nil || got.(*corev1.ConfigMap).Name != want || rv(t, got) != rv(t, made[i+1]) {
				t.Fatalf("stored list item %d: %v, %v", i, got, err)
			}
		}
	})
	t.Run("WatchCompactedRevision", func(t *testing.T) {
		// The cache, if any, starts after the compaction: the old revision is outside its
		// window as it is outside etcd's.
		s := newPlainStore(t, b)
		first, _ := s.Create(ctx, s.Key("c", "a"), cm("c", "a", "1"))
		for i := 0; i < 3; i++ {
			s.GuaranteedUpdate(ctx, s.Key("c", "a"), false, func(cur runtime.Object) (runtime.Object, error) {
				c := cur.DeepCopyObject().(*corev1.ConfigMap)
				c.Data["v"] = strconv.Itoa(i + 10)
				return c, nil
			})
		}
		now, _ := s.CurrentRevision(ctx)
		if _, err := b.Client.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		if cached(t) {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if err := s.StartCache(cctx, slog.Default(), b.ProgressSafe()); err != nil {
				t.Fatal(err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ev := <-s.Watch(wctx, s.Prefix("c"), rv(t, first))
		if ev.Type != watch.Error || !errors.Is(ev.Err, storage.ErrCompacted) {
			t.Fatalf("watch from compacted revision: %s %v", ev.Type, ev.Err)
		}
		if _, err := s.List(ctx, s.Prefix("c"), storage.ListOptions{Revision: rv(t, first)}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("list at compacted revision: %v", err)
		}
	})
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := storage.OpenEmbedded(ctx, storage.EmbeddedConfig{Dir: dir}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, b)
	if _, err := s.Create(ctx, s.Key("r", "keep"), cm("r", "keep", "42")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b2, err := storage.OpenEmbedded(ctx, storage.EmbeddedConfig{Dir: dir}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	s2 := storage.New(b2.Client, s.Prefix(""), nil, nil)
	if n, err := s2.Count(ctx, s2.Key("r", "keep")); err != nil || n != 1 {
		t.Fatalf("after restart: count %d, %v", n, err)
	}
}
