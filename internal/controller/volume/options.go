package volume

import (
	"time"

	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// DefaultResyncPeriod is how often the controllers look at every volume and claim again
// (as Kubernetes' PV controller does every 15 seconds), to retry what waits on nothing
// they watch.
const DefaultResyncPeriod = 15 * time.Second

type options struct {
	clock    clock.Clock
	recorder record.EventRecorder
	resync   time.Duration
}

// Option configures a Binder or a LocalPath provisioner.
type Option func(*options)

// WithClock makes the controller read time from clk (tests pass a fake clock).
func WithClock(clk clock.Clock) Option { return func(o *options) { o.clock = clk } }

// WithEventRecorder makes the controller record events with r instead of its own broadcaster.
func WithEventRecorder(r record.EventRecorder) Option { return func(o *options) { o.recorder = r } }

// WithResyncPeriod sets how often every object is looked at again; 0 turns that off.
func WithResyncPeriod(d time.Duration) Option { return func(o *options) { o.resync = d } }

func buildOptions(opts []Option) options {
	o := options{clock: clock.RealClock{}, resync: DefaultResyncPeriod}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
