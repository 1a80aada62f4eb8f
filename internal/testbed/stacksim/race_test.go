package stacksim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/stacksim"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/policy"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// humanEdit adds a statement with sid to keyARN's policy directly in moto
// (read, append, write: what a person does in the console) and returns the
// event of the person's PutKeyPolicy.
func (h *harness) humanEdit(keyARN, sid string) stacksim.APICall {
	h.t.Helper()
	d, err := policy.Parse([]byte(h.policy(keyARN)))
	h.must(err)
	d.Append(policy.Statement{Sid: sid, Effect: policy.EffectAllow, Principal: policy.AWSPrincipal("arn:aws:iam::123456789012:role/" + sid),
		Action: []string{"kms:DescribeKey"}, HasAction: true, Resource: []string{"*"}, HasResource: true})
	b, err := d.Marshal()
	h.must(err)
	return h.putPolicy(keyARN, string(b))
}

// sameKey reports whether a key reference in a call (id or ARN) is keyARN.
func sameKey(ref, keyARN string) bool { return ref != "" && (ref == keyARN || ref == keyID(keyARN)) }

// TestSharedKeyRace (issue 7, item 3; issue 13): 20 CreateTrail events
// for 20 unencrypted trails that all move to the one baseline key are
// delivered at once and start in random order. As deployed, the functions
// are unreserved: many trail-remediator invocations and key-remediator
// (on the PutKeyPolicy events trailguard's own writes produce) run at
// once, serialized only by the state table's lease on the key. Meanwhile
// a person edits the key policy five times, each edit landing right after
// a writer took the key's lease: before that writer's reads, and (as the
// lease is exclusive) outside any other writer's read-write window (see
// TestReadWriteWindowIsOneRoundTrip for an edit inside a window). The
// policy ends covering all 20 trails, every trail is compliant, the
// foreign statement and all five edits are intact, and no write was
// redundant.
//
// It runs twice: with the deployed configuration, and with the loop guard
// raised to its maximum (TRAILGUARD_MAX_ATTEMPTS=100), which separates a
// loop-guard problem from a concurrency problem.
func TestSharedKeyRace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		seed        uint64
		maxAttempts int
	}{
		{"deployed-config", 7, 0},
		{"max-attempts-100", 8, 100},
	} {
		seed := tc.seed
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{seed: seed, jitter: 40 * time.Millisecond, cfg: func(c *config.Config) {
				if tc.maxAttempts > 0 {
					c.MaxAttempts = tc.maxAttempts
				}
			}})
			base := h.baseline()
			h.bucket("race-logs")
			var events []stacksim.APICall
			var trails []string
			for i := range 20 {
				arn, ev := h.trail(fmt.Sprintf("race-%02d", i), "race-logs", "")
				trails = append(trails, arn)
				events = append(events, ev)
			}

			var mu sync.Mutex
			var edits []string
			leases := h.editWhenFree([]string{base}, 5, true, func(key, sid string) {
				mu.Lock()
				edits = append(edits, sid)
				mu.Unlock()
			})
			h.run(events...)

			for _, rep := range h.reports(trailFn) {
				for _, res := range rep.Results {
					for _, a := range res.Alerts {
						if strings.Contains(a, "loop guard") {
							t.Errorf("%s: the loop guard stopped a legitimate fix of a different trail on the shared key: %s", res.Trail, a)
						}
					}
				}
			}
			found := h.findings()
			for _, arn := range trails {
				if fs := found[arn]; len(fs) > 0 {
					t.Errorf("%s: %+v", arn, fs)
				}
				if got := h.trailKey(arn); got != base {
					t.Errorf("%s is on %q, want the baseline key; its runs: %s", arn, got, h.runsOf(arn))
				}
			}
			pol := h.policy(base)
			enc := statement(t, pol, compliance.SidCloudTrailEncrypt)
			if enc == nil {
				t.Fatalf("no %s statement: %s", compliance.SidCloudTrailEncrypt, pol)
			}
			covered := enc.Condition["StringEquals"]["aws:SourceArn"]
			for _, arn := range trails {
				if !slices.Contains(covered, arn) {
					t.Errorf("the policy does not cover %s (aws:SourceArn %v)", arn, covered)
				}
			}
			mu.Lock()
			if len(edits) == 0 {
				t.Errorf("no human edit happened (lease takes seen: %d)", leases())
			}
			for _, sid := range edits {
				if statement(t, pol, sid) == nil {
					t.Errorf("the human edit %s was lost", sid)
				}
			}
			mu.Unlock()
			lost := h.foreignIntact([]string{base})
			h.checkInvariants()
			st := h.stack.Stats()
			if n := h.redundant(); n != 0 {
				t.Errorf("%d writes changed nothing: two writers read and wrote the key at once", n)
			}
			if st[trailFn].Invocations < 20 || st[keyFn].Invocations == 0 {
				t.Errorf("not every event ran: %+v", st)
			}
			t.Logf("FIGURES race seed %d: 20 trails on one key, %d human edits kept, %d foreign statements lost, writes %v, invocations %+v",
				seed, len(edits), lost, h.ownWrites(), st)
		})
	}
}

// TestHumanEditBeforeTheReReadSurvives: a person's edit that lands after
// trailguard observed the key but before the executor's fresh
// GetKeyPolicy (the read right before its PutKeyPolicy) is kept: the
// executor merges into what it just read. Every GetKeyPolicy of the run
// gets an edit in front of it, so the last one before the write is the
// re-read; the call sequence proves which call that was.
func TestHumanEditBeforeTheReReadSurvives(t *testing.T) {
	h := newHarness(t, harnessOptions{noEvents: true})
	base := h.baseline()
	h.bucket("edit-logs")
	arn, ev := h.trail("edited", "edit-logs", "")
	var mu sync.Mutex
	var edits []string
	h.beforeHook = func(c awsproxy.Call) {
		if c.Operation != "GetKeyPolicy" || !strings.Contains(string(c.Body), keyID(base)) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		sid := fmt.Sprintf("HumanEdit%d", len(edits)+1)
		h.humanEdit(base, sid)
		edits = append(edits, sid)
	}
	h.run(ev)
	mu.Lock()
	defer mu.Unlock()
	pol := h.policy(base)
	for _, sid := range edits {
		if statement(t, pol, sid) == nil {
			t.Errorf("edit %s lost:\n%s", sid, pol)
		}
	}
	put := slices.IndexFunc(h.seq, func(s string) bool { return strings.HasPrefix(s, "PutKeyPolicy ") })
	if put < 1 || !strings.HasPrefix(h.seq[put-1], "GetKeyPolicy ") || !sameKey(strings.Fields(h.seq[put-1])[1], base) {
		t.Fatalf("the write is not right after a re-read of the same key: %v", h.seq)
	}
	if len(edits) < 2 {
		t.Fatalf("%d edits: the run read the policy only %d times", len(edits), len(edits))
	}
	if fs := h.findings()[arn]; len(fs) > 0 {
		t.Errorf("%+v", fs)
	}
	h.foreignIntact([]string{base})
	h.checkInvariants()
}

// TestReadWriteWindowIsOneRoundTrip documents the window that remains:
// KMS has no conditional PutKeyPolicy, so an edit that lands between the
// executor's re-read and its write is overwritten. The test pins how small
// that window is (the write is the very next call after the re-read of the
// same key) and that an edit inside it is indeed lost, so the claim in
// docs/THREAT-MODEL.md stays true; if trailguard ever closes the window,
// this test must change with the document.
func TestReadWriteWindowIsOneRoundTrip(t *testing.T) {
	h := newHarness(t, harnessOptions{noEvents: true})
	base := h.baseline()
	h.bucket("window-logs")
	_, ev := h.trail("windowed", "window-logs", "")
	done := false
	h.beforeHook = func(c awsproxy.Call) {
		if c.Operation == "PutKeyPolicy" && !done {
			done = true
			h.humanEdit(base, "HumanInTheWindow")
		}
	}
	h.run(ev)
	if !done {
		t.Fatal("no PutKeyPolicy happened")
	}
	for i, s := range h.seq {
		if strings.HasPrefix(s, "PutKeyPolicy ") {
			if i == 0 || !strings.HasPrefix(h.seq[i-1], "GetKeyPolicy ") || !sameKey(strings.Fields(h.seq[i-1])[1], base) {
				t.Errorf("PutKeyPolicy at %d is not right after a GetKeyPolicy of the same key: %v", i, h.seq)
			}
		}
	}
	if statement(t, h.policy(base), "HumanInTheWindow") != nil {
		t.Errorf("an edit inside the read-write window survived: the window is closed; update docs/THREAT-MODEL.md and this test")
	}
}

// leaseTaken reports whether c is a successful take of the state table's
// lease on keyARN (a PutItem of the lease item that was answered 200).
func leaseTaken(c awsproxy.Call, keyARN string) bool {
	if c.Operation != "PutItem" || !c.Forwarded || c.Status >= 300 {
		return false
	}
	var in struct {
		Item map[string]map[string]string
	}
	if json.Unmarshal(c.Body, &in) != nil {
		return false
	}
	return in.Item["pk"]["S"] == "lease" && in.Item["sk"]["S"] == keyARN
}

// writer is one of the four writers of TestAllWritersRace.
type writerKind int

const (
	trailEventW writerKind = iota // CreateTrail/UpdateTrail -> trail-remediator
	keyEventW                     // PutKeyPolicy -> key-remediator
	sweepW                        // the scheduled sweeper
	cliW                          // trailguard fix --apply
)

// TestAllWritersRace (issue 13): 20 concurrent runs from all writers (the
// two event functions, the sweeper and the CLI) on one key K whose policy
// lacks CloudTrail's statements (trail T uses it) and on the baseline key
// B that an unencrypted trail U moves to, with five human edits, each right
// after a writer took a key's lease. Every writer reads, merges and writes
// under the lease, so the end state takes the minimal writes: one
// PutKeyPolicy on K, one on B, one UpdateTrail of U, whatever the order;
// every human edit and foreign statement is intact; the change log holds
// exactly those three writes. Run again with the first lease holder
// crashing (its process gone, its lease never released): once before its
// write, once right after it. The others wait for the lease to expire and
// the end state is the same.
func TestAllWritersRace(t *testing.T) {
	for _, crash := range []string{"", "after-lease", "after-write"} {
		name := crash
		if name == "" {
			name = "no-crash"
		}
		t.Run(name, func(t *testing.T) {
			// The deployed lease (20 s). Shorter ones made the result depend
			// on this host's load: with 1.5 s a write path slowed on a busy
			// 2-core machine ran past its lease's write window, so the
			// writer (rightly) cut its write and left its record pending
			// (pkg/state WriteContext); with 6 s, one run under a full `make
			// test` with other builds on the host wrote B twice (not
			// reproduced alone; the likely cause is a PutKeyPolicy sent
			// inside its window still on the wire when the lease expired,
			// the residual race pkg/state/doc.go documents). The crashed
			// holders' leases expire after this long.
			h := newHarness(t, harnessOptions{seed: 21, jitter: 30 * time.Millisecond, lease: state.DefaultLeaseDuration})
			base := h.baseline()
			h.bucket("all-logs")
			k := h.key(basePolicy())
			tARN, tEv := h.trail("keyed", "all-logs", k)
			uARN, uEv := h.trail("plain", "all-logs", "")

			var mu sync.Mutex
			var edits []string
			// A person edits right before up to five lease takes on K or B,
			// while no writer holds or is taking that lease; the first take
			// is certain to get one.
			const maxEdits = 5
			leases := h.editWhenFree([]string{k, base}, maxEdits, false, func(key, sid string) {
				mu.Lock()
				edits = append(edits, key+" "+sid)
				mu.Unlock()
			})
			var crashed *awsproxy.Proxy
			if crash != "" {
				// The first holder: a trail-remediator container whose
				// process dies holding K's lease.
				var err error
				crashed, err = awsproxy.Start(h.srv.Endpoint, awsproxy.Options{})
				h.must(err)
				t.Cleanup(func() { _ = crashed.Close() })
				op := "PutKeyPolicy"
				if crash == "after-lease" {
					op = "PutItem" // its first PutItem is the lease on K
				}
				crashed.CrashAfter(op)
				via := h.direct.Copy()
				via.BaseEndpoint = aws.String(crashed.URL)
				rt := reconcile.NewRetryer(2, 10*time.Millisecond)
				r := reconcile.New(via, h.cfg, reconcile.WithRetryer(rt), reconcile.WithLogger(discard()),
					reconcile.WithStore(h.store(via, "crashed", rt)))
				ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
				_, err = r.ReconcileTrail(ctx, account, region, tARN)
				cancel()
				if !crashed.Down() {
					t.Fatalf("the crash did not happen: %v", err)
				}
			}

			// 20 runs from all writers, in a seeded random order, at once.
			rnd := rand.New(rand.NewPCG(5, 6))
			kinds := []writerKind{trailEventW, trailEventW, keyEventW, keyEventW, sweepW, sweepW, cliW, cliW}
			for len(kinds) < 20 {
				kinds = append(kinds, writerKind(rnd.IntN(4)))
			}
			rnd.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
			var wg sync.WaitGroup
			for i, kind := range kinds {
				switch kind {
				case trailEventW:
					if i%2 == 0 {
						h.deliver(tEv)
					} else {
						h.deliver(uEv)
					}
				case keyEventW:
					h.deliver(keyCall("PutKeyPolicy", k, map[string]any{"keyId": k, "policyName": "default"}))
				case sweepW:
					h.must(h.stack.Invoke(sweepFn, stacksim.ScheduledEvent(account, region)))
				case cliW:
					wg.Go(func() {
						// A person's fix --apply: a sweep, retried once as
						// a person would when told to try again.
						for range 2 {
							if _, err := h.recs[cliWriter].Sweep(h.ctx); err == nil || !reconcile.Transient(err) {
								return
							}
						}
					})
				}
			}
			wg.Wait()
			h.waitOrFail(2 * time.Minute)
			// Whatever the order, a last sweep finds nothing to do.
			h.sweep()

			writes := map[string]int{}
			for _, w := range h.writeCalls() {
				var target struct{ KeyId, Name string }
				_ = json.Unmarshal(w.Body, &target)
				writes[w.Operation+" "+keyOrTrail(target.KeyId+target.Name, k, base, tARN, uARN)]++
			}
			want := map[string]int{"PutKeyPolicy K": 1, "PutKeyPolicy B": 1, "UpdateTrail U": 1}
			if crash == "after-write" {
				// The crashed holder's write took effect; nobody repeats it.
				want = map[string]int{"PutKeyPolicy B": 1, "UpdateTrail U": 1}
				if n := crashed.Calls()["PutKeyPolicy"]; n != 1 {
					t.Errorf("the crashed holder made %d PutKeyPolicy calls, want 1", n)
				}
			}
			if fmt.Sprint(writes) != fmt.Sprint(want) {
				var log strings.Builder
				for _, c := range h.changes() {
					fmt.Fprintf(&log, "\n  %s %s %s %s %s by %s (%s) trails %v: %s %s", c.ID, c.Time.Format("15:04:05.000"), c.Status, c.Action,
						keyOrTrail(c.Resource, k, base, tARN, uARN), c.Writer, c.Source, c.Trails, c.Detail, statementIDs(c.Before)+" -> "+statementIDs(c.After))
				}
				t.Errorf("writes %v, want exactly %v; change log:%s", writes, want, log.String())
			}
			if n := h.redundant(); n != 0 {
				t.Errorf("%d writes changed nothing", n)
			}
			for arn, fs := range h.findings() {
				if len(fs) > 0 {
					t.Errorf("%s not compliant: %+v", arn, fs)
				}
			}
			mu.Lock()
			if len(edits) == 0 || len(edits) > maxEdits {
				t.Errorf("%d human edits happened (lease takes seen: %d), want 1 to %d", len(edits), leases(), maxEdits)
			}
			for _, e := range edits {
				target, sid, _ := strings.Cut(e, " ")
				if statement(t, h.policy(target), sid) == nil {
					t.Errorf("human edit %s on %s was lost", sid, target)
				}
			}
			mu.Unlock()
			lost := h.foreignIntact([]string{k, base})
			h.checkInvariants()

			// The change log: one applied record per write that reached
			// AWS through the functions and the CLI; the crashed holder's
			// record is left pending (its outcome unknown to it).
			var applied, pending []string
			for _, c := range h.changes() {
				switch c.Status {
				case state.Applied:
					applied = append(applied, c.Action+" "+keyOrTrail(c.Resource, k, base, tARN, uARN))
				case state.Pending:
					pending = append(pending, c.Writer+" "+c.Action+" "+keyOrTrail(c.Resource, k, base, tARN, uARN))
				}
			}
			slices.Sort(applied)
			wantApplied := []string{"PutKeyPolicy B", "PutKeyPolicy K", "UpdateTrail U"}
			var wantPending []string
			if crash == "after-write" {
				wantApplied = []string{"PutKeyPolicy B", "UpdateTrail U"}
				wantPending = []string{"crashed PutKeyPolicy K"}
			}
			if !slices.Equal(applied, wantApplied) || !slices.Equal(pending, wantPending) {
				t.Errorf("change log: applied %v, pending %v; want %v and %v", applied, pending, wantApplied, wantPending)
			}
			st := h.stack.Stats()
			t.Logf("FIGURES all-writers race (%s): writes %v, %d human edits kept, %d foreign statements lost, invocations %+v", name, writes, len(edits), lost, st)
		})
	}
}

// keyOrTrail names a resource of TestAllWritersRace.
func keyOrTrail(ref, k, base, t, u string) string {
	switch {
	case sameKey(ref, k):
		return "K"
	case sameKey(ref, base):
		return "B"
	case ref == t || ref == "keyed":
		return "T"
	case ref == u || ref == "plain":
		return "U"
	}
	return ref
}

// leaseKey returns the resource of a lease-taking PutItem call, or "".
func leaseKey(c awsproxy.Call) string {
	if c.Operation != "PutItem" {
		return ""
	}
	var in struct {
		Item map[string]map[string]string
	}
	if json.Unmarshal(c.Body, &in) != nil || in.Item["pk"]["S"] != "lease" {
		return ""
	}
	return in.Item["sk"]["S"]
}

// editWhenFree makes a person edit one of keys right before a writer's
// attempt to take its lease, at most max times, and only while no writer
// holds that lease and no other take of it is in flight: so the edit lands
// before the reads of whoever gets the lease next and outside every
// writer's read-write window. (An edit in the After hook of a take would
// run after the taker got its answer and could straddle its write.) It
// returns the number of lease takes seen.
func (h *harness) editWhenFree(keys []string, max int, deliver bool, edited func(key, sid string)) func() int {
	var (
		mu       sync.Mutex
		inflight = map[string]int{}
		takes    int
		edits    int
	)
	db := dynamodb.NewFromConfig(h.direct)
	held := func(key string) bool {
		out, err := db.GetItem(h.ctx, &dynamodb.GetItemInput{TableName: aws.String(stateTable), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "lease"}, "sk": &ddbtypes.AttributeValueMemberS{Value: key}}})
		if err != nil {
			h.violate("read lease %s: %v", key, err)
			return true
		}
		until, _ := out.Item["until_ms"].(*ddbtypes.AttributeValueMemberN)
		if out.Item == nil || until == nil {
			return false
		}
		ms, _ := strconv.ParseInt(until.Value, 10, 64)
		return ms >= time.Now().UnixMilli()
	}
	// writing counts the PutKeyPolicy calls in flight per key: a write
	// sent in its lease's write window can still be on the wire when the
	// lease has expired (pkg/state/doc.go); a person editing then would
	// overwrite it with a read from before it, a race no lease can fence.
	writing := map[string]int{}
	h.beforeHook = func(c awsproxy.Call) {
		if key := writeKey(c, keys); key != "" {
			mu.Lock()
			writing[key]++
			mu.Unlock()
			return
		}
		key := leaseKey(c)
		if !slices.Contains(keys, key) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		takes++
		if edits < max && inflight[key] == 0 && writing[key] == 0 && !held(key) {
			edits++
			sid := fmt.Sprintf("HumanEdit%02d", edits)
			ev := h.humanEdit(key, sid)
			if deliver {
				h.deliver(ev)
			}
			edited(key, sid)
		}
		inflight[key]++
	}
	h.afterHook = func(c awsproxy.Call) {
		if key := writeKey(c, keys); key != "" {
			mu.Lock()
			writing[key]--
			mu.Unlock()
			return
		}
		key := leaseKey(c)
		if !slices.Contains(keys, key) {
			return
		}
		mu.Lock()
		inflight[key]--
		mu.Unlock()
	}
	return func() int { mu.Lock(); defer mu.Unlock(); return takes }
}

// statementIDs lists the Sids of a policy document, for a failure message.
func statementIDs(doc string) string {
	var p struct {
		Statement []struct {
			Sid string
		}
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return "(not a policy)"
	}
	var ids []string
	for _, st := range p.Statement {
		ids = append(ids, st.Sid)
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// writeKey returns which of keys (ARNs) a PutKeyPolicy call writes ("" for
// any other call); trailguard names the key by id in writes.
func writeKey(c awsproxy.Call, keys []string) string {
	if c.Operation != "PutKeyPolicy" {
		return ""
	}
	var in struct{ KeyId string }
	if json.Unmarshal(c.Body, &in) != nil || in.KeyId == "" {
		return ""
	}
	for _, k := range keys {
		if k == in.KeyId || strings.HasSuffix(k, ":key/"+in.KeyId) {
			return k
		}
	}
	return ""
}
