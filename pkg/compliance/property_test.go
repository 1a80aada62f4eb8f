package compliance

import (
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/policy"
)

// poolStatements collects every statement of the policy fixtures (raw
// JSON) plus trailguard-owned statements with other values, as a pool to
// build random policies from.
func poolStatements(t testing.TB) []json.RawMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "policies", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	seen := map[string]bool{}
	var pool []json.RawMessage
	add := func(raw json.RawMessage) {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		sid, _ := m["Sid"].(string)
		if seen[sid] && sid != "" {
			return // keep Sids unique within a generated policy
		}
		seen[sid] = true
		pool = append(pool, raw)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Statement json.RawMessage }
		if json.Unmarshal(b, &doc) != nil {
			continue // invalid.json
		}
		var list []json.RawMessage
		if json.Unmarshal(doc.Statement, &list) != nil {
			list = []json.RawMessage{doc.Statement}
		}
		for _, raw := range list {
			add(raw)
		}
	}
	for _, raw := range []string{
		`{"Sid":"TrailguardCloudTrailEncrypt","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:222222222222:trail/*"},"StringEquals":{"aws:SourceArn":["arn:aws:cloudtrail:eu-west-1:222222222222:trail/B"]}}}`,
		`{"Sid":"TrailguardLogDecryptAccounts","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt","kms:ReEncryptFrom"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"222222222222"},"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:222222222222:trail/*"}}}`,
		`{"Sid":"TrailguardLogDecryptReaders","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:role/Old"]},"Action":"kms:Decrypt","Resource":"*"}`,
	} {
		add(json.RawMessage(raw))
	}
	return pool
}

// randomGrants are the grants the property and fuzz tests merge.
func randomGrants() []Grant {
	d := func(trail string) Delivery {
		return Delivery{TrailARN: trail, Bucket: "trail-logs", Prefix: "ct", BucketRegion: "us-east-2"}
	}
	trailB := "arn:aws:cloudtrail:eu-west-1:222222222222:trail/B"
	return []Grant{
		{Partition: "aws", TrailARNs: []string{testTrailARN}, Accounts: []string{testAccount}, ReaderAccounts: []string{testAccount},
			KeyARN: testKeyARN, Deliveries: []Delivery{d(testTrailARN)}},
		{Partition: "aws", TrailARNs: []string{testTrailARN}, Accounts: []string{testAccount}, Readers: []string{bob, alice},
			KeyARN: testKeyARN, Deliveries: []Delivery{d(testTrailARN)}},
		{Partition: "aws", TrailARNs: []string{testTrailARN, trailB}, Accounts: []string{testAccount, "222222222222"},
			ReaderAccounts: []string{testAccount, "222222222222"}, Readers: []string{"arn:aws:iam::222222222222:role/Auditor"},
			KeyARN: testKeyARN, Deliveries: []Delivery{d(testTrailARN), d(trailB)}},
		{TrailARNs: []string{trailB}},
	}
}

// TestMergeProperties merges random grants into random policies drawn from
// the statement pool and checks Merge's invariants.
func TestMergeProperties(t *testing.T) {
	pool := poolStatements(t)
	grants := randomGrants()
	r := rand.New(rand.NewSource(7))
	n := 600
	if testing.Short() {
		n = 200
	}
	outcomes := map[string]int{}
	for range n {
		k := r.Intn(8)
		stmts := []json.RawMessage{}
		for _, j := range r.Perm(len(pool))[:k] {
			stmts = append(stmts, pool[j])
		}
		var body []byte
		if k == 1 && r.Intn(2) == 0 {
			body = stmts[0]
		} else {
			body, _ = json.Marshal(stmts)
		}
		pol := `{"Version":"2012-10-17","Statement":` + string(body) + `}`
		if r.Intn(2) == 0 {
			var buf strings.Builder
			var v any
			_ = json.Unmarshal([]byte(pol), &v)
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "    ")
			_ = enc.Encode(v)
			pol = buf.String()
		}
		g := grants[r.Intn(len(grants))]
		outcome := checkMergeInvariants(t, pol, g)
		outcomes[outcome]++
	}
	for _, want := range []string{"changed", "denied"} {
		if outcomes[want] == 0 {
			t.Errorf("no %q outcome in %v", want, outcomes)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// checkMergeInvariants merges g into pol and checks every invariant; it
// returns the outcome ("changed", "unchanged", "denied", "too large",
// "invalid").
func checkMergeInvariants(t testing.TB, pol string, g Grant) string {
	t.Helper()
	merged, changed, err := Merge(pol, g)
	if err != nil {
		switch {
		case errors.Is(err, ErrDenied):
			// A Deny was there before the merge.
			d := mustParse(t, pol)
			ng, _ := normalizeGrant(g)
			denied := false
			for _, c := range grantChecks(ng) {
				if d.Evaluate(c.req).Effect == policy.ExplicitDeny {
					denied = true
				}
			}
			if !denied {
				t.Fatalf("ErrDenied but the original policy denies nothing: %v\n%s", err, pol)
			}
			return "denied"
		case errors.Is(err, ErrTooLarge):
			return "too large"
		case errors.Is(err, ErrInvalidPolicy), errors.Is(err, ErrInvalidGrant):
			return "invalid"
		}
		t.Fatalf("Merge error of no known class: %v", err)
	}
	if _, perr := policy.Parse([]byte(merged)); perr != nil {
		t.Fatalf("merged policy does not parse: %v\n%s", perr, merged)
	}
	if len(merged) > policy.MaxSize {
		t.Fatalf("merged policy is %d bytes", len(merged))
	}
	if changed == (merged == pol) {
		t.Fatalf("changed = %v but merged == pol is %v", changed, merged == pol)
	}
	checkForeignKept(t, pol, merged)
	ng, _ := normalizeGrant(g)
	checkGrants(t, merged, ng)
	// Nothing allowed before is refused after; no Deny disappears.
	od, md := mustParse(t, pol), mustParse(t, merged)
	for _, r := range sampleRequests() {
		before, after := od.Evaluate(r), md.Evaluate(r)
		if (before.Effect == policy.Allowed && after.Effect != policy.Allowed) ||
			(before.Effect == policy.ExplicitDeny && after.Effect != policy.ExplicitDeny) {
			t.Fatalf("%s by %s%s: %v before merge, %v after\n%s", r.Action, r.Caller.ARN, r.Caller.Service, before.Effect, after.Effect, pol)
		}
	}
	again, changed2, err := Merge(merged, g)
	if err != nil || changed2 || again != merged {
		t.Fatalf("Merge twice != Merge once: changed %v err %v", changed2, err)
	}
	if changed {
		return "changed"
	}
	return "unchanged"
}

// FuzzMerge merges fixed grants into arbitrary documents. Invariants: no
// panic; on success the result parses, keeps every foreign statement and
// grants CloudTrail and the readers; on failure the error is ErrTooLarge,
// ErrDenied, ErrInvalidPolicy (parse) or ErrInvalidGrant.
func FuzzMerge(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "policies", "*.json"))
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), uint8(i))
	}
	f.Add(`{"Statement":{"Sid":"TrailguardCloudTrailEncrypt","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}`, uint8(0))
	f.Add(`{"Statement":[{"Sid":"TrailguardCloudTrailDescribe","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:DescribeKey","Resource":"*","Condition":{"StringEquals":{"aws:SourceArn":"*"}}}]}`, uint8(1))
	f.Add(`{}`, uint8(2))
	f.Add(`null`, uint8(3))
	grants := randomGrants()
	f.Fuzz(func(t *testing.T, pol string, sel uint8) {
		checkMergeInvariants(t, pol, grants[int(sel)%len(grants)])
	})
}
