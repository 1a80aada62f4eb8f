package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPatternsRouteFixtures proves that the EventBridge patterns send every
// fixture event to the function that handles its kind, and nothing else.
func TestPatternsRouteFixtures(t *testing.T) {
	tests := []struct {
		file        string
		trail, key  bool
		decodedKind Kind // 0: Decode ignores or rejects it
	}{
		{"create_trail.json", true, false, KindTrail},
		{"update_trail_arn.json", true, false, KindTrail},
		{"update_trail_name.json", true, false, KindTrail},
		{"china_create_trail.json", true, false, KindTrail},
		{"put_key_policy_id.json", false, true, KindKey},
		{"put_key_policy_arn.json", false, true, KindKey},
		{"put_key_policy_alias.json", false, true, KindKey},
		{"put_key_policy_alias_arn.json", false, true, KindKey},
		{"disable_key.json", false, true, KindKey},
		{"schedule_key_deletion.json", false, true, KindKey},
		// The pattern does not filter on errorCode: Decode ignores it.
		{"access_denied.json", true, false, 0},
		{"stop_logging.json", true, false, KindTrail},
		{"detail_string.json", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := fixture(t, tt.file)
			for _, p := range []struct {
				name    string
				pattern Pattern
				want    bool
			}{{"TrailPattern", TrailPattern(), tt.trail}, {"KeyPattern", KeyPattern(), tt.key}} {
				got, err := Matches(p.pattern, raw)
				if err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
				if got != p.want {
					t.Errorf("%s matches = %v, want %v", p.name, got, p.want)
				}
			}
			r, err := Decode(raw)
			if tt.decodedKind == 0 {
				if err == nil {
					t.Errorf("Decode = %+v, want an error", r)
				}
				return
			}
			if err != nil || r.Kind != tt.decodedKind {
				t.Errorf("Decode = %+v, %v; want kind %v", r, err, tt.decodedKind)
			}
		})
	}
}

// TestPatternsAgreeWithDecode: every fixture that decodes is routed by
// exactly the pattern of its kind.
func TestPatternsAgreeWithDecode(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	decoded := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(raw)
		if err != nil {
			continue
		}
		decoded++
		trail, err1 := Matches(TrailPattern(), raw)
		key, err2 := Matches(KeyPattern(), raw)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if trail != (r.Kind == KindTrail) || key != (r.Kind == KindKey) {
			t.Errorf("%s decodes to %v but trail pattern=%v key pattern=%v", e.Name(), r.Kind, trail, key)
		}
	}
	if decoded < 8 {
		t.Errorf("only %d fixtures decoded; the test proves nothing", decoded)
	}
}

func TestPatternShape(t *testing.T) {
	// The patterns must survive a JSON round trip (the infrastructure
	// serializes them) and still match.
	for _, p := range []Pattern{TrailPattern(), KeyPattern()} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Pattern
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"create_trail.json", "disable_key.json"} {
			a, err1 := Matches(p, fixture(t, f))
			b, err2 := Matches(back, fixture(t, f))
			if err1 != nil || err2 != nil || a != b {
				t.Errorf("%s: pattern %v vs its JSON round trip: %v/%v, %v/%v", f, p, a, err1, b, err2)
			}
		}
	}
}

func TestMatches(t *testing.T) {
	ev := `{"source":"aws.kms","n":5,"b":true,"z":null,"list":["a","b"],"o":{"k":"v","deep":{"x":"y"}},"e":[]}`
	tests := []struct {
		name    string
		p       Pattern
		event   string
		want    bool
		wantErr string
	}{
		{name: "exact", p: Pattern{"source": []any{"aws.kms"}}, event: ev, want: true},
		{name: "one of several", p: Pattern{"source": []any{"aws.s3", "aws.kms"}}, event: ev, want: true},
		{name: "[]string values", p: Pattern{"source": []string{"aws.kms"}}, event: ev, want: true},
		{name: "mismatch", p: Pattern{"source": []any{"aws.s3"}}, event: ev, want: false},
		{name: "case sensitive", p: Pattern{"source": []any{"AWS.KMS"}}, event: ev, want: false},
		{name: "missing field", p: Pattern{"nope": []any{"x"}}, event: ev, want: false},
		{name: "missing field does not match null", p: Pattern{"nope": []any{nil}}, event: ev, want: false},
		{name: "null", p: Pattern{"z": []any{nil}}, event: ev, want: true},
		{name: "number by value", p: Pattern{"n": []any{5.0}}, event: ev, want: true},
		{name: "int number", p: Pattern{"n": []any{5}}, event: ev, want: true},
		{name: "number vs string", p: Pattern{"n": []any{"5"}}, event: ev, want: false},
		{name: "bool", p: Pattern{"b": []any{true}}, event: ev, want: true},
		{name: "bool mismatch", p: Pattern{"b": []any{false}}, event: ev, want: false},
		{name: "event array: any element", p: Pattern{"list": []any{"b"}}, event: ev, want: true},
		{name: "event array: none", p: Pattern{"list": []any{"c"}}, event: ev, want: false},
		{name: "empty event array", p: Pattern{"e": []any{"c"}}, event: ev, want: false},
		{name: "nested", p: Pattern{"o": map[string]any{"k": []any{"v"}}}, event: ev, want: true},
		{name: "nested Pattern", p: Pattern{"o": Pattern{"deep": Pattern{"x": []any{"y"}}}}, event: ev, want: true},
		{name: "nested mismatch", p: Pattern{"o": map[string]any{"deep": map[string]any{"x": []any{"z"}}}}, event: ev, want: false},
		{name: "nested vs leaf", p: Pattern{"source": map[string]any{"k": []any{"v"}}}, event: ev, want: false},
		{name: "nested missing", p: Pattern{"nope": map[string]any{"k": []any{"v"}}}, event: ev, want: false},
		{name: "leaf pattern vs object", p: Pattern{"o": []any{"v"}}, event: ev, want: false},
		{name: "all fields must match", p: Pattern{"source": []any{"aws.kms"}, "n": []any{6}}, event: ev, want: false},
		{name: "prefix", p: Pattern{"source": []any{map[string]any{"prefix": "aws."}}}, event: ev, want: true},
		{name: "prefix mismatch", p: Pattern{"source": []any{map[string]any{"prefix": "custom."}}}, event: ev, want: false},
		{name: "exists true", p: Pattern{"source": []any{map[string]any{"exists": true}}}, event: ev, want: true},
		{name: "exists true missing", p: Pattern{"nope": []any{map[string]any{"exists": true}}}, event: ev, want: false},
		{name: "exists false missing", p: Pattern{"nope": []any{map[string]any{"exists": false}}}, event: ev, want: true},
		{name: "exists false present", p: Pattern{"source": []any{map[string]any{"exists": false}}}, event: ev, want: false},
		{name: "exists on an object", p: Pattern{"o": []any{map[string]any{"exists": true}}}, event: ev, want: false},

		{name: "bad event JSON", p: TrailPattern(), event: `{"source":`, wantErr: "decode event"},
		{name: "event not an object", p: TrailPattern(), event: `["aws.kms"]`, wantErr: "not an object"},
		{name: "event trailing data", p: TrailPattern(), event: `{} {}`, wantErr: "trailing"},
		{name: "empty pattern", p: Pattern{}, event: ev, wantErr: "empty pattern"},
		{name: "leaf not in array", p: Pattern{"source": "aws.kms"}, event: ev, wantErr: "want an object or an array"},
		{name: "empty array", p: Pattern{"source": []any{}}, event: ev, wantErr: "empty array"},
		{name: "empty nested", p: Pattern{"o": map[string]any{}}, event: ev, wantErr: "empty object"},
		{name: "unsupported filter", p: Pattern{"n": []any{map[string]any{"numeric": []any{">", 1}}}}, event: ev, wantErr: "unsupported content filter"},
		{name: "bad exists", p: Pattern{"n": []any{map[string]any{"exists": "yes"}}}, event: ev, wantErr: "exists wants a boolean"},
		{name: "bad prefix", p: Pattern{"n": []any{map[string]any{"prefix": 1}}}, event: ev, wantErr: "prefix wants a string"},
		{name: "two-field filter", p: Pattern{"n": []any{map[string]any{"prefix": "a", "exists": true}}}, event: ev, wantErr: "exactly one field"},
		{name: "unsupported leaf", p: Pattern{"n": []any{[]any{1}}}, event: ev, wantErr: "unsupported value"},
		{name: "bad pattern reported even after a mismatch", p: Pattern{"a": []any{"x"}, "b": "bad"}, event: ev, wantErr: "/b"},
		{name: "bad nested pattern under a missing field", p: Pattern{"nope": map[string]any{"k": "bad"}}, event: ev, wantErr: "/nope/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Matches(tt.p, []byte(tt.event))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Matches = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Matches error: %v", err)
			}
			if got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}
