package awsproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// countingBackend is backend(t) that also counts the requests it served
// per X-Amz-Target operation.
func countingBackend(t *testing.T, served *sync.Map) *httptest.Server {
	t.Helper()
	inner := backend(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := Operation(r)
		n, _ := served.LoadOrStore(op, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, inner.URL+r.URL.RequestURI(), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func servedCount(m *sync.Map, op string) int64 {
	n, ok := m.Load(op)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestLostCallTakesEffect: a Lost call reaches the target (its effect is
// made) but the client sees a failed send, exactly like a Drop.
func TestLostCallTakesEffect(t *testing.T) {
	var served sync.Map
	var afters []Call
	var mu sync.Mutex
	// The proxy runs After once the dropped connection is closed, which the
	// client may notice first: wait for it instead of racing it.
	afterDone := make(chan struct{}, 1)
	p, err := Start(countingBackend(t, &served).URL, Options{
		Rules: []Rule{{Operation: "DescribeKey", Rate: 1, Faults: []Fault{Lost}}},
		After: func(c Call) { mu.Lock(); afters = append(afters, c); mu.Unlock(); afterDone <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("k")})
	if err == nil || !strings.Contains(err.Error(), "request send failed") {
		t.Fatalf("lost answer: err = %v, want a send failure", err)
	}
	if got := servedCount(&served, "DescribeKey"); got != 1 {
		t.Fatalf("target served %d DescribeKey calls, want 1 (a lost call takes effect)", got)
	}
	select {
	case <-afterDone:
	case <-time.After(10 * time.Second):
		t.Fatal("After was never called for the lost call")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(afters) != 1 || !afters[0].Forwarded || afters[0].Status != http.StatusOK || afters[0].Fault != Lost {
		t.Fatalf("After saw %+v, want one forwarded call with status 200 and fault lost", afters)
	}
	if got := p.Faults()["DescribeKey:lost"]; got != 1 {
		t.Errorf("faults = %v", p.Faults())
	}
}

// TestHooksSeeBodiesInOrder: Before runs before the target sees the call,
// with the request body; After runs after, with the status; a faulted call
// is not forwarded.
func TestHooksSeeBodiesInOrder(t *testing.T) {
	var served sync.Map
	var mu sync.Mutex
	var log []string
	p, err := Start(countingBackend(t, &served).URL, Options{
		Rules: []Rule{{Operation: "GetCallerIdentity", Rate: 1, Faults: []Fault{Internal}}},
		Before: func(c Call) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, "before "+c.Service+":"+c.Operation+" in "+c.Region+" served="+itoa(servedCount(&served, c.Operation))+" body="+string(c.Body))
		},
		After: func(c Call) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, "after "+c.Operation+" served="+itoa(servedCount(&served, c.Operation))+" forwarded="+map[bool]string{true: "yes", false: "no"}[c.Forwarded]+" status="+itoa(int64(c.Status)))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("the-key")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(cfg(p.URL, 1)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("GetCallerIdentity: want the injected 500")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`before kms:DescribeKey in us-east-1 served=0 body={"KeyId":"the-key"}`,
		`after DescribeKey served=1 forwarded=yes status=200`,
		`before sts:GetCallerIdentity in us-east-1 served=0 body=Action=GetCallerIdentity&Version=2011-06-15`,
		`after GetCallerIdentity served=0 forwarded=no status=0`,
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hooks saw\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCrashAfter: the armed operation succeeds at the target, then every
// call is dropped until Restart.
func TestCrashAfter(t *testing.T) {
	var served sync.Map
	p, err := Start(countingBackend(t, &served).URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	p.CrashAfter("DescribeKey")
	if _, err := sts.NewFromConfig(cfg(p.URL, 1)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || p.Down() {
		t.Fatalf("before the armed operation: err %v, down %v", err, p.Down())
	}
	if _, err := kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")}); err != nil {
		t.Fatalf("the armed operation itself must succeed: %v", err)
	}
	if !p.Down() {
		t.Fatal("not down after the armed operation")
	}
	if _, err := kms.NewFromConfig(cfg(p.URL, 2)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")}); err == nil {
		t.Fatal("a call after the crash succeeded")
	}
	if got := servedCount(&served, "DescribeKey"); got != 1 {
		t.Errorf("target served %d DescribeKey calls, want 1", got)
	}
	if got := p.Faults()["DescribeKey:down"]; got != 2 {
		t.Errorf("down faults = %v, want DescribeKey:down=2 (two attempts)", p.Faults())
	}
	p.Restart()
	if _, err := kms.NewFromConfig(cfg(p.URL, 1)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")}); err != nil || p.Down() {
		t.Fatalf("after Restart: err %v, down %v", err, p.Down())
	}
}
