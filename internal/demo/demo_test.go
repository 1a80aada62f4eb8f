package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/state"
)

// needMoto skips the test when moto_server is not installed, or fails it
// when CI=true.
func needMoto(t *testing.T) {
	t.Helper()
	if _, err := motoserver.Find(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: failing instead of skipping)", err)
		}
		t.Skipf("SKIP: %v", err)
	}
}

func TestRun(t *testing.T) {
	needMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	err := Run(ctx, &out, Options{})
	took := time.Since(start)
	t.Logf("demo took %s", took)
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		// every scenario, its drift and its fix
		TrailUnencrypted, "trail-not-encrypted",
		TrailPolicyGap, "key-policy-no-encrypt",
		TrailCrossRegion, "trail-key-wrong-region",
		TrailPendingDeletion, "key-pending-deletion", "CancelKeyDeletion",
		TrailCompliant, "untouched",
		"UpdateTrail", "PutKeyPolicy", "updated",
		// routing through moto's EventBridge
		"-> trail-remediator", "-> key-remediator", "no rule matches",
		"[trailguard's own call]",
		// the second drift and its repair
		"removed TrailguardCloudTrailEncrypt",
		"State after trailguard restored the statements",
		// the change log, an undo and a refused undo
		"$ trailguard history", "one record per write",
		"undid change", "byte for byte, the one before",
		"undo refused", "was changed after trailguard's write", "nothing was written",
		"RESULT: PASS",
		"stopped",
		// Security Hub: findings sent FAILED, then PASSED and RESOLVED
		"Security Hub enabled", "CRITICAL", "FAILED", "PASSED", "Workflow RESOLVED",
		"The scheduled sweeper runs once",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not mention %q", want)
		}
	}
	if strings.Contains(got, `"level":`) {
		t.Errorf("handler logs leaked into the output without Verbose")
	}
	// Whole words: Security Hub's compliance status FAILED is expected.
	for _, bad := range []string{"FAIL", "MISMATCH", "ERROR"} {
		if regexp.MustCompile(`\b` + bad + `\b`).MatchString(got) {
			t.Errorf("output reports %s", bad)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}

// TestVerdictFails runs the scenario with functions that do nothing: the
// drift stays, so the demo must fail with ErrFailed and say why.
func TestVerdictFails(t *testing.T) {
	srv := motoserver.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base, err := srv.AWSConfig(ctx, HomeRegion)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := &printer{w: &out}
	d := newDemo(p, base, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var calls int
	noop := func(context.Context, json.RawMessage) (any, error) {
		calls++
		return map[string]any{"results": []any{}}, nil
	}
	d.fns = map[string]function{trailFunction: noop, keyFunction: noop}
	err = d.run(ctx)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("run with do-nothing functions: got %v, want ErrFailed\noutput:\n%s", err, out.String())
	}
	if calls == 0 {
		t.Errorf("no function was invoked")
	}
	got := out.String()
	for _, trail := range []string{TrailUnencrypted, TrailPolicyGap, TrailCrossRegion, TrailPendingDeletion} {
		if !strings.Contains(got, "FAIL  "+trail) {
			t.Errorf("verdict does not fail %s", trail)
		}
		if !strings.Contains(err.Error(), trail+" is not compliant") {
			t.Errorf("error does not name %s: %v", trail, err)
		}
	}
	if strings.Contains(got, "FAIL  "+TrailCompliant) {
		t.Errorf("verdict fails the compliant trail, which nothing touched:\n%s", got)
	}
	if !strings.Contains(got, "RESULT: FAIL") {
		t.Errorf("output has no RESULT: FAIL")
	}
}

func TestHandlerLogger(t *testing.T) {
	var out, log bytes.Buffer
	handlerLogger(&out, Options{}).Info("quiet", "k", "v")
	if out.Len() != 0 {
		t.Errorf("logs written without Verbose: %q", out.String())
	}
	handlerLogger(&out, Options{Verbose: true, Log: &log}).Info("loud", "k", "v")
	if out.Len() != 0 || !strings.Contains(log.String(), `"msg":"loud"`) {
		t.Errorf("Verbose with Log: output %q, log %q", out.String(), log.String())
	}
	handlerLogger(&out, Options{Verbose: true}).Info("to output")
	if !strings.Contains(out.String(), `"msg":"to output"`) {
		t.Errorf("Verbose without Log: output %q", out.String())
	}
}

// TestRunWithoutMoto hides moto_server: Run must say what to install and
// not claim the scenario failed. It changes PATH: not parallel.
func TestRunWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out bytes.Buffer
	err := Run(context.Background(), &out, Options{})
	if err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("Run without moto_server = %v, want a setup error", err)
	}
	if !strings.Contains(err.Error(), `pip install "moto[server]==5.2.1"`) {
		t.Errorf("error does not say what to install: %v", err)
	}
}

// TestChangeLog runs the scenario and reads the state table and the keys
// back from moto: one record per write, each by the function that made it
// and for the event it handled; the undo restored exactly Before; the
// refused undo wrote nothing.
func TestChangeLog(t *testing.T) {
	srv := motoserver.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base, err := srv.AWSConfig(ctx, HomeRegion)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d := newDemo(&printer{w: &out}, base, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := d.run(ctx); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	}()
	store := state.New(dynamodb.NewFromConfig(base), StateTable)
	all, err := store.History(ctx, state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	gapKey := d.scenario(TrailPolicyGap).KeyARN
	pendingKey := d.scenario(TrailPendingDeletion).KeyARN
	home, other := d.baseline[HomeRegion], d.baseline[OtherRegion]
	unencrypted, cross := d.scenario(TrailUnencrypted).TrailARN, d.scenario(TrailCrossRegion).TrailARN

	// The writes the scenario needs, by writer: the drift's fixes, the
	// restore after the second drift, and the demo's undo.
	want := []string{
		"cli PutKeyPolicy " + gapKey,
		"key-remediator CancelKeyDeletion " + pendingKey,
		"key-remediator EnableKey " + pendingKey,
		"key-remediator PutKeyPolicy " + home,
		"trail-remediator PutKeyPolicy " + gapKey,
		"trail-remediator PutKeyPolicy " + home,
		"trail-remediator PutKeyPolicy " + other,
		"trail-remediator UpdateTrail " + cross,
		"trail-remediator UpdateTrail " + unencrypted,
	}
	var got, reported []string
	for _, c := range all {
		got = append(got, c.Writer+" "+c.Action+" "+c.Resource)
		wantSource := "event "
		if c.Writer == cliWriter {
			wantSource = "undo of "
		}
		if !strings.HasPrefix(c.Source, wantSource) || len(c.Source) <= len(wantSource) {
			t.Errorf("change %s by %s: source %q, want %q and an id", c.ID, c.Writer, c.Source, wantSource)
		}
	}
	reported = append(reported, d.changes.writes...)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("change log (-want +got):\n%s", diff)
	}
	if len(reported) != len(all) {
		t.Errorf("the handlers and undo reported %d writes, the change log has %d records", len(reported), len(all))
	}
	if len(d.changes.listed) != len(all)-1 {
		t.Errorf("history showed %d records before the undo, want %d", len(d.changes.listed), len(all)-1)
	}

	// The undo: trailguard's statements on the old key of demo-policy-gap.
	undone, undo := d.changes.undone, d.changes.undo
	if undone.Resource != gapKey || undone.Writer != trailFunction {
		t.Fatalf("undid %s by %s, want trail-remediator's change of %s", undone.Resource, undone.Writer, gapKey)
	}
	k, err := d.w.key(ctx, HomeRegion, gapKey)
	if err != nil {
		t.Fatal(err)
	}
	if k.Policy != undone.Before {
		t.Errorf("after the undo the policy of %s is not exactly Before:\n%s\nwant:\n%s", gapKey, k.Policy, undone.Before)
	}
	if n := statementCount(k.Policy); n != 1 || strings.Contains(k.Policy, "Trailguard") {
		t.Errorf("the restored policy has %d statements or trailguard's: %s", n, k.Policy)
	}
	if c, err := store.Get(ctx, undone.ID); err != nil || c.Status != state.Undone {
		t.Errorf("the undone change: status %q (%v), want undone", c.Status, err)
	}
	if c, err := store.Get(ctx, undo.ID); err != nil || c.UndoOf != undone.ID || c.Status != state.Applied || c.After != undone.Before {
		t.Errorf("the undo's record: %+v (%v); want an applied undo of %s back to its Before", c, err, undone.ID)
	}

	// The refusal: the newest change of the baseline key, after a human
	// added a statement.
	refused := d.changes.refused
	if refused.Resource != home || refused.Writer != keyFunction {
		t.Fatalf("refused undo of %s by %s, want key-remediator's change of %s", refused.Resource, refused.Writer, home)
	}
	k, err = d.w.key(ctx, HomeRegion, home)
	if err != nil {
		t.Fatal(err)
	}
	if k.Policy != d.changes.edited || !strings.Contains(k.Policy, "SecurityAuditDescribe") {
		t.Errorf("after the refused undo the policy of %s is not the human's:\n%s", home, k.Policy)
	}
	if c, err := store.Get(ctx, refused.ID); err != nil || c.Status != state.Applied {
		t.Errorf("the refused change: status %q (%v), want still applied", c.Status, err)
	}
	st, err := d.w.observe(ctx, HomeRegion, TrailUnencrypted, d.cfg.KeyAlias)
	if err != nil {
		t.Fatal(err)
	}
	if fs := compliance.Evaluate(st, d.cfg.Compliance()); len(fs) != 0 {
		t.Errorf("%s is not compliant after the human edit: %v", TrailUnencrypted, fs)
	}
}
