package storage

import (
	"context"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Compact runs until ctx ends, compacting etcd every interval to the revision it saw one
// interval before, so that at least one interval of history stays available to watchers.
func Compact(ctx context.Context, client *clientv3.Client, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(ctx, "compact_rev_key", clientv3.WithCountOnly())
		if err != nil {
			log.Warn("reading etcd revision for compaction", "err", err)
			continue
		}
		if last > 0 {
			if _, err := client.Compact(ctx, last); err != nil {
				log.Warn("compacting etcd", "revision", last, "err", err)
			} else {
				log.Debug("compacted etcd", "revision", last)
			}
		}
		last = resp.Header.Revision
	}
}

// CompactNow compacts all history before the current revision.
func CompactNow(ctx context.Context, client *clientv3.Client) error {
	resp, err := client.Get(ctx, "compact_rev_key", clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	_, err = client.Compact(ctx, resp.Header.Revision)
	return err
}
