package state_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

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
