package compliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func mustParse(t testing.TB, s string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, s)
	}
	return d
}

// foreign returns the statements trailguard does not own, in order.
func foreign(d *policy.Document) []policy.Statement {
	var out []policy.Statement
	for _, st := range d.Statements {
		if !IsOwnSid(st.Sid) {
			out = append(out, st)
		}
	}
	return out
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// checkForeignKept fails unless merged keeps every statement of orig that
// trailguard does not own, in order, with the same meaning and the same
// JSON.
func checkForeignKept(t testing.TB, orig, merged string) {
	t.Helper()
	of, mf := foreign(mustParse(t, orig)), foreign(mustParse(t, merged))
	if len(of) != len(mf) {
		t.Fatalf("foreign statements: %d before, %d after merge", len(of), len(mf))
	}
	for i := range of {
		if !of[i].Equal(mf[i]) || compactJSON(of[i].Raw) != compactJSON(mf[i].Raw) {
			t.Fatalf("foreign statement %d changed:\n%s\n%s", i, of[i].Raw, mf[i].Raw)
		}
	}
	od, md := mustParse(t, orig), mustParse(t, merged)
	if od.Version != md.Version || od.ID != md.ID {
		t.Fatalf("Version/Id changed: %q/%q -> %q/%q", od.Version, od.ID, md.Version, md.ID)
	}
}

// checkGrants fails unless every request of g is allowed by the policy.
func checkGrants(t testing.TB, pol string, g Grant) {
	t.Helper()
	d := mustParse(t, pol)
	for _, c := range grantChecks(g) {
		if dec := d.Evaluate(c.req); !dec.Allowed() {
			t.Fatalf("%s %s for %s: %v (%s)\n%s", c.who, c.what, c.trail, dec.Effect, dec.Statement, pol)
		}
	}
}

// sampleRequests are requests unrelated to the grant: administration by
// the root and an admin role, other services, other accounts' trails,
// non-CloudTrail decrypts.
func sampleRequests() []policy.Request {
	other := "arn:aws:cloudtrail:us-east-2:222222222222:trail/Other"
	return []policy.Request{
		{Caller: policy.Caller{ARN: "arn:aws:iam::111111111111:root"}, Action: "kms:PutKeyPolicy", Resource: testKeyARN,
			Context: map[string][]string{"kms:CallerAccount": {testAccount}}},
		{Caller: policy.Caller{ARN: "arn:aws:iam::111111111111:root"}, Action: "kms:ScheduleKeyDeletion", Resource: testKeyARN,
			Context: map[string][]string{"kms:CallerAccount": {testAccount}}},
		{Caller: policy.Caller{ARN: "arn:aws:iam::111111111111:role/KeyAdmin"}, Action: "kms:PutKeyPolicy", Resource: testKeyARN,
			Context: map[string][]string{"kms:CallerAccount": {testAccount}}},
		{Caller: policy.Caller{ARN: "arn:aws:iam::111111111111:role/KeyAdmin"}, Action: "kms:DisableKey", Resource: testKeyARN,
			Context: map[string][]string{"kms:CallerAccount": {testAccount}}},
		{Caller: policy.Caller{Service: "ec2.amazonaws.com"}, Action: "kms:Encrypt", Resource: testKeyARN},
		{Caller: policy.Caller{Service: CloudTrailService}, Action: "kms:GenerateDataKey", Resource: testKeyARN,
			Context: map[string][]string{ctxTrailARN: {other}, ctxSourceARN: {other}, ctxSourceAcct: {"222222222222"}}},
		{Caller: policy.Caller{Service: CloudTrailService}, Action: "kms:DescribeKey", Resource: testKeyARN,
			Context: map[string][]string{ctxSourceARN: {other}, ctxSourceAcct: {"222222222222"}}},
		{Caller: policy.Caller{ARN: "arn:aws:iam::333333333333:root"}, Action: "kms:Decrypt", Resource: testKeyARN,
			Context: map[string][]string{ctxTrailARN: {testTrailARN}, ctxCallerAcct: {"333333333333"}}},
		{Caller: policy.Caller{ARN: "arn:aws:iam::111111111111:user/Mallory"}, Action: "kms:Decrypt", Resource: testKeyARN,
			Context: map[string][]string{ctxCallerAcct: {testAccount}, "kms:EncryptionContext:app": {"payroll"}}},
		{Caller: policy.Caller{ARN: alice}, Action: "kms:Encrypt", Resource: testKeyARN,
			Context: map[string][]string{ctxCallerAcct: {testAccount}}},
	}
}

// checkNoLockout fails unless merged decides every sample request as orig
// does: nothing allowed before is refused after, no Deny disappears, and
// nothing refused before is allowed after.
func checkNoLockout(t testing.TB, orig, merged string) {
	t.Helper()
	od, md := mustParse(t, orig), mustParse(t, merged)
	for _, r := range sampleRequests() {
		before, after := od.Evaluate(r), md.Evaluate(r)
		if before.Effect != after.Effect {
			t.Fatalf("%s %s by %s%s: %v before merge, %v after", r.Action, r.Resource, r.Caller.ARN, r.Caller.Service, before.Effect, after.Effect)
		}
	}
}

func TestMerge(t *testing.T) {
	fixtures := []string{"root-only", "documented", "console-default", "odd-compliant", "single-object",
		"single-object-no-service", "deny-unrelated", "no-describe", "no-decrypt", "encrypt-wrong-account", "other-trail"}
	grants := map[string]func(State) Grant{
		"trail only": func(s State) Grant {
			g := GrantFor(*s.Key, s, Config{})
			g.ReaderAccounts = nil
			return g
		},
		"default readers": func(s State) Grant { return GrantFor(*s.Key, s, Config{}) },
		"explicit readers": func(s State) Grant {
			return GrantFor(*s.Key, s, Config{Readers: []string{alice, bob, alice, "arn:aws:iam::222222222222:role/Auditor"}})
		},
	}
	for _, name := range fixtures {
		for gname, mk := range grants {
			t.Run(name+"/"+gname, func(t *testing.T) {
				s := testState(t, name)
				orig := s.Key.Policy
				g := mk(s)
				merged, changed, err := Merge(orig, g)
				if err != nil {
					t.Fatal(err)
				}
				if !changed || merged == orig {
					t.Fatalf("changed = %v, want a new document", changed)
				}
				checkForeignKept(t, orig, merged)
				checkGrants(t, merged, g)
				checkNoLockout(t, orig, merged)
				checkOwnStatements(t, merged, g)
				again, changed2, err := Merge(merged, g)
				if err != nil || changed2 || again != merged {
					t.Fatalf("second Merge = changed %v, err %v, same %v", changed2, err, again == merged)
				}
				if len(merged) > policy.MaxSize {
					t.Fatalf("merged policy is %d bytes", len(merged))
				}
			})
		}
	}
}

// checkOwnStatements fails unless the merged policy has exactly the
// trailguard statements g needs, appended in OwnSids order after the
// foreign ones (no own statement existed before in these fixtures).
func checkOwnStatements(t testing.TB, merged string, g Grant) {
	t.Helper()
	d := mustParse(t, merged)
	var sids []string
	for _, st := range d.Statements {
		if IsOwnSid(st.Sid) {
			sids = append(sids, st.Sid)
			if st.Effect != policy.EffectAllow {
				t.Fatalf("own statement %s is a %s", st.Sid, st.Effect)
			}
		} else if len(sids) > 0 {
			t.Fatalf("foreign statement %q after own statements", st.Sid)
		}
	}
	want := []string{SidCloudTrailEncrypt, SidCloudTrailDescribe}
	if len(g.ReaderAccounts) > 0 {
		want = append(want, SidLogDecryptAccounts)
	}
	if len(g.Readers) > 0 {
		want = append(want, SidLogDecryptReaders)
	}
	if !slices.Equal(sids, want) {
		t.Fatalf("own statements %v, want %v", sids, want)
	}
}

// TestMergeGolden pins the exact statements Merge writes into the root-only
// policy (run with -update to rewrite testdata/golden).
func TestMergeGolden(t *testing.T) {
	for _, tc := range []struct{ name, policy string }{
		{"root-only-merged", "root-only"},
		{"single-object-merged", "single-object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testState(t, tc.policy)
			merged, _, err := Merge(s.Key.Policy, GrantFor(*s.Key, s, Config{Readers: []string{bob}}))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(merged+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if merged+"\n" != string(want) {
				t.Errorf("Merge =\n%s\nwant\n%s", merged, want)
			}
		})
	}
}

func TestMergeUnion(t *testing.T) {
	const (
		trailB = "arn:aws:cloudtrail:eu-west-1:222222222222:trail/B"
	)
	s := testState(t, "root-only")
	gA := GrantFor(*s.Key, s, Config{Readers: []string{bob}})
	mergedA, _, err := Merge(s.Key.Policy, gA)
	if err != nil {
		t.Fatal(err)
	}
	// Someone appends a statement after ours: our statements keep their
	// places when they grow.
	doc := mustParse(t, mergedA)
	doc.Append(policy.Statement{Sid: "Later", Effect: "Allow", Principal: policy.AWSPrincipal("arn:aws:iam::111111111111:role/Later"),
		Action: []string{"kms:Encrypt"}, Resource: []string{"*"}})
	withLater, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gB := Grant{Partition: "aws", TrailARNs: []string{trailB}, Accounts: []string{"222222222222"},
		ReaderAccounts: []string{"222222222222"}, Readers: []string{alice}, KeyARN: testKeyARN}
	mergedAB, changed, err := Merge(string(withLater), gB)
	if err != nil || !changed {
		t.Fatalf("Merge B: changed %v, err %v", changed, err)
	}
	d := mustParse(t, mergedAB)
	var sids []string
	for _, st := range d.Statements {
		sids = append(sids, st.Sid)
	}
	wantSids := []string{"Enable IAM User Permissions", SidCloudTrailEncrypt, SidCloudTrailDescribe, SidLogDecryptAccounts, SidLogDecryptReaders, "Later"}
	if !slices.Equal(sids, wantSids) {
		t.Fatalf("statement order %v, want %v", sids, wantSids)
	}
	enc := d.Statements[1]
	if got, want := condValues(&enc, "StringEquals", ctxSourceARN), []string{trailB, testTrailARN}; !slices.Equal(got, want) {
		t.Errorf("encrypt SourceArn = %v, want %v", got, want)
	}
	if got, want := condValues(&enc, "StringLike", ctxTrailARN), []string{
		"arn:aws:cloudtrail:*:111111111111:trail/*", "arn:aws:cloudtrail:*:222222222222:trail/*"}; !slices.Equal(got, want) {
		t.Errorf("encrypt patterns = %v, want %v", got, want)
	}
	if got, want := condValues(&d.Statements[3], "StringEquals", ctxCallerAcct), []string{testAccount, "222222222222"}; !slices.Equal(got, want) {
		t.Errorf("reader accounts = %v, want %v", got, want)
	}
	if got, want := principalValues(&d.Statements[4], "AWS"), []string{alice, bob}; !slices.Equal(got, want) {
		t.Errorf("readers = %v, want %v", got, want)
	}
	checkGrants(t, mergedAB, gA)
	checkGrants(t, mergedAB, gB)
	// Merging A again never shrinks the statements.
	again, changed, err := Merge(mergedAB, gA)
	if err != nil || changed || again != mergedAB {
		t.Fatalf("re-merging A: changed %v err %v", changed, err)
	}
}

func TestMergeRepairsOwnStatement(t *testing.T) {
	// An own statement someone narrowed to another action is rebuilt; its
	// values are kept.
	s := testState(t, "root-only")
	doc := mustParse(t, s.Key.Policy)
	doc.Append(ownStatement(SidCloudTrailDescribe, "Service", []string{CloudTrailService}, []string{"kms:Encrypt"}, policy.Condition{
		"StringEquals": {"aws:SourceArn": {"arn:aws:cloudtrail:us-west-2:111111111111:trail/Kept"}},
	}))
	b, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g := GrantFor(*s.Key, s, Config{})
	merged, changed, err := Merge(string(b), g)
	if err != nil || !changed {
		t.Fatalf("Merge: changed %v err %v", changed, err)
	}
	d := mustParse(t, merged)
	i, _ := d.Find(SidCloudTrailDescribe)
	if i != 1 || !slices.Equal(d.Statements[i].Action, []string{"kms:DescribeKey"}) ||
		!slices.Contains(condValues(&d.Statements[i], "StringEquals", ctxSourceARN), "arn:aws:cloudtrail:us-west-2:111111111111:trail/Kept") {
		t.Fatalf("describe statement at %d not repaired with its values kept:\n%s", i, merged)
	}
	checkGrants(t, merged, g)
}

func TestMergeErrors(t *testing.T) {
	s := testState(t, "documented")
	g := GrantFor(*s.Key, s, Config{})
	bad := func(edit func(*Grant)) Grant {
		c := g
		edit(&c)
		return c
	}
	tests := []struct {
		name   string
		policy string
		grant  Grant
		want   error
	}{
		{"not JSON", fixture(t, "invalid"), g, ErrInvalidPolicy},
		{"empty", "", g, ErrInvalidPolicy},
		{"array", "[]", g, ErrInvalidPolicy},
		{"bad Effect", `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}`, g, ErrInvalidPolicy},
		{"deny CloudTrail", fixture(t, "deny-cloudtrail"), g, ErrDenied},
		{"uncertain deny", fixture(t, "deny-uncertain"), g, ErrDenied},
		{"deny readers", fixture(t, "deny-readers"), g, ErrDenied},
		{"too large", padPolicy(t, fixture(t, "root-only"), policy.MaxSize-50), g, ErrTooLarge},
		{"wildcard account", fixture(t, "root-only"), bad(func(g *Grant) { g.Accounts = []string{"*"} }), ErrInvalidGrant},
		{"account without trail", fixture(t, "root-only"), bad(func(g *Grant) { g.Accounts = []string{"222222222222"} }), ErrInvalidGrant},
		{"wildcard trail", fixture(t, "root-only"), bad(func(g *Grant) {
			g.TrailARNs = []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}
		}), ErrInvalidGrant},
		{"not a trail", fixture(t, "root-only"), bad(func(g *Grant) { g.TrailARNs = []string{"arn:aws:s3:::bucket"} }), ErrInvalidGrant},
		{"wildcard reader", fixture(t, "root-only"), bad(func(g *Grant) { g.Readers = []string{"*"} }), ErrInvalidGrant},
		{"reader in every account", fixture(t, "root-only"), bad(func(g *Grant) { g.Readers = []string{"arn:aws:iam::*:root"} }), ErrInvalidGrant},
		{"wildcard reader account", fixture(t, "root-only"), bad(func(g *Grant) { g.ReaderAccounts = []string{"*"} }), ErrInvalidGrant},
		{"mixed partitions", fixture(t, "root-only"), bad(func(g *Grant) { g.Readers = []string{"arn:aws-cn:iam::111111111111:user/Bob"} }), ErrInvalidGrant},
		{"wrong partition", fixture(t, "root-only"), bad(func(g *Grant) { g.Partition = "aws-cn" }), ErrInvalidGrant},
		{"readers without trails", fixture(t, "root-only"), Grant{Readers: []string{bob}}, ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := Merge(tt.policy, tt.grant)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Merge error = %v, want %v", err, tt.want)
			}
			if got != "" || changed {
				t.Errorf("Merge returned %q, %v with an error", got, changed)
			}
		})
	}
}

func TestMergeEmptyGrant(t *testing.T) {
	p := fixture(t, "root-only")
	got, changed, err := Merge(p, Grant{})
	if err != nil || changed || got != p {
		t.Fatalf("Merge(empty grant) = changed %v, err %v, same %v", changed, err, got == p)
	}
}

func TestMergeCompactsWhenNeeded(t *testing.T) {
	s := testState(t, "root-only")
	g := GrantFor(*s.Key, s, Config{})
	// Find a padding where the indented result is over the limit but the
	// compact one fits: trailguard's statements take well under 2 KB
	// compact and the indentation of this policy adds several hundred
	// bytes.
	small, _, err := Merge(s.Key.Policy, g)
	if err != nil {
		t.Fatal(err)
	}
	growth := len(compactJSON([]byte(small))) - len(compactJSON([]byte(s.Key.Policy)))
	pol := padPolicy(t, s.Key.Policy, policy.MaxSize-growth-5)
	merged, changed, err := Merge(pol, g)
	if err != nil || !changed {
		t.Fatalf("Merge: changed %v, err %v", changed, err)
	}
	if strings.Contains(merged, "\n") || len(merged) > policy.MaxSize {
		t.Fatalf("want a compact document of at most %d bytes, got %d bytes (indented: %v)", policy.MaxSize, len(merged), strings.Contains(merged, "\n"))
	}
	checkForeignKept(t, pol, merged)
	checkGrants(t, merged, g)
}

func TestNeeds(t *testing.T) {
	s := testState(t, "documented")
	got := Needs(s, Config{Readers: []string{bob, alice, bob, ""}})
	if got.Partition != "aws" || !slices.Equal(got.TrailARNs, []string{testTrailARN}) ||
		!slices.Equal(got.Accounts, []string{testAccount}) || !slices.Equal(got.ReaderAccounts, []string{testAccount}) ||
		!slices.Equal(got.Readers, []string{alice, bob}) || got.KeyARN != "" ||
		len(got.Deliveries) != 1 || got.Deliveries[0] != (Delivery{TrailARN: testTrailARN, Bucket: "trail-logs", Prefix: "ct", BucketRegion: "us-east-2"}) {
		t.Errorf("Needs = %+v", got)
	}
	// An organization trail observed in the management account: the
	// management account owns it.
	s.Trail.ARN, s.Trail.IsOrganizationTrail = "arn:aws-us-gov:cloudtrail:us-gov-west-1:999999999999:trail/Org", true
	got = Needs(s, Config{})
	if got.Partition != "aws-us-gov" || !slices.Equal(got.Accounts, []string{"999999999999"}) || !slices.Equal(got.ReaderAccounts, []string{"999999999999"}) {
		t.Errorf("Needs(org trail) = %+v", got)
	}
	if g := GrantFor(*s.Key, s, Config{}); g.KeyARN != testKeyARN {
		t.Errorf("GrantFor KeyARN = %q", g.KeyARN)
	}
}

func TestGrantChecksUsePartitionAndDelivery(t *testing.T) {
	g := Grant{Partition: "aws-us-gov", TrailARNs: []string{"arn:aws-us-gov:cloudtrail:us-gov-west-1:111111111111:trail/T"},
		ReaderAccounts: []string{testAccount}, Readers: []string{"arn:aws-us-gov:iam::111111111111:role/Reader"},
		Deliveries: []Delivery{{TrailARN: "arn:aws-us-gov:cloudtrail:us-gov-west-1:111111111111:trail/T", Bucket: "b", Prefix: "p/q", BucketRegion: "us-gov-east-1"}}}
	checks := grantChecks(g)
	if len(checks) != 4 {
		t.Fatalf("%d checks, want 4", len(checks))
	}
	enc := checks[0].req
	wantObj := "arn:aws-us-gov:s3:::b/p/q/AWSLogs/111111111111/CloudTrail/us-gov-west-1/"
	if !strings.HasPrefix(enc.Context[ctxObjectARN][0], wantObj) || enc.Context[ctxSourceAcct][0] != testAccount ||
		!strings.HasPrefix(enc.Resource, "arn:aws-us-gov:kms:us-gov-east-1:111111111111:key/") || enc.Caller.Service != CloudTrailService {
		t.Errorf("encrypt request %+v", enc)
	}
	root, reader := checks[2].req, checks[3].req
	if root.Caller.ARN != "arn:aws-us-gov:iam::111111111111:root" || root.Context[ctxViaService][0] != "s3.us-gov-east-1.amazonaws.com" ||
		root.Context[ctxCallerAcct][0] != testAccount || root.Action != "kms:Decrypt" {
		t.Errorf("root decrypt request %+v", root)
	}
	if reader.Caller.ARN != "arn:aws-us-gov:iam::111111111111:role/Reader" || reader.Context[ctxPrincipalTyp][0] != "AssumedRole" {
		t.Errorf("reader decrypt request %+v", reader)
	}
}

// A key deployed with account-wide statements (the CDK baseline key uses
// StringLike aws:SourceArn arn:...:trail/* because trails are not known at
// deploy time) must keep covering every trail of the account when Merge
// rebuilds trailguard's statements for one trail.
func TestMergeKeepsAccountWideSourceArn(t *testing.T) {
	const deployed = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"TrailguardCloudTrailEncrypt","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*",
  "Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:111111111111:trail/*","aws:SourceArn":"arn:aws:cloudtrail:*:111111111111:trail/*"}}},
 {"Sid":"TrailguardCloudTrailDescribe","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:DescribeKey","Resource":"*",
  "Condition":{"StringLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111111111111:trail/*"}}}]}`
	s := testState(t, "")
	s.Key.Policy = deployed
	other := s
	other.Trail.Name, other.Trail.ARN = "Other", "arn:aws:cloudtrail:us-east-2:111111111111:trail/Other"
	if fs := PolicyFindings(*s.Key, other, Config{}); len(fs) != 0 {
		t.Fatalf("deployed policy should already serve Other: %v", ruleList(fs))
	}
	// Fixing one trail with an extra reader rebuilds trailguard's statements.
	merged, changed, err := Merge(deployed, GrantFor(*s.Key, s, Config{Readers: []string{bob}}))
	if err != nil || !changed {
		t.Fatalf("Merge: changed %v, err %v", changed, err)
	}
	k := *s.Key
	k.Policy = merged
	for _, st := range []State{s, other} {
		if fs := PolicyFindings(k, st, Config{}); len(fs) != 0 {
			t.Errorf("after merge, %s: %v (the account-wide grant shrank)", st.Trail.Name, ruleList(fs))
		}
	}
	enc := mustParse(t, merged).Statements[1]
	if got := condValues(&enc, "StringLike", ctxSourceARN); !slices.Equal(got, []string{"arn:aws:cloudtrail:*:111111111111:trail/*"}) {
		t.Errorf("encrypt SourceArn = %v: a trail the pattern covers must not be added", got)
	}
	if _, changed, err := Merge(merged, GrantFor(*s.Key, s, Config{Readers: []string{bob}})); err != nil || changed {
		t.Fatalf("second merge: changed %v, err %v", changed, err)
	}
}

// TestGrantUnion: one Merge of the union of two trails' grants gives a
// policy that already holds each grant (Merge of either is a no-op) and
// keeps every foreign statement: the single write for trails sharing a
// key.
func TestGrantUnion(t *testing.T) {
	for _, name := range []string{"root-only", "documented", "console-default", "other-trail"} {
		t.Run(name, func(t *testing.T) {
			s := testState(t, name)
			a := GrantFor(*s.Key, s, Config{})
			s2 := s
			s2.Trail.ARN = "arn:aws:cloudtrail:us-east-2:" + testAccount + ":trail/second"
			b := GrantFor(*s2.Key, s2, Config{Readers: []string{alice}})
			u := a.Union(b)
			if len(u.TrailARNs) != 2 || u.KeyARN != a.KeyARN || u.Partition != "aws" {
				t.Fatalf("union %+v", u)
			}
			merged, changed, err := Merge(s.Key.Policy, u)
			if err != nil || !changed {
				t.Fatalf("Merge(union) changed %v, err %v", changed, err)
			}
			checkForeignKept(t, s.Key.Policy, merged)
			for _, g := range []Grant{a, b} {
				if again, changed, err := Merge(merged, g); err != nil || changed || again != merged {
					t.Errorf("after the union write, Merge of %v still changes the policy (err %v)", g.TrailARNs, err)
				}
			}
		})
	}
}
