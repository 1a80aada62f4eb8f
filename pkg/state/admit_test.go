package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/state"
)

// TestAdmitCountsAndRecordsTogether: Admit counts one attempt per change
// and records exactly the changes it admits, in one call: a prefix when
// the guard has room for fewer, none (and one alert per window) when it
// has none; a count made by another writer between ReadGuard and Admit is
// read again, never lost.
func TestAdmitCountsAndRecordsTogether(t *testing.T) {
	const res = "arn:aws:kms:us-east-1:111122223333:key/k"
	change := func(action string) state.Change {
		return state.Change{Resource: res, Action: action, Before: "PendingDeletion", After: "Disabled"}
	}
	type step struct {
		advance      time.Duration
		actions      []string
		other        int // attempts another writer counts between ReadGuard and Admit
		wantAdmitted int
		wantAlert    bool
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"pair admitted, then one of a pair, then none, alert once", 3, []step{
			{actions: []string{"CancelKeyDeletion", "EnableKey"}, wantAdmitted: 2},
			{actions: []string{"CancelKeyDeletion", "EnableKey"}, wantAdmitted: 1, wantAlert: true},
			{actions: []string{"EnableKey"}, wantAdmitted: 0},
			{advance: 61 * time.Minute, actions: []string{"CancelKeyDeletion", "EnableKey"}, wantAdmitted: 2},
		}},
		{"refused without a partial admit: alert on the first refusal only", 1, []step{
			{actions: []string{"EnableKey"}, wantAdmitted: 1},
			{actions: []string{"EnableKey"}, wantAdmitted: 0, wantAlert: true},
			{actions: []string{"EnableKey"}, wantAdmitted: 0},
		}},
		{"a concurrent count is read again", 3, []step{
			{actions: []string{"PutKeyPolicy"}, other: 3, wantAdmitted: 0, wantAlert: true},
		}},
		{"a concurrent count on an empty guard is read again", 3, []step{
			{actions: []string{"CancelKeyDeletion", "EnableKey"}, other: 1, wantAdmitted: 2},
			{actions: []string{"PutKeyPolicy"}, wantAdmitted: 0, wantAlert: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, name := table(t)
			ctx := context.Background()
			c := &clock{t: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
			s := state.New(db, name, state.WithClock(c.now), state.WithWriter("key-remediator"))
			other := state.New(db, name, state.WithClock(c.now))
			recorded := 0
			for i, st := range tc.steps {
				c.advance(st.advance)
				g, err := s.ReadGuard(ctx, res)
				if err != nil {
					t.Fatal(err)
				}
				for range st.other {
					if ok, _, err := other.Allow(ctx, res, tc.max, time.Hour); err != nil || !ok {
						t.Fatalf("step %d: the other writer's Allow = %v, %v", i, ok, err)
					}
				}
				var changes []state.Change
				for _, a := range st.actions {
					changes = append(changes, change(a))
				}
				admitted, alert, err := s.Admit(ctx, g, tc.max, time.Hour, changes...)
				if err != nil {
					t.Fatalf("step %d: Admit: %v", i, err)
				}
				if len(admitted) != st.wantAdmitted || alert != st.wantAlert {
					t.Fatalf("step %d: Admit admitted %d, alert %v; want %d, %v", i, len(admitted), alert, st.wantAdmitted, st.wantAlert)
				}
				for j, a := range admitted {
					if a.Action != st.actions[j] || a.Status != state.Pending || a.ID == "" || a.Writer != "key-remediator" {
						t.Errorf("step %d: admitted[%d] = %+v; want %s, pending, with an id and the writer", i, j, a, st.actions[j])
					}
					got, err := s.Get(ctx, a.ID)
					if err != nil || got.Action != a.Action || got.Status != state.Pending {
						t.Errorf("step %d: the record of %s = %+v, %v; want it pending in the table", i, a.ID, got, err)
					}
				}
				recorded += len(admitted)
			}
			all, err := s.History(ctx, state.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != recorded {
				t.Errorf("the change log holds %d records; want %d, one per admitted change and none for a refused one", len(all), recorded)
			}
		})
	}
}

// TestAdmitNeedsAGuardRead: a GuardRead not from ReadGuard, or no change,
// is an error and writes nothing.
func TestAdmitNeedsAGuardRead(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	s := state.New(db, name)
	if _, _, err := s.Admit(ctx, state.GuardRead{}, 3, time.Hour, state.Change{Resource: "r", Action: "EnableKey"}); err == nil {
		t.Error("Admit without ReadGuard: no error")
	}
	g, err := s.ReadGuard(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Admit(ctx, g, 3, time.Hour); err == nil {
		t.Error("Admit of no change: no error")
	}
	if all, err := s.History(ctx, state.Filter{}); err != nil || len(all) != 0 {
		t.Errorf("History = %d records, %v; want none", len(all), err)
	}
}
