package stacksim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// container is a fresh warm container of trail-remediator: a new
// Reconciler over the proxy, as after a crash.
func (h *harness) container() handler.TrailHandler {
	via := h.direct.Copy()
	via.BaseEndpoint = aws.String(h.proxy.URL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := reconcile.NewRetryer(reconcile.DefaultRetryMaxAttempts, 20*time.Millisecond)
	opts := []reconcile.Option{reconcile.WithLogger(log), reconcile.WithRetryer(rt)}
	if st := h.store(via, trailFn, rt); st != nil {
		opts = append(opts, reconcile.WithStore(st))
	}
	r := reconcile.New(via, h.cfg, opts...)
	return handler.TrailHandler{Reconciler: r, Logger: log}
}

// TestCrashBetweenPutKeyPolicyAndUpdateTrail (issue 7, item 2): the
// process dies right after the baseline key's PutKeyPolicy returned and
// before UpdateTrail. The half-done state is safe (the trail is still
// where it was, never on a key it cannot use, and the grant is in place),
// and the next run repairs it: Lambda's retry of the same event in a new
// container, or, when every retry died too, the next sweep.
func TestCrashBetweenPutKeyPolicyAndUpdateTrail(t *testing.T) {
	for _, next := range []string{"retry", "sweep"} {
		t.Run("repaired by the "+next, func(t *testing.T) {
			h := newHarness(t, harnessOptions{noEvents: true})
			base := h.baseline()
			h.bucket("crash-logs")
			arn, created := h.trail("crashy", "crash-logs", "")
			ev, err := created.Event()
			h.must(err)

			h.proxy.CrashAfter("PutKeyPolicy")
			ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
			rep, err := h.container().Handle(ctx, json.RawMessage(ev))
			cancel()
			if !h.proxy.Down() {
				t.Fatalf("the crash did not happen (report %+v, err %v)", rep, err)
			}
			if err == nil {
				t.Fatalf("the crashed run returned no error, so Lambda would not retry it: %+v", rep)
			}
			if !reconcile.Transient(err) {
				t.Errorf("the crashed run's error is not transient (no retry): %v", err)
			}
			// The half-done state: grant written, trail untouched.
			if got := h.trailKey("crashy"); got != "" {
				t.Fatalf("after the crash the trail is on %q, want still unencrypted", got)
			}
			st, _ := h.stateOf(arn)
			k, err := h.keyOf(base, nil)
			h.must(err)
			if why := unusable(k, st); why != "" {
				t.Fatalf("the PutKeyPolicy before the crash did not grant the trail: %s", why)
			}
			if n := h.proxy.Calls()["UpdateTrail"]; n != 0 {
				t.Fatalf("%d UpdateTrail calls reached the proxy before the crash", n)
			}

			h.proxy.Restart()
			switch next {
			case "retry":
				// Lambda retries the same event; a new container takes it.
				rep, err = h.container().Handle(h.ctx, json.RawMessage(ev))
				if err != nil {
					t.Fatalf("retry: %v", err)
				}
				// The grant made before the crash is seen: only the
				// trail is left to update.
				if got := outcomes(rep); strings.Join(got, " ") != "UpdateTrail=updated" {
					t.Errorf("retry outcomes %v, want only the trail updated", got)
				}
			case "sweep":
				h.sweep()
			}
			if got := h.trailKey("crashy"); got != base {
				t.Fatalf("after the %s the trail is on %q, want %s", next, got, base)
			}
			if fs := h.findings()[arn]; len(fs) > 0 {
				t.Errorf("after the %s: %+v", next, fs)
			}
			h.foreignIntact([]string{base})
			h.checkInvariants()
		})
	}
}

// TestCrashAfterUpdateTrailIsHarmless: a crash right after UpdateTrail
// leaves a finished fix; the retry finds nothing to do.
func TestCrashAfterUpdateTrailIsHarmless(t *testing.T) {
	h := newHarness(t, harnessOptions{noEvents: true})
	base := h.baseline()
	h.bucket("crash-logs")
	_, created := h.trail("crashy", "crash-logs", "")
	ev, err := created.Event()
	h.must(err)
	h.proxy.CrashAfter("UpdateTrail")
	_, _ = h.container().Handle(h.ctx, json.RawMessage(ev))
	if !h.proxy.Down() || h.trailKey("crashy") != base {
		t.Fatalf("crash after UpdateTrail: down %v, trail on %q", h.proxy.Down(), h.trailKey("crashy"))
	}
	h.proxy.Restart()
	before := h.proxy.Calls()
	rep, err := h.container().Handle(h.ctx, json.RawMessage(ev))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); len(got) != 0 {
		t.Errorf("retry after a finished fix planned %v", got)
	}
	after := h.proxy.Calls()
	for _, op := range writeOps {
		if after[op] != before[op] {
			t.Errorf("retry after a finished fix called %s", op)
		}
	}
	h.checkInvariants()
}

// outcomes renders a report's actions as "Action=outcome".
func outcomes(rep reconcile.Report) []string {
	var out []string
	for _, res := range rep.Results {
		for _, a := range res.Actions {
			out = append(out, string(a.Action)+"="+string(a.Outcome))
		}
	}
	return out
}

// TestInvariantHooksCatchViolations proves the hooks the fault, race and
// loop tests rely on can fail: writes that break each invariant, sent
// through the proxy, are all reported.
func TestInvariantHooksCatchViolations(t *testing.T) {
	h := newHarness(t, harnessOptions{noEvents: true})
	h.bucket("bad-logs")
	bare := h.key(basePolicy()) // no CloudTrail statements
	h.trail("victim", "bad-logs", "")
	via := h.direct.Copy()
	via.BaseEndpoint = aws.String(h.proxy.URL)

	// Point a trail at a key CloudTrail cannot use.
	_, err := cloudtrail.NewFromConfig(via).UpdateTrail(h.ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("victim"), KmsKeyId: aws.String(bare)})
	h.must(err)
	// Drop the foreign statement, and bypass the lock-out check.
	rootOnly := strings.Replace(basePolicy(), `,{"Sid":"`+foreignSid+`","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Auditor"},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}`, "", 1)
	if rootOnly == basePolicy() {
		t.Fatal("could not remove the foreign statement")
	}
	_, err = kms.NewFromConfig(via).PutKeyPolicy(h.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID(bare)), PolicyName: aws.String("default"),
		Policy: aws.String(rootOnly), BypassPolicyLockoutSafetyCheck: true})
	h.must(err)

	h.mu.Lock()
	got := strings.Join(h.violations, "\n")
	h.mu.Unlock()
	for _, want := range []string{"UpdateTrail points victim at", "drops statements it does not own: [" + foreignSid + "]", "passes BypassPolicyLockoutSafetyCheck"} {
		if !strings.Contains(got, want) {
			t.Errorf("violations do not report %q:\n%s", want, got)
		}
	}
	// A compliant write is not reported.
	h.mu.Lock()
	h.violations = nil
	h.mu.Unlock()
	st, _ := h.stateOf("victim")
	k, err := h.keyOf(bare, nil)
	h.must(err)
	good, _, err := compliance.Merge(basePolicy(), compliance.GrantFor(k, st, h.cfg.Compliance()))
	h.must(err)
	h.putPolicy(bare, basePolicy())
	_, err = kms.NewFromConfig(via).PutKeyPolicy(h.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID(bare)), PolicyName: aws.String("default"), Policy: aws.String(good)})
	h.must(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.violations) != 0 {
		t.Errorf("a compliant merge was reported: %v", h.violations)
	}
}
