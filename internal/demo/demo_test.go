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
	"strings"
	"testing"
	"time"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
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
