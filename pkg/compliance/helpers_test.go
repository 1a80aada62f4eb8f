package compliance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testAccount     = "111111111111"
	testTrailARN    = "arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"
	testKeyARN      = "arn:aws:kms:us-east-2:111111111111:key/11111111-2222-3333-4444-555555555555"
	testBaselineARN = "arn:aws:kms:us-east-2:111111111111:key/bbbbbbbb-2222-3333-4444-555555555555"
	bob             = "arn:aws:iam::111111111111:user/Bob"
	alice           = "arn:aws:iam::111111111111:user/Alice"
)

// fixture reads testdata/policies/NAME.json.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "policies", name+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return string(b)
}

// testKey is a usable customer key in us-east-2 with the given policy.
func testKey(arn, policyJSON string) *Key {
	return &Key{
		ARN: arn, ID: arn[strings.LastIndex(arn, "/")+1:], Account: testAccount, Region: "us-east-2",
		State: KeyStateEnabled, Manager: "CUSTOMER", Spec: KeySpecSymmetric, Usage: KeyUsageEncryptDecrypt,
		Policy: policyJSON, RotationEnabled: true,
	}
}

// testState is an encrypted single-Region trail in 111111111111/us-east-2
// whose key has the fixture policy, with a root-only baseline key.
func testState(t testing.TB, policyFixture string) State {
	t.Helper()
	var pol string
	if policyFixture != "" {
		pol = fixture(t, policyFixture)
	}
	return State{
		Account: testAccount,
		Region:  "us-east-2",
		Trail: Trail{
			Name: "TrailName", ARN: testTrailARN, HomeRegion: "us-east-2", IsMultiRegion: true,
			S3BucketName: "trail-logs", S3KeyPrefix: "ct", KMSKeyID: testKeyARN,
		},
		BucketRegion: "us-east-2",
		Key:          testKey(testKeyARN, pol),
		Baseline:     testKey(testBaselineARN, fixture(t, "root-only")),
	}
}

// ruleList renders findings as "rule" (actionable) or "!rule".
func ruleList(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		if f.Actionable {
			out = append(out, string(f.Rule))
		} else {
			out = append(out, "!"+string(f.Rule))
		}
	}
	return out
}

// padPolicy appends an unrelated Allow statement to the policy so that its
// compact form is exactly size bytes.
func padPolicy(t testing.TB, policyJSON string, size int) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(policyJSON), &doc); err != nil {
		t.Fatal(err)
	}
	stmts, _ := doc["Statement"].([]any)
	pad := map[string]any{
		"Sid": "Padding", "Effect": "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:role/Padding"},
		"Action":    "kms:Encrypt", "Resource": "*",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:RequestTag/pad": ""}},
	}
	doc["Statement"] = append(stmts, pad)
	b, _ := json.Marshal(doc)
	if len(b) > size {
		t.Fatalf("policy is already %d bytes", len(b))
	}
	pad["Condition"] = map[string]any{"StringEquals": map[string]any{"aws:RequestTag/pad": strings.Repeat("x", size-len(b))}}
	b, _ = json.Marshal(doc)
	if len(b) != size {
		t.Fatalf("padded policy is %d bytes, want %d", len(b), size)
	}
	return string(b)
}
