package state_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/state"
)

// countingDB counts the UpdateItem calls to the state table and fails
// those whose update expression contains failOn (when set).
type countingDB struct {
	state.DynamoDBAPI
	mu      sync.Mutex
	updates int
	failOn  string
}

var errInjected = errors.New("injected: the table is unavailable")

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	c.updates++
	fail := c.failOn != "" && strings.Contains(aws.ToString(in.UpdateExpression), c.failOn)
	c.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return c.DynamoDBAPI.UpdateItem(ctx, in, optFns...)
}

func (c *countingDB) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.updates }

func trailARNs(kt state.KeyTrails) []string {
	var out []string
	for _, e := range kt.Trails {
		out = append(out, e.Trail)
	}
	return out
}

// TestTrailIndexAgainstMoto: entries written, read back, refreshed only
// when older than the refresh interval, dropped; current only after a
// completed sweep confirmed every entry and while no index write failed.
func TestTrailIndexAgainstMoto(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	cdb := &countingDB{DynamoDBAPI: db}
	s := state.New(cdb, name, state.WithClock(c.now), state.WithIndexRefresh(time.Hour))
	const (
		k1   = "arn:aws:kms:us-east-1:123456789012:key/k1"
		k2   = "arn:aws:kms:us-east-1:123456789012:key/k2"
		acct = "123456789012"
		t1   = "arn:aws:cloudtrail:us-east-1:123456789012:trail/one"
		t2   = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/two"
	)
	lookup := func(key string) state.KeyTrails {
		t.Helper()
		kt, err := s.TrailsOfKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return kt
	}
	note := func(key, trail, region string) {
		t.Helper()
		if err := s.NoteTrail(ctx, key, state.IndexedTrail{Trail: trail, Account: acct, Region: region, Bucket: "logs"}); err != nil {
			t.Fatal(err)
		}
	}

	if kt := lookup(k1); kt.Current || len(kt.Trails) != 0 || kt.Reason != "no entry for the key" {
		t.Fatalf("unknown key: %+v", kt)
	}
	sweepStart := c.now()
	note(k1, t1, "us-east-1")
	note(k1, t2, "eu-west-1")
	note(k2, t1, "us-east-1")
	kt := lookup(k1)
	// Sorted by ARN: eu-west-1's first.
	if got := trailARNs(kt); !slices.Equal(got, []string{t2, t1}) {
		t.Fatalf("k1 trails %v, want %v", got, []string{t2, t1})
	}
	if e := kt.Trails[0]; e.Account != acct || e.Region != "eu-west-1" || e.Bucket != "logs" || !e.Confirmed.Equal(sweepStart) {
		t.Fatalf("entry %+v, want account %s, eu-west-1, bucket logs, confirmed %v", e, acct, sweepStart)
	}
	if kt.Current || !strings.Contains(kt.Reason, "no sweep") {
		t.Fatalf("before any sweep: current %v (%s), want not current", kt.Current, kt.Reason)
	}

	// A sweep that started before the entries were written completes.
	if moved, err := s.MarkIndexSwept(ctx, sweepStart); err != nil || !moved {
		t.Fatalf("MarkIndexSwept = %v, %v", moved, err)
	}
	if moved, err := s.MarkIndexSwept(ctx, sweepStart.Add(-time.Minute)); err != nil || moved {
		t.Fatalf("MarkIndexSwept of an older sweep = %v, %v; want not moved", moved, err)
	}
	if kt := lookup(k1); !kt.Current {
		t.Fatalf("after the sweep: not current (%s)", kt.Reason)
	}

	// Entries read within the refresh interval of their confirmation are
	// fresh (a key event that read them so writes nothing); each note is
	// one UpdateItem.
	c.advance(30 * time.Minute)
	for _, e := range lookup(k1).Trails {
		if !e.Fresh {
			t.Fatalf("entry %+v confirmed 30 minutes ago is not fresh", e)
		}
	}
	before := cdb.count()
	note(k1, t1, "us-east-1")
	if n := cdb.count() - before; n != 1 {
		t.Fatalf("%d UpdateItem for one note, want 1", n)
	}
	c.advance(45 * time.Minute)
	for _, e := range lookup(k1).Trails {
		if fresh := e.Trail == t1; e.Fresh != fresh {
			t.Fatalf("entry %+v: fresh %v, want %v (t1 noted 45 minutes ago, t2 75)", e, e.Fresh, fresh)
		}
	}

	// The next sweep confirms t1 only (t2 left the key unseen): t2's entry
	// is stale, so the key is not current.
	c.advance(2 * time.Hour)
	second := c.now()
	note(k1, t1, "us-east-1")
	if moved, err := s.MarkIndexSwept(ctx, second); err != nil || !moved {
		t.Fatalf("second MarkIndexSwept = %v, %v", moved, err)
	}
	if kt := lookup(k1); kt.Current || !strings.Contains(kt.Reason, t2) {
		t.Fatalf("t2 not confirmed by the last sweep: current %v (%s), want stale naming %s", kt.Current, kt.Reason, t2)
	}
	if err := s.DropTrails(ctx, k1, t2); err != nil {
		t.Fatal(err)
	}
	if kt := lookup(k1); !kt.Current || !slices.Equal(trailARNs(kt), []string{t1}) {
		t.Fatalf("after dropping t2: %+v", kt)
	}
	// Dropping the last trail leaves no entry.
	if err := s.DropTrails(ctx, k2, t1); err != nil {
		t.Fatal(err)
	}
	if kt := lookup(k2); kt.Current || len(kt.Trails) != 0 {
		t.Fatalf("k2 after dropping its only trail: %+v", kt)
	}

	// A failed index write marks the index dirty: no key is current until
	// a sweep that started after the failure completes.
	c.advance(time.Minute)
	cdb.mu.Lock()
	cdb.failOn = "SET #t"
	cdb.mu.Unlock()
	if err := s.NoteTrail(ctx, k2, state.IndexedTrail{Trail: t2, Account: acct, Region: "eu-west-1"}); !errors.Is(err, errInjected) {
		t.Fatalf("NoteTrail with a failing table = %v, want the injected error", err)
	}
	cdb.mu.Lock()
	cdb.failOn = ""
	cdb.mu.Unlock()
	if kt := lookup(k1); kt.Current || !strings.Contains(kt.Reason, "write failed") {
		t.Fatalf("after a failed write: current %v (%s), want not current", kt.Current, kt.Reason)
	}
	if moved, err := s.MarkIndexSwept(ctx, second.Add(30*time.Second)); err != nil || moved {
		t.Fatalf("a sweep that started before the failed write was marked: %v, %v", moved, err)
	}
	c.advance(time.Minute)
	third := c.now()
	note(k1, t1, "us-east-1")
	// The fanned-out sweep's record marks the same item.
	if moved, err := state.NewSweeps(db, name, c.now).MarkIndexSwept(ctx, third); err != nil || !moved {
		t.Fatalf("Sweeps.MarkIndexSwept = %v, %v", moved, err)
	}
	if kt := lookup(k1); !kt.Current {
		t.Fatalf("after a sweep that started after the failure: not current (%s)", kt.Reason)
	}
}
