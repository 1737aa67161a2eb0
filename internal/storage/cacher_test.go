package storage_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/storage"
)

func embedded(t *testing.T) *storage.Backend {
	t.Helper()
	b, err := storage.OpenEmbedded(context.Background(), storage.EmbeddedConfig{Dir: t.TempDir(), UnsafeNoFsync: true}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestCacheWatchersSeeEveryEventInOrder runs many watchers against concurrent writers: each
// watcher must see every change of its namespace exactly once, in revision order.
func TestCacheWatchersSeeEveryEventInOrder(t *testing.T) {
	b := embedded(t)
	s := newPlainStore(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.StartCache(ctx, slog.Default(), b.ProgressSafe()); err != nil {
		t.Fatal(err)
	}
	const watchers, writers, perWriter = 20, 4, 25
	start, _ := s.CurrentRevision(ctx)
	var wg sync.WaitGroup
	results := make([][]int64, watchers)
	for w := 0; w < watchers; w++ {
		ch := s.Watch(ctx, s.Prefix("ns"), start)
		wg.Add(1)
		go func(w int, ch <-chan storage.Event) {
			defer wg.Done()
			timeout := time.After(30 * time.Second)
			for len(results[w]) < writers*perWriter {
				select {
				case ev, ok := <-ch:
					if !ok || ev.Type == watch.Error {
						t.Errorf("watcher %d closed early: %v", w, ev.Err)
						return
					}
					if ev.Type != watch.Bookmark {
						results[w] = append(results[w], ev.Revision)
					}
				case <-timeout:
					t.Errorf("watcher %d saw %d events", w, len(results[w]))
					return
				}
			}
		}(w, ch)
	}
	var ww sync.WaitGroup
	for i := 0; i < writers; i++ {
		ww.Add(1)
		go func(i int) {
			defer ww.Done()
			for j := 0; j < perWriter; j++ {
				name := fmt.Sprintf("w%d-%d", i, j)
				if _, err := s.Create(ctx, s.Key("ns", name), cm("ns", name, "1")); err != nil {
					t.Error(err)
				}
				// Changes in another namespace must not reach these watchers.
				s.Create(ctx, s.Key("other", name), cm("other", name, "1"))
			}
		}(i)
	}
	ww.Wait()
	wg.Wait()
	for w, revs := range results {
		for i := 1; i < len(revs); i++ {
			if revs[i] <= revs[i-1] {
				t.Fatalf("watcher %d: revision %d after %d", w, revs[i], revs[i-1])
			}
		}
	}
}

// TestCacheConsistentList checks read-your-writes: a list right after a write includes it.
func TestCacheConsistentList(t *testing.T) {
	b := embedded(t)
	s := newPlainStore(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.StartCache(ctx, slog.Default(), true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("o%d", i)
		created, err := s.Create(ctx, s.Key("n", name), cm("n", name, "1"))
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, s.Prefix("n"), storage.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != i+1 || list.Revision < rv(t, created) {
			t.Fatalf("list after write %d: %d items at revision %d (write at %d)", i, len(list.Items), list.Revision, rv(t, created))
		}
	}
	// A page from the cache continues from etcd at the same revision.
	page, err := s.List(ctx, s.Prefix("n"), storage.ListOptions{Limit: 20})
	if err != nil || len(page.Items) != 20 || page.Continue == "" {
		t.Fatalf("first page: %v, %d items", err, len(page.Items))
	}
	total := len(page.Items)
	for cont := page.Continue; cont != ""; {
		next, err := s.List(ctx, s.Prefix("n"), storage.ListOptions{Limit: 20, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		total += len(next.Items)
		cont = next.Continue
	}
	if total != 50 {
		t.Fatalf("paged total %d, want 50", total)
	}
	// An idle cache still serves a consistent list once etcd moved on elsewhere.
	other := newPlainStore(t, b)
	other.Create(ctx, other.Key("x", "y"), cm("x", "y", "1"))
	if _, err := s.List(ctx, s.Prefix("n"), storage.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

var _ runtime.Object = (*corev1.ConfigMap)(nil)
