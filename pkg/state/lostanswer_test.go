package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/state"
)

// loseFirstChangePut forwards the first PutItem of a change record and
// then fails it as a reset connection would (the write took effect, the
// answer was lost); the SDK retries it.
type loseFirstChangePut struct {
	next http.RoundTripper
	mu   sync.Mutex
	done bool
}

func (l *loseFirstChangePut) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := l.next.RoundTrip(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") && bytes.Contains(body, []byte(`"S":"change"`)) && err == nil {
		l.done = true
		resp.Body.Close()
		return nil, errors.New("read: connection reset by peer")
	}
	return resp, err
}

// TestRecordSurvivesItsOwnRetry: a Record whose PutItem took effect but
// whose answer was lost is retried by the SDK; the retry meets its own
// item (attribute_not_exists(pk) fails) and Record returns
// ConditionalCheckFailedException, so the writer does not write.
// FAILS on cfc418d.
func TestRecordSurvivesItsOwnRetry(t *testing.T) {
	db, name := table(t)
	lossy := dynamodb.New(db.Options(), func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: &loseFirstChangePut{next: http.DefaultTransport}}
	})
	s := state.New(lossy, name, state.WithWriter("test"))
	c, err := s.Record(context.Background(), state.Change{Resource: "arn:aws:kms:us-east-1:111122223333:key/k", Action: "PutKeyPolicy", Before: "{}", After: "{}"})
	if err != nil {
		t.Fatalf("Record after a lost answer: %v", err)
	}
	if _, err := s.Get(context.Background(), c.ID); err != nil {
		t.Errorf("Get %s: %v", c.ID, err)
	}
}

// idempotentTransacts plays DynamoDB's ClientRequestToken, which moto does
// not: "Providing a ClientRequestToken makes the call to TransactWriteItems
// idempotent, meaning that multiple identical calls have the same effect
// as one single call"
// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
// It forwards a TransactWriteItems with a new token, answers one with a
// token already applied itself (200, as DynamoDB would, without applying
// it again), and loses the answer of the first one it forwards (the
// transaction took effect, the caller sees a reset connection; the SDK
// retries with the same token).
type idempotentTransacts struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
	lost bool
	sent int
}

func (l *idempotentTransacts) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
		return l.next.RoundTrip(r)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct{ ClientRequestToken string }
	_ = json.Unmarshal(body, &in)
	l.mu.Lock()
	if in.ClientRequestToken != "" && l.seen[in.ClientRequestToken] {
		l.mu.Unlock()
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
			Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	}
	l.mu.Unlock()
	resp, err := l.next.RoundTrip(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && resp.StatusCode == http.StatusOK {
		l.sent++
		l.seen[in.ClientRequestToken] = true
		if !l.lost {
			l.lost = true
			resp.Body.Close()
			return nil, errors.New("read: connection reset by peer")
		}
	}
	return resp, err
}

// TestAdmitSurvivesItsOwnRetry: an Admit whose TransactWriteItems took
// effect but whose answer was lost is retried by the SDK with the same
// ClientRequestToken, which DynamoDB answers as the first call: the
// attempts are counted once and the changes recorded once (no pending
// record left behind for a write never made).
func TestAdmitSurvivesItsOwnRetry(t *testing.T) {
	db, name := table(t)
	ctx := context.Background()
	rt := &idempotentTransacts{next: http.DefaultTransport, seen: map[string]bool{}}
	lossy := dynamodb.New(db.Options(), func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: rt} })
	s := state.New(lossy, name, state.WithWriter("test"))
	const res = "arn:aws:kms:us-east-1:111122223333:key/k"
	g, err := s.ReadGuard(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	admitted, _, err := s.Admit(ctx, g, 3, time.Hour,
		state.Change{Resource: res, Action: "CancelKeyDeletion", Before: "PendingDeletion", After: "Disabled"},
		state.Change{Resource: res, Action: "EnableKey", Before: "Disabled", After: "Enabled"})
	if err != nil || len(admitted) != 2 {
		t.Fatalf("Admit after a lost answer: %d admitted, %v; want 2", len(admitted), err)
	}
	if !rt.lost || rt.sent != 1 {
		t.Fatalf("the proxy lost %v and applied %d transactions; want one lost answer and one transaction", rt.lost, rt.sent)
	}
	all, err := s.History(ctx, state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("%d change records, want the 2 admitted once", len(all))
	}
	for _, a := range admitted {
		if _, err := s.Get(ctx, a.ID); err != nil {
			t.Errorf("admitted change %s not in the table: %v", a.ID, err)
		}
	}
	// Counted once: the guard has room for exactly one more of 3.
	g, err = s.ReadGuard(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	more, alert, err := s.Admit(ctx, g, 3, time.Hour,
		state.Change{Resource: res, Action: "PutKeyPolicy"}, state.Change{Resource: res, Action: "PutKeyPolicy"})
	if err != nil || len(more) != 1 || !alert {
		t.Errorf("next Admit of 2: %d admitted, alert %v, %v; want 1 admitted and the alert (2 attempts counted before, not 4)", len(more), alert, err)
	}
}
