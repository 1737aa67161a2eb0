package controllerutil

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpectations(t *testing.T) {
	const key = "ns/owner"
	type step func(e *Expectations, clk *clocktesting.FakeClock)
	var (
		creations = func(n int) step {
			return func(e *Expectations, _ *clocktesting.FakeClock) { e.ExpectCreations(key, n) }
		}
		deletions = func(pods ...string) step {
			return func(e *Expectations, _ *clocktesting.FakeClock) { e.ExpectDeletions(key, pods) }
		}
		expect = func(adds int, pods ...string) step {
			return func(e *Expectations, _ *clocktesting.FakeClock) { e.Expect(key, adds, pods) }
		}
		created = func(e *Expectations, _ *clocktesting.FakeClock) { e.CreationObserved(key) }
		deleted = func(pod string) step {
			return func(e *Expectations, _ *clocktesting.FakeClock) { e.DeletionObserved(key, pod) }
		}
		forget = func(e *Expectations, _ *clocktesting.FakeClock) { e.Forget(key) }
		wait   = func(d time.Duration) step { return func(_ *Expectations, clk *clocktesting.FakeClock) { clk.Step(d) } }
	)
	tests := []struct {
		name  string
		steps []step
		want  bool
	}{
		{name: "unknown key", want: true},
		{name: "creation outstanding", steps: []step{creations(2), created}, want: false},
		{name: "all creations observed", steps: []step{creations(2), created, created}, want: true},
		{name: "extra creations observed", steps: []step{creations(1), created, created}, want: true},
		{name: "zero creations", steps: []step{creations(0)}, want: true},
		{name: "deletion outstanding", steps: []step{deletions("ns/a", "ns/b"), deleted("ns/a")}, want: false},
		{name: "deletion seen twice counts once", steps: []step{deletions("ns/a", "ns/b"), deleted("ns/a"), deleted("ns/a")}, want: false},
		{name: "unexpected deletion ignored", steps: []step{deletions("ns/a"), deleted("ns/x")}, want: false},
		{name: "all deletions observed", steps: []step{deletions("ns/a", "ns/b"), deleted("ns/b"), deleted("ns/a")}, want: true},
		{name: "expect both, creations left", steps: []step{expect(1, "ns/a"), deleted("ns/a")}, want: false},
		{name: "expect both, deletions left", steps: []step{expect(1, "ns/a"), created}, want: false},
		{name: "expect both, all observed", steps: []step{expect(1, "ns/a"), created, deleted("ns/a")}, want: true},
		{name: "new expectations replace old", steps: []step{creations(3), deletions("ns/a"), deleted("ns/a")}, want: true},
		{name: "not expired at TTL", steps: []step{creations(1), wait(ExpectationsTTL)}, want: false},
		{name: "expired after TTL", steps: []step{creations(1), wait(ExpectationsTTL + time.Second)}, want: true},
		{name: "renewed after expiry", steps: []step{creations(1), wait(ExpectationsTTL + time.Second), creations(1)}, want: false},
		{name: "forgotten", steps: []step{creations(1), forget}, want: true},
		{name: "observation after forget", steps: []step{creations(1), forget, created, deleted("ns/a")}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			e := NewExpectations(clk)
			for _, s := range tc.steps {
				s(e, clk)
			}
			if got := e.Satisfied(key); got != tc.want {
				t.Errorf("Satisfied = %v, want %v", got, tc.want)
			}
			if !e.Satisfied("ns/other") {
				t.Error("another key is not satisfied")
			}
		})
	}
}
