package plan

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// world is the partition-specific vocabulary of a generated state.
type world struct {
	partition string
	regions   []string
}

var worlds = []world{
	{"aws", []string{"us-east-1", "us-east-2", "eu-west-1"}},
	{"aws-cn", []string{"cn-north-1", "cn-northwest-1"}},
	{"aws-us-gov", []string{"us-gov-west-1", "us-gov-east-1"}},
}

const (
	observed   = "111111111111"
	management = "999999999999"
	foreignAcc = "222222222222"
)

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.Intn(len(xs))] }

// statementPool returns candidate key policy statements for a trail of
// account owner with ARN trail: the documented shapes, near misses, odd
// shapes, Denies (certain, uncertain, harmless), trailguard's own
// statements with other values, and padding.
func statementPool(part, owner, trail string) []map[string]any {
	root := "arn:" + part + ":iam::" + owner + ":root"
	pattern := "arn:" + part + ":cloudtrail:*:" + owner + ":trail/*"
	otherTrail := "arn:" + part + ":cloudtrail:us-west-2:" + foreignAcc + ":trail/Other"
	ct := map[string]any{"Service": "cloudtrail.amazonaws.com"}
	return []map[string]any{
		{"Sid": "Root", "Effect": "Allow", "Principal": map[string]any{"AWS": root}, "Action": "kms:*", "Resource": "*"},
		{"Sid": "Admin", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:" + part + ":iam::" + owner + ":role/Admin"}, "Action": []any{"kms:*"}, "Resource": "*"},
		{"Sid": "Encrypt", "Effect": "Allow", "Principal": ct, "Action": "kms:GenerateDataKey*", "Resource": "*",
			"Condition": map[string]any{"StringLike": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": []any{pattern}},
				"StringEquals": map[string]any{"aws:SourceArn": trail}}},
		{"Sid": "EncryptOther", "Effect": "Allow", "Principal": ct, "Action": "kms:GenerateDataKey*", "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceArn": otherTrail}}},
		{"Sid": "Describe", "Effect": "Allow", "Principal": ct, "Action": "kms:DescribeKey", "Resource": "*"},
		{"Sid": "AccountDecrypt", "Effect": "Allow", "Principal": map[string]any{"AWS": "*"}, "Action": []any{"kms:Decrypt", "kms:ReEncryptFrom"}, "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"kms:CallerAccount": owner},
				"StringLike": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": pattern}}},
		{"Sid": "ReaderDecrypt", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:" + part + ":iam::" + observed + ":user/Reader1"}, "Action": "kms:Decrypt", "Resource": "*",
			"Condition": map[string]any{"Null": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}},
		{"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
			"Condition": map[string]any{"StringEqualsIfExists": map[string]any{"kms:CallerAccount": owner}}},
		{"Sid": "DenyCloudTrail", "Effect": "Deny", "Principal": ct, "Action": "kms:GenerateDataKey*", "Resource": "*"},
		{"Sid": "DenyUncertain", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
			"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:SourceVpce": "vpce-1"}}},
		{"Sid": "DenyHarmless", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
			"Condition": map[string]any{"Null": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": "true"}}},
		{"Sid": compliance.SidCloudTrailEncrypt, "Effect": "Allow", "Principal": ct, "Action": "kms:GenerateDataKey*", "Resource": "*",
			"Condition": map[string]any{"StringLike": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": "arn:" + part + ":cloudtrail:*:" + foreignAcc + ":trail/*"},
				"StringEquals": map[string]any{"aws:SourceArn": otherTrail}}},
		{"Sid": compliance.SidLogDecryptReaders, "Effect": "Allow", "Principal": map[string]any{"AWS": []any{"arn:" + part + ":iam::" + observed + ":user/Reader2"}},
			"Action": "kms:Decrypt", "Resource": "*", "Condition": map[string]any{"Null": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}},
		{"Sid": "Padding", "Effect": "Allow", "Principal": map[string]any{"AWS": root}, "Action": "kms:Encrypt", "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:RequestTag/pad": strings.Repeat("p", 31000)}}},
	}
}

// randomPolicy draws 1-6 distinct statements from the pool; a single one
// is sometimes written as an object. Rarely the policy is unreadable ("")
// or not JSON.
func randomPolicy(r *rand.Rand, part, owner, trail string) string {
	switch r.Intn(40) {
	case 0:
		return ""
	case 1:
		return `{"Version":"2012-10-17","Statement":[`
	}
	pool := statementPool(part, owner, trail)
	n := 1 + r.Intn(6)
	var stmts []any
	for _, i := range r.Perm(len(pool))[:n] {
		if pool[i]["Sid"] == "Padding" && r.Intn(3) != 0 {
			continue
		}
		stmts = append(stmts, pool[i])
	}
	doc := map[string]any{"Version": "2012-10-17"}
	if len(stmts) == 1 && r.Intn(2) == 0 {
		doc["Statement"] = stmts[0]
	} else {
		doc["Statement"] = stmts
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// randomState generates a trail, its key, the baseline key and a config.
func randomState(r *rand.Rand, n int) (compliance.State, compliance.Config) {
	w := pick(r, worlds...)
	home := pick(r, w.regions...)
	bucketRegion := pick(r, w.regions...)
	s := compliance.State{Account: observed, Region: home, BucketRegion: bucketRegion, ManagementAccount: management}
	owner := observed
	if r.Intn(5) == 0 {
		s.Trail.IsOrganizationTrail = true
		owner = management
		s.Account = pick(r, management, management, observed)
	}
	if r.Intn(8) == 0 {
		s.Region = pick(r, w.regions...)
	}
	s.Trail.Name = fmt.Sprintf("trail-%d", n)
	s.Trail.ARN = "arn:" + w.partition + ":cloudtrail:" + home + ":" + owner + ":trail/" + s.Trail.Name
	s.Trail.HomeRegion = home
	s.Trail.IsMultiRegion = r.Intn(2) == 0
	s.Trail.S3BucketName = "logs-" + bucketRegion
	if r.Intn(3) == 0 {
		s.Trail.S3KeyPrefix = "prefix"
	}
	if r.Intn(10) == 0 {
		s.Trail.Tags = map[string]string{compliance.DefaultExemptTag: pick(r, "true", "True", "false")}
	}
	if r.Intn(6) == 0 {
		s.LatestDeliveryError = pick(r, "KMS.DisabledException", "KMS.KMSInvalidStateException: pending deletion", "AccessDenied", "NoSuchBucket")
	}

	keyAccount := s.Account
	if r.Intn(8) == 0 {
		keyAccount = foreignAcc
	}
	newRandomKey := func(id, acct, region string) *compliance.Key {
		k := &compliance.Key{
			ARN:     "arn:" + w.partition + ":kms:" + region + ":" + acct + ":key/" + id,
			ID:      id,
			Account: acct, Region: region,
			State:   pick(r, "Enabled", "Enabled", "Enabled", "Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"),
			Manager: pick(r, "CUSTOMER", "CUSTOMER", "CUSTOMER", "CUSTOMER", "CUSTOMER", "AWS"),
			Spec:    compliance.KeySpecSymmetric, Usage: compliance.KeyUsageEncryptDecrypt,
			Policy:          randomPolicy(r, w.partition, owner, s.Trail.ARN),
			RotationEnabled: r.Intn(2) == 0,
		}
		if r.Intn(10) == 0 {
			k.Spec, k.Usage = pick(r, "RSA_2048", "HMAC_256"), pick(r, "SIGN_VERIFY", "GENERATE_VERIFY_MAC")
		}
		if r.Intn(5) == 0 {
			k.MultiRegion = true
			k.ARN = strings.Replace(k.ARN, "key/"+id, "key/mrk-"+id, 1)
			k.ID = "mrk-" + id
			k.ReplicaRegions = []string{region, pick(r, w.regions...)}
		}
		return k
	}
	switch r.Intn(10) {
	case 0, 1: // not encrypted
	case 2:
		s.Trail.KMSKeyID = "arn:" + w.partition + ":kms:" + bucketRegion + ":" + keyAccount + ":key/gone"
		s.KeyError = "NotFoundException"
	default:
		region := bucketRegion
		if r.Intn(5) == 0 {
			region = pick(r, w.regions...)
		}
		s.Key = newRandomKey(fmt.Sprintf("k%d", n), keyAccount, region)
		s.Trail.KMSKeyID = s.Key.ARN
	}
	if r.Intn(7) != 0 {
		region := bucketRegion
		if r.Intn(10) == 0 {
			region = pick(r, w.regions...)
		}
		s.Baseline = newRandomKey(fmt.Sprintf("b%d", n), s.Account, region)
		if r.Intn(2) == 0 {
			s.Baseline.State = "Enabled"
		}
		if r.Intn(10) == 0 { // the trail already uses its baseline key
			k := *s.Baseline
			s.Key, s.Trail.KMSKeyID = &k, k.ARN
		}
	} else {
		s.BaselineError = "alias not found"
	}
	var c compliance.Config
	for _, reader := range []string{"user/Reader1", "user/Reader2", "role/Auditor"} {
		if r.Intn(4) == 0 {
			c.Readers = append(c.Readers, "arn:"+w.partition+":iam::"+observed+":"+reader)
		}
	}
	c.RequireRotation = r.Intn(3) == 0
	c.DisabledKey = pick[compliance.DisabledKeyAction](r, "", "enable", "switch", "report")
	return s, c
}

// apply simulates the executor: it applies the plan's actions to the state
// the way AWS would, failing the test when an action could not succeed.
func apply(t *testing.T, s compliance.State, c compliance.Config, p Plan) compliance.State {
	t.Helper()
	s.Key, s.Baseline = cloneKey(s.Key), cloneKey(s.Baseline)
	if s.Key != nil && s.Baseline != nil && s.Key.ARN == s.Baseline.ARN {
		s.Baseline = s.Key // one key, seen twice
	}
	keyFor := func(target string) *compliance.Key {
		for _, k := range []*compliance.Key{s.Key, s.Baseline} {
			if k != nil {
				if arn, _ := k.Where(s.BucketRegion); arn == target {
					return k
				}
			}
		}
		t.Fatalf("action on unknown key %s", target)
		return nil
	}
	for i, a := range p.Actions {
		if a.Target == "" || a.Region == "" || len(a.Rules) == 0 {
			t.Fatalf("action %d incomplete: %+v", i, a)
		}
		if a.Kind == UpdateTrail {
			if i != len(p.Actions)-1 {
				t.Fatalf("UpdateTrail is not the last action: %v", p.Actions)
			}
			b := s.Baseline
			if b == nil {
				t.Fatal("UpdateTrail without a baseline key")
			}
			arn, region := b.Where(s.BucketRegion)
			if a.KMSKeyID != arn || region != s.BucketRegion || a.Target != s.Trail.ARN || a.Region != s.Trail.HomeRegion {
				t.Fatalf("UpdateTrail %+v: baseline serves %s in %s", a, arn, region)
			}
			// What CloudTrail checks, and what the executor re-checks.
			if b.State != compliance.KeyStateEnabled || b.Manager == "AWS" || b.Spec != compliance.KeySpecSymmetric {
				t.Fatalf("UpdateTrail to an unusable key %+v", *b)
			}
			if pf := compliance.PolicyFindings(*b, s, c); len(pf) > 0 {
				t.Fatalf("UpdateTrail to a key whose policy fails: %+v", pf)
			}
			k := *b
			s.Key, s.KeyError, s.Trail.KMSKeyID = &k, "", a.KMSKeyID
			continue
		}
		k := keyFor(a.Target)
		if k.Account != s.Account {
			t.Fatalf("%s on a key of account %s from account %s", a.Kind, k.Account, s.Account)
		}
		switch a.Kind {
		case CancelKeyDeletion:
			if k.State != compliance.KeyStatePendingDeletion {
				t.Fatalf("CancelKeyDeletion on a %s key", k.State)
			}
			k.State = compliance.KeyStateDisabled
		case EnableKey:
			if k.State != compliance.KeyStateDisabled {
				t.Fatalf("EnableKey on a %s key", k.State)
			}
			k.State = compliance.KeyStateEnabled
		case PutKeyPolicy:
			if a.Grant == nil {
				t.Fatal("PutKeyPolicy without a grant")
			}
			merged, _, err := compliance.Merge(k.Policy, *a.Grant)
			if err != nil {
				t.Fatalf("executor merge: %v", err)
			}
			if merged != a.Policy {
				t.Fatalf("planned policy differs from the executor's merge")
			}
			k.Policy = merged
		case EnableKeyRotation:
			k.RotationEnabled = true
		default:
			t.Fatalf("unknown action %q", a.Kind)
		}
	}
	return s
}

func cloneKey(k *compliance.Key) *compliance.Key {
	if k == nil {
		return nil
	}
	c := *k
	return &c
}

// TestPlanConverges applies the plans of random states with a simulator
// and checks that the result has no actionable finding and needs no
// further action, plus ordering and actionability invariants.
func TestPlanConverges(t *testing.T) {
	r := rand.New(rand.NewSource(20240601))
	n := 1000
	if testing.Short() {
		n = 300
	}
	stats := map[string]int{}
	for i := range n {
		s, c := randomState(r, i)
		p := Make(s, c)
		a := compliance.Assess(s, c)
		if a.Blocked != "" {
			stats["blocked"]++
			if len(p.Actions) > 0 {
				t.Fatalf("state %d: actions for a blocked trail (%s)", i, a.Blocked)
			}
		}
		nonActionable := 0
		for _, f := range p.Findings {
			if !f.Actionable {
				nonActionable++
			}
			stats[string(f.Rule)]++
		}
		if a.Blocked == "" && len(p.Alerts) < nonActionable {
			t.Fatalf("state %d: %d non-actionable findings but %d alerts", i, nonActionable, len(p.Alerts))
		}
		for _, act := range p.Actions {
			stats[string(act.Kind)]++
		}
		checkOrder(t, p)

		after := apply(t, s, c, p)
		for _, f := range compliance.Evaluate(after, c) {
			if f.Actionable {
				t.Fatalf("state %d: after applying %v, %s is still actionable: %s\nbefore: %+v\nconfig %+v", i, steps(p), f.Rule, f.Detail, p.Findings, c)
			}
		}
		if again := Make(after, c); len(again.Actions) > 0 {
			t.Fatalf("state %d: second plan not empty: %v (first %v)", i, steps(again), steps(p))
		}
	}
	// The generator must reach every interesting case.
	for _, want := range []string{"blocked", "UpdateTrail", "PutKeyPolicy", "EnableKey", "CancelKeyDeletion", "EnableKeyRotation",
		"trail-not-encrypted", "trail-key-missing", "trail-key-wrong-region", "trail-key-unusable", "key-disabled",
		"key-pending-deletion", "key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt",
		"key-policy-denies-cloudtrail", "key-policy-too-large", "key-rotation-disabled", "trail-delivery-failing"} {
		if stats[want] == 0 {
			t.Errorf("generator never produced %s (stats %v)", want, stats)
		}
	}
	t.Logf("stats: %v", stats)
}

// checkOrder asserts key fixes come before UpdateTrail, CancelKeyDeletion
// before EnableKey on the same key, and each kind at most once per key.
func checkOrder(t *testing.T, p Plan) {
	t.Helper()
	seen := map[string]bool{}
	for i, a := range p.Actions {
		id := string(a.Kind) + " " + a.Target
		if seen[id] {
			t.Fatalf("duplicate action %s", id)
		}
		seen[id] = true
		if a.Kind == UpdateTrail && i != len(p.Actions)-1 {
			t.Fatalf("UpdateTrail before key fixes: %v", steps(p))
		}
		if a.Kind == EnableKey && slices.ContainsFunc(p.Actions[i:], func(b Action) bool { return b.Kind == CancelKeyDeletion && b.Target == a.Target }) {
			t.Fatalf("EnableKey before CancelKeyDeletion: %v", steps(p))
		}
	}
}

func steps(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, step(a))
	}
	return out
}
