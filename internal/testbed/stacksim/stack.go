package stacksim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/trailguard/trailguard/pkg/event"
)

// The stack's settings (infra/stack.go) the simulation defaults to.
const (
	// DefaultRetries is Lambda's asynchronous retry attempts
	// (functionRetryAttempts).
	DefaultRetries = 2
	// DefaultTimeout is the remediators' timeout.
	DefaultTimeout = 60 * time.Second
)

// Handler is a function's Lambda handler, e.g. handler.TrailHandler's
// Handle wrapped to return any.
type Handler func(ctx context.Context, event json.RawMessage) (any, error)

// Function is one deployed function.
type Function struct {
	// Name is the function name ("trail-remediator").
	Name    string
	Handler Handler
	// Reserved is the reserved concurrency: at most this many
	// invocations run at once (0: unlimited). The stack reserves 1.
	Reserved int
	// Retries is how often a failed asynchronous invocation is retried
	// before the event goes to the dead-letter queue: DefaultRetries when
	// 0, none when NoRetries.
	Retries int
	// Timeout is the invocation's deadline (DefaultTimeout when 0).
	Timeout time.Duration
}

// NoRetries as Function.Retries turns retries off.
const NoRetries = -1

// Options configure a Stack.
type Options struct {
	// RetryDelay is the wait before a failed invocation is retried
	// (Lambda waits 1 then 2 minutes; tests want milliseconds).
	RetryDelay time.Duration
	// Jitter is the largest random wait before an event joins its
	// function's queue, so events delivered together start in random
	// order.
	Jitter time.Duration
	// Seed makes the jitter repeatable.
	Seed uint64
}

// Invocation is one finished invocation.
type Invocation struct {
	Function string
	Event    []byte
	// Attempt is 0 for the first invocation of an event, then 1, 2, ...
	Attempt int
	Output  any
	Err     error
}

// DeadLetter is an event whose retries were exhausted.
type DeadLetter struct {
	Function string
	Event    []byte
	Err      error
}

// FunctionStats count one function's invocations.
type FunctionStats struct {
	Invocations, Errors, Retries, DeadLetters int
	// Peak is the largest number of invocations that ran at once.
	Peak int
}

type function struct {
	Function
	sem     chan struct{} // nil when unlimited
	running int
	stats   FunctionStats
}

type rule struct {
	function string
	pattern  event.Pattern
}

// Stack routes events to functions and invokes them asynchronously.
type Stack struct {
	opts Options

	mu          sync.Mutex
	idle        *sync.Cond
	pending     int // events queued, running or waiting for a retry
	fns         map[string]*function
	rules       []rule
	rnd         *rand.Rand
	invocations []Invocation
	dead        []DeadLetter
}

// New returns a stack of the given functions.
func New(opts Options, fns ...Function) (*Stack, error) {
	s := &Stack{opts: opts, fns: map[string]*function{}, rnd: rand.New(rand.NewPCG(opts.Seed, opts.Seed+1))}
	s.idle = sync.NewCond(&s.mu)
	for _, f := range fns {
		if f.Name == "" || f.Handler == nil {
			return nil, errors.New("stacksim: a function needs a name and a handler")
		}
		if _, dup := s.fns[f.Name]; dup {
			return nil, fmt.Errorf("stacksim: function %s defined twice", f.Name)
		}
		if f.Reserved < 0 {
			return nil, fmt.Errorf("stacksim: function %s: reserved concurrency %d", f.Name, f.Reserved)
		}
		if f.Retries == 0 {
			f.Retries = DefaultRetries
		} else if f.Retries < 0 {
			f.Retries = 0
		}
		if f.Timeout <= 0 {
			f.Timeout = DefaultTimeout
		}
		fn := &function{Function: f}
		if f.Reserved > 0 {
			fn.sem = make(chan struct{}, f.Reserved)
		}
		s.fns[f.Name] = fn
	}
	return s, nil
}

// Route adds an EventBridge rule: events matching p invoke function.
func (s *Stack) Route(function string, p event.Pattern) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.fns[function]; !ok {
		return fmt.Errorf("stacksim: route to unknown function %s", function)
	}
	s.rules = append(s.rules, rule{function, p})
	return nil
}

// Deliver puts an event on the bus: every function whose rule matches it
// is invoked asynchronously. It returns the functions invoked.
func (s *Stack) Deliver(ev []byte) ([]string, error) {
	s.mu.Lock()
	rules := append([]rule(nil), s.rules...)
	s.mu.Unlock()
	var out []string
	for _, r := range rules {
		ok, err := event.Matches(r.pattern, ev)
		if err != nil {
			return out, fmt.Errorf("stacksim: rule of %s: %w", r.function, err)
		}
		if ok {
			if err := s.Invoke(r.function, ev); err != nil {
				return out, err
			}
			out = append(out, r.function)
		}
	}
	return out, nil
}

// Invoke invokes function asynchronously with ev and returns at once.
func (s *Stack) Invoke(function string, ev []byte) error {
	s.mu.Lock()
	fn, ok := s.fns[function]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("stacksim: invoke unknown function %s", function)
	}
	s.pending++
	var jitter time.Duration
	if s.opts.Jitter > 0 {
		jitter = time.Duration(s.rnd.Int64N(int64(s.opts.Jitter)))
	}
	s.mu.Unlock()
	ev = append([]byte(nil), ev...)
	go s.run(fn, ev, jitter)
	return nil
}

// run invokes fn with ev, retrying as Lambda does, then marks the event
// done.
func (s *Stack) run(fn *function, ev []byte, jitter time.Duration) {
	defer s.done()
	time.Sleep(jitter)
	for attempt := 0; ; attempt++ {
		err := s.invoke(fn, ev, attempt)
		if err == nil {
			return
		}
		s.mu.Lock()
		if attempt >= fn.Retries {
			fn.stats.DeadLetters++
			s.dead = append(s.dead, DeadLetter{Function: fn.Name, Event: ev, Err: err})
			s.mu.Unlock()
			return
		}
		fn.stats.Retries++
		s.mu.Unlock()
		time.Sleep(s.opts.RetryDelay)
	}
}

// invoke runs one invocation within the function's reserved concurrency.
func (s *Stack) invoke(fn *function, ev []byte, attempt int) (err error) {
	if fn.sem != nil {
		fn.sem <- struct{}{}
		defer func() { <-fn.sem }()
	}
	s.mu.Lock()
	fn.running++
	if fn.running > fn.stats.Peak {
		fn.stats.Peak = fn.running
	}
	fn.stats.Invocations++
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), fn.Timeout)
	defer cancel()
	var out any
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("stacksim: %s panicked: %v", fn.Name, r)
			}
		}()
		out, err = fn.Handler(ctx, ev)
	}()

	s.mu.Lock()
	defer s.mu.Unlock()
	fn.running--
	if err != nil {
		fn.stats.Errors++
	}
	s.invocations = append(s.invocations, Invocation{Function: fn.Name, Event: ev, Attempt: attempt, Output: out, Err: err})
	return err
}

func (s *Stack) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		s.idle.Broadcast()
	}
}

// Wait blocks until no event is queued, running or waiting for a retry,
// including the events delivered by the invocations themselves.
func (s *Stack) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pending > 0 {
		s.idle.Wait()
	}
}

// Invocations returns the finished invocations, in the order they ended.
func (s *Stack) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invocation(nil), s.invocations...)
}

// DeadLetters returns the events whose retries were exhausted.
func (s *Stack) DeadLetters() []DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeadLetter(nil), s.dead...)
}

// Stats returns each function's counts.
func (s *Stack) Stats() map[string]FunctionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]FunctionStats, len(s.fns))
	for name, fn := range s.fns {
		out[name] = fn.stats
	}
	return out
}
