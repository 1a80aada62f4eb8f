package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/state"
)

var sharedMoto motoserver.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sharedMoto.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "moto server:", err)
	}
	os.Exit(code)
}

// clock is a fake clock; its sleep advances it, so waits take no time and
// depend on no scheduling.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
func (c *clock) sleep(_ context.Context, d time.Duration) error { c.advance(d); return nil }

// table returns a DynamoDB client on a fresh moto and a new state table.
func table(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := sharedMoto.Get(t)
	ctx := context.Background()
	cfg, err := srv.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := statetable.Create(ctx, db, "trailguard-state"); err != nil {
		t.Fatal(err)
	}
	return db, "trailguard-state"
}

func TestLeaseIsExclusiveUntilReleasedOrExpired(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	opts := []state.Option{state.WithClock(c.now), state.WithSleep(c.sleep), state.WithLease(20*time.Second, 5*time.Second)}
	a := state.New(db, name, append(opts, state.WithWriter("trail-remediator"))...)
	b := state.New(db, name, append(opts, state.WithWriter("key-remediator"))...)
	const k = "arn:aws:kms:us-east-1:123456789012:key/k1"

	la, err := a.Acquire(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, k); !errors.Is(err, state.ErrBusy) {
		t.Fatalf("second writer got %v, want ErrBusy while the first holds the lease", err)
	}
	// Another resource is independent.
	if l, err := b.Acquire(ctx, k+"-other"); err != nil {
		t.Fatalf("a lease on another key: %v", err)
	} else if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Check(); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}

	// b crashes holding the lease: it expires after its duration.
	_ = lb
	if _, err := a.Acquire(ctx, k); !errors.Is(err, state.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy before the crashed lease expires", err)
	}
	if err := lb.Check(); err != nil {
		t.Fatalf("the lease is still held: Check = %v", err)
	}
	// A write in progress is bounded by the lease: its context ends half
	// the 2 s safety margin before the lease does (the store's clock).
	fresh, err := a.Acquire(ctx, k+"-write")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := fresh.WriteContext(ctx)
	dl, ok := wctx.Deadline()
	cancel()
	if left := time.Until(dl); !ok || left > 19*time.Second || left < 18*time.Second {
		t.Fatalf("fresh 20 s lease: write context deadline in %v (set %v), want 19 s", left, ok)
	}
	c.advance(19 * time.Second) // 1 s of the lease left: too little to start a write
	if err := lb.Check(); !errors.Is(err, state.ErrLeaseLost) {
		t.Fatalf("1 s left: Check = %v, want ErrLeaseLost", err)
	}
	wctx, cancel = lb.WriteContext(ctx)
	<-wctx.Done() // 1 s left less the 1 s half margin: ended already
	cancel()
	c.advance(time.Second)
	la2, err := a.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("after the crashed lease expired: %v", err)
	}
	// The crashed writer's late release must not free a's lease.
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, k); !errors.Is(err, state.ErrBusy) {
		t.Fatalf("a stale release freed the new holder's lease: %v", err)
	}
	if err := la2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseExcludesConcurrentWriters: 12 goroutines increment a counter
// kept in plain memory, each only under the lease, with a read, a pause
// and a write; with mutual exclusion no increment is lost, whatever the
// interleaving.
func TestLeaseExcludesConcurrentWriters(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	s := state.New(db, name, state.WithLease(10*time.Second, 60*time.Second))
	var (
		counter int
		inside  int
		mu      sync.Mutex
		wg      sync.WaitGroup
		errs    = make(chan error, 12)
	)
	for range 12 {
		wg.Go(func() {
			l, err := s.Acquire(ctx, "shared")
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			inside++
			if inside != 1 {
				errs <- fmt.Errorf("%d writers inside the lease at once", inside)
			}
			v := counter
			mu.Unlock()
			time.Sleep(time.Millisecond) // widen the window a lost update needs
			mu.Lock()
			counter = v + 1
			inside--
			mu.Unlock()
			if err := l.Release(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if counter != 12 {
		t.Fatalf("counter %d, want 12: an update was lost", counter)
	}
}

func TestGuardSharedAcrossContainers(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	// Two containers (two Stores) share the counts.
	s1 := state.New(db, name, state.WithClock(c.now))
	s2 := state.New(db, name, state.WithClock(c.now))
	type step struct {
		s            *state.Store
		advance      time.Duration
		ok, alert    bool
		resourceName string
	}
	const r = "trail-a"
	steps := []step{
		{s: s1, ok: true}, {s: s2, ok: true}, {s: s1, ok: true},
		{s: s2, ok: false, alert: true}, // the 4th in the hour: refused, one alert
		{s: s1, ok: false, alert: false},
		{s: s2, ok: true, resourceName: "trail-b"}, // another resource is independent
		{s: s1, advance: 61 * time.Minute, ok: true},
	}
	for i, st := range steps {
		c.advance(st.advance)
		res := r
		if st.resourceName != "" {
			res = st.resourceName
		}
		ok, alert, err := st.s.Allow(ctx, res, 3, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if ok != st.ok || alert != st.alert {
			t.Fatalf("step %d: Allow = %v, alert %v; want %v, %v", i, ok, alert, st.ok, st.alert)
		}
	}
}

// TestGuardCountsEveryConcurrentAttempt: 16 containers at once, max 5:
// exactly 5 are allowed and exactly one alert is raised.
func TestGuardCountsEveryConcurrentAttempt(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	var (
		mu             sync.Mutex
		allowed, alert int
		wg             sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			s := state.New(db, name)
			ok, a, err := s.Allow(ctx, "hot", 5, time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if ok {
				allowed++
			}
			if a {
				alert++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if allowed != 5 || alert != 1 {
		t.Fatalf("allowed %d, alerts %d; want 5 and 1", allowed, alert)
	}
}

func TestChangeLog(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)}
	s := state.New(db, name, state.WithClock(c.now), state.WithWriter("key-remediator"))
	const key1, key2 = "arn:aws:kms:us-east-1:123456789012:key/k1", "arn:aws:kms:us-east-1:123456789012:key/k2"
	const trail = "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1"
	var ids []string
	for i, res := range []string{key1, key2, key1} {
		ch, err := s.Record(ctx, state.Change{Source: fmt.Sprintf("event-%d", i), Account: "123456789012", Region: "us-east-1",
			Resource: res, Trails: []string{trail}, Rules: []string{"key-policy-no-encrypt"}, Action: "PutKeyPolicy",
			Before: `{"v":1}`, After: `{"v":2}`})
		if err != nil {
			t.Fatal(err)
		}
		if ch.Status != state.Pending || ch.Writer != "key-remediator" || ch.ID == "" {
			t.Fatalf("recorded %+v", ch)
		}
		ids = append(ids, ch.ID)
		c.advance(time.Minute)
	}
	if err := s.Finish(ctx, ids[0], state.Applied, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "19990101T000000.000Z-000000000000", state.Applied, ""); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("finish of an unknown id: %v", err)
	}
	if err := s.Amend(ctx, ids[0], `{"v":"1b"}`, `{"v":"2b"}`); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != state.Applied || got.Before != `{"v":"1b"}` || got.After != `{"v":"2b"}` || got.Resource != key1 || got.Source != "event-0" {
		t.Fatalf("get: %+v", got)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("get of an unknown id: %v", err)
	}
	cases := []struct {
		filter state.Filter
		want   []string
	}{
		{state.Filter{}, []string{ids[2], ids[1], ids[0]}},
		{state.Filter{Resource: key1}, []string{ids[2], ids[0]}},
		{state.Filter{Resource: trail, Limit: 2}, []string{ids[2], ids[1]}},
		{state.Filter{Resource: "arn:aws:kms:us-east-1:123456789012:key/none"}, nil},
	}
	for _, tc := range cases {
		hist, err := s.History(ctx, tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, h := range hist {
			gotIDs = append(gotIDs, h.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
			t.Errorf("history %+v = %v, want %v (newest first)", tc.filter, gotIDs, tc.want)
		}
	}
}
