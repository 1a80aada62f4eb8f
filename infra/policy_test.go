package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// baselinePolicy returns the synthesized baseline key policy of a template
// with the account and partition substituted, as GetKeyPolicy would return
// it after deployment in testAccount.
func baselinePolicy(t *testing.T, tmpl map[string]any) string {
	t.Helper()
	var keyID string
	for _, r := range resources(tmpl, "AWS::KMS::Alias") {
		if props(r)["AliasName"] == DefaultKeyAlias {
			keyID = props(r)["TargetKeyId"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		}
	}
	key := resources(tmpl, "AWS::KMS::Key")[keyID]
	if key == nil {
		t.Fatalf("no baseline key (alias %s)", DefaultKeyAlias)
	}
	doc := mustResolve(t, props(key)["KeyPolicy"])
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "${") {
		t.Fatalf("baseline key policy still has unresolved references: %s", b)
	}
	return string(b)
}

// trailState is a trail of testAccount encrypted with the baseline key.
func trailState(name, home, bucketRegion string, key compliance.Key) compliance.State {
	return compliance.State{
		Account: testAccount,
		Region:  home,
		Trail: compliance.Trail{
			Name:          name,
			ARN:           "arn:aws:cloudtrail:" + home + ":" + testAccount + ":trail/" + name,
			HomeRegion:    home,
			IsMultiRegion: true,
			S3BucketName:  "trail-logs-" + testAccount,
			S3KeyPrefix:   "ct",
			KMSKeyID:      key.ARN,
		},
		BucketRegion: bucketRegion,
		Key:          &key,
		Baseline:     &key,
	}
}

// deployedKey is the baseline key as DescribeKey/GetKeyPolicy would show it.
func deployedKey(policy string) compliance.Key {
	return compliance.Key{
		ARN:             "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		ID:              "1234abcd-12ab-34cd-56ef-1234567890ab",
		Account:         testAccount,
		Region:          testRegion,
		State:           "Enabled",
		Manager:         "CUSTOMER",
		Spec:            "SYMMETRIC_DEFAULT",
		Usage:           "ENCRYPT_DECRYPT",
		Policy:          policy,
		RotationEnabled: true,
	}
}

func TestBaselineKeyPolicyPassesEvaluator(t *testing.T) {
	readers := strs(testReaders)
	cases := []struct {
		name      string
		overrides map[string]any
		member    bool
		config    compliance.Config
	}{
		{"account", nil, false, compliance.Config{ExemptTag: DefaultExemptTag}},
		{"account with readers", customContext, false, compliance.Config{ExemptTag: DefaultExemptTag, Readers: readers}},
		{"member account", orgContext, true, compliance.Config{ExemptTag: DefaultExemptTag}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			tmpl := s.json
			if tc.member {
				tmpl = s.member
			}
			key := deployedKey(baselinePolicy(t, tmpl))
			for _, st := range []compliance.State{
				trailState("management", testRegion, testRegion, key),
				trailState("eu-home", "eu-west-1", testRegion, key),
				trailState("second", "us-west-2", testRegion, key),
			} {
				if f := compliance.PolicyFindings(key, st, tc.config); len(f) != 0 {
					t.Errorf("trail %s: findings on the synthesized baseline key policy: %+v", st.Trail.ARN, f)
				}
			}
		})
	}
}

// TestEvaluatorControl shows that the evaluator finds what the baseline
// statements provide, so the test above can fail: the same policy without
// trailguard's statements, or without the readers, has findings.
func TestEvaluatorControl(t *testing.T) {
	s := synth(t, nil)
	var doc map[string]any
	if err := json.Unmarshal([]byte(baselinePolicy(t, s.json)), &doc); err != nil {
		t.Fatal(err)
	}
	var rootOnly []any
	for _, st := range doc["Statement"].([]any) {
		if _, has := st.(map[string]any)["Sid"]; !has {
			rootOnly = append(rootOnly, st)
		}
	}
	doc["Statement"] = rootOnly
	b, _ := json.Marshal(doc)
	key := deployedKey(string(b))
	st := trailState("management", testRegion, testRegion, key)
	got := map[compliance.Rule]bool{}
	for _, f := range compliance.PolicyFindings(key, st, compliance.Config{}) {
		got[f.Rule] = true
	}
	for _, r := range []compliance.Rule{compliance.KeyPolicyNoEncrypt, compliance.KeyPolicyNoDescribe} {
		if !got[r] {
			t.Errorf("root-only policy: want finding %s, got %v", r, got)
		}
	}

	// The full policy, but a reader the template does not name.
	key = deployedKey(baselinePolicy(t, s.json))
	st = trailState("management", testRegion, testRegion, key)
	reader := "arn:aws:iam::333333333333:role/Elsewhere"
	fs := compliance.PolicyFindings(key, st, compliance.Config{Readers: []string{reader}})
	if !slices.ContainsFunc(fs, func(f compliance.Finding) bool { return f.Rule == compliance.KeyPolicyNoReaderDecrypt }) {
		t.Errorf("unlisted reader: want %s, got %+v", compliance.KeyPolicyNoReaderDecrypt, fs)
	}
}

// TestRemediatorMergeKeepsBaselineTrails: when the remediator merges a new
// grant into the deployed baseline key policy (a reader added after
// deployment), every other trail of the account must stay able to use the
// key: trailguard's own statements only ever grow.
func TestRemediatorMergeKeepsBaselineTrails(t *testing.T) {
	s := synth(t, nil)
	key := deployedKey(baselinePolicy(t, s.json))
	reader := "arn:aws:iam::333333333333:role/LateReader"
	cfg := compliance.Config{ExemptTag: DefaultExemptTag, Readers: []string{reader}}
	fixed := trailState("fixed", testRegion, testRegion, key)
	merged, changed, err := compliance.Merge(key.Policy, compliance.GrantFor(key, fixed, cfg))
	if err != nil {
		t.Fatalf("Merge into the baseline policy: %v", err)
	}
	if !changed {
		t.Fatal("Merge of a new reader reported no change")
	}
	key.Policy = merged
	for _, st := range []compliance.State{
		fixed,
		trailState("other", "eu-west-1", testRegion, key),
	} {
		if f := compliance.PolicyFindings(key, st, compliance.Config{ExemptTag: DefaultExemptTag}); len(f) != 0 {
			t.Errorf("after merging for trail %s, trail %s has findings: %+v\nmerged policy: %s", fixed.Trail.Name, st.Trail.Name, f, merged)
		}
	}
}
