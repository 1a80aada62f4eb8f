package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// handlerFunc is a lambda.Handler answering out, err.
type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

func TestWarmUp(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		err     error
		wantErr string
	}{
		{"fixed", `{"results":[{"trail":"arn:t","actions":[{"action":"UpdateTrail","outcome":"updated"}]}]}`, nil, ""},
		{"invocation error", ``, errors.New("boom"), "boom"},
		{"not JSON", `nope`, nil, "decode result"},
		{"no result", `{"results":[]}`, nil, "no result"},
		{"error in a result", `{"results":[{"trail":"arn:t","error":"access denied"}]}`, nil, "arn:t: access denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(nil)
			rec.calls = []call{{Op: "GetTrail", Start: time.Now()}}
			h := handlerFunc(func(context.Context, []byte) ([]byte, error) { return []byte(tt.out), tt.err })
			err := warmUp(context.Background(), h, rec, []byte(`{}`))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("warmUp: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("warmUp error = %v, want one containing %q", err, tt.wantErr)
			}
			if left := rec.take(); len(left) != 0 {
				t.Errorf("the warm-up's calls were kept: %v", left)
			}
		})
	}
}

// TestWarmScenariosHaveAWarmUp: a warm scenario without a warm-up would
// measure a cold container under a warm name.
func TestWarmScenariosHaveAWarmUp(t *testing.T) {
	specs := warmScenarios()
	if len(specs) == 0 {
		t.Fatal("no warm scenario")
	}
	for _, s := range specs {
		if s.warmUp == nil || s.setup == nil || !strings.HasSuffix(s.name, "-warm") {
			t.Errorf("%s: warm-up set %v, setup set %v; want both, and a name ending in -warm", s.name, s.warmUp != nil, s.setup != nil)
		}
	}
}
