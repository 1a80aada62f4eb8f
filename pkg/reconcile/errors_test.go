package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/plan"
)

const (
	opGetTrail     = "CloudTrail_20131101.GetTrail"
	opUpdateTrail  = "CloudTrail_20131101.UpdateTrail"
	opDescribeKey  = "TrentService.DescribeKey"
	opGetKeyPolicy = "TrentService.GetKeyPolicy"
	opPutKeyPolicy = "TrentService.PutKeyPolicy"
)

func fakeConfig() config.Config {
	c := config.Default()
	c.Regions = []string{fakeRegion}
	return c
}

func TestErrorPathThrottling(t *testing.T) {
	t.Run("retried, then transient", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opGetTrail, fault{Code: "ThrottlingException", Status: 400})
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err == nil {
			t.Fatalf("throttling must be returned as an error, got report %+v", rep)
		}
		if !Transient(err) {
			t.Errorf("Transient(%v) = false", err)
		}
		if !strings.Contains(err.Error(), "get trail") || !strings.Contains(err.Error(), "ThrottlingException") {
			t.Errorf("error %q should name the operation and the code", err)
		}
		if n := f.count(opGetTrail); n != 3 {
			t.Errorf("GetTrail called %d times, want 3 (bounded retries)", n)
		}
		if res := onlyResult(t, rep); res.Error == "" {
			t.Errorf("the result should carry the error")
		}
	})
	t.Run("retried, then success", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opPutKeyPolicy, fault{Code: "ThrottlingException", Status: 400, Times: 2})
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := outcomes(onlyResult(t, rep)), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if n := f.count(opPutKeyPolicy); n != 3 {
			t.Errorf("PutKeyPolicy called %d times, want 3", n)
		}
	})
	t.Run("server error", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opDescribeKey, fault{Code: "KMSInternalException", Status: 500})
		_, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err == nil || !Transient(err) {
			t.Fatalf("a 500 must be a transient error, got %v", err)
		}
		if f.count(opUpdateTrail) != 0 || f.count(opPutKeyPolicy) != 0 {
			t.Errorf("wrote after a failed read: %v", f.recorded())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opGetKeyPolicy, fault{Delay: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := f.reconciler(fakeConfig(), WithDeadlineMargin(500*time.Millisecond)).ReconcileTrail(ctx, fakeAccount, fakeRegion, trail)
		if err == nil || !Transient(err) {
			t.Fatalf("running out of time must be a transient error, got %v", err)
		}
		// The work stopped at its own, earlier deadline: the caller's
		// context (the Lambda deadline) has not expired yet.
		if ctx.Err() != nil {
			t.Errorf("work ran into the caller's deadline (%v): it should stop the margin before it", ctx.Err())
		}
	})
}

func TestErrorPathAccessDenied(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opGetTrail, fault{Code: "AccessDeniedException", Status: 400})
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatalf("access denied is terminal, got error %v", err)
		}
		res := onlyResult(t, rep)
		if !strings.Contains(res.Error, "AccessDeniedException") || !strings.Contains(res.Error, "get trail") {
			t.Errorf("result error %q", res.Error)
		}
		if n := f.count(opGetTrail); n != 1 {
			t.Errorf("GetTrail called %d times: terminal errors are not retried", n)
		}
	})
	t.Run("key policy write", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		f.fail(opPutKeyPolicy, fault{Code: "AccessDeniedException", Status: 400})
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatalf("access denied is terminal, got error %v", err)
		}
		res := onlyResult(t, rep)
		if got, want := outcomes(res), []string{"PutKeyPolicy=failed", "UpdateTrail=skipped"}; !slices.Equal(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if !strings.Contains(res.Actions[0].Message, "AccessDeniedException") {
			t.Errorf("message %q", res.Actions[0].Message)
		}
		if n := f.count(opUpdateTrail); n != 0 {
			t.Errorf("UpdateTrail called %d times after the key policy could not be fixed", n)
		}
		if !res.Alerting() {
			t.Errorf("a failed action must alert")
		}
	})
}

// TestErrorPathInsufficientEncryptionPolicy: right after trailguard's own
// PutKeyPolicy, KMS may not apply the new policy yet ("AWS KMS eventual
// consistency",
// https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html),
// so CloudTrail refuses UpdateTrail with InsufficientEncryptionPolicyException.
// That is retried within the run after bounded waits (an injected sleeper:
// no real time passes) and then returned as transient for Lambda to retry.
// Without a write in the run the exception stays terminal: the policy
// trailguard checked is what KMS has. (Before issue 11 every case was
// terminal after one call.)
func TestErrorPathInsufficientEncryptionPolicy(t *testing.T) {
	waits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	tests := []struct {
		name      string
		ownWrite  bool
		times     int // failures before UpdateTrail succeeds (0: always)
		want      []string
		transient bool
		calls     int
		slept     []time.Duration
	}{
		{"own write, propagates after two refusals", true, 2, []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}, false, 3, waits[:2]},
		{"own write, never in effect within the run: transient", true, 0, []string{"PutKeyPolicy=updated", "UpdateTrail=failed"}, true, len(waits) + 1, waits},
		{"no write in this run: terminal, not retried", false, 0, []string{"UpdateTrail=failed"}, false, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			trail := f.addTrail("plain", "")
			if !tt.ownWrite {
				// A first run makes the baseline's policy grant the trail;
				// then the trail is made unencrypted again.
				if _, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail); err != nil {
					t.Fatal(err)
				}
				f.trails["plain"].KmsKeyID = ""
			}
			before := f.count(opUpdateTrail)
			f.fail(opUpdateTrail, fault{Code: "InsufficientEncryptionPolicyException", Status: 400, Times: tt.times})
			var slept []time.Duration
			sleeper := func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
			rep, err := f.reconciler(fakeConfig(), WithSleeper(sleeper), WithPropagationBackoff(waits)).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
			if got := err != nil && Transient(err); got != tt.transient || (err != nil && !tt.transient) {
				t.Fatalf("error %v, want transient=%v", err, tt.transient)
			}
			res := onlyResult(t, rep)
			if got := outcomes(res); !slices.Equal(got, tt.want) {
				t.Fatalf("outcomes %v, want %v", got, tt.want)
			}
			if n := f.count(opUpdateTrail) - before; n != tt.calls {
				t.Errorf("UpdateTrail called %d times, want %d", n, tt.calls)
			}
			if !slices.Equal(slept, tt.slept) {
				t.Errorf("waits %v, want %v", slept, tt.slept)
			}
			if last := len(tt.want) - 1; tt.want[last] == "UpdateTrail=failed" {
				if msg := res.Actions[last].Message; !strings.Contains(msg, "InsufficientEncryptionPolicyException") || !strings.Contains(msg, "update trail "+trail) {
					t.Errorf("message %q", msg)
				}
				if f.trails["plain"].KmsKeyID != "" {
					t.Errorf("trail points at %s after a refused update", f.trails["plain"].KmsKeyID)
				}
			}
		})
	}
}

func TestErrorPathNotFound(t *testing.T) {
	t.Run("trail", func(t *testing.T) {
		f := newFakeAWS(t)
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, fakeTrailARN("gone"))
		if err != nil {
			t.Fatal(err)
		}
		res := onlyResult(t, rep)
		if res.Error != "" || res.Message == "" || len(res.Findings) != 0 || len(res.Actions) != 0 {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("trail key", func(t *testing.T) {
		f := newFakeAWS(t)
		missing := "arn:aws:kms:us-east-1:" + fakeAccount + ":key/0000cccc-0000-4000-8000-000000000003"
		trail := f.addTrail("lost-key", missing)
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatal(err)
		}
		res := onlyResult(t, rep)
		if !hasRule(res.Findings, compliance.TrailKeyMissing) {
			t.Errorf("findings %v", res.Findings)
		}
		if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if got := f.trails["lost-key"].KmsKeyID; got != baseKeyARN {
			t.Errorf("trail key %s, want the baseline", got)
		}
	})
	t.Run("baseline alias", func(t *testing.T) {
		f := newFakeAWS(t)
		delete(f.alias, config.DefaultKeyAlias)
		trail := f.addTrail("plain", "")
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatal(err)
		}
		res := onlyResult(t, rep)
		if want := "no baseline key " + config.DefaultKeyAlias + " in Region " + fakeRegion; !strings.Contains(res.Error, want) {
			t.Errorf("error %q, want it to contain %q", res.Error, want)
		}
		if len(res.Actions) != 0 {
			t.Errorf("actions %v", outcomes(res))
		}
	})
}

// TestNeverUpdateTrailWithUngrantedKey: trailguard never points a trail at
// a key whose policy, as read right before UpdateTrail, does not let
// CloudTrail use it.
func TestNeverUpdateTrailWithUngrantedKey(t *testing.T) {
	tests := []struct {
		name      string
		fault     fault
		want      []string
		transient bool
	}{
		{"PutKeyPolicy fails", fault{Code: "MalformedPolicyDocumentException", Status: 400}, []string{"PutKeyPolicy=failed", "UpdateTrail=skipped"}, false},
		// Overwritten by someone else's read-modify-write, or not shown by
		// the read yet: tried again (the retry adds the statements again).
		{"PutKeyPolicy is lost", fault{IgnoreWrite: true}, []string{"PutKeyPolicy=updated", "UpdateTrail=failed"}, true},
		{"PutKeyPolicy throttled", fault{Code: "ThrottlingException", Status: 400}, []string{"PutKeyPolicy=failed"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			trail := f.addTrail("plain", "")
			f.fail(opPutKeyPolicy, tt.fault)
			rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
			if got := err != nil && Transient(err); got != tt.transient || (err != nil && !tt.transient) {
				t.Errorf("error %v, want transient=%v", err, tt.transient)
			}
			res := onlyResult(t, rep)
			if got := outcomes(res); !slices.Equal(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			if n := f.count(opUpdateTrail); n != 0 {
				t.Errorf("UpdateTrail called %d times with a key CloudTrail may not use", n)
			}
			if f.trails["plain"].KmsKeyID != "" {
				t.Errorf("trail was pointed at %s", f.trails["plain"].KmsKeyID)
			}
		})
	}
	t.Run("policy edited to deny in between", func(t *testing.T) {
		f := newFakeAWS(t)
		trail := f.addTrail("plain", "")
		deny := `{"Sid":"NoCloudTrail","Effect":"Deny","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:*","Resource":"*"}`
		f.keys[baseKeyARN].Policy = rootPolicy(fakeAccount, deny)
		rep, err := f.reconciler(fakeConfig()).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail)
		if err != nil {
			t.Fatal(err)
		}
		res := onlyResult(t, rep)
		if f.count(opUpdateTrail) != 0 || f.count(opPutKeyPolicy) != 0 {
			t.Errorf("wrote with a denying baseline key: %v (outcomes %v)", f.recorded(), outcomes(res))
		}
		if !res.Alerting() {
			t.Errorf("a denying baseline must alert: %+v", res)
		}
	})
}

// TestOnlyPermittedCalls: every call is one of plan.ReadPermissions or a
// permission of a plan kind, and report mode makes no write at all.
func TestOnlyPermittedCalls(t *testing.T) {
	allowed := map[string]bool{}
	for _, p := range plan.ReadPermissions() {
		allowed[p] = true
	}
	writes := map[string]bool{}
	for _, k := range plan.Kinds() {
		for _, p := range k.Permissions() {
			allowed[p] = true
		}
		writes[iamAction(string(k))] = true
	}
	for _, mode := range []config.Mode{config.Enforce, config.Report} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFakeAWS(t)
			f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount)).State = "Disabled"
			f.addTrail("plain", "")
			f.addTrail("keyed", trailKeyARN)
			cfg := fakeConfig()
			cfg.Mode = mode
			cfg.RequireRotation = true
			rep, err := f.reconciler(cfg).Sweep(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 2 {
				t.Fatalf("%d results", len(rep.Results))
			}
			var wrote bool
			for _, op := range f.recorded() {
				if op == "s3:HeadBucket" {
					// Sent unsigned (manager.GetBucketRegion): it needs no
					// permission, checked below.
					continue
				}
				a := iamAction(op)
				if !allowed[a] {
					t.Errorf("call %s (%s) is not in plan.ReadPermissions or a plan kind's permissions", op, a)
				}
				if writes[a] {
					wrote = true
					if mode == config.Report {
						t.Errorf("report mode called %s", op)
					}
				}
			}
			if f.signedHeads != 0 {
				t.Errorf("%d HeadBucket calls were signed: the bucket Region lookup must need no permission", f.signedHeads)
			}
			if mode == config.Enforce && !wrote {
				t.Errorf("enforce mode wrote nothing: %v", f.recorded())
			}
		})
	}
}

// iamAction maps a recorded operation ("TrentService.PutKeyPolicy") or a
// plan kind ("PutKeyPolicy") to its IAM action.
func iamAction(op string) string {
	switch {
	case strings.HasPrefix(op, "CloudTrail_20131101."):
		return "cloudtrail:" + strings.TrimPrefix(op, "CloudTrail_20131101.")
	case strings.HasPrefix(op, "TrentService."):
		return "kms:" + strings.TrimPrefix(op, "TrentService.")
	case op == "s3:GetBucketEncryption":
		return "s3:GetEncryptionConfiguration"
	case strings.HasPrefix(op, "s3:"):
		return op
	case op == string(plan.UpdateTrail):
		return "cloudtrail:" + op
	}
	return "kms:" + op
}

// TestObserveIsConcurrent: the reads of one check overlap, so a check
// costs a few sequential round trips, not one per call.
func TestObserveIsConcurrent(t *testing.T) {
	f := newFakeAWS(t)
	f.latency = 200 * time.Millisecond
	f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
	trail := f.addTrail("keyed", trailKeyARN)
	cfg := fakeConfig()
	cfg.Mode = config.Report
	cfg.RequireRotation = true // so the rotation status is read too
	if _, err := f.reconciler(cfg).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail); err != nil {
		t.Fatal(err)
	}
	calls := len(f.recorded())
	// Round 1: GetTrail. Round 2, at once: ListTags, GetTrailStatus,
	// HeadBucket, GetBucketEncryption, and the key's DescribeKey,
	// GetKeyPolicy and GetKeyRotationStatus.
	if calls != 8 {
		t.Fatalf("%d calls, want 8: %v", calls, f.recorded())
	}
	if f.maxInFlight < 5 {
		t.Errorf("at most %d calls in flight, want the independent reads concurrent", f.maxInFlight)
	}
}

// TestRotationReadOnlyWhenRequired: without the opt-in rotation rule the
// rotation status would change nothing, so it is not read.
func TestRotationReadOnlyWhenRequired(t *testing.T) {
	f := newFakeAWS(t)
	f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
	trail := f.addTrail("keyed", trailKeyARN)
	cfg := fakeConfig()
	cfg.Mode = config.Report
	if _, err := f.reconciler(cfg).ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, trail); err != nil {
		t.Fatal(err)
	}
	for _, op := range f.recorded() {
		if strings.HasSuffix(op, "GetKeyRotationStatus") {
			t.Fatalf("GetKeyRotationStatus called with RequireRotation off: %v", f.recorded())
		}
	}
	if len(f.recorded()) != 7 {
		t.Errorf("%d calls, want 7: %v", len(f.recorded()), f.recorded())
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{context.Canceled, true},
		{errors.New("plain"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestSweepRegionDenied(t *testing.T) {
	f := newFakeAWS(t)
	trail := f.addTrail("plain", "")
	f.fail("CloudTrail_20131101.DescribeTrails", fault{Code: "AccessDeniedException", Status: 400, Times: 1})
	cfg := fakeConfig()
	cfg.Regions = []string{"us-east-1", "eu-west-1"}
	cfg.Concurrency = 1 // one Region after the other: exactly one is denied
	rep, err := f.reconciler(cfg).Sweep(testCtx(t))
	if err != nil {
		t.Fatalf("a denied Region is terminal: %v", err)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "describe trails") {
		t.Errorf("run errors %q, want the denied Region", rep.Errors)
	}
	if res := onlyResult(t, rep); res.Trail != trail || !res.Changed() {
		t.Errorf("the other Region's trail was not reconciled: %+v", res)
	}
}

func TestReconcileKeyNotFound(t *testing.T) {
	f := newFakeAWS(t)
	f.addTrail("plain", "")
	rep, err := f.reconciler(fakeConfig()).ReconcileKey(testCtx(t), fakeAccount, fakeRegion, "alias/deleted")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 0 || len(rep.Errors) != 0 {
		t.Errorf("report %+v", rep)
	}
	if n := f.count("CloudTrail_20131101.DescribeTrails"); n != 0 {
		t.Errorf("looked for trails of a key that does not exist")
	}
}

// TestSweepReportsProgress: the progress function learns the number of
// trails found, then each trail done, ending at the total.
func TestSweepReportsProgress(t *testing.T) {
	f := newFakeAWS(t)
	f.addTrail("one", "")
	f.addTrail("two", "")
	cfg := fakeConfig()
	cfg.Mode = config.Report
	cfg.Regions = []string{fakeRegion}
	var calls [][2]int
	rep, err := f.reconciler(cfg, WithProgress(func(done, total int) { calls = append(calls, [2]int{done, total}) })).Sweep(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	want := [][2]int{{0, 2}, {1, 2}, {2, 2}}
	if !slices.Equal(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}
