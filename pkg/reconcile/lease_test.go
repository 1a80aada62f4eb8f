package reconcile

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// holdingClient holds every request of one operation (X-Amz-Target) until
// the request's context ends or hold passes, then sends it: a call stuck
// in retries or the adaptive rate limiter past its writer's lease.
type holdingClient struct {
	next   aws.HTTPClient
	target string
	hold   time.Duration
}

func (c holdingClient) Do(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") == c.target {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(c.hold):
		}
	}
	return c.next.Do(r)
}

// TestWriteEndsWithItsLease: a key-policy write still in flight when the
// writer's lease runs out is cancelled, never sent late. Sent late it
// would replace a policy another writer wrote under the lease it took in
// the meantime with one merged from an older read (KMS has no conditional
// PutKeyPolicy), taking that writer's statements away: CI saw exactly
// this under the adaptive retry mode's client-side rate limiting
// (TestConvergenceUnderFaults, "makes it unusable for ... which uses it").
func TestWriteEndsWithItsLease(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	db := dynamodb.NewFromConfig(w.cfg("us-east-1"))
	if err := statetable.Create(ctx, db, "trailguard-state"); err != nil {
		t.Fatal(err)
	}
	// A 1 s lease: the write context ends 0.9 s after the take.
	store := state.New(db, "trailguard-state", state.WithWriter("trail-remediator"), state.WithLease(time.Second, 5*time.Second))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-lease", "us-east-1")
	w.trail("us-east-1", "late", "logs-lease", "", false, nil)
	before := w.policy(base)

	awsCfg, err := w.srv.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	next := awsCfg.HTTPClient
	if next == nil {
		t.Fatal("the moto config has no HTTP client to wrap")
	}
	awsCfg.HTTPClient = holdingClient{next: next, target: "TrentService.PutKeyPolicy", hold: 3 * time.Second}
	r := New(awsCfg, testConfig("us-east-1"), WithLogger(testLogger(t)), WithStore(store))

	start := time.Now()
	_, err = r.ReconcileTrail(ctx, motoAccount, "us-east-1", "late")
	if !errors.Is(err, state.ErrLeaseLost) || !Transient(err) {
		t.Fatalf("ReconcileTrail = %v, want a transient ErrLeaseLost", err)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("the write was held %v: it was not cancelled when the lease ran out", took)
	}
	time.Sleep(3500 * time.Millisecond) // past the hold: a late send would have landed
	if got := w.policy(base); got != before {
		t.Fatalf("the key policy changed after the lease ran out:\n%s", got)
	}
	hist, err := store.History(ctx, state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Action != "PutKeyPolicy" || hist[0].Status != state.Pending {
		t.Fatalf("change log %+v, want the PutKeyPolicy left pending (its outcome is unknown)", hist)
	}
}
