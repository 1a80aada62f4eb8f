package reconcile

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/state"
)

// TestPendingDeletionFixedUnderOneLease (issue 15, fewer sequential
// calls): a key pending deletion is restored (CancelKeyDeletion, which
// leaves it Disabled, then EnableKey) under one lease of the key, after one
// re-read of its state, with the loop guard's count and both change
// records in one TransactWriteItems. The loop guard still counts each
// write: with room for one, the cancel is made and recorded, the enable is
// skipped with one alert and not recorded. Without a table the in-process
// guard decides the same.
func TestPendingDeletionFixedUnderOneLease(t *testing.T) {
	cases := []struct {
		name         string
		table        bool
		guardMax     int
		want         []string
		wantState    string
		wantRecords  []string // actions recorded, applied
		wantAlert    bool
		wantLeases   int
		wantDescribe int // DescribeKey calls under the lease (after the observation's)
	}{
		{"table, room for both", true, 10, []string{"CancelKeyDeletion=updated", "EnableKey=updated"}, compliance.KeyStateEnabled,
			[]string{"CancelKeyDeletion", "EnableKey"}, false, 1, 1},
		{"table, room for one", true, 1, []string{"CancelKeyDeletion=updated", "EnableKey=skipped"}, "Disabled",
			[]string{"CancelKeyDeletion"}, true, 1, 1},
		{"no table, room for one", false, 1, []string{"CancelKeyDeletion=updated", "EnableKey=skipped"}, "Disabled",
			nil, true, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, moto(t))
			ctx := context.Background()
			key := w.key("us-east-1", policyWithForeign(motoAccount))
			w.bucket("logs-restore", "us-east-1")
			trail := w.trail("us-east-1", "restore", "logs-restore", key, false, nil)
			// Compliant first (its policy fixed), so the key's state is all
			// there is to fix after the deletion is scheduled.
			if _, err := w.reconciler(testConfig("us-east-1")).ReconcileTrail(ctx, motoAccount, "us-east-1", trail); err != nil {
				t.Fatal(err)
			}
			if _, err := w.kms("us-east-1").ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID(key)), PendingWindowInDays: aws.Int32(7)}); err != nil {
				t.Fatal(err)
			}
			var (
				mu    sync.Mutex
				calls []awsproxy.Call
			)
			p, err := awsproxy.Start(w.srv.Endpoint, awsproxy.Options{After: func(c awsproxy.Call) {
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			base, err := w.srv.AWSConfig(ctx, "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			base.BaseEndpoint = aws.String(p.URL)
			opts := []Option{WithLogger(testLogger(t)), WithGuard(NewGuard(tc.guardMax, time.Hour, nil))}
			var store *state.Store
			if tc.table {
				db := dynamodb.NewFromConfig(base)
				if err := statetable.Create(ctx, dynamodb.NewFromConfig(w.cfg("us-east-1")), "trailguard-state"); err != nil {
					t.Fatal(err)
				}
				store = state.New(db, "trailguard-state", state.WithWriter("key-remediator"))
				opts = append(opts, WithStore(store))
			}
			rep, err := New(base, testConfig("us-east-1"), opts...).ReconcileTrail(ctx, motoAccount, "us-east-1", trail)
			if err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			res := onlyResult(t, rep)
			if got := outcomes(res); !slices.Equal(got, tc.want) {
				t.Fatalf("outcomes %v, want %v (alerts %v)", got, tc.want, res.Alerts)
			}
			if got := w.keyState(key); got != tc.wantState {
				t.Errorf("key state %s, want %s", got, tc.wantState)
			}
			alerted := slices.ContainsFunc(res.Alerts, func(a string) bool { return strings.HasPrefix(a, "loop guard:") })
			if alerted != tc.wantAlert {
				t.Errorf("loop guard alert %v, want %v (alerts %v)", alerted, tc.wantAlert, res.Alerts)
			}
			mu.Lock()
			var leases, transacts, describes, describesAfterLease int
			leased := false
			for _, c := range calls {
				switch c.Operation {
				case "PutItem":
					if bytes.Contains(c.Body, []byte(`"pk":{"S":"lease"}`)) {
						leases++
						leased = true
					}
				case "TransactWriteItems":
					transacts++
				case "DescribeKey":
					describes++
					if leased {
						describesAfterLease++
					}
				}
			}
			mu.Unlock()
			if leases != tc.wantLeases {
				t.Errorf("%d leases taken, want %d (one for the cancel and the enable)", leases, tc.wantLeases)
			}
			if tc.table && (transacts != 1 || describesAfterLease != tc.wantDescribe) {
				t.Errorf("%d TransactWriteItems and %d DescribeKey under the lease; want 1 (guard + records) and %d", transacts, describesAfterLease, tc.wantDescribe)
			}
			if !tc.table && describes < 2 {
				t.Errorf("%d DescribeKey; want the observation's and the re-read before the writes", describes)
			}
			if store == nil {
				return
			}
			hist, err := store.History(ctx, state.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range hist {
				if c.Status != state.Applied {
					t.Errorf("change %s %s is %s, want applied", c.ID, c.Action, c.Status)
				}
				got = append(got, c.Action)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.wantRecords) {
				t.Errorf("recorded %v, want %v", got, tc.wantRecords)
			}
		})
	}
}

// TestKeyEventForAnotherAccountRefused: outside organization mode, a key
// event naming another account is refused with ErrOtherAccount, though the
// key is read beside the own-account check (moto would even describe the
// own key under the other account's ARN: README "Emulator gaps"), and
// nothing is written: the own key stays pending deletion.
func TestKeyEventForAnotherAccountRefused(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	key := w.key("us-east-1", policyWithForeign(motoAccount))
	w.bucket("logs-other", "us-east-1")
	w.trail("us-east-1", "other", "logs-other", key, false, nil)
	if _, err := w.kms("us-east-1").ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID(key)), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	const other = "222222222222"
	for _, ref := range []string{keyID(key), strings.Replace(key, motoAccount, other, 1)} {
		rep, err := w.reconciler(testConfig("us-east-1")).ReconcileKey(ctx, other, "us-east-1", ref)
		if !errors.Is(err, ErrOtherAccount) {
			t.Errorf("key %s for account %s: err %v, want ErrOtherAccount (results %+v)", ref, other, err, rep.Results)
		}
		if got := w.keyState(key); got != compliance.KeyStatePendingDeletion {
			t.Fatalf("key state %s after an event for another account; want it untouched", got)
		}
	}
}
