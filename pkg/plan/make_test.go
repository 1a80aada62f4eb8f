package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/policy"
)

// step renders an action as "Kind target@region".
func step(a Action) string { return fmt.Sprintf("%s %s@%s", a.Kind, a.Target, a.Region) }

func TestMake(t *testing.T) {
	const (
		mrkPrimary  = "arn:aws:kms:us-east-1:111111111111:key/mrk-1234"
		mrkReplica  = "arn:aws:kms:eu-west-1:111111111111:key/mrk-1234"
		euBaseline  = "arn:aws:kms:eu-west-1:111111111111:key/eeeeeeee-2222-3333-4444-555555555555"
		cnTrail     = "arn:aws-cn:cloudtrail:cn-north-1:111111111111:trail/TrailName"
		cnBaseline  = "arn:aws-cn:kms:cn-north-1:111111111111:key/cccccccc-2222-3333-4444-555555555555"
		memberTrail = "arn:aws:cloudtrail:us-east-2:999999999999:trail/Org"
	)
	notEncrypted := func(s *compliance.State) { s.Trail.KMSKeyID, s.Key = "", nil }
	tests := []struct {
		name              string
		key, baseline     string // policy fixtures
		edit              func(*compliance.State, *compliance.Config)
		want              []string // steps
		alert             string   // substring of an alert; "" = no alerts
		updateTrailKMSKey string
	}{
		{name: "compliant", key: "documented", baseline: "root-only", want: nil},
		{name: "not encrypted: fix the baseline, then switch", key: "documented", baseline: "root-only",
			edit:              func(s *compliance.State, _ *compliance.Config) { notEncrypted(s) },
			want:              []string{"PutKeyPolicy " + baselineARN + "@us-east-2", "UpdateTrail " + trailARN + "@us-east-2"},
			updateTrailKMSKey: baselineARN},
		{name: "not encrypted, compliant baseline", key: "documented", baseline: "documented",
			edit: func(s *compliance.State, _ *compliance.Config) { notEncrypted(s) },
			want: []string{"UpdateTrail " + trailARN + "@us-east-2"}, updateTrailKMSKey: baselineARN},
		{name: "not encrypted, baseline rotation required", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, c *compliance.Config) {
				notEncrypted(s)
				s.Baseline.RotationEnabled, c.RequireRotation = false, true
			},
			want: []string{"PutKeyPolicy " + baselineARN + "@us-east-2", "EnableKeyRotation " + baselineARN + "@us-east-2",
				"UpdateTrail " + trailARN + "@us-east-2"}, updateTrailKMSKey: baselineARN},
		{name: "not encrypted, no baseline", key: "documented", baseline: "root-only",
			edit:  func(s *compliance.State, _ *compliance.Config) { notEncrypted(s); s.Baseline = nil },
			alert: "no baseline key in Region us-east-2"},
		{name: "not encrypted, baseline pending deletion", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) {
				notEncrypted(s)
				s.Baseline.State = compliance.KeyStatePendingDeletion
			},
			alert: "PendingDeletion"},
		{name: "not encrypted, baseline denies CloudTrail", key: "documented", baseline: "deny-cloudtrail",
			edit:  func(s *compliance.State, _ *compliance.Config) { notEncrypted(s) },
			alert: "DenyCloudTrail"},
		{name: "policy gaps fixed in place", key: "root-only", baseline: "root-only",
			want: []string{"PutKeyPolicy " + keyARN + "@us-east-2"}},
		{name: "rotation", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, c *compliance.Config) {
				s.Key.RotationEnabled, c.RequireRotation = false, true
			},
			want: []string{"EnableKeyRotation " + keyARN + "@us-east-2"}},
		{name: "disabled key", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) { s.Key.State = compliance.KeyStateDisabled },
			want: []string{"EnableKey " + keyARN + "@us-east-2"}},
		{name: "disabled key, report", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, c *compliance.Config) {
				s.Key.State, c.DisabledKey = compliance.KeyStateDisabled, compliance.DisabledKeyReport
			},
			alert: "key-disabled"},
		{name: "disabled key, switch", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, c *compliance.Config) {
				s.Key.State, c.DisabledKey = compliance.KeyStateDisabled, compliance.DisabledKeySwitch
			},
			want:              []string{"PutKeyPolicy " + baselineARN + "@us-east-2", "UpdateTrail " + trailARN + "@us-east-2"},
			updateTrailKMSKey: baselineARN},
		{name: "pending deletion: cancel, enable, then fix the policy", key: "no-describe", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) { s.Key.State = compliance.KeyStatePendingDeletion },
			want: []string{"CancelKeyDeletion " + keyARN + "@us-east-2", "EnableKey " + keyARN + "@us-east-2",
				"PutKeyPolicy " + keyARN + "@us-east-2"}},
		{name: "pending deletion, report: cancel only", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, c *compliance.Config) {
				s.Key.State, c.DisabledKey = compliance.KeyStatePendingDeletion, compliance.DisabledKeyReport
			},
			want: []string{"CancelKeyDeletion " + keyARN + "@us-east-2"}},
		{name: "pending deletion, switch: cancel and switch", key: "documented", baseline: "documented",
			edit: func(s *compliance.State, c *compliance.Config) {
				s.Key.State, c.DisabledKey = compliance.KeyStatePendingDeletion, compliance.DisabledKeySwitch
			},
			want:              []string{"CancelKeyDeletion " + keyARN + "@us-east-2", "UpdateTrail " + trailARN + "@us-east-2"},
			updateTrailKMSKey: baselineARN},
		{name: "deny: switch to the baseline", key: "deny-cloudtrail", baseline: "root-only",
			want:              []string{"PutKeyPolicy " + baselineARN + "@us-east-2", "UpdateTrail " + trailARN + "@us-east-2"},
			updateTrailKMSKey: baselineARN},
		{name: "deny, no baseline: alert", key: "deny-cloudtrail", baseline: "root-only",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.Baseline = nil },
			alert: "key-policy-denies-cloudtrail"},
		{name: "unparseable policy: switch", key: "invalid", baseline: "documented",
			want: []string{"UpdateTrail " + trailARN + "@us-east-2"}, updateTrailKMSKey: baselineARN},
		{name: "deny on the baseline the trail already uses", key: "deny-cloudtrail", baseline: "deny-cloudtrail",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.Baseline.ARN = keyARN },
			alert: "already uses the baseline key"},
		{name: "trail on the baseline key: fixed in place, no UpdateTrail", key: "root-only", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) { s.Baseline = s.Key },
			want: []string{"PutKeyPolicy " + keyARN + "@us-east-2"}},
		{name: "delivery failing: alert only", key: "documented", baseline: "root-only",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.LatestDeliveryError = "KMS.NotFoundException" },
			alert: "KMS.NotFoundException"},
		{name: "exempt: nothing", key: "root-only", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) {
				s.Trail.Tags = map[string]string{compliance.DefaultExemptTag: "true"}
			}},
		{name: "shadow trail: nothing", key: "root-only", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) { s.Region = "ap-south-1" }},
		{name: "organization trail in a member account: nothing", key: "root-only", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) {
				s.Trail.ARN, s.Trail.IsOrganizationTrail = memberTrail, true
			}},
		{name: "wrong Region: baseline of the bucket's Region, UpdateTrail in the home Region", key: "documented", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) {
				s.BucketRegion = "eu-west-1"
				s.Baseline = newKey(euBaseline, "eu-west-1", s.Baseline.Policy)
			},
			want:              []string{"PutKeyPolicy " + euBaseline + "@eu-west-1", "UpdateTrail " + trailARN + "@us-east-2"},
			updateTrailKMSKey: euBaseline},
		{name: "multi-Region key: fix the replica in the bucket's Region", key: "root-only", baseline: "root-only",
			edit: func(s *compliance.State, _ *compliance.Config) {
				s.BucketRegion = "eu-west-1"
				s.Trail.KMSKeyID = mrkPrimary
				s.Key.ARN, s.Key.Region, s.Key.MultiRegion, s.Key.ReplicaRegions = mrkPrimary, "us-east-1", true, []string{"us-east-1", "eu-west-1"}
			},
			want: []string{"PutKeyPolicy " + mrkReplica + "@eu-west-1"}},
		{name: "aws-cn", key: "documented", baseline: "documented-cn",
			edit: func(s *compliance.State, _ *compliance.Config) {
				notEncrypted(s)
				s.Region, s.BucketRegion, s.Trail.ARN, s.Trail.HomeRegion = "cn-north-1", "cn-north-1", cnTrail, "cn-north-1"
				s.Baseline.ARN, s.Baseline.Region = cnBaseline, "cn-north-1"
			},
			want: []string{"UpdateTrail " + cnTrail + "@cn-north-1"}, updateTrailKMSKey: cnBaseline},
		// Issue 11.
		{name: "bucket encryption unreadable: Bucket Key Decrypt on the baseline before the switch", key: "documented", baseline: "documented",
			edit: func(s *compliance.State, _ *compliance.Config) {
				notEncrypted(s)
				s.BucketKey = compliance.BucketKeyUnknown
			},
			want: []string{"PutKeyPolicy " + baselineARN + "@us-east-2", "UpdateTrail " + trailARN + "@us-east-2"}, updateTrailKMSKey: baselineARN},
		{name: "bucket uses a Bucket Key: Decrypt added to the trail's key", key: "documented", baseline: "documented",
			edit: func(s *compliance.State, _ *compliance.Config) { s.BucketKey = compliance.BucketKeyEnabled },
			want: []string{"PutKeyPolicy " + keyARN + "@us-east-2"}},
		{name: "key read denied: nothing, alert", key: "documented", baseline: "documented",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.Key, s.KeyDenied = nil, true },
			alert: "key-unverifiable"},
		{name: "not logging: alert only by default", key: "documented", baseline: "documented",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.Logging = new(false) },
			alert: "trail-not-logging"},
		{name: "not logging, opted in: StartLogging after the switch", key: "documented", baseline: "documented",
			edit: func(s *compliance.State, c *compliance.Config) {
				notEncrypted(s)
				s.Logging, c.StartLogging = new(false), true
			},
			want: []string{"UpdateTrail " + trailARN + "@us-east-2", "StartLogging " + trailARN + "@us-east-2"}, updateTrailKMSKey: baselineARN},
		{name: "key in another account: alert", key: "no-describe", baseline: "root-only",
			edit:  func(s *compliance.State, _ *compliance.Config) { s.Key.Account = "222222222222" },
			alert: "in account 222222222222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t, tt.key, tt.baseline)
			var c compliance.Config
			if tt.edit != nil {
				tt.edit(&s, &c)
			}
			p := Make(s, c)
			var got []string
			for _, a := range p.Actions {
				got = append(got, step(a))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("actions\n  %v\nwant\n  %v\nfindings %+v\nalerts %v", got, tt.want, p.Findings, p.Alerts)
			}
			if !slices.Equal(p.Findings, compliance.Evaluate(s, c)) {
				t.Errorf("plan findings differ from Evaluate")
			}
			switch {
			case tt.alert == "" && len(p.Alerts) > 0:
				t.Errorf("unexpected alerts %v", p.Alerts)
			case tt.alert != "" && !slices.ContainsFunc(p.Alerts, func(a string) bool { return strings.Contains(a, tt.alert) }):
				t.Errorf("no alert contains %q: %v", tt.alert, p.Alerts)
			}
			for _, a := range p.Actions {
				if len(a.Rules) == 0 {
					t.Errorf("%s has no rules", step(a))
				}
				switch a.Kind {
				case PutKeyPolicy:
					if a.Grant == nil || a.Grant.KeyARN != a.Target || a.Policy == "" {
						t.Errorf("PutKeyPolicy without grant/policy: %+v", a)
					} else if _, err := policy.Parse([]byte(a.Policy)); err != nil {
						t.Errorf("planned policy does not parse: %v", err)
					}
				case UpdateTrail:
					if a.KMSKeyID != tt.updateTrailKMSKey || a.TrailName != s.Trail.ARN {
						t.Errorf("UpdateTrail KMSKeyID %q TrailName %q, want %q %q", a.KMSKeyID, a.TrailName, tt.updateTrailKMSKey, s.Trail.ARN)
					}
				}
			}
		})
	}
}
