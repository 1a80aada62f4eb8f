package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// TestUndoTrailLostAnswer: the undo of an UpdateTrail whose UpdateTrail
// takes effect but whose answer is lost must not say "nothing was
// written". FAILS on cfc418d: undoUpdateTrail wraps every updateTrail
// error in ErrUndoRefused.
func TestUndoTrailLostAnswer(t *testing.T) {
	f := newFixture(t)
	e := f.withTable().with(config.EnvDisabledKey, "switch")
	base := f.baseline("us-east-1")
	trail, key := f.compliantTrail("moved-trail")
	id := key[strings.LastIndex(key, "/")+1:]
	ctx := context.Background()
	if _, err := f.kms("us-east-1").DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := cli(t, e, "fix", "--apply"); code != exitOK {
		t.Fatalf("fix --apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if f.trailKey(trail) != base {
		t.Fatalf("trail not switched to the baseline key")
	}
	var c state.Change
	for _, ch := range history(t, e, "--trail", trail) {
		if ch.Action == "UpdateTrail" {
			c = ch
		}
	}
	if c.ID == "" || c.Before != key {
		t.Fatalf("no UpdateTrail change from %s: %+v", key, c)
	}
	if _, err := f.kms("us-east-1").EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	p, err := awsproxy.Start(f.srv.Endpoint, awsproxy.Options{Rules: []awsproxy.Rule{{Operation: "UpdateTrail", Rate: 1, Faults: []awsproxy.Fault{awsproxy.Lost}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	code, stdout, stderr := cli(t, e.with("AWS_ENDPOINT_URL", p.URL), "undo", c.ID)
	t.Logf("undo through a lost answer: exit %d, UpdateTrail calls %d\nstdout: %s\nstderr: %s", code, p.Calls()["UpdateTrail"], stdout, stderr)
	if got := f.trailKey(trail); got != base && strings.Contains(stderr, "nothing was written") {
		t.Errorf("undo says nothing was written (exit %d), but the trail is now on %s (was %s)", code, got, base)
	}
	if code == exitFindings {
		t.Errorf("a lost answer is reported as a refusal (exit 1), not as an error (exit 2)")
	}
}
