package reconcile

import (
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
)

func TestHubTrails(t *testing.T) {
	const trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t"
	const key = "arn:aws:kms:us-east-1:111122223333:key/k"
	tests := []struct {
		name    string
		res     Result
		keep    bool
		settled bool
		done    int
	}{
		{"clean run", Result{Trail: trail, Account: "111122223333", Region: "us-east-1", KMSKeyARN: key,
			Findings: []compliance.Finding{{Rule: compliance.KeyDisabled}},
			Actions:  []ActionResult{{Action: plan.EnableKey, Target: key, Outcome: Updated}}}, true, true, 1},
		{"terminal error", Result{Trail: trail, Account: "111122223333", Region: "us-east-1", Error: "access denied"}, true, false, 0},
		{"failed action", Result{Trail: trail, Account: "111122223333", Region: "us-east-1",
			Actions: []ActionResult{{Action: plan.UpdateTrail, Target: trail, Outcome: Failed}}}, true, false, 1},
		{"trail named, not an ARN", Result{Trail: "t", Account: "111122223333", Region: "us-east-1"}, false, false, 0},
		{"not a trail ARN", Result{Trail: key, Account: "111122223333", Region: "us-east-1"}, false, false, 0},
		{"no Region", Result{Trail: trail, Account: "111122223333"}, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hubTrails(Report{Results: []Result{tt.res}})
			if (len(got) == 1) != tt.keep {
				t.Fatalf("%d trails, want kept=%v", len(got), tt.keep)
			}
			if !tt.keep {
				return
			}
			if got[0].Settled != tt.settled || len(got[0].Done) != tt.done || got[0].KMSKeyARN != tt.res.KMSKeyARN {
				t.Errorf("got %+v", got[0])
			}
		})
	}
}

func TestKeyAfter(t *testing.T) {
	const a, b = "arn:aws:kms:us-east-1:1:key/a", "arn:aws:kms:us-east-1:1:key/b"
	tests := []struct {
		name    string
		before  string
		actions []ActionResult
		want    string
	}{
		{"no actions", a, nil, a},
		{"switched", a, []ActionResult{{Action: plan.UpdateTrail, Outcome: Updated, KMSKeyID: b}}, b},
		{"switch only planned", a, []ActionResult{{Action: plan.UpdateTrail, Outcome: Planned, KMSKeyID: b}}, a},
		{"not encrypted, then switched", "", []ActionResult{{Action: plan.UpdateTrail, Outcome: Updated, KMSKeyID: b}}, b},
		{"key id, not an ARN", "1234abcd", nil, ""},
	}
	for _, tt := range tests {
		if got := keyAfter(tt.before, tt.actions); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
