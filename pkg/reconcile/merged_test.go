package reconcile

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// TestOneWritePerKey (issue 13): trails reconciled together that need
// statements on one key get one PutKeyPolicy carrying all of them: a key
// event for a key four trails share, and a sweep moving three unencrypted
// trails to the baseline key. The change log (one record per write) shows
// it.
func TestOneWritePerKey(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	store := w.withTable("test")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-merged", "us-east-1")
	shared := w.key("us-east-1", policyWithForeign(motoAccount))
	var sharedTrails, plainTrails []string
	for i := range 4 {
		sharedTrails = append(sharedTrails, w.trail("us-east-1", fmt.Sprintf("shared-%d", i), "logs-merged", shared, false, nil))
	}
	cfg := testConfig("us-east-1")
	r := w.reconciler(cfg, WithStore(store))
	rep, err := r.ReconcileKey(ctx, motoAccount, "us-east-1", shared)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 {
		t.Fatalf("%d results, want the 4 trails on the key", len(rep.Results))
	}
	for i := range 3 {
		plainTrails = append(plainTrails, w.trail("us-east-1", fmt.Sprintf("plain-%d", i), "logs-merged", "", false, nil))
	}
	if _, err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	puts := map[string][]string{}
	updates := 0
	for _, c := range hist {
		switch c.Action {
		case "PutKeyPolicy":
			puts[c.Resource] = append(puts[c.Resource], c.Trails...)
			slices.Sort(puts[c.Resource])
		case "UpdateTrail":
			updates++
		}
	}
	slices.Sort(sharedTrails)
	slices.Sort(plainTrails)
	if len(hist) != 2+3 || !slices.Equal(puts[shared], sharedTrails) || !slices.Equal(puts[base], plainTrails) || updates != 3 {
		t.Fatalf("writes: PutKeyPolicy %v and %d UpdateTrail in %d records; want one PutKeyPolicy on the shared key for %v, one on the baseline for %v, 3 UpdateTrail",
			puts, updates, len(hist), sharedTrails, plainTrails)
	}
	for _, arn := range append(sharedTrails, plainTrails...) {
		checkFixed(t, w, cfg, motoAccount, arn, map[bool]string{true: shared, false: base}[slices.Contains(sharedTrails, arn)])
	}
}

// TestGuardKeyIsShort: the loop guard's item name for a write serving many
// trails stays well below DynamoDB's 1,024-byte sort key, is the same for
// the same trails in any order, and differs for other trails.
func TestGuardKeyIsShort(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/0c58ec79-4c0d-417f-af79-419f9a0d527d"
	var many []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("arn:aws:cloudtrail:us-east-1:123456789012:trail/a-rather-long-trail-name-%03d", i))
	}
	reversed := slices.Clone(many)
	slices.Reverse(reversed)
	tests := []struct {
		name   string
		trails []string
		check  func(t *testing.T, got string)
	}{
		{"one trail readable", many[:1], func(t *testing.T, got string) {
			if got != key+" for trail "+many[0] {
				t.Errorf("got %q", got)
			}
		}},
		{"200 trails short", many, func(t *testing.T, got string) {
			if len(got) > 200 {
				t.Errorf("%d bytes: %q", len(got), got)
			}
			if got != guardKey(key, reversed) {
				t.Error("order changes the name")
			}
			if got == guardKey(key, many[1:]) {
				t.Error("other trails give the same name")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, guardKey(key, tc.trails)) })
	}
}
