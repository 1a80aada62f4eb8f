package motoserver

import (
	"context"
	"os"
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
