package reconcile

import (
	"context"
	"sync"
)

// memo caches the result of one call per key for one run, and makes
// concurrent callers of the same key share a single call. Failed calls are
// forgotten, so a later caller tries again.
type memo[V any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[V]
}

type memoEntry[V any] struct {
	done chan struct{}
	v    V
	err  error
}

func (m *memo[V]) do(ctx context.Context, key string, f func() (V, error)) (V, error) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*memoEntry[V]{}
	}
	if e, ok := m.m[key]; ok {
		m.mu.Unlock()
		select {
		case <-e.done:
			return e.v, e.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	e := &memoEntry[V]{done: make(chan struct{})}
	m.m[key] = e
	m.mu.Unlock()

	e.v, e.err = f()
	if e.err != nil {
		m.forget(key)
	}
	close(e.done)
	return e.v, e.err
}

// forget drops key, so the next call reads again.
func (m *memo[V]) forget(key string) {
	m.mu.Lock()
	delete(m.m, key)
	m.mu.Unlock()
}
