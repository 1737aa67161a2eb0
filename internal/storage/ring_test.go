package storage

import (
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
)

func TestRingKeepsRecentEventsAndDropsOldEncodings(t *testing.T) {
	c := &cacher{log: slog.Default()}
	for rev := int64(1); rev <= ringSize+10; rev++ {
		ev := Event{Type: watch.Added, Key: "/k", Revision: rev, memo: &memo{}}
		if _, err := ev.Encoded("x", func() ([]byte, error) { return []byte("e"), nil }); err != nil {
			t.Fatal(err)
		}
		c.push(ev)
	}
	if c.count != ringSize || c.oldest != 10 {
		t.Fatalf("count %d oldest %d, want %d and 10", c.count, c.oldest, ringSize)
	}
	if got := c.eventsSince("/", 10); len(got) != ringSize || got[0].Revision != 11 || got[len(got)-1].Revision != ringSize+10 {
		t.Fatalf("eventsSince: %d events", len(got))
	}
	for i := 0; i < c.count; i++ {
		m := c.at(i).memo
		if kept := m.enc != nil; kept != (i >= c.count-memoWindow) {
			t.Fatalf("event %d of %d: encoding kept %v", i, c.count, kept)
		}
	}
	// An expired event still encodes, without keeping the result.
	calls := 0
	for range 2 {
		c.at(0).Encoded("y", func() ([]byte, error) { calls++; return []byte("e"), nil })
	}
	if calls != 2 {
		t.Fatalf("expired event: %d encodings, want 2", calls)
	}

	// Events older than ringFresh go, down to ringMinSize.
	for i := range c.times {
		c.times[i] = time.Now().Add(-2 * ringFresh)
	}
	c.push(Event{Type: watch.Added, Key: "/k", Revision: ringSize + 11, memo: &memo{}})
	if c.count != ringMinSize+1 || c.oldest != ringSize+10-ringMinSize {
		t.Fatalf("after trimming: count %d oldest %d", c.count, c.oldest)
	}
	if got := c.eventsSince("/", 0); got[0].Revision != c.oldest+1 || got[len(got)-1].Revision != ringSize+11 {
		t.Fatalf("after trimming: events %d..%d, oldest %d", got[0].Revision, got[len(got)-1].Revision, c.oldest)
	}
}
