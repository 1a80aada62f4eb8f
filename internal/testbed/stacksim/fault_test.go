package stacksim_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/stacksim"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
)

// allFaults are the faults the issue names, plus a call that takes effect
// but whose answer is lost (the write happened; the caller cannot know).
var allFaults = []awsproxy.Fault{awsproxy.Throttle, awsproxy.Internal, awsproxy.Timeout, awsproxy.Drop, awsproxy.Lost}

// faultRate is the share of calls that fail (issue 7: 30%).
const faultRate = 0.3

// faultRounds is how many worlds TestConvergenceUnderFaults builds, each
// with another fault seed: the first with the deployed adaptive retry mode
// (about a minute: its client-side rate limiting slows every client that
// was throttled), the others with standard retry mode and the same number
// of attempts per call (seconds each). TRAILGUARD_FAULT_ROUNDS sets the
// number for a longer run.
func faultRounds(t *testing.T) int {
	n := 3
	if v := os.Getenv("TRAILGUARD_FAULT_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TRAILGUARD_FAULT_ROUNDS=%q: want a positive integer", v)
		}
	}
	return n
}

// drift is the world TestConvergenceUnderFaults builds: every kind of
// drift trailguard fixes, and one compliant trail it must not touch.
type drift struct {
	events    []stacksim.APICall
	drifted   []string // trail ARNs that must end compliant
	keys      []string // every key with the foreign statement
	compliant string   // the compliant trail's ARN
	compKey   string   // its key
	compPol   string   // its key policy before
}

func buildDrift(h *harness) drift {
	var d drift
	base := h.baseline()
	d.keys = append(d.keys, base)
	h.bucket("fault-logs")
	add := func(arn string, ev stacksim.APICall) {
		d.drifted = append(d.drifted, arn)
		d.events = append(d.events, ev)
	}
	// Unencrypted: switch to the baseline key.
	for i := range 4 {
		add(h.trail(fmt.Sprintf("plain-%d", i), "fault-logs", ""))
	}
	// The key policy lacks CloudTrail's statements (a human rewrote it).
	for i := range 3 {
		k := h.key(basePolicy())
		d.keys = append(d.keys, k)
		arn, ev := h.trail(fmt.Sprintf("gap-%d", i), "fault-logs", k)
		add(arn, ev)
		d.events = append(d.events, h.putPolicy(k, basePolicy()))
	}
	// Two trails share a key that lacks the statements.
	shared := h.key(basePolicy())
	d.keys = append(d.keys, shared)
	for i := range 2 {
		add(h.trail(fmt.Sprintf("shared-%d", i), "fault-logs", shared))
	}
	// Disabled keys.
	for i := range 2 {
		k := h.key(basePolicy())
		d.keys = append(d.keys, k)
		arn, ev := h.trail(fmt.Sprintf("disabled-%d", i), "fault-logs", k)
		add(arn, ev)
		d.events = append(d.events, h.disable(k))
	}
	// A key scheduled for deletion.
	k := h.key(basePolicy())
	d.keys = append(d.keys, k)
	arn, ev := h.trail("deleting", "fault-logs", k)
	add(arn, ev)
	d.events = append(d.events, h.scheduleDeletion(k))

	// The compliant trail: its key already grants everything.
	d.compKey = h.key(basePolicy())
	d.keys = append(d.keys, d.compKey)
	d.compliant, ev = h.trail("compliant", "fault-logs", d.compKey)
	d.events = append(d.events, ev)
	st, ok := h.stateOf(d.compliant)
	if !ok {
		h.t.Fatal("compliant trail not found")
	}
	key, err := h.keyOf(d.compKey, nil)
	h.must(err)
	d.compPol, _, err = compliance.Merge(basePolicy(), compliance.GrantFor(key, st, h.cfg.Compliance()))
	h.must(err)
	h.putPolicy(d.compKey, d.compPol) // made before trailguard runs: no event
	return d
}

// TestConvergenceUnderFaults (issue 7, item 2): with 30% of trailguard's
// AWS calls failing (throttling, 500s, timeouts, dropped connections and
// lost answers), every drifted trail ends compliant after the deployed
// stack's retries (4 SDK attempts per call, 2 Lambda retries per event),
// the re-delivered events of its own writes and the next scheduled sweep;
// no statement trailguard does not own is lost; and at no moment does it
// point a trail at a key CloudTrail cannot use (checked on every
// UpdateTrail and PutKeyPolicy as it passes the proxy). The compliant
// trail is never written to.
//
// The rounds run in parallel (each has its own moto server): the first
// spends most of its time waiting on the adaptive rate limiter.
func TestConvergenceUnderFaults(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		total struct{ faults, calls, converged, lost, deadLetters, invocations int }
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("FIGURES convergence: %d calls, %d faults injected (rate %.0f%%), %d invocations, %d dead letters, %d trails converged, %d foreign statements lost",
			total.calls, total.faults, faultRate*100, total.invocations, total.deadLetters, total.converged, total.lost)
	})
	for round := range faultRounds(t) {
		seed := uint64(1000 + round)
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{
				faults: []awsproxy.Rule{{Rate: faultRate, Faults: allFaults}},
				seed:   seed, jitter: 20 * time.Millisecond, standardRetry: round > 0,
				cfg: func(c *config.Config) { c.TopicARN = "arn:aws:sns:us-east-1:123456789012:trailguard-notices" },
			})
			h.topic("trailguard-notices")
			d := buildDrift(h)

			h.run(d.events...)
			afterEvents := h.findings()
			h.sweep()

			found := h.findings()
			converged := 0
			for _, arn := range append(d.drifted, d.compliant) {
				fs, ok := found[arn]
				if !ok {
					t.Errorf("%s: not seen by the final check", arn)
					continue
				}
				if len(fs) > 0 {
					t.Errorf("%s did not converge: %+v", arn, fs)
					continue
				}
				if arn != d.compliant {
					converged++
				}
			}
			if got := h.policy(d.compKey); got != d.compPol {
				t.Errorf("the compliant trail's key policy changed")
			}
			if got := h.trailKey(d.compliant); got != d.compKey {
				t.Errorf("the compliant trail moved to %s", got)
			}
			compID := d.compKey[strings.LastIndex(d.compKey, "/")+1:]
			for _, w := range h.writeCalls() {
				if strings.Contains(string(w.Body), compID) || strings.Contains(string(w.Body), d.compliant) || strings.Contains(string(w.Body), `"compliant"`) {
					t.Errorf("trailguard wrote to the compliant trail or its key: %s %s", w.Operation, w.Body)
				}
			}
			lost := h.foreignIntact(d.keys)
			h.checkInvariants()

			stillDrifted := 0
			for _, arn := range d.drifted {
				if len(afterEvents[arn]) > 0 {
					stillDrifted++
				}
			}
			faults := faultTotal(h.proxy)
			if faults < h.proxy.Total()/5 {
				t.Errorf("only %d faults in %d calls: the fault rate is not applied", faults, h.proxy.Total())
			}
			dl := len(h.stack.DeadLetters())
			inv := 0
			for _, s := range h.stack.Stats() {
				inv += s.Invocations
			}
			t.Logf("seed %d: %d calls, %d faults injected %v; %d invocations %v; %d dead letters; %d/%d drifted trails compliant after the events, %d after the sweep; own writes %v; foreign statements lost %d",
				seed, h.proxy.Total(), faults, h.proxy.Faults(), inv, h.stack.Stats(), dl, len(d.drifted)-stillDrifted, len(d.drifted), converged, h.ownWrites(), lost)
			mu.Lock()
			defer mu.Unlock()
			total.faults += faults
			total.calls += h.proxy.Total()
			total.converged += converged
			total.lost += lost
			total.deadLetters += dl
			total.invocations += inv
		})
	}
}
