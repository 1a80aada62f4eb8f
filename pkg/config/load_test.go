package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trailguard/trailguard/pkg/compliance"
)

const (
	keyUSE1 = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	keyEUW1 = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
	keyCN   = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load(empty) error: %v", err)
	}
	want := Config{
		Mode:        Enforce,
		KeyAlias:    "alias/trailguard-cloudtrail",
		ExemptTag:   "trailguard:exempt",
		DisabledKey: compliance.DisabledKeyEnable,
		Concurrency: 8,
		MaxAttempts: 5,

		SweepReceives: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Default(), got); diff != "" {
		t.Errorf("Default() differs from Load of an empty environment (-Default +Load):\n%s", diff)
	}
	// Whitespace-only values count as unset.
	blank := map[string]string{}
	for _, name := range allVars {
		blank[name] = "  \t "
	}
	got, err = Load(env(blank))
	if err != nil {
		t.Fatalf("Load(blank) error: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blank values (-want +got):\n%s", diff)
	}
}

var allVars = []string{EnvMode, EnvKeyAlias, EnvKeys, EnvReaders, EnvExemptTag, EnvRoleName, EnvTopicARN,
	EnvDisabledKey, EnvRequireRotation, EnvStartLogging, EnvRegions, EnvConcurrency, EnvMaxAttempts, EnvTable, EnvSecurityHub,
	EnvSweepQueue, EnvSweepReceives}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		value string
		check func(t *testing.T, c Config)
	}{
		{EnvMode, "report", func(t *testing.T, c Config) { eq(t, c.Mode, Report) }},
		{EnvMode, " Enforce ", func(t *testing.T, c Config) { eq(t, c.Mode, Enforce) }},
		{EnvMode, "REPORT", func(t *testing.T, c Config) { eq(t, c.Mode, Report) }},
		{EnvKeyAlias, "alias/my-key_2/x", func(t *testing.T, c Config) { eq(t, c.KeyAlias, "alias/my-key_2/x") }},
		{EnvKeyAlias, "  alias/padded  ", func(t *testing.T, c Config) { eq(t, c.KeyAlias, "alias/padded") }},
		{EnvKeys, "us-east-1=" + keyUSE1, func(t *testing.T, c Config) {
			eqDiff(t, c.Keys, map[string]string{"us-east-1": keyUSE1})
		}},
		{EnvKeys, " us-east-1 = " + keyUSE1 + " ,, eu-west-1=" + keyEUW1 + ",cn-north-1=" + keyCN + ",", func(t *testing.T, c Config) {
			eqDiff(t, c.Keys, map[string]string{"us-east-1": keyUSE1, "eu-west-1": keyEUW1, "cn-north-1": keyCN})
		}},
		{EnvKeys, "us-east-1=" + keyUSE1 + ",us-east-1=" + keyUSE1, func(t *testing.T, c Config) {
			eqDiff(t, c.Keys, map[string]string{"us-east-1": keyUSE1})
		}},
		{EnvReaders, "arn:aws:iam::111122223333:root, arn:aws:iam::111122223333:user/Bob ,,arn:aws:iam::111122223333:role/path/to/Auditor," +
			"arn:aws-us-gov:iam::111122223333:role/R,arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com," +
			"arn:aws-cn:sts::111122223333:federated-user/fed,arn:aws:iam::111122223333:user/Bob",
			func(t *testing.T, c Config) {
				eqDiff(t, c.Readers, []string{
					"arn:aws:iam::111122223333:root",
					"arn:aws:iam::111122223333:user/Bob",
					"arn:aws:iam::111122223333:role/path/to/Auditor",
					"arn:aws-us-gov:iam::111122223333:role/R",
					"arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com",
					"arn:aws-cn:sts::111122223333:federated-user/fed",
				})
			}},
		{EnvExemptTag, "Compliance Exempt", func(t *testing.T, c Config) { eq(t, c.ExemptTag, "Compliance Exempt") }},
		{EnvExemptTag, "team:security/exempt=+-@_.", func(t *testing.T, c Config) { eq(t, c.ExemptTag, "team:security/exempt=+-@_.") }},
		{EnvRoleName, "OrganizationAccountAccessRole", func(t *testing.T, c Config) { eq(t, c.RoleName, "OrganizationAccountAccessRole") }},
		{EnvRoleName, "a+=,.@_-" + strings.Repeat("x", 56), func(t *testing.T, c Config) { eq(t, len(c.RoleName), 64) }},
		{EnvTable, "trailguard-state", func(t *testing.T, c Config) { eq(t, c.Table, "trailguard-state") }},
		{EnvTopicARN, "arn:aws:sns:us-east-1:111122223333:trailguard-alerts", func(t *testing.T, c Config) {
			eq(t, c.TopicARN, "arn:aws:sns:us-east-1:111122223333:trailguard-alerts")
		}},
		{EnvTopicARN, "arn:aws-cn:sns:cn-north-1:111122223333:alerts.fifo", func(t *testing.T, c Config) {
			eq(t, c.TopicARN, "arn:aws-cn:sns:cn-north-1:111122223333:alerts.fifo")
		}},
		{EnvDisabledKey, "switch", func(t *testing.T, c Config) { eq(t, c.DisabledKey, compliance.DisabledKeySwitch) }},
		{EnvDisabledKey, "Report", func(t *testing.T, c Config) { eq(t, c.DisabledKey, compliance.DisabledKeyReport) }},
		{EnvDisabledKey, "enable", func(t *testing.T, c Config) { eq(t, c.DisabledKey, compliance.DisabledKeyEnable) }},
		{EnvRequireRotation, "true", func(t *testing.T, c Config) { eq(t, c.RequireRotation, true) }},
		{EnvRequireRotation, "TRUE", func(t *testing.T, c Config) { eq(t, c.RequireRotation, true) }},
		{EnvRequireRotation, "false", func(t *testing.T, c Config) { eq(t, c.RequireRotation, false) }},
		{EnvStartLogging, "true", func(t *testing.T, c Config) { eq(t, c.StartLogging, true) }},
		{EnvStartLogging, "False", func(t *testing.T, c Config) { eq(t, c.StartLogging, false) }},
		{EnvSecurityHub, "off", func(t *testing.T, c Config) { eq(t, c.SecurityHubOff, true) }},
		{EnvSecurityHub, " OFF ", func(t *testing.T, c Config) { eq(t, c.SecurityHubOff, true) }},
		{EnvSecurityHub, "auto", func(t *testing.T, c Config) { eq(t, c.SecurityHubOff, false) }},
		{EnvSweepQueue, "https://sqs.us-east-1.amazonaws.com/111122223333/trailguard-sweep", func(t *testing.T, c Config) {
			eq(t, c.SweepQueue, "https://sqs.us-east-1.amazonaws.com/111122223333/trailguard-sweep")
		}},
		{EnvSweepQueue, "http://localhost:5000/123456789012/q", func(t *testing.T, c Config) { eq(t, c.SweepQueue, "http://localhost:5000/123456789012/q") }},
		{EnvSweepReceives, "5", func(t *testing.T, c Config) { eq(t, c.SweepReceives, 5) }},
		{EnvRegions, "us-east-1, eu-west-1,,us-gov-west-1,cn-north-1,us-isob-east-1,eusc-de-east-1,us-east-1", func(t *testing.T, c Config) {
			eqDiff(t, c.Regions, []string{"us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "eusc-de-east-1"})
		}},
		{EnvConcurrency, "1", func(t *testing.T, c Config) { eq(t, c.Concurrency, 1) }},
		{EnvConcurrency, " 64 ", func(t *testing.T, c Config) { eq(t, c.Concurrency, 64) }},
		{EnvMaxAttempts, "1", func(t *testing.T, c Config) { eq(t, c.MaxAttempts, 1) }},
		{EnvMaxAttempts, "100", func(t *testing.T, c Config) { eq(t, c.MaxAttempts, 100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{tt.name: tt.value}))
			if err != nil {
				t.Fatalf("Load error: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string // substring of the error besides the variable name
	}{
		{EnvMode, "fix", `"enforce" or "report"`},
		{EnvMode, "dry-run", `"enforce" or "report"`},
		{EnvKeyAlias, "trailguard-cloudtrail", `starting with "alias/"`},
		{EnvKeyAlias, "arn:aws:kms:us-east-1:111122223333:alias/x", `starting with "alias/"`},
		{EnvKeyAlias, "alias/aws/cloudtrail", "AWS managed"},
		{EnvKeyAlias, "alias/", "1 to 250 characters"},
		{EnvKeyAlias, "alias/has space", "1 to 250 characters"},
		{EnvKeys, "us-east-1", "region=keyARN"},
		{EnvKeys, "=" + keyUSE1, "region=keyARN"},
		{EnvKeys, "us-east-1=", "region=keyARN"},
		{EnvKeys, "useast1=" + keyUSE1, "a Region name"},
		{EnvKeys, "us-east-1=1234abcd-12ab-34cd-56ef-1234567890ab", "a KMS key ARN"},
		{EnvKeys, "us-east-1=alias/foo", "a KMS key ARN"},
		{EnvKeys, "us-east-1=arn:aws:kms:us-east-1:111122223333:alias/foo", "a KMS key ARN"},
		{EnvKeys, "us-east-1=arn:aws:s3:::bucket", "a KMS key ARN"},
		{EnvKeys, "eu-west-1=" + keyUSE1, "a key in Region eu-west-1 (the key ARN is in us-east-1)"},
		{EnvKeys, "us-east-1=" + keyUSE1 + ",us-east-1=arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000", "one key per Region"},
		{EnvReaders, "111122223333", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:iam::111122223333:root,Bob", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:iam::111122223333:group/Admins", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:iam::111122223333:user/*", "an IAM or STS principal ARN"},
		{EnvReaders, "*", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:iam::1111:root", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:s3:::bucket", "an IAM or STS principal ARN"},
		{EnvReaders, "arn:aws:sts::111122223333:assumed-role/OnlyRole", "an IAM or STS principal ARN"},
		{EnvExemptTag, "aws:exempt", `not starting with "aws:"`},
		{EnvExemptTag, "exempt!", "a tag key"},
		{EnvExemptTag, strings.Repeat("k", 129), "a tag key"},
		{EnvRoleName, "role/Admin", "an IAM role name"},
		{EnvRoleName, "arn:aws:iam::111122223333:role/Admin", "an IAM role name"},
		{EnvRoleName, strings.Repeat("r", 65), "an IAM role name"},
		{EnvRoleName, "has space", "an IAM role name"},
		{EnvTopicARN, "trailguard-alerts", "an SNS topic ARN"},
		{EnvTable, "ab", "a DynamoDB table name"},
		{EnvTable, "arn:aws:dynamodb:us-east-1:111122223333:table/t", "a DynamoDB table name"},
		{EnvTopicARN, "arn:aws:sqs:us-east-1:111122223333:q", "an SNS topic ARN"},
		{EnvTopicARN, "arn:aws:sns:us-east-1:111122223333:", "an SNS topic ARN"},
		{EnvDisabledKey, "delete", `"enable", "switch" or "report"`},
		{EnvRequireRotation, "yes", `"true" or "false"`},
		{EnvRequireRotation, "1", `"true" or "false"`},
		{EnvStartLogging, "on", `"true" or "false"`},
		{EnvSecurityHub, "false", `"auto" or "off"`},
		{EnvSweepQueue, "trailguard-sweep", "SQS queue"},
		{EnvSweepQueue, "arn:aws:sqs:us-east-1:111122223333:q", "SQS queue"},
		{EnvSweepQueue, "https://sqs.us-east-1.amazonaws.com/1234/q", "SQS queue"},
		{EnvSweepQueue, "https://sqs.us-east-1.amazonaws.com/111122223333/sweep.fifo", "not FIFO"},
		{EnvSweepQueue, "https://sqs.us-east-1.amazonaws.com/111122223333/" + strings.Repeat("q", 81), "SQS queue"},
		{EnvSweepReceives, "0", "an integer from 1 to 1000"},
		{EnvSweepReceives, "many", "an integer from 1 to 1000"},
		{EnvRegions, "us-east-1,everywhere", "a Region name"},
		{EnvRegions, "US-EAST-1", "a Region name"},
		{EnvConcurrency, "0", "an integer from 1 to 64"},
		{EnvConcurrency, "65", "an integer from 1 to 64"},
		{EnvConcurrency, "eight", "an integer from 1 to 64"},
		{EnvConcurrency, "-1", "an integer from 1 to 64"},
		{EnvConcurrency, "99999999999999999999999", "an integer from 1 to 64"},
		{EnvMaxAttempts, "0", "an integer from 1 to 100"},
		{EnvMaxAttempts, "101", "an integer from 1 to 100"},
		{EnvMaxAttempts, "5.5", "an integer from 1 to 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("Load(%s=%q) = %+v, want an error", tt.name, tt.value, c)
			}
			msg := err.Error()
			for _, want := range []string{tt.name + "=", tt.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if diff := cmp.Diff(Config{}, c); diff != "" {
				t.Errorf("on error Load must return the zero Config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadNamesTheBadItem(t *testing.T) {
	_, err := Load(env(map[string]string{EnvReaders: "arn:aws:iam::111122223333:root, not-an-arn "}))
	if err == nil || !strings.Contains(err.Error(), `TRAILGUARD_READERS="not-an-arn"`) {
		t.Errorf("error = %v, want it to name the bad item", err)
	}
	if strings.Contains(err.Error(), `"arn:aws:iam::111122223333:root"`) {
		t.Errorf("error %q mentions a valid item", err)
	}
}

func TestLoadCollectsAllErrors(t *testing.T) {
	_, err := Load(env(map[string]string{
		EnvMode:        "fix",
		EnvConcurrency: "0",
		EnvReaders:     "bad1,bad2",
		EnvKeyAlias:    "alias/ok",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %T is not an errors.Join result", err)
	}
	if n := len(joined.Unwrap()); n != 4 {
		t.Errorf("got %d errors, want 4 (mode, concurrency, 2 readers): %v", n, err)
	}
	for _, want := range []string{EnvMode, EnvConcurrency, `"bad1"`, `"bad2"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), EnvKeyAlias) {
		t.Errorf("error %q names a valid variable", err)
	}
}

func TestLoadLongValueIsShortened(t *testing.T) {
	_, err := Load(env(map[string]string{EnvMode: strings.Repeat("x", 10000)}))
	if err == nil {
		t.Fatal("want an error")
	}
	if len(err.Error()) > 400 || !strings.Contains(err.Error(), "(10000 bytes)") {
		t.Errorf("error is %d bytes, want a shortened value with its size: %.300s", len(err.Error()), err)
	}
}

func TestLoadNilGetenv(t *testing.T) {
	if _, err := Load(nil); err == nil {
		t.Error("Load(nil) must fail, not panic")
	}
}

func TestBaselineKey(t *testing.T) {
	c, err := Load(env(map[string]string{EnvKeys: "us-east-1=" + keyUSE1, EnvKeyAlias: "alias/base"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		region       string
		wantRef      string
		wantExplicit bool
	}{
		{"us-east-1", keyUSE1, true},
		{"eu-west-1", "alias/base", false},
		{"", "alias/base", false},
	}
	for _, tt := range tests {
		ref, explicit := c.BaselineKey(tt.region)
		if ref != tt.wantRef || explicit != tt.wantExplicit {
			t.Errorf("BaselineKey(%q) = %q, %v; want %q, %v", tt.region, ref, explicit, tt.wantRef, tt.wantExplicit)
		}
	}
	ref, explicit := Default().BaselineKey("us-east-1")
	if ref != DefaultKeyAlias || explicit {
		t.Errorf("Default().BaselineKey = %q, %v; want the default alias", ref, explicit)
	}
}

func TestCompliance(t *testing.T) {
	c, err := Load(env(map[string]string{
		EnvReaders:         "arn:aws:iam::111122223333:role/Auditor",
		EnvExemptTag:       "skip",
		EnvRequireRotation: "true",
		EnvDisabledKey:     "switch",
		EnvStartLogging:    "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Compliance()
	want := compliance.Config{
		Readers:         []string{"arn:aws:iam::111122223333:role/Auditor"},
		ExemptTag:       "skip",
		RequireRotation: true,
		DisabledKey:     compliance.DisabledKeySwitch,
		StartLogging:    true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compliance() (-want +got):\n%s", diff)
	}
	got.Readers[0] = "changed"
	if c.Readers[0] == "changed" {
		t.Error("Compliance() shares the Readers slice with the Config")
	}
	if d := (Config{}).Compliance().DisabledKey; d != compliance.DisabledKeyEnable {
		t.Errorf("zero Config's Compliance().DisabledKey = %q, want enable", d)
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func eqDiff(t *testing.T, got, want any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
