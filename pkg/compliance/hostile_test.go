package compliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/policy"
)

// hostilePolicyDir is the corpus of broken and hostile key policies (issue
// 7), shared with the handler tests that put them on a real key.
var hostilePolicyDir = filepath.Join("..", "policy", "testdata", "hostile")

// The trail and keys the hostile policies are judged for: moto's account,
// so the handler tests can use the same corpus on real keys.
const (
	hostileAccount  = "123456789012"
	hostileTrailARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim"
	hostileKeyARN   = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	hostileBaseARN  = "arn:aws:kms:us-east-1:123456789012:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
	hostileReader   = "arn:aws:iam::123456789012:role/LogReader"
	hostileRootOnly = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}`
)

// hostilePolicyCase is what trailguard must make of one hostile policy on
// the key of an encrypted trail.
type hostilePolicyCase struct {
	// merge is Merge's outcome: "invalid" (ErrInvalidPolicy), "denied"
	// (ErrDenied), "too large" (ErrTooLarge) or "changed" (a merge that
	// keeps every foreign statement); "changed or invalid" accepts a
	// refusal too (then findings are compared without the "!" marks).
	merge string
	// errHas is a substring of Merge's error: it must say why.
	errHas string
	// findings are PolicyFindings' rules, "!" marking not actionable.
	findings []string
}

var hostilePolicyCases = map[string]hostilePolicyCase{
	// Not a policy document at all: never merged into, never written;
	// the trail moves to the baseline key (Assess.Switch).
	"not-json.txt":                    {merge: "invalid", errHas: "not valid JSON", findings: []string{"!key-policy-no-encrypt"}},
	"yaml.txt":                        {merge: "invalid", errHas: "not valid JSON", findings: []string{"!key-policy-no-encrypt"}},
	"truncated.json":                  {merge: "invalid", errHas: "unexpected end of JSON input", findings: []string{"!key-policy-no-encrypt"}},
	"empty.txt":                       {merge: "invalid", errHas: "unexpected end of JSON input", findings: []string{"!key-unverifiable"}}, // "" is what an unread policy looks like
	"null.json":                       {merge: "invalid", errHas: "not a JSON object", findings: []string{"!key-policy-no-encrypt"}},
	"array.json":                      {merge: "invalid", errHas: "not a JSON object", findings: []string{"!key-policy-no-encrypt"}},
	"string.json":                     {merge: "invalid", errHas: "not a JSON object", findings: []string{"!key-policy-no-encrypt"}},
	"trailing-garbage.json":           {merge: "invalid", errHas: "after top-level value", findings: []string{"!key-policy-no-encrypt"}},
	"bom.json":                        {merge: "invalid", errHas: "not valid JSON", findings: []string{"!key-policy-no-encrypt"}},
	"deep-nesting.json":               {merge: "invalid", errHas: "must be a string", findings: []string{"!key-policy-no-encrypt"}},
	"statement-string.json":           {merge: "invalid", errHas: "Statement must be an object or a list", findings: []string{"!key-policy-no-encrypt"}},
	"statement-list-of-strings.json":  {merge: "invalid", errHas: "statement must be an object", findings: []string{"!key-policy-no-encrypt"}},
	"statement-key-case.json":         {merge: "invalid", errHas: "case-sensitive", findings: []string{"!key-policy-no-encrypt"}},
	"effect-lowercase.json":           {merge: "invalid", errHas: `Effect must be "Allow" or "Deny"`, findings: []string{"!key-policy-no-encrypt"}},
	"effect-missing.json":             {merge: "invalid", errHas: "missing Effect", findings: []string{"!key-policy-no-encrypt"}},
	"action-and-notaction.json":       {merge: "invalid", errHas: "both Action and NotAction", findings: []string{"!key-policy-no-encrypt"}},
	"principal-and-notprincipal.json": {merge: "invalid", errHas: "both Principal and NotPrincipal", findings: []string{"!key-policy-no-encrypt"}},
	"principal-number.json":           {merge: "invalid", errHas: "Principal.AWS must be a string", findings: []string{"!key-policy-no-encrypt"}},
	"condition-value-object.json":     {merge: "invalid", errHas: "got an object", findings: []string{"!key-policy-no-encrypt"}},
	"version-number.json":             {merge: "invalid", errHas: "Version must be a string", findings: []string{"!key-policy-no-encrypt"}},
	// A document without a Statement (a bare statement, a CloudFormation
	// resource, "{}") is not a key policy.
	"no-statement.json": {merge: "invalid", errHas: "not a key policy: no Statement", findings: []string{"!key-policy-no-encrypt"}},
	"empty-object.json": {merge: "invalid", errHas: "not a key policy: no Statement", findings: []string{"!key-policy-no-encrypt"}},
	// 32 KB: over the limit as read; at the limit, so the merge cannot fit.
	"over-32kb.json":       {merge: "invalid", errHas: "exceeds 32768 bytes", findings: []string{"!key-policy-no-encrypt"}},
	"near-32kb.json":       {merge: "too large", errHas: "exceeds 32768 bytes", findings: []string{"!key-policy-no-encrypt", "!key-policy-no-describe", "!key-policy-too-large"}},
	"many-statements.json": {merge: "too large", errHas: "exceeds 32768 bytes", findings: []string{"!key-policy-no-encrypt", "!key-policy-no-describe", "!key-policy-too-large"}},
	// trailguard's Sids on statements it would not write.
	"own-sid-deny.json":       {merge: "invalid", errHas: `carries trailguard's Sid but is a "Deny"`, findings: []string{"!key-policy-no-encrypt", "!key-policy-denies-cloudtrail"}},
	"duplicate-own-sids.json": {merge: "denied", errHas: "statement TrailguardCloudTrailEncrypt denies", findings: []string{"!key-policy-no-describe", "!key-policy-denies-cloudtrail"}},
	// Explicit Deny statements, certain or not: never merged into.
	"notprincipal-deny-all.json":     {merge: "denied", errHas: "statement DenyAllButRoot denies", findings: []string{"!key-policy-denies-cloudtrail"}},
	"unknown-operator-deny.json":     {merge: "denied", errHas: "cannot evaluate may match", findings: []string{"!key-policy-denies-cloudtrail"}},
	"unknown-key-deny.json":          {merge: "denied", errHas: "cannot evaluate may match", findings: []string{"!key-policy-denies-cloudtrail"}},
	"ifexists-unknown-key-deny.json": {merge: "denied", errHas: "statement IfExistsDeny denies", findings: []string{"!key-policy-denies-cloudtrail"}},
	"operator-wrong-case-deny.json":  {merge: "denied", errHas: "statement CaseDeny denies kms:DescribeKey", findings: []string{"!key-policy-no-encrypt", "!key-policy-denies-cloudtrail"}},
	"condition-empty.json":           {merge: "denied", errHas: "statement EmptyCond denies kms:Decrypt", findings: []string{"!key-policy-no-encrypt", "!key-policy-no-describe", "!key-policy-denies-cloudtrail"}},
	"numbers-and-bools.json":         {merge: "denied", errHas: "statement Odd denies kms:Decrypt", findings: []string{"!key-policy-no-encrypt", "!key-policy-no-describe", "!key-policy-denies-cloudtrail"}},
	"deny-everyone-everything.json":  {merge: "denied", errHas: "statement Closed denies", findings: []string{"!key-policy-denies-cloudtrail"}},
	"unicode-sid-lookalike.json":     {merge: "denied", errHas: "TrailguardСloudTrailEncrypt denies", findings: []string{"!key-policy-no-describe", "!key-policy-denies-cloudtrail"}},
	// Valid but odd: a clear finding, and a merge that keeps every
	// statement trailguard does not own, byte for byte.
	"single-statement-object.json":             {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"no-admin.json":                            {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe", "key-policy-no-reader-decrypt"}},
	"unicode.json":                             {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"unicode-escapes.json":                     {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"lone-surrogate.json":                      {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"invalid-utf8.json":                        {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"duplicate-sids.json":                      {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"duplicate-members.json":                   {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"unknown-members.json":                     {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"unknown-operator-allow.json":              {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"unknown-key-allow.json":                   {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"unknown-key-deny-unrelated-action.json":   {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"notprincipal-deny-cloudtrail-spared.json": {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"resource-other-key.json":                  {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"version-2008.json":                        {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	"action-empty-list.json":                   {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	// Already lets CloudTrail in (too widely, but that is not
	// trailguard's call): no finding, so nothing is planned.
	"allow-everyone-everything.json": {merge: "changed", findings: []string{}},
	// An Allow with NotPrincipal is not supported by AWS and never
	// counts (reference_policies_elements_notprincipal.html).
	"notprincipal-allow.json": {merge: "changed", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
	// A statement carrying one of trailguard's Sids grants more than
	// trailguard writes there (kms:* to everyone; the key's only
	// administrator statement). Merge may refuse it (ErrInvalidPolicy, as
	// for a Deny under its Sid) or rebuild it, but never so that an
	// administrator loses access.
	"own-sid-broad.json": {merge: "changed or invalid", findings: []string{}},
	"own-sid-admin.json": {merge: "changed or invalid", findings: []string{"key-policy-no-encrypt", "key-policy-no-describe"}},
}

// hostileState is an encrypted trail "victim" in moto's account whose key
// has policy pol, with a root-only baseline key.
func hostileState(pol string) State {
	key := func(arn, pol string) *Key {
		return &Key{ARN: arn, ID: arn[strings.LastIndex(arn, "/")+1:], Account: hostileAccount, Region: "us-east-1",
			State: KeyStateEnabled, Manager: "CUSTOMER", Spec: KeySpecSymmetric, Usage: KeyUsageEncryptDecrypt, Policy: pol}
	}
	return State{
		Account: hostileAccount, Region: "us-east-1", BucketRegion: "us-east-1",
		Trail: Trail{Name: "victim", ARN: hostileTrailARN, HomeRegion: "us-east-1", S3BucketName: "victim-logs", KMSKeyID: hostileKeyARN},
		Key:   key(hostileKeyARN, pol), Baseline: key(hostileBaseARN, hostileRootOnly),
	}
}

// adminRequests are what the key's administrators do: they must be
// decided the same before and after any merge (no lock-out).
func adminRequests() []policy.Request {
	var out []policy.Request
	for _, caller := range []string{"arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:role/Auditor", "arn:aws:iam::123456789012:user/Mallory"} {
		for _, action := range []string{"kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DescribeKey"} {
			out = append(out, policy.Request{Caller: policy.Caller{ARN: caller}, Action: action, Resource: hostileKeyARN,
				Context: map[string][]string{"kms:CallerAccount": {hostileAccount}}})
		}
	}
	return out
}

// mergeClass names the class of a Merge error.
func mergeClass(err error) string {
	switch {
	case err == nil:
		return "changed"
	case errors.Is(err, ErrInvalidPolicy):
		return "invalid"
	case errors.Is(err, ErrDenied):
		return "denied"
	case errors.Is(err, ErrTooLarge):
		return "too large"
	}
	return "unclassified: " + err.Error()
}

// unmarked drops the "!" (not actionable) marks of ruleList's output.
func unmarked(rules []string) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = strings.TrimPrefix(r, "!")
	}
	return out
}

// noPanic runs f and turns a panic into a test failure naming the input.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("PANIC on %s: %v", what, r)
		}
	}()
	f()
}

// TestHostilePolicies judges every hostile policy as the key policy of an
// encrypted trail: Merge gives the expected outcome with an error that says
// why (and, when it fails, nothing to write), PolicyFindings gives the
// expected findings, a finding is actionable in place only when the merge
// succeeds, a merge keeps every foreign statement and every administrator's
// access, and nothing panics.
func TestHostilePolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(hostilePolicyDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("hostile policy corpus has %d files, want the full corpus (>= 50)", len(files))
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			tc, ok := hostilePolicyCases[name]
			if !ok {
				t.Fatalf("%s has no entry in hostilePolicyCases", name)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pol := string(b)
			st := hostileState(pol)
			g := GrantFor(*st.Key, st, Config{})

			var (
				merged   string
				changed  bool
				mergeErr error
				findings []Finding
				assessed Assessment
			)
			noPanic(t, name, func() {
				merged, changed, mergeErr = Merge(pol, g)
				findings = PolicyFindings(*st.Key, st, Config{})
				assessed = Assess(st, Config{})
			})

			got, want := ruleList(findings), tc.findings
			switch class := mergeClass(mergeErr); {
			case tc.merge == "changed or invalid" && (class == "changed" || class == "invalid"):
				got, want = unmarked(got), unmarked(want)
			case class != tc.merge:
				t.Fatalf("Merge: %s (%v), want %s", class, mergeErr, tc.merge)
			}
			if !slices.Equal(got, want) {
				t.Errorf("PolicyFindings = %v, want %v", got, want)
			}
			if mergeErr != nil {
				if merged != "" || changed {
					t.Errorf("failed Merge returned a document to write (changed=%v, %d bytes)", changed, len(merged))
				}
				if tc.errHas != "" && !strings.Contains(mergeErr.Error(), tc.errHas) {
					t.Errorf("Merge error %q does not say %q", mergeErr, tc.errHas)
				}
				// Nothing to fix on this key in place: every policy finding
				// is an alert or is left behind by the switch to the
				// baseline key.
				for _, f := range findings {
					if f.Actionable {
						t.Errorf("finding %s is actionable in place on a policy Merge refuses", f.Rule)
					}
				}
				if pol != "" && !assessed.Switch {
					t.Errorf("Assess does not switch the trail away from a key whose policy cannot be merged: %+v", assessed)
				}
				return
			}
			if !changed || merged == pol {
				t.Fatalf("Merge reported no change on a policy without trailguard's statements")
			}
			if len(merged) > policy.MaxSize {
				t.Errorf("merged policy is %d bytes", len(merged))
			}
			// The same checks with an extra configured reader, so that every
			// one of trailguard's statements is written.
			for _, cfg := range []Config{{}, {Readers: []string{hostileReader}}} {
				g := GrantFor(*st.Key, st, cfg)
				merged, _, err := Merge(pol, g)
				if errors.Is(err, ErrInvalidPolicy) && strings.Contains(err.Error(), "trailguard does not edit it") {
					// A statement under trailguard's Sid that grants more
					// than trailguard writes: refusing is the safe answer
					// (rebuilding it would take that access away).
					continue
				}
				if err != nil {
					t.Errorf("readers %v: Merge: %v", cfg.Readers, err)
					continue
				}
				checkForeignKept(t, pol, merged)
				checkGrants(t, merged, g)
				od, md := mustParse(t, pol), mustParse(t, merged)
				for _, r := range adminRequests() {
					if before, after := od.Evaluate(r), md.Evaluate(r); before.Effect != after.Effect {
						t.Errorf("readers %v: %s by %s: %v before the merge, %v after (lock-out)", cfg.Readers, r.Action, r.Caller.ARN, before.Effect, after.Effect)
					}
				}
				again, changed2, err := Merge(merged, g)
				if err != nil || changed2 || again != merged {
					t.Errorf("readers %v: Merge twice != Merge once: changed=%v err=%v", cfg.Readers, changed2, err)
				}
				after := hostileState(merged)
				for _, f := range PolicyFindings(*after.Key, after, cfg) {
					t.Errorf("readers %v: after the merge: finding %s: %s", cfg.Readers, f.Rule, f.Detail)
				}
			}
		})
	}
	for name := range hostilePolicyCases {
		if !seen[name] {
			t.Errorf("hostilePolicyCases has %s, which is not in %s", name, hostilePolicyDir)
		}
	}
}

// TestHostilePoliciesMergeInvariants merges every grant of the property
// tests into every hostile policy and checks Merge's invariants (see
// checkMergeInvariants).
func TestHostilePoliciesMergeInvariants(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(hostilePolicyDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range randomGrants() {
			noPanic(t, fmt.Sprintf("%s with grant %d", filepath.Base(path), i), func() {
				outcomes[checkMergeInvariants(t, string(b), g)]++
			})
		}
	}
	for _, want := range []string{"changed", "denied", "too large", "invalid"} {
		if outcomes[want] == 0 {
			t.Errorf("no %q outcome in %v", want, outcomes)
		}
	}
	t.Logf("%d merges: %v", len(files)*len(randomGrants()), outcomes)
}

// FuzzMergeHostile fuzzes Merge from the hostile policy corpus (FuzzMerge
// starts from the well-formed fixtures), with FuzzMerge's invariants.
// Plain go test runs every seed once.
func FuzzMergeHostile(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(hostilePolicyDir, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for i, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), uint8(i))
	}
	grants := randomGrants()
	f.Fuzz(func(t *testing.T, pol string, sel uint8) {
		checkMergeInvariants(t, pol, grants[int(sel)%len(grants)])
	})
}
