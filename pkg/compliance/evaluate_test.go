package compliance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/policy"
)

func TestEvaluate(t *testing.T) {
	const (
		cnTrail = "arn:aws-cn:cloudtrail:cn-north-1:111111111111:trail/TrailName"
		cnKey   = "arn:aws-cn:kms:cn-north-1:111111111111:key/11111111-2222-3333-4444-555555555555"
		orgMgmt = "999999999999"
		orgARN  = "arn:aws:cloudtrail:us-east-2:999999999999:trail/OrgTrail"
		orgKey  = "arn:aws:kms:us-east-2:999999999999:key/99999999-2222-3333-4444-555555555555"
	)
	toCN := func(s *State, _ *Config) {
		s.Region, s.BucketRegion = "cn-north-1", "cn-north-1"
		s.Trail.ARN, s.Trail.HomeRegion, s.Trail.KMSKeyID = cnTrail, "cn-north-1", cnKey
		s.Key.ARN, s.Key.Region = cnKey, "cn-north-1"
		s.Baseline = nil
	}
	toOrg := func(observedIn string) func(*State, *Config) {
		return func(s *State, _ *Config) {
			s.Account = observedIn
			s.Trail.ARN, s.Trail.Name, s.Trail.IsOrganizationTrail, s.Trail.KMSKeyID = orgARN, "OrgTrail", true, orgKey
			s.Key.ARN, s.Key.Account = orgKey, orgMgmt
			s.ManagementAccount = orgMgmt
			s.Baseline = nil
		}
	}
	tests := []struct {
		name   string
		policy string
		edit   func(*State, *Config)
		want   []string // "rule": actionable, "!rule": not actionable
		detail string   // a substring of some finding's detail
	}{
		// Documented shapes, compliant.
		{name: "documented statements", policy: "documented", want: []string{}},
		{name: "documented statements, Bob is a reader", policy: "documented",
			edit: func(_ *State, c *Config) { c.Readers = []string{bob} }, want: []string{}},
		{name: "console default policy", policy: "console-default", want: []string{}},
		{name: "odd but valid shapes", policy: "odd-compliant", want: []string{}},
		{name: "single statement object, IfExists", policy: "single-object", want: []string{}},
		{name: "Deny of an unrelated action", policy: "deny-unrelated", want: []string{}},

		// Each way of failing.
		{name: "explicit reader not granted", policy: "documented",
			edit: func(_ *State, c *Config) { c.Readers = []string{alice, bob} },
			want: []string{"key-policy-no-reader-decrypt"}, detail: alice},
		{name: "root statement does not count for an explicit reader", policy: "root-only",
			edit: func(_ *State, c *Config) { c.Readers = []string{alice} },
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt"}, detail: alice},
		{name: "root only (moto's default)", policy: "root-only",
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
		{name: "account condition excludes CloudTrail", policy: "single-object-no-service",
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
		{name: "encrypt statement for another account", policy: "encrypt-wrong-account",
			want: []string{"key-policy-no-encrypt"}},
		{name: "statements for another trail", policy: "other-trail",
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
		{name: "no describe statement", policy: "no-describe", want: []string{"key-policy-no-describe"}},
		{name: "no reader decrypt", policy: "no-decrypt", want: []string{"key-policy-no-reader-decrypt"}, detail: "arn:aws:iam::111111111111:root"},
		{name: "deny CloudTrail, switch to baseline", policy: "deny-cloudtrail",
			want: []string{"key-policy-denies-cloudtrail"}, detail: "DenyCloudTrail denies kms:GenerateDataKey"},
		// "NotPrincipal must be used with "Effect":"Deny". Using it with
		// "Effect":"Allow" is not supported."
		// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html)
		{name: "Allow with NotPrincipal does not count, and says so", policy: "notprincipal-allow",
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe"}, detail: "statement AllowAllButMallory (for cloudtrail.amazonaws.com) was not counted: Allow with NotPrincipal is not supported by AWS"},
		{name: "uncertain deny", policy: "deny-uncertain",
			want: []string{"key-policy-denies-cloudtrail"}, detail: "cannot evaluate may match"},
		{name: "deny readers", policy: "deny-readers",
			want: []string{"key-policy-denies-cloudtrail"}, detail: "DenyReadersOtherBucket denies kms:Decrypt"},
		{name: "deny without a baseline", policy: "deny-cloudtrail",
			edit: func(s *State, _ *Config) { s.Baseline, s.BaselineError = nil, "alias/trailguard-cloudtrail not found" },
			want: []string{"!key-policy-denies-cloudtrail"}, detail: "no baseline key in Region us-east-2: alias/trailguard-cloudtrail not found"},
		{name: "deny on the baseline key itself", policy: "deny-cloudtrail",
			edit: func(s *State, _ *Config) { s.Baseline = testKey(testKeyARN, s.Key.Policy) },
			want: []string{"!key-policy-denies-cloudtrail"}, detail: "already uses the baseline key"},
		{name: "policy does not parse", policy: "invalid",
			want: []string{"key-policy-no-encrypt"}, detail: "does not parse"},
		{name: "policy does not parse, no baseline", policy: "invalid",
			edit: func(s *State, _ *Config) { s.Baseline = nil }, want: []string{"!key-policy-no-encrypt"}, detail: "no baseline key"},
		{name: "policy could not be read", policy: "",
			want: []string{"!key-unverifiable"}, detail: "could not be read"},
		// Issue 11: real trail layouts.
		{name: "key read denied is not a missing key", policy: "documented",
			edit: func(s *State, _ *Config) {
				s.Key, s.KeyDenied, s.KeyError = nil, true, "describe key: AccessDeniedException"
			},
			want: []string{"!key-unverifiable"}, detail: "AccessDeniedException"},
		{name: "key not found is missing", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key, s.KeyError = nil, "describe key: NotFoundException" },
			want: []string{"trail-key-missing"}},
		{name: "trail not logging: alert by default", policy: "documented",
			edit: func(s *State, _ *Config) { s.Logging = new(false) },
			want: []string{"!trail-not-logging"}, detail: "TRAILGUARD_START_LOGGING"},
		{name: "trail not logging: StartLogging opted in", policy: "documented",
			edit: func(s *State, c *Config) { s.Logging, c.StartLogging = new(false), true },
			want: []string{"trail-not-logging"}},
		{name: "trail not logging, switching keys: still an alert", policy: "documented",
			edit: func(s *State, _ *Config) { s.Logging, s.Trail.KMSKeyID, s.Key = new(false), "", nil },
			want: []string{"trail-not-encrypted", "!trail-not-logging"}},
		{name: "rotation status unreadable: not decided, never enabled on it", policy: "documented",
			edit: func(s *State, c *Config) { c.RequireRotation, s.Key.RotationUnknown = true, true },
			want: []string{"!key-unverifiable"}, detail: "rotation status"},
		{name: "policy unreadable, key disabled: not enabled in place", policy: "",
			edit: func(s *State, _ *Config) { s.Key.State = KeyStateDisabled },
			want: []string{"!key-disabled", "!key-unverifiable"}, detail: "cannot verify"},
		{name: "trail logging", policy: "documented",
			edit: func(s *State, _ *Config) { s.Logging = new(true) }, want: []string{}},
		{name: "trail status unreadable", policy: "documented",
			edit: func(s *State, _ *Config) { s.Unverified = []string{"get trail status: AccessDeniedException"} },
			want: []string{"!trail-unverifiable"}, detail: "AccessDeniedException"},
		{name: "bucket uses an S3 Bucket Key: CloudTrail needs Decrypt", policy: "documented",
			edit: func(s *State, _ *Config) { s.BucketKey = BucketKeyEnabled },
			want: []string{"key-policy-no-bucket-key-decrypt"}, detail: "S3 Bucket Key"},
		{name: "bucket key unknown, trail keeps its key: nothing assumed", policy: "documented",
			edit: func(s *State, _ *Config) { s.BucketKey = BucketKeyUnknown }, want: []string{}},
		{name: "not encrypted", policy: "documented",
			edit: func(s *State, _ *Config) { s.Trail.KMSKeyID, s.Key = "", nil }, want: []string{"trail-not-encrypted"}},
		{name: "not encrypted, no baseline", policy: "documented",
			edit: func(s *State, _ *Config) { s.Trail.KMSKeyID, s.Key, s.Baseline = "", nil, nil },
			want: []string{"!trail-not-encrypted"}, detail: "no baseline key in Region us-east-2"},
		{name: "not encrypted, baseline disabled", policy: "documented",
			edit: func(s *State, _ *Config) { s.Trail.KMSKeyID, s.Key, s.Baseline.State = "", nil, KeyStateDisabled },
			want: []string{"!trail-not-encrypted"}, detail: `baseline key ` + testBaselineARN + ` is unusable: its state is "Disabled"`},
		{name: "not encrypted, baseline in another Region", policy: "documented",
			edit: func(s *State, _ *Config) { s.Trail.KMSKeyID, s.Key, s.Baseline.Region = "", nil, "eu-west-1" },
			want: []string{"!trail-not-encrypted"}, detail: "not the bucket's Region us-east-2"},
		{name: "not encrypted, baseline denies CloudTrail", policy: "documented",
			edit: func(s *State, _ *Config) {
				s.Trail.KMSKeyID, s.Key = "", nil
				s.Baseline.Policy = fixture(t, "deny-cloudtrail")
			},
			want: []string{"!trail-not-encrypted"}, detail: "DenyCloudTrail"},
		{name: "key missing", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key, s.KeyError = nil, "NotFoundException: key does not exist" },
			want: []string{"trail-key-missing"}, detail: "NotFoundException"},
		{name: "key in another Region", policy: "documented",
			edit: func(s *State, _ *Config) { s.BucketRegion = "eu-west-1"; s.Baseline.Region = "eu-west-1" },
			want: []string{"trail-key-wrong-region"}, detail: "bucket trail-logs is in eu-west-1"},
		{name: "multi-Region key with a replica in the bucket's Region", policy: "documented",
			edit: func(s *State, _ *Config) {
				s.BucketRegion = "eu-west-1"
				s.Key.MultiRegion, s.Key.ReplicaRegions = true, []string{"us-east-2", "eu-west-1"}
			},
			want: []string{}},
		{name: "multi-Region key without a replica there", policy: "documented",
			edit: func(s *State, _ *Config) {
				s.BucketRegion = "eu-west-1"
				s.Key.MultiRegion, s.Key.ReplicaRegions = true, []string{"us-east-2", "ap-south-1"}
				s.Baseline = nil
			},
			want: []string{"!trail-key-wrong-region"}},
		{name: "AWS managed key", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.Manager = "AWS" }, want: []string{"trail-key-unusable"}, detail: "AWS managed"},
		{name: "asymmetric key", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.Spec = "RSA_2048" }, want: []string{"trail-key-unusable"}, detail: "RSA_2048"},
		{name: "HMAC key", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.Spec, s.Key.Usage = "HMAC_256", "GENERATE_VERIFY_MAC" },
			want: []string{"trail-key-unusable"}, detail: "GENERATE_VERIFY_MAC"},
		{name: "key pending import", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.State = "PendingImport" }, want: []string{"trail-key-unusable"}, detail: "PendingImport"},
		{name: "disabled key", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.State = KeyStateDisabled }, want: []string{"key-disabled"}},
		{name: "disabled key, report only", policy: "documented",
			edit: func(s *State, c *Config) { s.Key.State, c.DisabledKey = KeyStateDisabled, DisabledKeyReport },
			want: []string{"!key-disabled"}, detail: `"report"`},
		{name: "disabled key, switch", policy: "documented",
			edit: func(s *State, c *Config) { s.Key.State, c.DisabledKey = KeyStateDisabled, DisabledKeySwitch },
			want: []string{"key-disabled"}},
		{name: "disabled key, switch without baseline", policy: "documented",
			edit: func(s *State, c *Config) {
				s.Key.State, c.DisabledKey, s.Baseline = KeyStateDisabled, DisabledKeySwitch, nil
			},
			want: []string{"!key-disabled"}, detail: "no baseline key"},
		{name: "pending deletion and a policy gap", policy: "no-describe",
			edit: func(s *State, _ *Config) { s.Key.State = KeyStatePendingDeletion },
			want: []string{"key-pending-deletion", "key-policy-no-describe"}},
		{name: "rotation required and off", policy: "documented",
			edit: func(s *State, c *Config) { s.Key.RotationEnabled, c.RequireRotation = false, true },
			want: []string{"key-rotation-disabled"}},
		{name: "rotation off but not required", policy: "documented",
			edit: func(s *State, _ *Config) { s.Key.RotationEnabled = false }, want: []string{}},
		{name: "rotation required on a disabled key kept disabled", policy: "documented",
			edit: func(s *State, c *Config) {
				s.Key.RotationEnabled, c.RequireRotation, s.Key.State, c.DisabledKey = false, true, KeyStateDisabled, DisabledKeyReport
			},
			want: []string{"!key-disabled", "!key-rotation-disabled"}, detail: "not enabled"},
		{name: "delivery failing on KMS", policy: "documented",
			edit: func(s *State, _ *Config) {
				s.LatestDeliveryError = "KMS.DisabledException: arn:aws:kms:us-east-2:111111111111:key/x is disabled"
			},
			want: []string{"!trail-delivery-failing"}, detail: `"KMS.DisabledException`},
		{name: "delivery AccessDenied on an encrypted trail", policy: "documented",
			edit: func(s *State, _ *Config) { s.LatestDeliveryError = "AccessDenied" },
			want: []string{"!trail-delivery-failing"}},
		{name: "delivery error not about KMS", policy: "documented",
			edit: func(s *State, _ *Config) { s.LatestDeliveryError = "NoSuchBucket" }, want: []string{}},
		{name: "key in another account", policy: "no-describe",
			edit: func(s *State, _ *Config) { s.Key.Account = "222222222222" },
			want: []string{"!key-policy-no-describe"}, detail: "is in account 222222222222"},

		// Not actionable here.
		{name: "exempt trail", policy: "root-only",
			edit: func(s *State, c *Config) { s.Trail.Tags = map[string]string{"trailguard:exempt": "TRUE"} },
			want: []string{"!key-policy-no-encrypt", "!key-policy-no-describe"}, detail: "exempt (tag trailguard:exempt=TRUE)"},
		{name: "custom exempt tag", policy: "root-only",
			edit: func(s *State, c *Config) { c.ExemptTag, s.Trail.Tags = "skip", map[string]string{"skip": "true"} },
			want: []string{"!key-policy-no-encrypt", "!key-policy-no-describe"}, detail: "exempt"},
		{name: "exempt tag false", policy: "root-only",
			edit: func(s *State, c *Config) { s.Trail.Tags = map[string]string{"trailguard:exempt": "false"} },
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
		{name: "shadow trail", policy: "root-only",
			edit: func(s *State, c *Config) { s.Region = "eu-west-1" },
			want: []string{"!key-policy-no-encrypt", "!key-policy-no-describe"}, detail: "home Region is us-east-2"},
		{name: "invalid trail ARN", policy: "documented",
			edit: func(s *State, c *Config) { s.Trail.ARN = "TrailName" },
			want: []string{"!key-policy-no-encrypt"}, detail: "not a CloudTrail trail ARN"},

		// Organization trails.
		{name: "organization trail in the management account", policy: "org-management",
			edit: toOrg(orgMgmt), want: []string{}},
		{name: "organization trail in a member account", policy: "root-only",
			edit:   toOrg(testAccount),
			want:   []string{"!key-policy-no-encrypt", "!key-policy-no-describe", "!key-policy-no-reader-decrypt"},
			detail: "management account 999999999999"},
		{name: "organization trail: the account statements must name the management account", policy: "documented",
			edit: toOrg(orgMgmt),
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt"}, detail: "arn:aws:iam::999999999999:root"},

		// Another partition.
		{name: "aws-cn documented statements", policy: "documented-cn", edit: toCN, want: []string{}},
		{name: "aws-cn trail against aws statements", policy: "documented", edit: toCN,
			want: []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt"}, detail: "arn:aws-cn:iam::111111111111:root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testState(t, tt.policy)
			c := Config{}
			if tt.edit != nil {
				tt.edit(&s, &c)
			}
			got := Evaluate(s, c)
			if g := ruleList(got); !slices.Equal(g, tt.want) {
				t.Fatalf("Evaluate = %v, want %v\n%s", g, tt.want, dump(got))
			}
			for _, f := range got {
				if f.Detail == "" {
					t.Errorf("finding %s has no detail", f.Rule)
				}
				if !f.Actionable && !strings.Contains(f.Detail, "not actionable") && !strings.Contains(f.Detail, "no automatic fix") {
					t.Errorf("finding %s is not actionable but its detail does not say why: %s", f.Rule, f.Detail)
				}
			}
			if tt.detail != "" && !slices.ContainsFunc(got, func(f Finding) bool { return strings.Contains(f.Detail, tt.detail) }) {
				t.Errorf("no finding detail contains %q:\n%s", tt.detail, dump(got))
			}
		})
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s actionable=%v: %s\n", f.Rule, f.Actionable, f.Detail)
	}
	return b.String()
}

func TestPolicyFindings(t *testing.T) {
	s := testState(t, "documented")
	if got := PolicyFindings(*s.Key, s, Config{}); len(got) != 0 {
		t.Errorf("documented policy: %s", dump(got))
	}
	base := *s.Baseline
	got := PolicyFindings(base, s, Config{Readers: []string{alice}})
	// The bucket's encryption is unknown and the trail would move to the
	// baseline: CloudTrail's Bucket Key Decrypt is wanted too.
	if want := []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt", "key-policy-no-bucket-key-decrypt"}; !slices.Equal(ruleList(got), want) {
		t.Errorf("root-only baseline = %v, want %v", ruleList(got), want)
	}
	known := s
	known.BucketKey = BucketKeyDisabled
	got = PolicyFindings(base, known, Config{Readers: []string{alice}})
	if want := []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt"}; !slices.Equal(ruleList(got), want) {
		t.Errorf("root-only baseline, bucket without a Bucket Key = %v, want %v", ruleList(got), want)
	}
	base.Policy = fixture(t, "deny-cloudtrail")
	got = PolicyFindings(base, s, Config{})
	if want := []string{"!key-policy-denies-cloudtrail"}; !slices.Equal(ruleList(got), want) {
		t.Errorf("deny baseline = %v, want %v", ruleList(got), want)
	}
	// After merging the grant the policy has no findings.
	g := GrantFor(*s.Baseline, s, Config{Readers: []string{alice}})
	merged, changed, err := Merge(s.Baseline.Policy, g)
	if err != nil || !changed {
		t.Fatalf("Merge = %v, %v", changed, err)
	}
	base = *s.Baseline
	base.Policy = merged
	if got := PolicyFindings(base, s, Config{Readers: []string{alice}}); len(got) != 0 {
		t.Errorf("merged policy still has findings:\n%s", dump(got))
	}
}

func TestPolicyTooLarge(t *testing.T) {
	// A policy lacking the describe statement, padded until adding
	// trailguard's statements no longer fits.
	s := testState(t, "no-describe")
	s.Key.Policy = padPolicy(t, fixture(t, "no-describe"), policy.MaxSize-100)
	if _, _, err := Merge(s.Key.Policy, GrantFor(*s.Key, s, Config{})); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Merge error %v, want ErrTooLarge", err)
	}
	got := Evaluate(s, Config{})
	if want := []string{"key-policy-no-describe", "key-policy-too-large"}; !slices.Equal(ruleList(got), want) {
		t.Fatalf("with a baseline: %v, want %v\n%s", ruleList(got), want, dump(got))
	}
	s.Baseline = nil
	got = Evaluate(s, Config{})
	if want := []string{"!key-policy-no-describe", "!key-policy-too-large"}; !slices.Equal(ruleList(got), want) {
		t.Fatalf("without a baseline: %v, want %v\n%s", ruleList(got), want, dump(got))
	}
}
