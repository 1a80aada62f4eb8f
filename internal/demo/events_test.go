package demo

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/event"
)

// TestCallEvents checks the events the demo produces against the stack's
// own decoder and patterns: a trail call decodes to its trail, a key call
// to its key, and each matches exactly the pattern of its function.
func TestCallEvents(t *testing.T) {
	const keyARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tARN := trailARN("trail-one")
	tests := []struct {
		name      string
		c         call
		wantKind  event.Kind
		wantRes   string
		wantTrail bool // matches TrailPattern
		wantKey   bool // matches KeyPattern
	}{
		{"CreateTrail", call{Source: sourceCloudTrail, EventName: "CreateTrail", Region: "us-east-1",
			Request:  map[string]any{"name": "trail-one", "s3BucketName": "b"},
			Response: map[string]any{"name": "trail-one", "trailARN": tARN}},
			event.KindTrail, tARN, true, false},
		{"own UpdateTrail", mustOwn(t, "UpdateTrail", tARN, keyARN), event.KindTrail, tARN, true, false},
		{"PutKeyPolicy", call{Source: sourceKMS, EventName: "PutKeyPolicy", Region: "us-east-1", KeyARN: keyARN,
			Request: map[string]any{"keyId": keyARN, "policyName": "default", "policy": "{}"}},
			event.KindKey, keyARN, false, true},
		{"ScheduleKeyDeletion by key id", call{Source: sourceKMS, EventName: "ScheduleKeyDeletion", Region: "us-east-1", KeyARN: keyARN,
			Request: map[string]any{"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 7}},
			event.KindKey, keyARN, false, true},
		{"own PutKeyPolicy", mustOwn(t, "PutKeyPolicy", keyARN, ""), event.KindKey, keyARN, false, true},
		{"CreateKey", call{Source: sourceKMS, EventName: "CreateKey", Region: "us-east-1", KeyARN: keyARN},
			0, "", false, false},
		{"own EnableKey", mustOwn(t, "EnableKey", keyARN, ""), 0, "", false, false},
		{"CreateBucket", call{Source: sourceS3, EventName: "CreateBucket", Region: "eu-west-1",
			Request: map[string]any{"bucketName": "b"}}, 0, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.c.envelope(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]any
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("envelope is not JSON: %v", err)
			}
			if env["detail-type"] != event.DetailType || env["source"] != tt.c.Source {
				t.Errorf("envelope detail-type/source = %v/%v", env["detail-type"], env["source"])
			}
			for _, p := range []struct {
				name    string
				pattern event.Pattern
				want    bool
			}{{"trail", event.TrailPattern(), tt.wantTrail}, {"key", event.KeyPattern(), tt.wantKey}} {
				got, err := event.Matches(p.pattern, raw)
				if err != nil {
					t.Fatalf("Matches %s pattern: %v", p.name, err)
				}
				if got != p.want {
					t.Errorf("matches %s pattern = %v, want %v", p.name, got, p.want)
				}
			}
			if tt.wantKind == 0 {
				return
			}
			req, err := event.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if req.Kind != tt.wantKind || req.Resource() != tt.wantRes || req.Account != Account || req.Region != tt.c.Region {
				t.Errorf("Decode = %+v, want %s %s in %s/%s", req, tt.wantKind, tt.wantRes, Account, tt.c.Region)
			}
		})
	}
}

func mustOwn(t *testing.T, action, target, kmsKeyID string) call {
	t.Helper()
	c, ok := ownCall(action, target, kmsKeyID)
	if !ok {
		t.Fatalf("ownCall(%s) = not an API call", action)
	}
	if !c.Own || c.Region != "us-east-1" {
		t.Fatalf("ownCall(%s) = %+v", action, c)
	}
	return c
}

func TestOwnCallIgnoresOtherOutcomes(t *testing.T) {
	if _, ok := ownCall("Frobnicate", "arn:aws:kms:us-east-1:123456789012:key/x", ""); ok {
		t.Error("ownCall accepted an unknown action")
	}
}

func TestARNParts(t *testing.T) {
	tests := []struct{ arn, region, resource string }{
		{"arn:aws:kms:eu-west-1:123456789012:key/abcd", "eu-west-1", "abcd"},
		{"arn:aws:cloudtrail:us-east-1:123456789012:trail/t1", "us-east-1", "t1"},
		{"arn:aws-cn:kms:cn-north-1:123456789012:alias/x", "cn-north-1", "x"},
		{"not-an-arn", "", "not-an-arn"},
	}
	for _, tt := range tests {
		if got := arnRegion(tt.arn); got != tt.region {
			t.Errorf("arnRegion(%q) = %q, want %q", tt.arn, got, tt.region)
		}
		if got := arnResource(tt.arn); got != tt.resource {
			t.Errorf("arnResource(%q) = %q, want %q", tt.arn, got, tt.resource)
		}
	}
}

func TestDecodeReport(t *testing.T) {
	rep := map[string]any{"results": []any{map[string]any{
		"trail": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1", "account": Account, "region": "us-east-1",
		"findings": []any{map[string]any{"rule": "trail-not-encrypted", "detail": "d", "actionable": true}},
		"actions":  []any{map[string]any{"action": "UpdateTrail", "target": "arn:x", "outcome": "planned"}},
	}}}
	rs, err := decodeReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Findings[0].Rule != "trail-not-encrypted" || rs[0].Actions[0].Outcome != "planned" {
		t.Errorf("decodeReport = %+v", rs)
	}
	if _, err := decodeReport(func() {}); err == nil {
		t.Error("decodeReport accepted a value that is not JSON")
	}
}
