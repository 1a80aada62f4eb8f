package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOrgScaleSmall runs the organization-scale section on a tiny
// organization against the fake: the real coordinator and workers end in
// one summary covering every item and trail, with every call answered.
// Nothing here depends on time.
func TestOrgScaleSmall(t *testing.T) {
	tests := []struct {
		name     string
		accounts int
	}{
		{"one account", 1},
		{"three accounts", 3},
		{"more than a ListAccounts page", 23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options{Latency: time.Millisecond, Concurrency: 4}
			r := runOrgScaleOnce(context.Background(), o, tt.accounts, func(string, ...any) {})
			if r.Error != "" {
				t.Fatalf("run: %s", r.Error)
			}
			if r.Summaries != 1 || r.TrailsSeen != 2*tt.accounts || r.Items != 17*tt.accounts {
				t.Errorf("summaries %d, trails %d, items %d", r.Summaries, r.TrailsSeen, r.Items)
			}
			ops := r.ByOperation
			if ops["DescribeTrails"] != r.Items || ops["SendMessageBatch"] != (r.Items+9)/10 || ops["TransactWriteItems"] < r.Items+1 {
				t.Errorf("calls %v: want one DescribeTrails per item, one SendMessageBatch per 10, a TransactWriteItems per item and the coordinator's", ops)
			}
			if ops["ListAccounts"] != (tt.accounts+19)/20 || ops["DescribeRegions"] != tt.accounts {
				t.Errorf("calls %v: want %d ListAccounts pages and a DescribeRegions per account", ops, (tt.accounts+19)/20)
			}
			for op := range ops {
				if strings.Contains(op, "Unknown") {
					t.Errorf("the fake did not know %s", op)
				}
			}
			if r.USDPerAccountMonth <= 0 || r.WorkerInvocations == 0 {
				t.Errorf("cost %v, invocations %d", r.USDPerAccountMonth, r.WorkerInvocations)
			}
		})
	}
}

func TestOrgScaleTargets(t *testing.T) {
	s := &OrgScaleSection{Runs: []OrgScaleRun{
		{Accounts: 500, Regions: 17, CoordinatorSeconds: 2, WorkerMaxSeconds: 1, SweepSeconds: 16, MsPerAccount: 32},
		{Accounts: 5000, Regions: 17, CoordinatorSeconds: 20, WorkerMaxSeconds: 70, SweepSeconds: 1200, MsPerAccount: 240, Containers: 50},
	}, Growth: 7.5, GrowthFrom: 500, GrowthTo: 5000}
	var got []Target
	orgScaleTargets(s, func(figure string, value, target float64, unit, note string) {
		got = append(got, Target{Figure: figure, Value: value, Target: target, Met: value <= target})
	})
	if len(got) != 3 {
		t.Fatalf("targets %+v, want 3 (longest invocation, sweep time, growth) for the largest run", got)
	}
	want := []struct {
		value float64
		met   bool
	}{{70, false}, {20, false}, {7.5, false}}
	for i, w := range want {
		if got[i].Value != w.value || got[i].Met != w.met {
			t.Errorf("target %d %q = %v (met %v), want %v (met %v)", i, got[i].Figure, got[i].Value, got[i].Met, w.value, w.met)
		}
	}
}
