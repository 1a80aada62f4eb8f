package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

func TestMeasure(t *testing.T) {
	transient := errors.New("throttled")
	tests := []struct {
		name    string
		rep     reconcile.Report
		err     error
		summary map[string]float64
		rules   map[string]float64
		fixes   map[string]float64
	}{
		{name: "empty", summary: map[string]float64{"Trails": 0, "Failures": 0}},
		{
			name: "fixed and failed",
			rep: reconcile.Report{Errors: []string{"regions"}, Results: []reconcile.Result{
				{Trail: "a", Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted}, {Rule: compliance.KeyPolicyNoEncrypt}},
					Actions: []reconcile.ActionResult{{Action: plan.PutKeyPolicy, Outcome: reconcile.Updated}, {Action: plan.UpdateTrail, Outcome: reconcile.Updated}}},
				{Trail: "b", Error: "denied", Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted}},
					Actions: []reconcile.ActionResult{{Action: plan.UpdateTrail, Outcome: reconcile.Failed}, {Action: plan.PutKeyPolicy, Outcome: reconcile.Planned}}},
			}},
			err:     transient,
			summary: map[string]float64{"Trails": 2, "Failures": 4},
			rules:   map[string]float64{"trail-not-encrypted": 2, "key-policy-no-encrypt": 1},
			fixes:   map[string]float64{"PutKeyPolicy": 1, "UpdateTrail": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := Measure("fn", &buf, nil, func(context.Context, json.RawMessage) (Response, error) { return Response{Report: tt.rep}, tt.err })
			rep, err := h(context.Background(), nil)
			if !errors.Is(err, tt.err) || len(rep.Results) != len(tt.rep.Results) {
				t.Fatalf("result changed: %v %v", rep, err)
			}
			rules, fixes := map[string]float64{}, map[string]float64{}
			var summary map[string]any
			sc := bufio.NewScanner(&buf)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				switch {
				case m["Function"] != nil:
					summary = m
				case m["Rule"] != nil:
					rules[m["Rule"].(string)] = m["Findings"].(float64)
				case m["Action"] != nil:
					fixes[m["Action"].(string)] = m["Fixes"].(float64)
				}
			}
			if summary == nil || summary["Function"] != "fn" {
				t.Fatalf("no summary line: %s", buf.String())
			}
			for k, v := range tt.summary {
				if summary[k] != v {
					t.Errorf("%s = %v, want %v", k, summary[k], v)
				}
			}
			if _, ok := summary["Duration"].(float64); !ok {
				t.Errorf("no Duration: %v", summary)
			}
			for _, c := range []struct{ got, want map[string]float64 }{{rules, tt.rules}, {fixes, tt.fixes}} {
				if len(c.got) != len(c.want) {
					t.Errorf("got %v, want %v", c.got, c.want)
				}
				for k, v := range c.want {
					if c.got[k] != v {
						t.Errorf("%s = %v, want %v", k, c.got[k], v)
					}
				}
			}
		})
	}
}
