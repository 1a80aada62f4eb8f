package demo

import (
	"context"
	"testing"
)

func TestMatchRouter(t *testing.T) {
	const keyARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name string
		c    call
		want string
	}{
		{"CreateTrail", call{Source: sourceCloudTrail, EventName: "CreateTrail", Region: "us-east-1",
			Request: map[string]any{"name": "trail-one"}}, trailFunction},
		{"UpdateTrail", call{Source: sourceCloudTrail, EventName: "UpdateTrail", Region: "eu-west-1",
			Request: map[string]any{"name": "trail-one"}}, trailFunction},
		// Since issue 11 StopLogging and DeleteTrail reach the
		// trail-remediator (the Region may be left without a logging trail).
		{"DeleteTrail", call{Source: sourceCloudTrail, EventName: "DeleteTrail", Region: "us-east-1",
			Request: map[string]any{"name": "trail-one"}}, trailFunction},
		{"StopLogging", call{Source: sourceCloudTrail, EventName: "StopLogging", Region: "us-east-1",
			Request: map[string]any{"name": "trail-one"}}, trailFunction},
		{"StartLogging", call{Source: sourceCloudTrail, EventName: "StartLogging", Region: "us-east-1",
			Request: map[string]any{"name": "trail-one"}}, "none"},
		{"PutKeyPolicy", call{Source: sourceKMS, EventName: "PutKeyPolicy", Region: "us-east-1", KeyARN: keyARN}, keyFunction},
		{"DisableKey", call{Source: sourceKMS, EventName: "DisableKey", Region: "us-east-1", KeyARN: keyARN}, keyFunction},
		{"CreateKey", call{Source: sourceKMS, EventName: "CreateKey", Region: "us-east-1", KeyARN: keyARN}, "none"},
		{"CreateBucket", call{Source: sourceS3, EventName: "CreateBucket", Region: "us-east-1"}, "none"},
	}
	for _, tt := range tests {
		got, err := matchRouter{}.Route(context.Background(), tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if f := functionsOf(got); f != tt.want {
			t.Errorf("%s routed to %s, want %s", tt.name, f, tt.want)
		}
	}
}
