package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func res(trail, account, region string, rules []string, actionable bool, outcomes ...string) result {
	r := result{Trail: "arn:aws:cloudtrail:" + region + ":" + account + ":trail/" + trail, Account: account, Region: region}
	for _, rule := range rules {
		r.Findings = append(r.Findings, finding{Rule: rule, Detail: "d", Actionable: actionable})
	}
	for _, o := range outcomes {
		r.Actions = append(r.Actions, action{Action: "PutKeyPolicy", Target: "arn:aws:kms:" + region + ":" + account + ":key/k", Outcome: o})
	}
	b, _ := json.Marshal(r)
	r.raw = b
	return r
}

func TestDecodeResultsSorts(t *testing.T) {
	rep := map[string]any{"results": []any{
		map[string]any{"trail": "arn:b", "account": "222222222222", "region": "us-east-1"},
		map[string]any{"trail": "arn:z", "account": "111111111111", "region": "us-east-1"},
		map[string]any{"trail": "arn:a", "account": "111111111111", "region": "us-east-1", "extra": true},
		map[string]any{"trail": "arn:y", "account": "111111111111", "region": "eu-west-1"},
	}}
	rs, err := decodeResults(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Account+"/"+r.Region+"/"+r.Trail)
	}
	want := "111111111111/eu-west-1/arn:y 111111111111/us-east-1/arn:a 111111111111/us-east-1/arn:z 222222222222/us-east-1/arn:b"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
	var out bytes.Buffer
	if err := writeJSON(&out, rs, []string{"describe regions: denied"}); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Results []map[string]any `json:"results"`
		Errors  []string         `json:"errors"`
	}
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("writeJSON output is not JSON: %v\n%s", err, out.String())
	}
	if len(back.Results) != 4 || back.Results[1]["extra"] != true || len(back.Errors) != 1 {
		t.Errorf("writeJSON lost something: %s", out.String())
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		r    result
		v    view
		want string
	}{
		{"compliant", res("t", "1", "r", nil, true), viewScan, "compliant"},
		{"scan finding", res("t", "1", "r", []string{"trail-not-encrypted"}, true, "planned"), viewScan, "NON-COMPLIANT"},
		{"planned", res("t", "1", "r", []string{"trail-not-encrypted"}, true, "planned"), viewPlan, "fix planned"},
		{"fixed", res("t", "1", "r", []string{"trail-not-encrypted"}, true, "updated"), viewApply, "fixed"},
		{"alert only", res("t", "1", "r", []string{"key-policy-too-large"}, false), viewApply, "NON-COMPLIANT"},
		{"failed", res("t", "1", "r", []string{"trail-not-encrypted"}, true, "updated", "failed"), viewApply, "FAILED"},
		{"error", result{Error: "access denied"}, viewScan, "ERROR"},
	}
	for _, tt := range tests {
		if got := tt.r.status(tt.v); got != tt.want {
			t.Errorf("%s: status = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	rs := []result{
		res("good", "111111111111", "us-east-1", nil, true),
		res("bad", "222222222222", "eu-west-1", []string{"trail-not-encrypted", "key-policy-too-large"}, false, "planned"),
	}
	var out bytes.Buffer
	if err := writeTable(&out, rs, viewPlan, style{}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"ACCOUNT", "222222222222", "ACTIONS", "trail-not-encrypted (alert)", "PutKeyPolicy key/k: planned",
		"2 trails: 1 compliant, 1 with findings (2 findings); 1 action planned"} {
		if !strings.Contains(got, want) {
			t.Errorf("table does not contain %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Errorf("colour without a terminal")
	}
	out.Reset()
	if err := writeTable(&out, rs[:1], viewScan, style{enabled: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\x1b[32mcompliant\x1b[0m") || strings.Contains(out.String(), "ACCOUNT") {
		t.Errorf("single-account coloured table:\n%q", out.String())
	}
}
