package reconcile

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailguard/trailguard/pkg/config"
)

// gatedSTS answers GetCallerIdentity with the next of answers once a value
// is sent on gate (nil gate: at once); it counts the calls.
type gatedSTS struct {
	STSAPI
	gate    chan struct{}
	mu      sync.Mutex
	answers []error // nil: success
	calls   int
	started chan struct{}
}

func (s *gatedSTS) GetCallerIdentity(ctx context.Context, _ *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	s.mu.Lock()
	var err error
	if s.calls < len(s.answers) {
		err = s.answers[s.calls]
	}
	s.calls++
	s.mu.Unlock()
	if s.started != nil {
		s.started <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String(fakeAccount)}, nil
}

func (s *gatedSTS) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type stsFactory struct{ sts STSAPI }

func (f stsFactory) Clients(context.Context, string, string) (*Clients, error) {
	return &Clients{STS: f.sts}, nil
}

func TestOwnAccount(t *testing.T) {
	errDenied := errors.New("denied")
	tests := []struct {
		name      string
		answers   []error
		callers   int // sequential callers
		wantErrs  int // how many of them fail
		wantCalls int
	}{
		{"looked up once", nil, 3, 0, 1},
		{"a failure is retried by the next caller", []error{errDenied}, 3, 1, 2},
		{"two failures", []error{errDenied, errDenied}, 3, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &gatedSTS{answers: tt.answers}
			r := New(aws.Config{Region: fakeRegion}, config.Default(), WithClientFactory(stsFactory{s}), WithLogger(testLogger(t)))
			errs := 0
			for i := 0; i < tt.callers; i++ {
				got, err := r.ownAccount(context.Background())
				switch {
				case err != nil:
					if !errors.Is(err, errDenied) {
						t.Errorf("caller %d: error %v, want the STS error", i, err)
					}
					errs++
				case got != fakeAccount:
					t.Errorf("caller %d: account %q, want %q", i, got, fakeAccount)
				}
			}
			if errs != tt.wantErrs || s.count() != tt.wantCalls {
				t.Errorf("%d errors, %d GetCallerIdentity calls; want %d, %d", errs, s.count(), tt.wantErrs, tt.wantCalls)
			}
		})
	}
}

// TestPrefetchOwnAccount: an invocation arriving while the prefetched
// lookup is in flight waits for it and makes no call of its own.
func TestPrefetchOwnAccount(t *testing.T) {
	s := &gatedSTS{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	r := New(aws.Config{Region: fakeRegion}, config.Default(), WithClientFactory(stsFactory{s}), WithLogger(testLogger(t)))
	r.PrefetchOwnAccount(context.Background())
	<-s.started // the prefetch's call is in flight
	done := make(chan error, 1)
	go func() {
		got, err := r.ownAccount(context.Background())
		if err == nil && got != fakeAccount {
			err = errors.New("wrong account " + got)
		}
		done <- err
	}()
	close(s.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.count(); n != 1 {
		t.Errorf("%d GetCallerIdentity calls, want 1 (the prefetch's)", n)
	}
	r.PrefetchOwnAccount(context.Background()) // known: no call
	if got, err := r.ownAccount(context.Background()); err != nil || got != fakeAccount || s.count() != 1 {
		t.Errorf("after the prefetch: %q, %v, %d calls; want %q, nil, 1", got, err, s.count(), fakeAccount)
	}
}

// TestPrefetchOwnAccountFailure: a failed prefetch is not the invocation's
// answer; the invocation looks the account up itself.
func TestPrefetchOwnAccountFailure(t *testing.T) {
	s := &gatedSTS{gate: make(chan struct{}, 2), started: make(chan struct{}, 2), answers: []error{errors.New("throttled")}}
	r := New(aws.Config{Region: fakeRegion}, config.Default(), WithClientFactory(stsFactory{s}), WithLogger(testLogger(t)))
	r.PrefetchOwnAccount(context.Background())
	<-s.started
	s.gate <- struct{}{} // the prefetch fails
	s.gate <- struct{}{} // the invocation's own call succeeds
	got, err := r.ownAccount(context.Background())
	if err != nil || got != fakeAccount {
		t.Fatalf("ownAccount after a failed prefetch = %q, %v; want %q", got, err, fakeAccount)
	}
	if n := s.count(); n != 2 {
		t.Errorf("%d GetCallerIdentity calls, want 2", n)
	}
}

// TestOwnAccountWaiterHonoursItsContext: a caller waiting for another's
// lookup returns when its own context ends.
func TestOwnAccountWaiterHonoursItsContext(t *testing.T) {
	s := &gatedSTS{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	r := New(aws.Config{Region: fakeRegion}, config.Default(), WithClientFactory(stsFactory{s}), WithLogger(testLogger(t)))
	first := make(chan error, 1)
	go func() { _, err := r.ownAccount(context.Background()); first <- err }()
	<-s.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.ownAccount(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter with an ended context: %v, want context.Canceled", err)
	}
	close(s.gate)
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
	if n := s.count(); n != 1 {
		t.Errorf("%d GetCallerIdentity calls, want 1", n)
	}
}
