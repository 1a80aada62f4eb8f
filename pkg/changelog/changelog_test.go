package changelog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/state"
)

const keyARN = "arn:aws:kms:us-east-1:111122223333:key/k1"

var at = time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name    string
		cs      []state.Change
		n       Namer
		want    []string
		notWant []string
	}{
		{"empty", nil, nil, []string{"no changes recorded\n"}, []string{"ID"}},
		{"one change, ARNs as they are", []state.Change{{ID: "20261203T030000.000Z-a", Time: at, Writer: "cli", Source: "cli",
			Action: "PutKeyPolicy", Resource: keyARN, Trails: []string{"arn:aws:cloudtrail:us-east-1:111122223333:trail/t"},
			Rules: []string{"key-policy-no-encrypt"}, Status: state.Applied}}, nil,
			[]string{"20261203T030000.000Z-a", "2026-12-03 03:00:00Z", "PutKeyPolicy", keyARN, "trail/t", "key-policy-no-encrypt", "applied", "1 change, newest first"}, nil},
		{"an undo, named", []state.Change{
			{ID: "b", Time: at, Action: "PutKeyPolicy", Resource: keyARN, Status: state.Applied, UndoOf: "a"},
			{ID: "a", Time: at, Action: "PutKeyPolicy", Resource: keyARN, Status: state.Undone}},
			func(string) string { return "the key" },
			[]string{"applied (undo of a)", "undone", "the key", "2 changes"}, []string{keyARN}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteTable(&b, tt.cs, tt.n); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("table does not show %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("table shows %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestWriteChange(t *testing.T) {
	tests := []struct {
		name    string
		c       state.Change
		want    []string
		notWant []string
	}{
		{"trail key", state.Change{ID: "a", Action: "UpdateTrail", Resource: "trail", Before: "", After: keyARN},
			[]string{"KmsKeyId of trail: none -> " + keyARN}, nil},
		{"key state", state.Change{ID: "a", Action: "EnableKey", Resource: keyARN, Before: "Disabled", After: "Enabled"},
			[]string{"EnableKey of " + keyARN + ": Disabled -> Enabled"}, nil},
		{"policy, only whitespace differs", state.Change{ID: "a", Action: "PutKeyPolicy", Resource: keyARN,
			Before: `{"Version":"2012-10-17","Statement":[]}`, After: "{\n \"Version\": \"2012-10-17\", \"Statement\": []}"},
			[]string{"the same before and after"}, []string{"@@", "---", "+++"}},
		{"policy diff", state.Change{ID: "a", Action: "PutKeyPolicy", Resource: keyARN,
			Before: `{"Statement":[{"Sid":"Root"}]}`, After: `{"Statement":[{"Sid":"Root"},{"Sid":"TrailguardCloudTrailEncrypt"}]}`},
			[]string{"--- key policy of " + keyARN + " before a", "+++ key policy of " + keyARN + " after a", `+      "Sid": "TrailguardCloudTrailEncrypt"`}, []string{`-      "Sid": "Root"`}},
		{"not JSON", state.Change{ID: "a", Action: "PutKeyPolicy", Resource: keyARN, Before: "not json", After: "{}"},
			[]string{"-not json", "+{}"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteChange(&b, tt.c); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output does not show %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("output shows %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	if err := WriteJSON(&b, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("WriteJSON(nil) = %q, %v; want []", b.String(), err)
	}
	b.Reset()
	in := []state.Change{{ID: "a", Time: at, Action: "PutKeyPolicy", Resource: keyARN, Before: "{}", After: `{"x":1}`, Status: state.Applied}}
	if err := WriteJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	var out []state.Change
	if err := json.Unmarshal([]byte(b.String()), &out); err != nil || len(out) != 1 || out[0].ID != "a" || out[0].After != `{"x":1}` || !out[0].Time.Equal(at) {
		t.Errorf("WriteJSON round trip: %+v, %v", out, err)
	}
}
