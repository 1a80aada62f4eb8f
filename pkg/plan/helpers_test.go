package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

const (
	account     = "111111111111"
	trailARN    = "arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"
	keyARN      = "arn:aws:kms:us-east-2:111111111111:key/11111111-2222-3333-4444-555555555555"
	baselineARN = "arn:aws:kms:us-east-2:111111111111:key/bbbbbbbb-2222-3333-4444-555555555555"
)

// policyFixture reads a key policy from testdata/policies.
func policyFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "policies", name+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return string(b)
}

func newKey(arn, region, policyJSON string) *compliance.Key {
	acct := strings.Split(arn, ":")[4]
	return &compliance.Key{
		ARN: arn, ID: arn[strings.LastIndex(arn, "/")+1:], Account: acct, Region: region,
		State: compliance.KeyStateEnabled, Manager: "CUSTOMER", Spec: compliance.KeySpecSymmetric,
		Usage: compliance.KeyUsageEncryptDecrypt, Policy: policyJSON, RotationEnabled: true,
	}
}

// newState is an encrypted trail in 111111111111/us-east-2 whose key has
// the policy fixture keyPolicy, with a baseline key whose policy is
// baselinePolicy.
func newState(t testing.TB, keyPolicy, baselinePolicy string) compliance.State {
	t.Helper()
	return compliance.State{
		Account: account,
		Region:  "us-east-2",
		Trail: compliance.Trail{
			Name: "TrailName", ARN: trailARN, HomeRegion: "us-east-2", IsMultiRegion: true,
			S3BucketName: "trail-logs", KMSKeyID: keyARN,
		},
		BucketRegion: "us-east-2",
		// A bucket of the trail's account whose encryption was read.
		BucketKey: compliance.BucketKeyDisabled,
		Key:       newKey(keyARN, "us-east-2", policyFixture(t, keyPolicy)),
		Baseline:  newKey(baselineARN, "us-east-2", policyFixture(t, baselinePolicy)),
	}
}
