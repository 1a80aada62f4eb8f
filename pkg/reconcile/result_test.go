package reconcile

import (
	"encoding/json"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
)

func TestReportJSONShape(t *testing.T) {
	tests := []struct {
		name string
		rep  Report
		want string
	}{
		{"empty", Report{}, `{"results":[]}`},
		{"bare result", Report{Results: []Result{{Trail: "arn:t", Account: "1", Region: "r"}}},
			`{"results":[{"trail":"arn:t","account":"1","region":"r","findings":[],"actions":[]}]}`},
		{"full", Report{Results: []Result{{
			Trail: "arn:t", Account: "1", Region: "r",
			Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted, Detail: "d", Actionable: true}},
			Actions:  []ActionResult{{Action: plan.PutKeyPolicy, Target: "arn:k", Outcome: Updated}},
		}}},
			`{"results":[{"trail":"arn:t","account":"1","region":"r","findings":[{"rule":"trail-not-encrypted","detail":"d","actionable":true}],"actions":[{"action":"PutKeyPolicy","target":"arn:k","outcome":"updated"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rep)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestReportChangedAlerting(t *testing.T) {
	tests := []struct {
		name              string
		res               Result
		changed, alerting bool
	}{
		{"quiet", Result{Actions: []ActionResult{{Outcome: Unchanged}, {Outcome: Planned}}}, false, false},
		{"updated", Result{Actions: []ActionResult{{Outcome: Updated}}}, true, false},
		{"failed", Result{Actions: []ActionResult{{Outcome: Updated}, {Outcome: Failed}}}, true, true},
		{"alert", Result{Alerts: []string{"x"}}, false, true},
		{"error", Result{Error: "x"}, false, true},
	}
	for _, tt := range tests {
		rep := Report{Results: []Result{tt.res}}
		if rep.Changed() != tt.changed || rep.Alerting() != tt.alerting {
			t.Errorf("%s: Changed=%v Alerting=%v, want %v %v", tt.name, rep.Changed(), rep.Alerting(), tt.changed, tt.alerting)
		}
	}
	if !(Report{Errors: []string{"x"}}).Alerting() {
		t.Errorf("a run error must alert")
	}
}
