package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/trailguard/trailguard/pkg/state"
)

// Store is the durable state the reconciler uses when a table is
// configured (state.Store implements it): a lease per resource around
// every read-merge-write, the shared loop guard, and the change log.
type Store interface {
	Acquire(ctx context.Context, resource string) (*state.Lease, error)
	// ReadGuard and Admit are the loop guard: the guard is read beside
	// the writer's last read of the resource, and its count is committed
	// with the change records of the writes it admits, in one round trip.
	ReadGuard(ctx context.Context, resource string) (state.GuardRead, error)
	Admit(ctx context.Context, g state.GuardRead, max int, window time.Duration, changes ...state.Change) ([]state.Change, bool, error)
	Record(ctx context.Context, c state.Change) (state.Change, error)
	Finish(ctx context.Context, id, status, detail string) error
	Amend(ctx context.Context, id, before, after string) error
	ChangeLog
}

var _ Store = (*state.Store)(nil)

// WithStore makes every writer serialize on the store's leases, count
// attempts in its shared loop guard and record every write in its change
// log. Without it, locks and the loop guard are per Reconciler (one
// process) and nothing is recorded.
// The store is also the trail index when it implements TrailIndex
// (state.Store does).
func WithStore(s Store) Option {
	return func(r *Reconciler) {
		r.store = s
		if ix, ok := s.(TrailIndex); ok {
			r.index = ix
		}
	}
}

// WithSource names what started the runs ("cli"); an event's id is used
// when the context carries one (WithEventID), and "sweep" for a sweep
// otherwise.
func WithSource(src string) Option { return func(r *Reconciler) { r.source = src } }

type eventIDKey struct{}

// sweepKey marks a context of a sweep.
type sweepKey struct{}

// WithEventID returns ctx carrying the id of the event being handled; the
// change log records it as the source of the writes made for it.
func WithEventID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, eventIDKey{}, id)
}

// sourceOf is the change log's source for writes made under ctx.
func (r *Reconciler) sourceOf(ctx context.Context) string {
	if id, ok := ctx.Value(eventIDKey{}).(string); ok && id != "" {
		return "event " + id
	}
	if r.source != "" {
		return r.source
	}
	if ctx.Value(sweepKey{}) != nil {
		return "sweep"
	}
	return "unknown"
}

// Recording reports whether writes are recorded (a table is configured).
func (r *Reconciler) Recording() bool { return r.store != nil }

// held is a lock on one resource: a lease of the store, or an in-process
// mutex when there is none.
type held struct {
	lease  *state.Lease
	unlock func()
}

// check fails when the lease is about to expire: no write may start then.
func (h held) check() error {
	if h.lease == nil {
		return nil
	}
	if err := h.lease.Check(); err != nil {
		return err
	}
	return nil
}

// writeContext bounds ctx by the lease (state.Lease.WriteContext); with
// an in-process lock there is nothing to bound.
func (h held) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if h.lease == nil {
		return context.WithCancel(ctx)
	}
	return h.lease.WriteContext(ctx)
}

func (h held) release(ctx context.Context, r *Reconciler) {
	if h.unlock != nil {
		h.unlock()
	}
	if h.lease != nil {
		if err := h.lease.Release(ctx); err != nil {
			r.log.Warn("release lease", "error", err.Error())
		}
	}
}

// lock takes the lock on resource for one read-merge-write. A busy lease
// (state.ErrBusy) is a transient error: Lambda retries the event.
func (r *Reconciler) lock(ctx context.Context, resource string) (held, error) {
	if r.store == nil {
		return held{unlock: r.locks.lock(resource)}, nil
	}
	l, err := r.store.Acquire(ctx, resource)
	if err != nil {
		return held{}, err
	}
	return held{lease: l}, nil
}

// readGuard reads the shared loop guard of resource, to be started beside
// the last read before a write (nothing to read without a table: the
// in-process guard is in memory).
func (r *Reconciler) readGuard(ctx context.Context, resource string) (state.GuardRead, error) {
	if r.store == nil {
		return state.GuardRead{}, nil
	}
	return r.store.ReadGuard(ctx, resource)
}

// processLocks serializes writes per resource within one process.
type processLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (l *processLocks) lock(resource string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	mu, ok := l.m[resource]
	if !ok {
		mu = &sync.Mutex{}
		l.m[resource] = mu
	}
	l.mu.Unlock()
	mu.Lock()
	return mu.Unlock
}
