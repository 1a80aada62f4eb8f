package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// TestTrailIndexWithTheStateTable runs the index end to end against moto
// with the real state table: a trail event indexes its trail under its
// key; once a sweep is marked completed, a key event on that key (a new
// Reconciler and store, as a cold start) lists no Region's trails and
// fixes the trail; a key with no entry is scanned in every Region.
func TestTrailIndexWithTheStateTable(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	store := w.withTable("trail-remediator")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-index", "us-east-1")
	k := w.key("us-east-1", rootPolicy(motoAccount))
	other := w.key("us-east-1", rootPolicy(motoAccount))
	trail := w.trail("us-east-1", "indexed", "logs-index", k, false, nil)
	cfg := testConfig()

	if _, err := w.reconciler(cfg, WithStore(store)).ReconcileTrail(ctx, motoAccount, "us-east-1", "indexed"); err != nil {
		t.Fatal(err)
	}
	kt, err := store.TrailsOfKey(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Trails) != 1 || kt.Trails[0].Trail != trail || kt.Trails[0].Region != "us-east-1" || kt.Trails[0].Bucket != "logs-index" {
		t.Fatalf("index of %s after the trail event: %+v", k, kt.Trails)
	}
	if kt.Current {
		t.Fatal("current before any sweep completed")
	}
	if _, err := store.MarkIndexSwept(ctx, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	db := dynamodb.NewFromConfig(w.cfg("us-east-1"))
	for _, tt := range []struct {
		name         string
		key          string
		setup        func()
		wantDescribe int
		wantTrail    string
	}{
		// The policy is reset: the key event fixes the indexed trail.
		{name: "indexed", key: k, setup: func() { w.setPolicy(k, rootPolicy(motoAccount)) }, wantTrail: trail},
		// No trail uses this key: no entry, every Region is listed.
		{name: "no entry", key: other, setup: func() {}, wantDescribe: len(cfg.Regions)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			fresh := state.New(db, "trailguard-state", state.WithWriter("key-remediator"))
			r, p := w.proxied(cfg, nil, WithStore(fresh))
			rep, err := r.ReconcileKey(ctx, motoAccount, "us-east-1", tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if n := p.Calls()["DescribeTrails"]; n != tt.wantDescribe {
				t.Errorf("%d DescribeTrails, want %d", n, tt.wantDescribe)
			}
			if tt.wantTrail == "" {
				if len(rep.Results) != 0 {
					t.Errorf("results %+v, want none", rep.Results)
				}
				return
			}
			if res := onlyResult(t, rep); res.Trail != tt.wantTrail || !res.Changed() {
				t.Errorf("result %+v, want %s fixed", res, tt.wantTrail)
			}
			w.assertCompliant(cfg, motoAccount, tt.wantTrail)
		})
	}
}
