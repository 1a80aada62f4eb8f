package state_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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
	if err := s.Start(ctx, "sw1", 4); err == nil {
		t.Fatal("a second Start of the same sweep succeeded")
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
