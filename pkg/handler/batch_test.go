package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// batchFake fails transiently for the resources in fail and records, per
// call, the resource and the event id the context carries.
type batchFake struct {
	mu    sync.Mutex
	fail  map[string]bool
	calls []string // "<resource> <event id>"
}

// ctxEventID is the id reconcile.WithEventID put in ctx. reconcile keeps
// its key unexported, so this reads it from the context's description,
// which the standard library writes as "...WithValue(<key type>, <value>)".
func ctxEventID(ctx context.Context) string {
	s := fmt.Sprint(ctx)
	const mark = "WithValue(reconcile.eventIDKey, "
	i := strings.LastIndex(s, mark)
	if i < 0 {
		return ""
	}
	rest := s[i+len(mark):]
	return rest[:strings.Index(rest, ")")]
}

func (f *batchFake) record(ctx context.Context, resource string) (reconcile.Report, error) {
	f.mu.Lock()
	f.calls = append(f.calls, resource+" "+ctxEventID(ctx))
	f.mu.Unlock()
	rep := reconcile.Report{Results: []reconcile.Result{{
		Trail: resource, Account: acct, Region: "us-east-2",
		Actions: []reconcile.ActionResult{{Action: plan.UpdateTrail, Target: resource, Outcome: reconcile.Updated}},
	}}}
	if f.fail[resource] {
		rep.Results[0].Actions[0].Outcome = reconcile.Failed
		return rep, errors.New("lease busy: " + resource)
	}
	return rep, nil
}

func (f *batchFake) ReconcileTrail(ctx context.Context, _, _, trail string) (reconcile.Report, error) {
	return f.record(ctx, trail)
}

func (f *batchFake) ReconcileKey(ctx context.Context, _, _, key string) (reconcile.Report, error) {
	return f.record(ctx, key)
}

// withID returns the event with its EventBridge "id" replaced.
func withID(t *testing.T, raw []byte, id string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = id
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sqsBatchJSON wraps bodies in an SQS batch, message i having messageId
// "msg-<i>".
func sqsBatchJSON(t *testing.T, bodies ...string) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("msg-%d", i), ReceiptHandle: "rh", Body: b,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-2:" + acct + ":trailguard-events", AWSRegion: "us-east-2",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// batchOut is a function's result as Lambda reads it.
type batchOut struct {
	Results           []map[string]any `json:"results"`
	BatchItemFailures *[]struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

func (b batchOut) failed() []string {
	var out []string
	if b.BatchItemFailures != nil {
		for _, f := range *b.BatchItemFailures {
			out = append(out, f.ItemIdentifier)
		}
	}
	return out
}

// syncBuffer is a log sink for one test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeSQSBatch pushes SQS batches through lambda.NewHandler(...Serve)
// and checks which messages are reported as failed, which reach the
// reconciler with which event id, and the merged results.
func TestServeSQSBatch(t *testing.T) {
	trailEvent := func(name, id string) string {
		arn := "arn:aws:cloudtrail:us-east-2:" + acct + ":trail/" + name
		return withID(t, eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "CreateTrail", Name: name, ARN: arn, Bucket: "b"}), id)
	}
	trailARN := func(name string) string { return "arn:aws:cloudtrail:us-east-2:" + acct + ":trail/" + name }
	keyEvent := withID(t, eventJSON(t, "key_event.json", ev{Account: acct, Region: "us-east-2", EventName: "PutKeyPolicy", KeyRef: keyARN, ARN: keyARN}), "ev-key")

	tests := []struct {
		name       string
		function   string
		bodies     []string
		fail       []string // resources whose reconcile fails transiently
		wantCalls  []string // "<resource> <event id>"
		wantFailed []string // messageIds in batchItemFailures
		wantResult int
		wantLog    []string // substrings of the log
	}{
		{
			name:       "three messages, the second fails transiently",
			function:   "trail",
			bodies:     []string{trailEvent("trail-a", "ev-a"), trailEvent("trail-b", "ev-b"), trailEvent("trail-c", "ev-c")},
			fail:       []string{trailARN("trail-b")},
			wantCalls:  []string{trailARN("trail-a") + " ev-a", trailARN("trail-b") + " ev-b", trailARN("trail-c") + " ev-c"},
			wantFailed: []string{"msg-1"},
			wantResult: 3,
			wantLog:    []string{`"messageId":"msg-1"`, "request failed, to be retried"},
		},
		{
			name:       "all succeed",
			function:   "trail",
			bodies:     []string{trailEvent("trail-a", "ev-a"), trailEvent("trail-b", "ev-b")},
			wantCalls:  []string{trailARN("trail-a") + " ev-a", trailARN("trail-b") + " ev-b"},
			wantResult: 2,
		},
		{
			name:       "every message fails",
			function:   "trail",
			bodies:     []string{trailEvent("trail-a", "ev-a"), trailEvent("trail-b", "ev-b")},
			fail:       []string{trailARN("trail-a"), trailARN("trail-b")},
			wantCalls:  []string{trailARN("trail-a") + " ev-a", trailARN("trail-b") + " ev-b"},
			wantFailed: []string{"msg-0", "msg-1"},
			wantResult: 2,
		},
		{
			// A body that is not an event can never succeed: it is
			// acknowledged with a log line, not redelivered until the
			// dead-letter queue.
			name:       "malformed bodies are acknowledged and logged",
			function:   "trail",
			bodies:     []string{"not json at all", `{"detail-type": 5}`, trailEvent("trail-a", "ev-a")},
			wantCalls:  []string{trailARN("trail-a") + " ev-a"},
			wantResult: 1,
			wantLog:    []string{`"messageId":"msg-0"`, `"messageId":"msg-1"`, "event rejected"},
		},
		{
			name:       "another function's event is acknowledged",
			function:   "trail",
			bodies:     []string{keyEvent},
			wantResult: 0,
			wantLog:    []string{"is not for this function"},
		},
		{
			name:       "key-remediator batch",
			function:   "key",
			bodies:     []string{keyEvent, trailEvent("trail-a", "ev-a")},
			fail:       []string{keyARN},
			wantCalls:  []string{keyARN + " ev-key"},
			wantFailed: []string{"msg-0"},
			wantResult: 1,
		},
		{
			name:       "an event without an id still runs, with no source id",
			function:   "trail",
			bodies:     []string{strings.Replace(trailEvent("trail-a", "x"), `"id":"x",`, "", 1)},
			wantCalls:  []string{trailARN("trail-a") + " "},
			wantResult: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &batchFake{fail: map[string]bool{}}
			for _, r := range tt.fail {
				f.fail[r] = true
			}
			logs := &syncBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			var h lambda.Handler
			if tt.function == "trail" {
				h = lambda.NewHandler(TrailHandler{Reconciler: f, Logger: log}.Serve)
			} else {
				h = lambda.NewHandler(KeyHandler{Reconciler: f, Logger: log}.Serve)
			}
			out, err := h.Invoke(context.Background(), sqsBatchJSON(t, tt.bodies...))
			if err != nil {
				t.Fatalf("invoke returned an error (Lambda would fail the whole batch): %v", err)
			}
			var got batchOut
			if err := json.Unmarshal(out, &got); err != nil || got.Results == nil || got.BatchItemFailures == nil {
				t.Fatalf("result %s lacks results or batchItemFailures: %v", out, err)
			}
			if !slices.Equal(got.failed(), tt.wantFailed) {
				t.Errorf("batchItemFailures %v, want %v", got.failed(), tt.wantFailed)
			}
			if !slices.Equal(f.calls, tt.wantCalls) {
				t.Errorf("reconciler calls %q, want %q", f.calls, tt.wantCalls)
			}
			if len(got.Results) != tt.wantResult {
				t.Errorf("%d results, want %d: %s", len(got.Results), tt.wantResult, out)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
		})
	}
}

// TestServeBatchAfterDeadline: messages not started before the context
// ends are reported as failures without a reconcile.
func TestServeBatchAfterDeadline(t *testing.T) {
	f := &batchFake{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := withID(t, eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "CreateTrail", Name: "a", ARN: trailARN, Bucket: "b"}), "ev-a")
	out, err := lambda.NewHandler(TrailHandler{Reconciler: f, Logger: discardLogger()}.Serve).Invoke(ctx, sqsBatchJSON(t, body, body))
	if err != nil {
		t.Fatal(err)
	}
	var got batchOut
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"msg-0", "msg-1"}; !slices.Equal(got.failed(), want) {
		t.Errorf("batchItemFailures %v, want %v", got.failed(), want)
	}
	if len(f.calls) != 0 {
		t.Errorf("reconciler called after the deadline: %v", f.calls)
	}
}

// TestServeBareEvent: a bare EventBridge event through Serve gives the same
// result as Handle (no batchItemFailures member), returns transient errors
// so Lambda retries, and carries the event id.
func TestServeBareEvent(t *testing.T) {
	createTrail := withID(t, eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "CreateTrail", Name: "management-events", ARN: trailARN, Bucket: "b"}), "ev-bare")
	putKeyPolicy := withID(t, eventJSON(t, "key_event.json", ev{Account: acct, Region: "us-east-2", EventName: "PutKeyPolicy", KeyRef: keyARN, ARN: keyARN}), "ev-bare-key")
	scheduled := eventJSON(t, "scheduled.json", ev{Account: acct, Region: "us-east-1"})
	// An object with "Records" from another service is not an SQS batch:
	// it is decoded as an event and rejected.
	s3Like := `{"Records":[{"eventSource":"aws:s3","body":"x"}]}`
	tests := []struct {
		name     string
		function string
		event    string
		fail     bool
		wantCall string
	}{
		{"trail", "trail", createTrail, false, trailARN + " ev-bare"},
		{"trail transient error", "trail", createTrail, true, trailARN + " ev-bare"},
		{"key", "key", putKeyPolicy, false, keyARN + " ev-bare-key"},
		{"key transient error", "key", putKeyPolicy, true, keyARN + " ev-bare-key"},
		{"records of another service", "trail", s3Like, false, ""},
		{"sweep", "sweep", string(scheduled), false, "sweep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &batchFake{fail: map[string]bool{trailARN: tt.fail, keyARN: tt.fail}}
			var serveH, handleH lambda.Handler
			switch tt.function {
			case "trail":
				h := TrailHandler{Reconciler: f, Logger: discardLogger()}
				serveH, handleH = lambda.NewHandler(h.Serve), lambda.NewHandler(h.Handle)
			case "key":
				h := KeyHandler{Reconciler: f, Logger: discardLogger()}
				serveH, handleH = lambda.NewHandler(h.Serve), lambda.NewHandler(h.Handle)
			default:
				h := SweepHandler{Reconciler: &fakeReconciler{}, Logger: discardLogger()}
				serveH, handleH = lambda.NewHandler(h.Serve), lambda.NewHandler(h.Handle)
			}
			served, serr := serveH.Invoke(context.Background(), []byte(tt.event))
			handled, herr := handleH.Invoke(context.Background(), []byte(tt.event))
			if tt.fail {
				if serr == nil || herr == nil || serr.Error() != herr.Error() {
					t.Fatalf("Serve error %v, Handle error %v: want the same transient error", serr, herr)
				}
			} else {
				if serr != nil || herr != nil {
					t.Fatalf("Serve error %v, Handle error %v", serr, herr)
				}
				if !bytes.Equal(served, handled) {
					t.Errorf("Serve result %s differs from Handle's %s", served, handled)
				}
				if bytes.Contains(served, []byte("batchItemFailures")) {
					t.Errorf("bare event result has batchItemFailures: %s", served)
				}
			}
			if tt.function == "sweep" {
				return
			}
			var want []string
			if tt.wantCall != "" {
				want = []string{tt.wantCall, tt.wantCall} // Serve, then Handle
			}
			if !slices.Equal(f.calls, want) {
				t.Errorf("calls %q, want %q", f.calls, want)
			}
		})
	}
}

func TestResponseJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Response
		want string
	}{
		{"bare", Response{}, `{"results":[]}`},
		{"empty batch", Response{BatchItemFailures: []events.SQSBatchItemFailure{}}, `{"batchItemFailures":[],"results":[]}`},
		{"failure", Response{Report: reconcile.Report{Errors: []string{"e"}}, BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m"}}},
			`{"batchItemFailures":[{"itemIdentifier":"m"}],"errors":["e"],"results":[]}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.r)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.name, b, err, tt.want)
		}
	}
}
