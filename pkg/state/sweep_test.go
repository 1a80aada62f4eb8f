package state_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailguard/trailguard/pkg/state"
)

// TestSweepRecordAgainstMoto: items counted once each (a second
// completion is a duplicate), the claim won once and only when every item
// is done, the notes read back.
func TestSweepRecordAgainstMoto(t *testing.T) {
	db, table := table(t)
	ctx := context.Background()
	s := state.NewSweeps(db, table, func() time.Time { return time.Unix(1_800_000_000, 0) })
	if err := s.Start(ctx, "sw1", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, "sw1", 4); !errors.Is(err, state.ErrSweepStarted) {
		t.Fatalf("a second Start of the same sweep: %v, want ErrSweepStarted", err)
	}
	if _, _, err := s.Complete(ctx, "nosuch", 0, state.ItemCounts{Trails: 1}, ""); !errors.Is(err, state.ErrSweepNotFound) {
		t.Fatalf("Complete of an unknown sweep: %v, want ErrSweepNotFound", err)
	}
	steps := []struct {
		index    int
		counts   state.ItemCounts
		note     string
		wantDup  bool
		wantDone int
	}{
		{2, state.ItemCounts{Trails: 2, Changed: 1}, `{"results":[{"trail":"a"}]}`, false, 1},
		{0, state.ItemCounts{Trails: 1}, "", false, 2},
		{2, state.ItemCounts{Trails: 2, Changed: 1}, `{"results":[{"trail":"a"}]}`, true, 2},
		{1, state.ItemCounts{Failed: 1}, `{"errors":["failed"]}`, false, 3},
	}
	for _, st := range steps {
		rec, dup, err := s.Complete(ctx, "sw1", st.index, st.counts, st.note)
		if err != nil {
			t.Fatalf("Complete %d: %v", st.index, err)
		}
		if dup != st.wantDup || rec.Done != st.wantDone || rec.Complete() {
			t.Fatalf("Complete %d: dup %v done %d complete %v, want dup %v done %d", st.index, dup, rec.Done, rec.Complete(), st.wantDup, st.wantDone)
		}
	}
	if won, err := s.Claim(ctx, "sw1"); err != nil || won {
		t.Fatalf("Claim before the last item: %v, %v", won, err)
	}
	// The last item: many claimers at once, one winner.
	rec, _, err := s.Complete(ctx, "sw1", 3, state.ItemCounts{Trails: 1, Alerting: 1, Errors: 2}, "")
	if err != nil || !rec.Complete() {
		t.Fatalf("last Complete: %+v, %v", rec, err)
	}
	want := state.ItemCounts{Trails: 4, Changed: 1, Alerting: 1, Errors: 2, Failed: 1}
	if rec.Counts != want || rec.Items != 4 {
		t.Errorf("record %+v, want counts %+v", rec, want)
	}
	var (
		mu   sync.Mutex
		wins int
		wg   sync.WaitGroup
	)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won, err := s.Claim(ctx, "sw1")
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
	if rec, err := s.Get(ctx, "sw1"); err != nil || !rec.Claimed {
		t.Errorf("record after the claim: %+v, %v", rec, err)
	}
	notes, err := s.Notes(ctx, "sw1")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || !strings.Contains(notes[2], `"a"`) || notes[1] != `{"errors":["failed"]}` {
		t.Errorf("notes %v, want items 1 and 2", notes)
	}
	// A note longer than MaxNoteBytes is cut, not refused.
	if err := s.Start(ctx, "sw2", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Complete(ctx, "sw2", 0, state.ItemCounts{}, strings.Repeat("x", state.MaxNoteBytes+10)); err != nil {
		t.Fatalf("long note: %v", err)
	}
	notes, err = s.Notes(ctx, "sw2")
	if err != nil || len(notes[0]) != state.MaxNoteBytes {
		t.Errorf("long note kept as %d bytes, %v", len(notes[0]), err)
	}
	// sw2 is complete: an item beyond its count is refused, a duplicate is
	// still a duplicate.
	if _, _, err := s.Complete(ctx, "sw2", 7, state.ItemCounts{Trails: 1}, ""); !errors.Is(err, state.ErrSweepNotFound) {
		t.Errorf("an item beyond the count: %v, want refused", err)
	}
	if _, dup, err := s.Complete(ctx, "sw2", 0, state.ItemCounts{}, ""); err != nil || !dup {
		t.Errorf("duplicate after completion: dup %v, %v", dup, err)
	}
	if err := s.Start(ctx, "", 1); err == nil {
		t.Error("Start with no id succeeded")
	}
}

// conflicting answers the first conflicts TransactWriteItems calls with
// the cancellation DynamoDB gives a transaction that conflicts with a
// concurrent one (reasons: TransactionConflict for the record's update),
// without forwarding them; then the real table answers.
type conflicting struct {
	*dynamodb.Client
	mu        sync.Mutex
	conflicts int
	reasons   []string
	calls     int
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	c.calls++
	refuse := c.calls <= c.conflicts
	c.mu.Unlock()
	if refuse {
		var rs []ddbtypes.CancellationReason
		for _, r := range c.reasons {
			rs = append(rs, ddbtypes.CancellationReason{Code: aws.String(r)})
		}
		return nil, &ddbtypes.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: rs}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// TestCompleteRetriesTransactionConflicts: an item's completion canceled
// for a concurrent transaction (nothing written) is tried again and counted
// once; a cancellation naming a failed condition is not retried.
func TestCompleteRetriesTransactionConflicts(t *testing.T) {
	db, table := table(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		conflicts int
		reasons   []string
		wantCalls int
		wantErr   bool
		wantDone  int
	}{
		{"record update conflicts twice", 2, []string{"None", "TransactionConflict"}, 3, false, 1},
		{"both conflict", 1, []string{"TransactionConflict", "TransactionConflict"}, 2, false, 1},
		{"a condition failed too: not a conflict", 1, []string{"None", "ConditionalCheckFailed"}, 1, true, 0},
		{"conflicts on every try", 100, []string{"None", "TransactionConflict"}, 10, true, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &conflicting{Client: db, conflicts: tc.conflicts, reasons: tc.reasons}
			s := state.NewSweeps(c, table, nil)
			id := fmt.Sprintf("conflict%d", i)
			if err := s.Start(ctx, id, 2); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Complete(ctx, id, 0, state.ItemCounts{Trails: 1}, "")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Complete: %v, want error %v", err, tc.wantErr)
			}
			if c.calls != tc.wantCalls {
				t.Errorf("TransactWriteItems calls %d, want %d", c.calls, tc.wantCalls)
			}
			rec, err := state.NewSweeps(db, table, nil).Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Done != tc.wantDone || rec.Counts.Trails != tc.wantDone {
				t.Errorf("record done %d trails %d, want %d each", rec.Done, rec.Counts.Trails, tc.wantDone)
			}
		})
	}
}
