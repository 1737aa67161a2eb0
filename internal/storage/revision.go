package storage

import (
	"context"
	"sync"
	"time"
)

// revisionBatcher reads etcd's current revision for consistent reads, one round trip at a
// time shared by every reader that arrived before it started. A reader that arrives while a
// read is in flight waits for the next one, which starts after the reader arrived: every
// reader gets a revision at least as recent as the moment it asked, as a consistent read
// requires, and N concurrent readers cost at most two round trips instead of N.
type revisionBatcher struct {
	read func(context.Context) (int64, error)

	mu       sync.Mutex
	inflight bool
	next     *revisionCall
}

type revisionCall struct {
	done chan struct{}
	rev  int64
	err  error
}

// revisionTimeout bounds one shared read: it runs on behalf of many requests, so it does
// not end with any one of them.
const revisionTimeout = 10 * time.Second

// current returns etcd's current revision, read after the call began.
func (b *revisionBatcher) current(ctx context.Context) (int64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = &revisionCall{done: make(chan struct{})}
	}
	call := b.next
	if !b.inflight {
		b.inflight = true
		b.next = nil
		go b.run(call)
	}
	b.mu.Unlock()
	select {
	case <-call.done:
		return call.rev, call.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (b *revisionBatcher) run(call *revisionCall) {
	for call != nil {
		ctx, cancel := context.WithTimeout(context.Background(), revisionTimeout)
		call.rev, call.err = b.read(ctx)
		cancel()
		close(call.done)
		b.mu.Lock()
		call, b.next = b.next, nil
		if call == nil {
			b.inflight = false
		}
		b.mu.Unlock()
	}
}
