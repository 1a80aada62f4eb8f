package reconcile

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/state"
)

// fakeIndex is an in-memory TrailIndex that records what the reconciler
// wrote to it.
type fakeIndex struct {
	mu      sync.Mutex
	entries map[string][]state.IndexedTrail // by key ARN
	// current is the Current answer for a key with entries.
	current bool
	readErr error
	noteErr error
	noted   []string // "key trail"
	dropped []string // "key trail"
	swept   []time.Time
}

func (x *fakeIndex) TrailsOfKey(_ context.Context, keyARN string) (state.KeyTrails, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.readErr != nil {
		return state.KeyTrails{}, x.readErr
	}
	kt := state.KeyTrails{Trails: slices.Clone(x.entries[keyARN])}
	kt.Current = x.current && len(kt.Trails) > 0
	if !kt.Current {
		kt.Reason = "test: not current"
	}
	return kt, nil
}

func (x *fakeIndex) NoteTrail(_ context.Context, keyARN string, e state.IndexedTrail) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.noteErr != nil {
		return x.noteErr
	}
	x.noted = append(x.noted, keyARN+" "+e.Trail)
	return nil
}

func (x *fakeIndex) DropTrails(_ context.Context, keyARN string, trails ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range trails {
		x.dropped = append(x.dropped, keyARN+" "+t)
	}
	return nil
}

func (x *fakeIndex) MarkIndexSwept(_ context.Context, started time.Time) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.swept = append(x.swept, started)
	return true, nil
}

// indexed are entries of trails in the fake's Region and bucket, read
// fresh.
func indexed(trails ...string) []state.IndexedTrail {
	var out []state.IndexedTrail
	for _, t := range trails {
		out = append(out, state.IndexedTrail{Trail: t, Account: fakeAccount, Region: fakeRegion, Bucket: fakeBucket, Confirmed: time.Now(), Fresh: true})
	}
	return out
}

// aged are the same entries, older than the refresh interval.
func aged(trails ...string) []state.IndexedTrail {
	out := indexed(trails...)
	for i := range out {
		out[i].Fresh = false
	}
	return out
}

// TestKeyEventUsesTrailIndex: a key event whose index answer is current
// reads the indexed trails and lists no Region's trails; a missing,
// stale or unreadable answer (or an indexed trail that cannot be read)
// falls back to listing every Region; indexed trails that left the key or
// no longer exist are not reconciled and are dropped from the index.
func TestKeyEventUsesTrailIndex(t *testing.T) {
	const (
		describe = "CloudTrail_20131101.DescribeTrails"
		getTrail = "CloudTrail_20131101.GetTrail"
	)
	regions := []string{"eu-west-1", "us-east-1", "us-west-2"}
	main, moved, gone := fakeTrailARN("main"), fakeTrailARN("moved"), fakeTrailARN("gone")
	// An organization trail of the management account, indexed as seen
	// from this account.
	orgTrail := "arn:aws:cloudtrail:us-east-1:999988887777:trail/org"
	tests := []struct {
		name    string
		index   *fakeIndex // nil: no index
		getFail bool       // GetTrail of the indexed trail is denied once
		// listFail: one Region's DescribeTrails is denied (a run error);
		// the fake lists every trail in every Region, so the others
		// still find the trail.
		listFail bool
		// wantDescribe is the number of DescribeTrails calls (one per
		// Region for the full scan), wantGet of GetTrail calls.
		wantDescribe, wantGet int
		wantDropped           []string
		// wantNoted: the reconciled trail is written to the index (not
		// when the run read its entry fresh).
		wantNoted bool
	}{
		{name: "no index", wantDescribe: len(regions)},
		{name: "current entry", index: &fakeIndex{current: true, entries: map[string][]state.IndexedTrail{trailKeyARN: indexed(main)}},
			wantGet: 1},
		{name: "current entry, older than the refresh interval", index: &fakeIndex{current: true, entries: map[string][]state.IndexedTrail{trailKeyARN: aged(main)}},
			wantGet: 1, wantNoted: true},
		{name: "no entry", index: &fakeIndex{current: true}, wantDescribe: len(regions), wantNoted: true},
		{name: "stale entry", index: &fakeIndex{current: false, entries: map[string][]state.IndexedTrail{trailKeyARN: aged(main, gone)}},
			wantDescribe: len(regions), wantDropped: []string{trailKeyARN + " " + gone}, wantNoted: true},
		// A scan that could not list a Region drops nothing: the Region
		// it missed may hold the entries it did not find.
		{name: "stale entry, a Region not listed", listFail: true, index: &fakeIndex{current: false, entries: map[string][]state.IndexedTrail{trailKeyARN: aged(main, gone)}},
			wantDescribe: len(regions), wantNoted: true},
		{name: "read error", index: &fakeIndex{readErr: errors.New("injected: table unavailable")}, wantDescribe: len(regions), wantNoted: true},
		{name: "indexed trail unreadable", getFail: true,
			index:        &fakeIndex{current: true, entries: map[string][]state.IndexedTrail{trailKeyARN: indexed(main)}},
			wantDescribe: len(regions), wantGet: 1},
		// GetTrail not finding another account's trail proves nothing:
		// the scan decides (and it does not list it here, so the entry
		// is dropped after the scan).
		{name: "another account's trail not found", index: &fakeIndex{current: true, entries: map[string][]state.IndexedTrail{trailKeyARN: indexed(main, orgTrail)}},
			wantDescribe: len(regions), wantGet: 2, wantDropped: []string{trailKeyARN + " " + orgTrail}},
		{name: "trails that left the key or are gone",
			index:   &fakeIndex{current: true, entries: map[string][]state.IndexedTrail{trailKeyARN: indexed(gone, main, moved)}},
			wantGet: 3, wantDropped: []string{trailKeyARN + " " + gone, trailKeyARN + " " + moved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
			f.addTrail("main", trailKeyARN)
			f.addTrail("moved", baseKeyARN)
			if tt.getFail {
				f.fail(getTrail, fault{Code: "AccessDeniedException", Status: 400, Times: 1})
			}
			if tt.listFail {
				f.fail(describe, fault{Code: "AccessDeniedException", Status: 400, Times: 1})
			}
			basePolicy := f.keys[baseKeyARN].Policy
			cfg := fakeConfig()
			cfg.Regions = regions
			var opts []Option
			if tt.index != nil {
				opts = append(opts, WithIndex(tt.index))
			}
			rep, err := f.reconciler(cfg, opts...).ReconcileKey(testCtx(t), fakeAccount, fakeRegion, trailKeyARN)
			if err != nil {
				t.Fatal(err)
			}
			if res := onlyResult(t, rep); res.Trail != main || !res.Changed() {
				t.Fatalf("result %+v, want %s fixed", res, main)
			}
			if (len(rep.Errors) != 0) != tt.listFail {
				t.Errorf("run errors %q, want errors %v", rep.Errors, tt.listFail)
			}
			if n := f.count(describe); n != tt.wantDescribe {
				t.Errorf("%d DescribeTrails, want %d", n, tt.wantDescribe)
			}
			if n := f.count(getTrail); n != tt.wantGet {
				t.Errorf("%d GetTrail, want %d", n, tt.wantGet)
			}
			if got := f.keys[baseKeyARN].Policy; got != basePolicy {
				t.Errorf("the key of the trail that left the key was written:\n%s", got)
			}
			if tt.index == nil {
				return
			}
			slices.Sort(tt.index.dropped)
			if !slices.Equal(tt.index.dropped, tt.wantDropped) {
				t.Errorf("dropped %q, want %q", tt.index.dropped, tt.wantDropped)
			}
			if tt.index.noteErr == nil && slices.Contains(tt.index.noted, trailKeyARN+" "+main) != tt.wantNoted {
				t.Errorf("noted %q: want %s written %v", tt.index.noted, main, tt.wantNoted)
			}
			if len(tt.index.swept) != 0 {
				t.Errorf("a key event marked the index swept")
			}
		})
	}
}

// TestSweepKeepsTrailIndex: a sweep indexes every trail under its key,
// moves a trail trailguard points at the baseline to the baseline's
// entries (dropping it from the old key's), and marks the index swept
// only when every index write succeeded; a failed index write fails
// nothing.
func TestSweepKeepsTrailIndex(t *testing.T) {
	const lostKey = "arn:aws:kms:us-east-1:" + fakeAccount + ":key/0000dead-0000-4000-8000-000000000009"
	for _, tt := range []struct {
		name      string
		noteErr   error
		wantSwept int
	}{
		{name: "writes succeed", wantSwept: 1},
		{name: "index writes fail", noteErr: errors.New("injected: table unavailable"), wantSwept: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
			keyed := f.addTrail("keyed", trailKeyARN)
			plain := f.addTrail("plain", "")
			lost := f.addTrail("lost", lostKey) // its key no longer exists
			ix := &fakeIndex{noteErr: tt.noteErr}
			cfg := fakeConfig()
			cfg.Regions = []string{"eu-west-1", fakeRegion}
			start := time.Now()
			rep, err := f.reconciler(cfg, WithIndex(ix)).Sweep(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 3 || len(rep.Errors) != 0 {
				t.Fatalf("results %+v errors %q, want 3 trails reconciled", rep.Results, rep.Errors)
			}
			for _, res := range rep.Results {
				if res.Error != "" {
					t.Errorf("%s: %s", res.Trail, res.Error)
				}
			}
			if f.trails["lost"].KmsKeyID != baseKeyARN || f.trails["plain"].KmsKeyID != baseKeyARN {
				t.Fatalf("trails not moved to the baseline: lost %s, plain %s", f.trails["lost"].KmsKeyID, f.trails["plain"].KmsKeyID)
			}
			if len(ix.swept) != tt.wantSwept {
				t.Fatalf("marked swept %d times, want %d", len(ix.swept), tt.wantSwept)
			}
			if tt.wantSwept > 0 && ix.swept[0].Before(start.Add(-time.Second)) {
				t.Errorf("marked swept as of %v, before the sweep started (%v)", ix.swept[0], start)
			}
			if tt.noteErr != nil {
				return
			}
			slices.Sort(ix.noted)
			want := []string{baseKeyARN + " " + lost, baseKeyARN + " " + plain, lostKey + " " + lost, trailKeyARN + " " + keyed}
			slices.Sort(want)
			if !slices.Equal(ix.noted, want) {
				t.Errorf("noted %q\nwant %q", ix.noted, want)
			}
			if want := []string{lostKey + " " + lost}; !slices.Equal(ix.dropped, want) {
				t.Errorf("dropped %q, want %q", ix.dropped, want)
			}
		})
	}
}

// TestSweepWithListingErrorMarksNothing: a sweep that could not list a
// Region's trails does not mark the index swept (an entry of a trail there
// that is missing would look complete); it still notes what it saw.
func TestSweepWithListingErrorMarksNothing(t *testing.T) {
	f := newFakeAWS(t)
	f.addKey(trailKeyARN, trailKeyID, rootPolicy(fakeAccount))
	f.addTrail("keyed", trailKeyARN)
	// The first DescribeTrails (one Region's listing) is denied.
	f.fail("CloudTrail_20131101.DescribeTrails", fault{Code: "AccessDeniedException", Status: 400, Times: 1})
	ix := &fakeIndex{}
	cfg := fakeConfig()
	cfg.Regions = []string{"eu-west-1", fakeRegion}
	rep, err := f.reconciler(cfg, WithIndex(ix)).Sweep(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) == 0 {
		t.Fatalf("no error reported for the denied listing: %+v", rep)
	}
	if len(ix.swept) != 0 {
		t.Errorf("marked swept %v after a sweep that could not list a Region", ix.swept)
	}
}

// TestIndexNotesOnlyTheKeysAccount: a trail is indexed under a key of the
// account it was observed in; under another account's key (a key shared
// across an organization) it is not, since key events read only the key's
// own account's entries and the key's item would only grow.
func TestIndexNotesOnlyTheKeysAccount(t *testing.T) {
	ix := &fakeIndex{}
	rn := (&Reconciler{index: ix}).newRun()
	trail := compliance.Trail{ARN: fakeTrailARN("t"), HomeRegion: fakeRegion, S3BucketName: fakeBucket}
	foreign := "arn:aws:kms:us-east-1:999988887777:key/0000cccc-0000-4000-8000-000000000003"
	rn.noteTrail(context.Background(), trailKeyARN, trail, fakeAccount)
	rn.noteTrail(context.Background(), foreign, trail, fakeAccount)
	rn.waitIndex()
	if want := []string{trailKeyARN + " " + trail.ARN}; !slices.Equal(ix.noted, want) {
		t.Errorf("noted %q, want %q", ix.noted, want)
	}
}
