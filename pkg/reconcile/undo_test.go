package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// withTable creates the state table in moto and returns a store on it.
func (w *world) withTable(writer string) *state.Store {
	w.t.Helper()
	db := dynamodb.NewFromConfig(w.cfg("us-east-1"))
	if err := statetable.Create(context.Background(), db, "trailguard-state"); err != nil {
		w.t.Fatal(err)
	}
	return state.New(db, "trailguard-state", state.WithWriter(writer))
}

// TestChangeLogAndUndo: with a table, every write is recorded with the
// exact value before and after; Undo restores Before only when that is
// safe and nobody changed the resource since, and says why otherwise,
// writing nothing.
func TestChangeLogAndUndo(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	store := w.withTable("trail-remediator")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-undo", "us-east-1")
	plain := w.trail("us-east-1", "plain", "logs-undo", "", false, nil)
	w.trail("us-east-1", "keyed", "logs-undo", "", false, nil)
	cfg := testConfig("us-east-1")
	basePolicyBefore := w.policy(base)
	if _, err := w.reconciler(cfg, WithStore(store)).ReconcileTrail(ctx, motoAccount, "us-east-1", "keyed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.reconciler(cfg, WithStore(store)).ReconcileTrail(ctx, motoAccount, "us-east-1", "plain"); err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range hist {
		got = append(got, c.Action+" "+c.Status)
		if c.Writer != "trail-remediator" || c.Account != motoAccount || c.Region != "us-east-1" || c.Source == "" {
			t.Errorf("record %+v lacks its writer, account, Region or source", c)
		}
	}
	slices.Sort(got)
	// keyed: PutKeyPolicy on base + UpdateTrail; plain: PutKeyPolicy on
	// base (its own SourceArn) + UpdateTrail.
	want := []string{"PutKeyPolicy applied", "PutKeyPolicy applied", "UpdateTrail applied", "UpdateTrail applied"}
	if !slices.Equal(got, want) {
		t.Fatalf("change log %v, want %v", got, want)
	}
	first := hist[len(hist)-1] // oldest: keyed's PutKeyPolicy on base
	if first.Action != "PutKeyPolicy" || first.Resource != base || !sameJSON(first.Before, basePolicyBefore) {
		t.Fatalf("oldest record %+v: want base's PutKeyPolicy with the policy before", first)
	}
	var trailChange state.Change
	for _, c := range hist {
		if c.Action == "UpdateTrail" && c.Resource == plain {
			trailChange = c
		}
	}
	if trailChange.Before != "" || trailChange.After != base {
		t.Fatalf("UpdateTrail record %+v: want before \"\" and after the baseline", trailChange)
	}

	var lastPut state.Change // newest write to base: plain's statements
	for _, c := range hist {
		if c.Action == "PutKeyPolicy" {
			lastPut = c
			break
		}
	}
	r := w.reconciler(cfg, WithStore(store), WithSource("cli"))
	refusals := []struct {
		name, id, want string
	}{
		{"trail back to no encryption", trailChange.ID, "never removes a trail's encryption"},
		{"policy a trail on the key needs", lastPut.ID, "would not let CloudTrail use it"},
		{"a write another write followed", first.ID, "was changed after trailguard's write"},
		{"unknown id", "20990101T000000.000Z-000000000000", ""},
	}
	for _, tc := range refusals {
		policyBefore, trailBefore := w.policy(base), w.trailKey(plain)
		_, err := r.Undo(ctx, tc.id)
		if tc.want == "" {
			if !errors.Is(err, state.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrUndoRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Undo = %v, want a refusal saying %q", tc.name, err, tc.want)
		}
		if w.policy(base) != policyBefore || w.trailKey(plain) != trailBefore {
			t.Errorf("%s: a refused undo wrote", tc.name)
		}
	}

	// A human edit after trailguard's last write to base: the undo is
	// refused and the edit kept.
	var doc map[string]any
	if err := json.Unmarshal([]byte(w.policy(base)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["Statement"] = append(doc["Statement"].([]any), map[string]any{"Sid": "HumanLater", "Effect": "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::" + motoAccount + ":role/Later"}, "Action": "kms:DescribeKey", "Resource": "*"})
	edited, _ := json.Marshal(doc)
	w.setPolicy(base, string(edited))
	if _, err := r.Undo(ctx, lastPut.ID); !errors.Is(err, ErrUndoRefused) || !strings.Contains(err.Error(), "changed after trailguard's write") {
		t.Errorf("undo after a human edit: %v, want a refusal", err)
	}
	if !strings.Contains(w.policy(base), "HumanLater") {
		t.Error("the human edit was overwritten")
	}
}

// TestUndoRestoresExactly: a readers grant trailguard added to a key no
// trail needs for CloudTrail is undone: the policy is exactly Before
// again, the undo is recorded (UndoOf) and the original is marked undone;
// a second undo is refused.
func TestUndoRestoresExactly(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	store := w.withTable("cli")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-exact", "us-east-1")
	w.trail("us-east-1", "exact", "logs-exact", "", false, nil)
	cfg := testConfig("us-east-1")
	r := w.reconciler(cfg, WithStore(store), WithSource("cli"))
	if _, err := r.ReconcileTrail(ctx, motoAccount, "us-east-1", "exact"); err != nil {
		t.Fatal(err)
	}
	// An explicit reader is added to the configuration: trailguard grants
	// it decrypt on the key, a change CloudTrail does not depend on.
	// (A reader of another account: the key policy must name it; one of
	// the own account is served by the root statement's delegation.)
	cfg.Readers = []string{"arn:aws:iam::222222222222:role/LogReader"}
	before := w.policy(base)
	r2 := w.reconciler(cfg, WithStore(store), WithSource("cli"))
	if _, err := r2.ReconcileTrail(ctx, motoAccount, "us-east-1", "exact"); err != nil {
		t.Fatal(err)
	}
	if w.policy(base) == before {
		t.Fatal("the readers grant was not written")
	}
	hist, err := store.History(ctx, state.Filter{Resource: base, Limit: 1})
	if err != nil || len(hist) != 1 {
		t.Fatalf("history: %v %v", hist, err)
	}
	grant := hist[0]
	if !sameJSON(grant.Before, before) {
		t.Fatalf("recorded before differs from the policy before")
	}
	undo, err := r2.Undo(ctx, grant.ID)
	if err != nil {
		t.Fatalf("undo: %v", err)
	}
	if !sameJSON(w.policy(base), before) {
		t.Errorf("after undo the policy is not exactly the one before:\n%s\nwant\n%s", w.policy(base), before)
	}
	if undo.UndoOf != grant.ID || undo.Status != state.Applied || undo.Action != "PutKeyPolicy" {
		t.Errorf("undo record %+v", undo)
	}
	orig, err := store.Get(ctx, grant.ID)
	if err != nil || orig.Status != state.Undone {
		t.Errorf("original after undo: %+v %v", orig, err)
	}
	if _, err := r2.Undo(ctx, grant.ID); !errors.Is(err, ErrUndoRefused) {
		t.Errorf("second undo: %v, want refused", err)
	}
	if _, err := r2.Undo(ctx, undo.ID); !errors.Is(err, ErrUndoRefused) {
		t.Errorf("undo of an undo: %v, want refused", err)
	}
	// Without a table: a clear error.
	if _, err := w.reconciler(cfg).Undo(ctx, grant.ID); !errors.Is(err, ErrNoStore) {
		t.Errorf("undo without a table: %v", err)
	}
}
