package reconcile

import (
	"sync"
	"time"
)

// DefaultGuardWindow is the loop guard's window: at most
// config.MaxAttempts remediations of one resource per hour.
const DefaultGuardWindow = time.Hour

// Guard is a loop guard: it counts remediation attempts (writes) per
// resource in a sliding window and refuses more than Max, so that
// trailguard and something else fighting over a resource (another tool
// reverting every fix; trailguard's own writes trigger it again) stop after
// a few rounds and a human is alerted, once per window.
//
// The counts live in memory: in Lambda they are per warm container, so
// with several concurrent containers the bound is per container, and a
// cold start resets it. That is enough to stop a tight loop, which runs
// through one warm container; a durable counter (e.g. DynamoDB) would make
// it exact.
type Guard struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	attempts map[string][]time.Time
	alerted  map[string]time.Time
}

// NewGuard returns a guard allowing max attempts per resource per window;
// now is the clock (nil means time.Now). max < 1 means 1.
func NewGuard(max int, window time.Duration, now func() time.Time) *Guard {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Guard{max: max, window: window, now: now,
		attempts: map[string][]time.Time{}, alerted: map[string]time.Time{}}
}

// Allow records an attempt on resource and returns true when it is within
// the limit. When it is not, it returns false, and alert is true the first
// time in the window (the caller raises one alert).
func (g *Guard) Allow(resource string) (ok, alert bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	cut := now.Add(-g.window)
	kept := g.attempts[resource][:0]
	for _, t := range g.attempts[resource] {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	if len(kept) >= g.max {
		g.attempts[resource] = kept
		if t, ok := g.alerted[resource]; ok && t.After(cut) {
			return false, false
		}
		g.alerted[resource] = now
		return false, true
	}
	g.attempts[resource] = append(kept, now)
	return true, false
}
