package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// fakeReconciler records requests and answers with a canned report.
type fakeReconciler struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeReconciler) record(s string) (reconcile.Report, error) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	rep := reconcile.Report{Results: []reconcile.Result{{
		Trail: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t", Account: "111122223333", Region: "us-east-1",
		Actions: []reconcile.ActionResult{{Action: plan.UpdateTrail, Target: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t", Outcome: reconcile.Updated}},
	}}}
	return rep, f.err
}

func (f *fakeReconciler) ReconcileTrail(_ context.Context, account, region, trail string) (reconcile.Report, error) {
	return f.record(fmt.Sprintf("trail %s %s %s", account, region, trail))
}

func (f *fakeReconciler) ReconcileKey(_ context.Context, account, region, key string) (reconcile.Report, error) {
	return f.record(fmt.Sprintf("key %s %s %s", account, region, key))
}

func (f *fakeReconciler) Sweep(context.Context) (reconcile.Report, error) { return f.record("sweep") }

const (
	acct     = "111122223333"
	trailARN = "arn:aws:cloudtrail:us-east-2:111122223333:trail/management-events"
	keyARN   = "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestHandlersRoute pushes real-shaped events through lambda.NewHandler and
// checks which request reaches the reconciler and what the function
// returns.
func TestHandlersRoute(t *testing.T) {
	createTrail := eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "CreateTrail", Name: "management-events", ARN: trailARN, Bucket: "b"})
	updateByName := eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "UpdateTrail", Name: "management-events", Bucket: "b"})
	failedCall := eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "UpdateTrail", Name: "management-events", Bucket: "b", ErrorCode: "AccessDenied"})
	putKeyPolicy := eventJSON(t, "key_event.json", ev{Account: acct, Region: "us-east-2", EventName: "PutKeyPolicy", KeyRef: keyARN, ARN: keyARN})
	disableKey := eventJSON(t, "key_event.json", ev{Account: acct, Region: "us-east-2", EventName: "DisableKey", KeyRef: "1234abcd-12ab-34cd-56ef-1234567890ab", ARN: keyARN})
	scheduled := eventJSON(t, "scheduled.json", ev{Account: acct, Region: "us-east-1"})

	tests := []struct {
		name     string
		function string
		event    []byte
		want     string // the reconciler call, "" for none
	}{
		{"trail: CreateTrail", "trail", createTrail, "trail " + acct + " us-east-2 " + trailARN},
		{"trail: UpdateTrail by name", "trail", updateByName, "trail " + acct + " us-east-2 management-events"},
		{"trail: failed call ignored", "trail", failedCall, ""},
		{"trail: key event ignored", "trail", putKeyPolicy, ""},
		{"trail: schedule ignored", "trail", scheduled, ""},
		{"trail: malformed acknowledged", "trail", []byte(`{"detail-type": 5}`), ""},
		{"key: PutKeyPolicy", "key", putKeyPolicy, "key " + acct + " us-east-2 " + keyARN},
		{"key: DisableKey", "key", disableKey, "key " + acct + " us-east-2 " + keyARN},
		{"key: trail event ignored", "key", createTrail, ""},
		{"sweep: schedule", "sweep", scheduled, "sweep"},
		{"sweep: manual empty", "sweep", []byte(`{}`), "sweep"},
		{"sweep: trail event ignored", "sweep", createTrail, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeReconciler{}
			var h lambda.Handler
			switch tt.function {
			case "trail":
				h = lambda.NewHandler(TrailHandler{Reconciler: f, Logger: discardLogger()}.Handle)
			case "key":
				h = lambda.NewHandler(KeyHandler{Reconciler: f, Logger: discardLogger()}.Handle)
			default:
				h = lambda.NewHandler(SweepHandler{Reconciler: f, Logger: discardLogger()}.Handle)
			}
			out, err := h.Invoke(context.Background(), tt.event)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var got struct {
				Results []map[string]any `json:"results"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.Results == nil {
				t.Fatalf("result %s is not {\"results\": [...]}: %v", out, err)
			}
			switch {
			case tt.want == "" && len(f.calls) != 0:
				t.Errorf("reconciler called: %v", f.calls)
			case tt.want == "" && len(got.Results) != 0:
				t.Errorf("ignored event produced results: %s", out)
			case tt.want != "" && (len(f.calls) != 1 || f.calls[0] != tt.want):
				t.Errorf("calls %v, want [%s]", f.calls, tt.want)
			case tt.want != "":
				r := got.Results[0]
				acts, _ := r["actions"].([]any)
				if r["trail"] == nil || r["account"] == nil || r["region"] == nil || r["findings"] == nil || len(acts) != 1 {
					t.Errorf("result shape: %s", out)
				} else if a := acts[0].(map[string]any); a["action"] != "UpdateTrail" || a["outcome"] != "updated" || a["target"] == nil {
					t.Errorf("action shape: %s", out)
				}
			}
		})
	}
}

// TestHandlersReturnTransientErrors: a transient error reaches Lambda (so
// it retries); the handler does not swallow it.
func TestHandlersReturnTransientErrors(t *testing.T) {
	boom := errors.New("throttled")
	createTrail := eventJSON(t, "create_trail.json", ev{Account: acct, Region: "us-east-2", EventName: "CreateTrail", Name: "management-events", ARN: trailARN, Bucket: "b"})
	putKeyPolicy := eventJSON(t, "key_event.json", ev{Account: acct, Region: "us-east-2", EventName: "PutKeyPolicy", KeyRef: keyARN, ARN: keyARN})
	scheduled := eventJSON(t, "scheduled.json", ev{Account: acct, Region: "us-east-1"})
	f := &fakeReconciler{err: boom}
	for name, inv := range map[string]func() ([]byte, error){
		"trail": func() ([]byte, error) {
			return lambda.NewHandler(TrailHandler{Reconciler: f, Logger: discardLogger()}.Handle).Invoke(context.Background(), createTrail)
		},
		"key": func() ([]byte, error) {
			return lambda.NewHandler(KeyHandler{Reconciler: f, Logger: discardLogger()}.Handle).Invoke(context.Background(), putKeyPolicy)
		},
		"sweep": func() ([]byte, error) {
			return lambda.NewHandler(SweepHandler{Reconciler: f, Logger: discardLogger()}.Handle).Invoke(context.Background(), scheduled)
		},
	} {
		if _, err := inv(); err == nil || !strings.Contains(err.Error(), "throttled") {
			t.Errorf("%s: error %v, want the reconciler's", name, err)
		}
	}
}

func TestNotScheduled(t *testing.T) {
	tests := []struct {
		raw  string
		want bool // true: a sweep trigger
	}{
		{``, true},
		{`null`, true},
		{`{}`, true},
		{`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`, true},
		{`{"detail-type":"AWS API Call via CloudTrail"}`, false},
		{`{"detail-type":7}`, false},
		{`[1,2]`, false},
		{`"x"`, false},
	}
	for _, tt := range tests {
		if got := notScheduled([]byte(tt.raw)) == ""; got != tt.want {
			t.Errorf("notScheduled(%q) trigger = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
