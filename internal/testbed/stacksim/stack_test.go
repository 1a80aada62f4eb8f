package stacksim

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/pkg/event"
)

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
	testKeyID   = "1234abcd-12ab-34cd-56ef-1234567890ab"
)

func trailEvent(t *testing.T, name string) []byte {
	t.Helper()
	ev, err := APICall{Source: SourceCloudTrail, EventName: "UpdateTrail", Account: testAccount, Region: testRegion,
		Caller: "arn:aws:iam::123456789012:user/u", Request: map[string]any{"name": name}}.Event()
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func nameOf(t *testing.T, raw []byte) string {
	t.Helper()
	r, err := event.Decode(raw)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r.Resource()
}

// TestReservedConcurrencyOne delivers 20 events at once to a function with
// reserved concurrency 1: all run, one at a time, in another order than
// delivered.
func TestReservedConcurrencyOne(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var running, peak atomic.Int64
	h := func(_ context.Context, raw json.RawMessage) (any, error) {
		n := running.Add(1)
		defer running.Add(-1)
		if n > peak.Load() {
			peak.Store(n)
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		order = append(order, nameOf(t, raw))
		mu.Unlock()
		return nil, nil
	}
	s, err := New(Options{Jitter: 10 * time.Millisecond, Seed: 3}, Function{Name: "trail-remediator", Handler: h, Reserved: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Route("trail-remediator", event.TrailPattern()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 20 {
		name := "trail-" + strconv.Itoa(10+i)
		want = append(want, name)
		if got, err := s.Deliver(trailEvent(t, name)); err != nil || !slices.Equal(got, []string{"trail-remediator"}) {
			t.Fatalf("deliver: %v %v", got, err)
		}
	}
	s.Wait()
	if peak.Load() != 1 || s.Stats()["trail-remediator"].Peak != 1 {
		t.Fatalf("peak concurrency %d (stats %+v), want 1", peak.Load(), s.Stats())
	}
	if slices.Equal(order, want) {
		t.Errorf("events ran in delivery order; the jitter should shuffle them")
	}
	slices.Sort(order)
	if !slices.Equal(order, want) {
		t.Fatalf("ran %v, want each of %v once", order, want)
	}
}

// TestRetriesAndDeadLetters: a failing invocation is retried twice, then
// the event is dead-lettered; one that fails once succeeds on retry; a
// panic counts as a failure.
func TestRetriesAndDeadLetters(t *testing.T) {
	var calls sync.Map
	h := func(_ context.Context, raw json.RawMessage) (any, error) {
		name := nameOf(t, raw)
		n, _ := calls.LoadOrStore(name, new(atomic.Int64))
		k := n.(*atomic.Int64).Add(1)
		switch {
		case name == "always-fails":
			return nil, errors.New("throttled")
		case name == "panics" && k == 1:
			panic("boom")
		case name == "fails-once" && k == 1:
			return nil, errors.New("throttled")
		}
		return "ok", nil
	}
	s, err := New(Options{RetryDelay: time.Millisecond}, Function{Name: "f", Handler: h, Reserved: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"always-fails", "fails-once", "panics", "works"} {
		if err := s.Invoke("f", trailEvent(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	s.Wait()
	st := s.Stats()["f"]
	if st.Invocations != 3+2+2+1 || st.Retries != 2+1+1 || st.Errors != 3+1+1 || st.DeadLetters != 1 {
		t.Fatalf("stats %+v", st)
	}
	dl := s.DeadLetters()
	if len(dl) != 1 || nameOf(t, dl[0].Event) != "always-fails" || dl[0].Err == nil {
		t.Fatalf("dead letters %+v", dl)
	}
	if err := s.Invoke("nope", nil); err == nil {
		t.Error("invoking an unknown function must fail")
	}
}

// TestRoutingAndChainedDeliveries: events go only to the functions whose
// pattern matches, and Wait also waits for the events an invocation
// delivers while it runs.
func TestRoutingAndChainedDeliveries(t *testing.T) {
	var s *Stack
	var mu sync.Mutex
	var seen []string
	record := func(fn string) Handler {
		return func(_ context.Context, raw json.RawMessage) (any, error) {
			r, err := event.Decode(raw)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			seen = append(seen, fn+":"+r.Resource())
			mu.Unlock()
			// A trail run writes the key policy: its event comes back.
			if fn == "trail" {
				call := awsproxy.Call{Operation: "PutKeyPolicy", Region: testRegion, Forwarded: true, Status: 200,
					Body: []byte(`{"KeyId":"` + testKeyID + `","Policy":"{}","PolicyName":"default"}`)}
				api, ok := FromCall(call, testAccount, "arn:aws:sts::123456789012:assumed-role/trailguard/x")
				if !ok {
					return nil, errors.New("FromCall refused a PutKeyPolicy")
				}
				time.Sleep(5 * time.Millisecond)
				ev, err := api.Event()
				if err != nil {
					return nil, err
				}
				if _, err := s.Deliver(ev); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
	}
	var err error
	s, err = New(Options{}, Function{Name: "trail", Handler: record("trail"), Reserved: 1}, Function{Name: "key", Handler: record("key"), Reserved: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Route("trail", event.TrailPattern()); err != nil {
		t.Fatal(err)
	}
	if err := s.Route("key", event.KeyPattern()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Deliver(ScheduledEvent(testAccount, testRegion)); err != nil || len(got) != 0 {
		t.Fatalf("a scheduled event matched %v (%v)", got, err)
	}
	if _, err := s.Deliver(trailEvent(t, "trail-1")); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"trail:trail-1", "key:arn:aws:kms:us-east-1:123456789012:key/" + testKeyID}
	if !slices.Equal(seen, want) {
		t.Fatalf("seen %v, want %v", seen, want)
	}
}

// TestFromCall: trailguard's writes become the events CloudTrail records;
// reads and calls that never reached AWS do not; a refused call carries an
// error code, which Decode ignores.
func TestFromCall(t *testing.T) {
	caller := "arn:aws:sts::123456789012:assumed-role/trailguard/x"
	trailARN := "arn:aws:cloudtrail:us-east-1:123456789012:trail/trail-1"
	tests := []struct {
		name string
		call awsproxy.Call
		ok   bool
		want event.Request // zero: Decode must ignore it
	}{
		{"PutKeyPolicy by key id", awsproxy.Call{Operation: "PutKeyPolicy", Region: testRegion, Forwarded: true, Status: 200,
			Body: []byte(`{"KeyId":"` + testKeyID + `","Policy":"{}","PolicyName":"default"}`)},
			true, event.Request{Kind: event.KindKey, EventName: "PutKeyPolicy", Account: testAccount, Region: testRegion, Partition: "aws",
				Key: "arn:aws:kms:us-east-1:123456789012:key/" + testKeyID}},
		{"UpdateTrail by ARN", awsproxy.Call{Operation: "UpdateTrail", Region: testRegion, Forwarded: true, Status: 200,
			Body: []byte(`{"Name":"` + trailARN + `","KmsKeyId":"k"}`)},
			true, event.Request{Kind: event.KindTrail, EventName: "UpdateTrail", Account: testAccount, Region: testRegion, Partition: "aws", Trail: trailARN}},
		{"DisableKey in China", awsproxy.Call{Operation: "DisableKey", Region: "cn-north-1", Forwarded: true, Status: 200,
			Body: []byte(`{"KeyId":"` + testKeyID + `"}`)},
			true, event.Request{Kind: event.KindKey, EventName: "DisableKey", Account: testAccount, Region: "cn-north-1", Partition: "aws-cn",
				Key: "arn:aws-cn:kms:cn-north-1:123456789012:key/" + testKeyID}},
		{"EnableKey (recorded, not routed)", awsproxy.Call{Operation: "EnableKey", Region: testRegion, Forwarded: true, Status: 200,
			Body: []byte(`{"KeyId":"` + testKeyID + `"}`)}, true, event.Request{}},
		{"refused UpdateTrail", awsproxy.Call{Operation: "UpdateTrail", Region: testRegion, Forwarded: true, Status: 400,
			Body: []byte(`{"Name":"trail-1","KmsKeyId":"k"}`)}, true, event.Request{}},
		{"a read", awsproxy.Call{Operation: "GetKeyPolicy", Region: testRegion, Forwarded: true, Status: 200, Body: []byte(`{"KeyId":"k"}`)}, false, event.Request{}},
		{"never reached AWS", awsproxy.Call{Operation: "PutKeyPolicy", Region: testRegion, Fault: awsproxy.Drop, Body: []byte(`{"KeyId":"k"}`)}, false, event.Request{}},
		{"lost answer", awsproxy.Call{Operation: "UpdateTrail", Region: testRegion, Fault: awsproxy.Lost, Forwarded: true, Status: 200,
			Body: []byte(`{"Name":"trail-1","KmsKeyId":"k"}`)},
			true, event.Request{Kind: event.KindTrail, EventName: "UpdateTrail", Account: testAccount, Region: testRegion, Partition: "aws", Trail: "trail-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, ok := FromCall(tc.call, testAccount, caller)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			raw, err := api.Event()
			if err != nil {
				t.Fatal(err)
			}
			got, err := event.Decode(raw)
			if tc.want == (event.Request{}) {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Decode = %+v, %v; want ignored", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.EventID = ""
			if got != tc.want {
				t.Fatalf("Decode = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
