package reconcile

import (
	"sync"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/config"
)

// TestAliasResolvedOncePerContainer: a warm Reconciler resolves the
// baseline alias once per DefaultAliasTTL (no DescribeKey on the alias in
// later runs, so the key's own reads start at once), again after the
// expiry, and at once when the cached key is no longer usable (the alias
// may have moved).
func TestAliasResolvedOncePerContainer(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	aliasLookups := func(f *fakeAWS) int {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := 0
		for _, ref := range f.described {
			if ref == config.DefaultKeyAlias {
				n++
			}
		}
		return n
	}
	const newKeyARN = "arn:aws:kms:" + fakeRegion + ":" + fakeAccount + ":key/22222222-2222-2222-2222-222222222222"

	tests := []struct {
		name       string
		between    func(f *fakeAWS) // after the first run
		wantLookup int              // alias DescribeKey calls after the second run
		wantKey    string           // the second trail's key
	}{
		{"warm container", func(*fakeAWS) {}, 1, baseKeyARN},
		{"after the expiry", func(*fakeAWS) { advance(DefaultAliasTTL + time.Second) }, 2, baseKeyARN},
		{"cached key disabled, alias moved", func(f *fakeAWS) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.keys[baseKeyARN].State = "Disabled"
			f.addKey(newKeyARN, "22222222-2222-2222-2222-222222222222", f.keys[baseKeyARN].Policy)
			f.alias[config.DefaultKeyAlias] = newKeyARN
		}, 2, newKeyARN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAWS(t)
			first := f.addTrail("first", "")
			second := f.addTrail("second", "")
			r := f.reconciler(fakeConfig(), WithAliasCache(DefaultAliasTTL, clock))
			if _, err := r.ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, first); err != nil {
				t.Fatalf("first run: %v", err)
			}
			if n := aliasLookups(f); n != 1 {
				t.Fatalf("first run resolved the alias %d times, want 1", n)
			}
			tc.between(f)
			if _, err := r.ReconcileTrail(testCtx(t), fakeAccount, fakeRegion, second); err != nil {
				t.Fatalf("second run: %v", err)
			}
			if n := aliasLookups(f); n != tc.wantLookup {
				t.Errorf("alias resolved %d times after two runs, want %d (DescribeKey calls: %q)", n, tc.wantLookup, f.described)
			}
			f.mu.Lock()
			got := f.trails["second"].KmsKeyID
			f.mu.Unlock()
			if got != tc.wantKey {
				t.Errorf("second trail's key = %q, want %q", got, tc.wantKey)
			}
		})
	}
}
