package motoserver

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// ForTest starts a moto server for one test and stops it in t.Cleanup.
// When moto_server is not installed the test is skipped with the reason,
// unless the environment variable CI is "true": then the test fails.
func ForTest(t testing.TB) *Server {
	t.Helper()
	if _, err := Find(); err != nil {
		skipOrFail(t, err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*readyTimeout)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatalf("moto server: %v", err)
		return nil
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("moto server: %v", err)
		}
	})
	return s
}

// skipOrFail skips t because of err, or fails it when CI=true.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: failing instead of skipping)", err)
		return
	}
	t.Skipf("SKIP: %v", err)
}

// Shared is one moto server for a whole test package: started on first
// use, reset to an empty state and held for each test that asks for it (so
// those tests run one at a time), stopped by Stop from TestMain.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
	mu   sync.Mutex
}

// Get returns the package's server, reset, held until t ends. When
// moto_server is not installed the test is skipped with the reason, unless
// CI is "true": then it fails.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	if _, err := Find(); err != nil {
		skipOrFail(t, err)
		return nil
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*readyTimeout)
		defer cancel()
		s.srv, s.err = Start(ctx)
	})
	if s.err != nil {
		t.Fatalf("start moto server: %v", s.err)
		return nil
	}
	s.mu.Lock()
	t.Cleanup(s.mu.Unlock)
	if err := s.srv.Reset(context.Background()); err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	return s.srv
}

// Stop stops the server if it was started (call it from TestMain after
// m.Run).
func (s *Shared) Stop() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Stop()
}

// SkipOrFail skips t with the reason, or fails it when the environment
// variable CI is "true" (CI must run every test).
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	skipOrFail(t, fmt.Errorf(format, args...))
}
