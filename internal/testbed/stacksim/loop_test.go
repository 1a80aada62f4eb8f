package stacksim_test

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/stacksim"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

const topicName = "trailguard-notices"

// waitOrFail waits for the stack to go idle, failing the test when it does
// not within d: a loop that never ends.
func (h *harness) waitOrFail(d time.Duration) {
	h.t.Helper()
	done := make(chan struct{})
	go func() { h.stack.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		h.t.Fatalf("the stack did not settle within %v: trailguard is looping (stats %+v)", d, h.stack.Stats())
	}
}

// publishes returns the messages of the SNS notices trailguard published
// (that reached SNS).
func publishes(calls []awsproxy.Call) []string {
	var out []string
	for _, c := range calls {
		if c.Operation != "Publish" || !c.Forwarded || c.Status >= 300 {
			continue
		}
		if v, err := url.ParseQuery(string(c.Body)); err == nil {
			out = append(out, v.Get("Message"))
		}
	}
	return out
}

// loopGuardAlerts counts the loop-guard alerts in every handler result.
func (h *harness) loopGuardAlerts() int {
	n := 0
	for _, fn := range []string{trailFn, keyFn, sweepFn} {
		for _, rep := range h.reports(fn) {
			for _, res := range rep.Results {
				for _, a := range res.Alerts {
					if strings.Contains(a, "loop guard") {
						n++
					}
				}
			}
		}
	}
	return n
}

// TestOwnCallsChangeNothing (issue 7, item 4): every write trailguard makes
// comes back as an event (PutKeyPolicy to key-remediator, UpdateTrail to
// trail-remediator); those runs, and the next sweep, change nothing.
func TestOwnCallsChangeNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	base := h.baseline()
	h.bucket("self-logs")
	_, plain := h.trail("plain", "self-logs", "")
	gapKey := h.key(basePolicy())
	_, gap := h.trail("gap", "self-logs", gapKey)
	h.run(plain, gap, h.putPolicy(gapKey, basePolicy()))

	want := map[string]int{"PutKeyPolicy": 2, "UpdateTrail": 1}
	if got := h.ownWrites(); len(got) != len(want) || got["PutKeyPolicy"] != 2 || got["UpdateTrail"] != 1 {
		t.Fatalf("writes %v, want exactly the fixes %v", got, want)
	}
	st := h.stack.Stats()
	// 3 external events; the 3 writes came back as 3 more.
	if got := st[trailFn].Invocations + st[keyFn].Invocations; got != 6 {
		t.Errorf("%d invocations, want 6 (3 events and the 3 of trailguard's own writes): %+v", got, st)
	}
	h.sweep()
	if got := h.ownWrites(); got["PutKeyPolicy"] != 2 || got["UpdateTrail"] != 1 || len(got) != 2 {
		t.Errorf("the self-triggered runs or the sweep wrote again: %v", got)
	}
	for _, fs := range h.findings() {
		if len(fs) > 0 {
			t.Errorf("not compliant: %+v", fs)
		}
	}
	h.foreignIntact([]string{base, gapKey})
	h.checkInvariants()
}

// fightCase is something that reverts every fix trailguard makes.
type fightCase struct {
	name string
	// setup builds the world, installs the fighter on h.afterHook and
	// returns the first event and the resource fought over.
	setup func(h *harness) (start stacksim.APICall, resource string)
	// op is trailguard's write the fighter reverts.
	op string
}

// TestFightingAutomationIsBounded (issue 7, item 4): another automation
// reverts each of trailguard's fixes right after it is made, and each
// revert is an event that triggers trailguard again. trailguard makes the
// fix at most TRAILGUARD_MAX_ATTEMPTS times per resource per hour, then
// stops and raises exactly one alert (one SNS notice), and the loop ends.
func TestFightingAutomationIsBounded(t *testing.T) {
	cases := []fightCase{
		{name: "trail-reverted", op: "UpdateTrail", setup: func(h *harness) (stacksim.APICall, string) {
			h.baseline()
			h.bucket("fight-logs")
			arn, ev := h.trail("contested", "fight-logs", "")
			var mu sync.Mutex
			h.afterHook = func(c awsproxy.Call) {
				if c.Operation != "UpdateTrail" || !c.Forwarded || c.Status >= 300 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				// Turn encryption off again, as a person or a tool would.
				_, err := cloudtrail.NewFromConfig(h.direct).UpdateTrail(h.ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("contested"), KmsKeyId: aws.String("")})
				if err != nil {
					h.violate("fighter: %v", err)
					return
				}
				h.deliver(stacksim.APICall{Source: stacksim.SourceCloudTrail, EventName: "UpdateTrail", Account: account, Region: region, Caller: human,
					Request: map[string]any{"name": "contested", "kmsKeyId": ""}, Response: map[string]any{"name": "contested", "trailARN": arn}})
			}
			return ev, arn
		}},
		{name: "key-policy-reverted", op: "PutKeyPolicy", setup: func(h *harness) (stacksim.APICall, string) {
			h.baseline()
			h.bucket("fight-logs")
			k := h.key(basePolicy())
			h.trail("keyfight", "fight-logs", k)
			var mu sync.Mutex
			h.afterHook = func(c awsproxy.Call) {
				if c.Operation != "PutKeyPolicy" || !c.Forwarded || c.Status >= 300 || !strings.Contains(string(c.Body), keyID(k)) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				// Put the old policy back, trailguard's statements gone.
				h.deliver(h.putPolicy(k, basePolicy()))
			}
			return h.putPolicy(k, basePolicy()), k
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{cfg: func(c *config.Config) {
				c.TopicARN = "arn:aws:sns:us-east-1:123456789012:" + topicName
			}})
			h.topic(topicName)
			start, resource := tc.setup(h)
			var calls []awsproxy.Call
			var mu sync.Mutex
			prev := h.afterHook
			h.afterHook = func(c awsproxy.Call) {
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
				prev(c)
			}
			h.deliver(start)
			h.waitOrFail(60 * time.Second)

			fixes := 0
			for _, c := range h.writeCalls() {
				if c.Operation == tc.op && (strings.Contains(string(c.Body), resource) || strings.Contains(string(c.Body), keyID(resource))) {
					fixes++
				}
			}
			if fixes != h.cfg.MaxAttempts {
				t.Errorf("trailguard made the fix %d times, want the bound TRAILGUARD_MAX_ATTEMPTS=%d", fixes, h.cfg.MaxAttempts)
			}
			if n := h.loopGuardAlerts(); n != 1 {
				t.Errorf("%d loop-guard alerts in the results, want exactly 1", n)
			}
			mu.Lock()
			notices := 0
			for _, body := range publishes(calls) {
				if strings.Contains(body, "loop guard") {
					notices++
				}
			}
			mu.Unlock()
			if notices != 1 {
				t.Errorf("%d SNS notices about the loop guard, want exactly 1", notices)
			}
			// A later event in the same hour changes nothing and alerts no
			// more.
			before := len(h.writeCalls())
			h.deliver(start)
			h.waitOrFail(30 * time.Second)
			if after := len(h.writeCalls()); after != before {
				t.Errorf("after the guard tripped, another event made %d more writes", after-before)
			}
			if n := h.loopGuardAlerts(); n != 1 {
				t.Errorf("%d loop-guard alerts after one more event, want still 1", n)
			}
			h.checkInvariants()
			st := h.stack.Stats()
			t.Logf("FIGURES loop %s: %d fixes before stopping, %d invocations in all (%+v), 1 alert", tc.name, fixes, st[trailFn].Invocations+st[keyFn].Invocations, st)
		})
	}
}

// TestGuardBoundIsPerHour: the bound is per resource per hour. With a
// clock the test moves, a resource fixed MaxAttempts times is refused in
// the same hour and fixed again once the hour has passed.
func TestGuardBoundIsPerHour(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	g := reconcile.NewGuard(3, time.Hour, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	var got []bool
	alerts := 0
	for range 5 {
		ok, alert := g.Allow("arn:aws:cloudtrail:us-east-1:123456789012:trail/t")
		got = append(got, ok)
		if alert {
			alerts++
		}
	}
	if want := []bool{true, true, true, false, false}; !slices.Equal(got, want) || alerts != 1 {
		t.Fatalf("within the hour: allowed %v (want %v), %d alerts (want 1)", got, want, alerts)
	}
	if ok, _ := g.Allow("arn:aws:cloudtrail:us-east-1:123456789012:trail/other"); !ok {
		t.Error("another resource is refused: the bound must be per resource")
	}
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	if ok, _ := g.Allow("arn:aws:cloudtrail:us-east-1:123456789012:trail/t"); !ok {
		t.Error("still refused an hour later")
	}
}
