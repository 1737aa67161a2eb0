package nft

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxRetryInterval bounds the backoff between failed syncs.
const maxRetryInterval = 30 * time.Second

// SyncLoop batches a component's changes into syncs: after Poke, the sync function
// runs once for all the changes that came, at most once per MinInterval. A full sync
// runs first, then every FullInterval and after a failure, retried with a backoff that
// doubles from MinInterval up to 30s.
type SyncLoop struct {
	minInterval, fullInterval time.Duration
	log                       *slog.Logger

	kick   chan struct{}
	synced chan struct{} // closed after the first successful sync

	mu       sync.Mutex
	needFull bool
}

// NewSyncLoop returns a SyncLoop whose first sync is full; Run runs it.
func NewSyncLoop(minInterval, fullInterval time.Duration, log *slog.Logger) *SyncLoop {
	return &SyncLoop{
		minInterval:  minInterval,
		fullInterval: fullInterval,
		log:          log,
		kick:         make(chan struct{}, 1),
		synced:       make(chan struct{}),
		needFull:     true,
	}
}

// Poke asks for a sync.
func (l *SyncLoop) Poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Synced is closed after the first successful sync.
func (l *SyncLoop) Synced() <-chan struct{} { return l.synced }

func (l *SyncLoop) setNeedFull() {
	l.mu.Lock()
	l.needFull = true
	l.mu.Unlock()
}

func (l *SyncLoop) takeNeedFull() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	full := l.needFull
	l.needFull = false
	return full
}

// Run syncs on every Poke until ctx ends. sync is told whether the sync must be full
// and whether it is the first; when it fails, the next sync is full.
func (l *SyncLoop) Run(ctx context.Context, sync func(full, first bool) error) {
	fullTimer := time.NewTimer(l.fullInterval)
	defer fullTimer.Stop()
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	first := true
	var last time.Time
	backoff := l.minInterval
	l.Poke()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-fullTimer.C:
			l.setNeedFull()
		}
		if wait := time.Until(last.Add(l.minInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		full := l.takeNeedFull()
		err := sync(full, first)
		last = time.Now()
		if err != nil {
			l.log.Error("sync failed; retrying with a full sync", "err", err, "in", backoff)
			l.setNeedFull()
			retry = time.AfterFunc(backoff, l.Poke)
			backoff = min(backoff*2, maxRetryInterval)
			continue
		}
		backoff = l.minInterval
		if full {
			fullTimer.Reset(l.fullInterval)
		}
		if first {
			first = false
			close(l.synced)
		}
	}
}
