package plan

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/policy"
)

// adminActions are what a key's administrators and users do with it; a
// planned policy must decide each of them as the policy it replaces does
// when it allowed it (no lock-out) or denied it (no Deny lost).
var adminActions = []string{
	"kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
	"kms:DisableKey", "kms:EnableKey", "kms:CreateGrant", "kms:RevokeGrant", "kms:TagResource",
	"kms:UpdateKeyDescription", "kms:EnableKeyRotation", "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom",
}

// adminCallers are the owner account's root and some roles, a foreign
// account's root, and every IAM principal the old policy names.
func adminCallers(partition, account, oldPolicy string) []string {
	callers := []string{
		"arn:" + partition + ":iam::" + account + ":root",
		"arn:" + partition + ":iam::" + account + ":role/Admin",
		"arn:" + partition + ":iam::" + account + ":role/KeyAdmin",
		"arn:" + partition + ":iam::" + account + ":user/Someone",
		"arn:" + partition + ":iam::" + foreignAcc + ":root",
	}
	d, err := policy.Parse([]byte(oldPolicy))
	if err != nil {
		return callers
	}
	for _, st := range d.Statements {
		for _, p := range []*policy.Principal{st.Principal, st.NotPrincipal} {
			if p == nil {
				continue
			}
			for typ, vals := range p.Values {
				if !strings.EqualFold(typ, "AWS") {
					continue
				}
				for _, v := range vals {
					if strings.HasPrefix(v, "arn:") && !slices.Contains(callers, v) {
						callers = append(callers, v)
					}
				}
			}
		}
	}
	return callers
}

// lockoutRequests are the requests adminCallers make for adminActions on
// keyARN, with and without a CloudTrail encryption context.
func lockoutRequests(partition, account, keyARN, trailARN, oldPolicy string) []policy.Request {
	var out []policy.Request
	for _, caller := range adminCallers(partition, account, oldPolicy) {
		callerAccount := strings.Split(caller, ":")[4]
		for _, action := range adminActions {
			ctx := map[string][]string{"kms:CallerAccount": {callerAccount}}
			out = append(out, policy.Request{Caller: policy.Caller{ARN: caller}, Action: action, Resource: keyARN, Context: ctx})
			if action == "kms:Decrypt" {
				ctx := map[string][]string{"kms:CallerAccount": {callerAccount}, "kms:EncryptionContext:aws:cloudtrail:arn": {trailARN}}
				out = append(out, policy.Request{Caller: policy.Caller{ARN: caller}, Action: action, Resource: keyARN, Context: ctx})
			}
		}
	}
	return out
}

// lockoutStats counts what checkNoLockout looked at.
type lockoutStats struct {
	plans, puts, requests int
}

// checkNoLockout fails unless every action of p is one of the plan kinds
// and every planned PutKeyPolicy keeps every administrator's access and
// every Deny of the policy it replaces.
func checkNoLockout(t *testing.T, label string, s compliance.State, p Plan, st *lockoutStats) {
	t.Helper()
	st.plans++
	for _, a := range p.Actions {
		if !slices.Contains(Kinds(), a.Kind) {
			t.Fatalf("%s: action of unknown kind %q", label, a.Kind)
		}
		if a.Kind != PutKeyPolicy {
			continue
		}
		var old *compliance.Key
		for _, k := range []*compliance.Key{s.Key, s.Baseline} {
			if k != nil {
				if arn, _ := k.Where(s.BucketRegion); arn == a.Target {
					old = k
				}
			}
		}
		if old == nil {
			t.Fatalf("%s: PutKeyPolicy on %s, which is neither the trail's key nor the baseline", label, a.Target)
		}
		od, err := policy.Parse([]byte(old.Policy))
		if err != nil {
			t.Fatalf("%s: PutKeyPolicy planned over a policy that does not parse (%v)", label, err)
		}
		nd, err := policy.Parse([]byte(a.Policy))
		if err != nil {
			t.Fatalf("%s: planned policy does not parse: %v", label, err)
		}
		st.puts++
		partition := strings.Split(a.Target, ":")[1]
		for _, r := range lockoutRequests(partition, old.Account, a.Target, s.Trail.ARN, old.Policy) {
			st.requests++
			before, after := od.Evaluate(r), nd.Evaluate(r)
			if before.Effect == policy.Allowed && after.Effect != policy.Allowed {
				t.Errorf("%s: LOCK-OUT: %s by %s is allowed by the current policy of %s (statement %s) and %v by the planned one\ncurrent: %s\nplanned: %s",
					label, r.Action, r.Caller.ARN, a.Target, before.Statement, after.Effect, old.Policy, a.Policy)
				return
			}
			if before.Effect == policy.ExplicitDeny && after.Effect != policy.ExplicitDeny {
				t.Errorf("%s: the planned policy of %s lifts the Deny of %s by %s (statement %s)", label, a.Target, r.Action, r.Caller.ARN, before.Statement)
				return
			}
		}
	}
}

// TestNoPlanLocksOutAdministrators plans many generated states (the
// property tests' generator, plus the hostile policy corpus on the trail's
// key and on the baseline key) and checks that no planned key policy takes
// access away from anyone who had it or lifts any Deny.
func TestNoPlanLocksOutAdministrators(t *testing.T) {
	var st lockoutStats
	r := rand.New(rand.NewSource(7007))
	n := 1500
	if testing.Short() {
		n = 400
	}
	for i := range n {
		s, c := randomState(r, i)
		checkNoLockout(t, fmt.Sprintf("generated state %d", i), s, Make(s, c), &st)
	}

	files, err := filepath.Glob(filepath.Join("..", "policy", "testdata", "hostile", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("hostile policy corpus: %v (%d files)", err, len(files))
	}
	rootOnly := `{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}`
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []compliance.Config{{}, {Readers: []string{"arn:aws:iam::123456789012:role/LogReader"}}} {
			onKey := hostileState(string(b), rootOnly)
			checkNoLockout(t, filepath.Base(path)+" on the trail's key", onKey, Make(onKey, c), &st)
			onBaseline := hostileState(rootOnly, string(b))
			onBaseline.Trail.KMSKeyID, onBaseline.Key = "", nil
			checkNoLockout(t, filepath.Base(path)+" on the baseline key", onBaseline, Make(onBaseline, c), &st)
		}
	}
	if st.puts < 200 || st.requests < 10000 {
		t.Errorf("too little checked: %+v", st)
	}
	t.Logf("checked %d plans, %d planned key policies, %d requests", st.plans, st.puts, st.requests)
}

// hostileState is an encrypted trail of moto's account whose key has
// policy keyPolicy, with a baseline key whose policy is baselinePolicy.
func hostileState(keyPolicy, baselinePolicy string) compliance.State {
	k := newKey("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "us-east-1", keyPolicy)
	b := newKey("arn:aws:kms:us-east-1:123456789012:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab", "us-east-1", baselinePolicy)
	return compliance.State{
		Account: "123456789012", Region: "us-east-1", BucketRegion: "us-east-1",
		Trail: compliance.Trail{Name: "victim", ARN: "arn:aws:cloudtrail:us-east-1:123456789012:trail/victim",
			HomeRegion: "us-east-1", S3BucketName: "victim-logs", KMSKeyID: k.ARN},
		Key: k, Baseline: b,
	}
}

// TestPlanKindsCannotRemoveAccess checks, by the types, that a plan cannot
// express anything that removes access or bypasses KMS's lock-out check:
// the kinds are exactly the six additive ones, their IAM permissions hold
// no destructive or wildcard action, and no field anywhere in Action could
// carry BypassPolicyLockoutSafetyCheck.
func TestPlanKindsCannotRemoveAccess(t *testing.T) {
	// StartLogging (issue 11) was reviewed: it touches no key and only
	// turns a trail's logging on, never off.
	if got, want := Kinds(), []Kind{CancelKeyDeletion, EnableKey, PutKeyPolicy, EnableKeyRotation, UpdateTrail, StartLogging}; !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v: a new kind needs its own lock-out review", got, want)
	}
	destructive := []string{"kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DeleteAlias", "kms:RevokeGrant", "kms:RetireGrant",
		"kms:DisableKeyRotation", "kms:DeleteImportedKeyMaterial", "kms:UpdateAlias", "cloudtrail:DeleteTrail", "cloudtrail:StopLogging", "iam:CreateServiceLinkedRole"}
	for _, k := range Kinds() {
		for _, p := range k.Permissions() {
			if slices.Contains(destructive, p) || strings.Contains(p, "*") {
				t.Errorf("%s needs %s", k, p)
			}
		}
	}
	var walk func(path string, typ reflect.Type, seen map[reflect.Type]bool)
	walk = func(path string, typ reflect.Type, seen map[reflect.Type]bool) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if strings.Contains(strings.ToLower(f.Name), "bypass") || strings.Contains(strings.ToLower(string(f.Tag)), "bypass") {
				t.Errorf("%s.%s could carry a lock-out bypass", path, f.Name)
			}
			walk(path+"."+f.Name, f.Type, seen)
		}
	}
	walk("Action", reflect.TypeOf(Action{}), map[reflect.Type]bool{})
}

// bypassUses returns the places in the Go source src where the identifier
// BypassPolicyLockoutSafetyCheck is used (a field set, read or passed).
func bypassUses(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == "BypassPolicyLockoutSafetyCheck" {
			out = append(out, fset.Position(id.Pos()).String())
		}
		return true
	})
	return out, nil
}

// TestNoCodePassesLockoutBypass parses every non-test Go file of the module
// and fails on any use of BypassPolicyLockoutSafetyCheck: trailguard never
// passes it, so KMS always refuses a policy that would lock out the caller.
// (The moto tests also check every PutKeyPolicy request on the wire.)
func TestNoCodePassesLockoutBypass(t *testing.T) {
	// The check itself can fail.
	uses, err := bypassUses("control.go", []byte("package p\nfunc f() { _ = kms.PutKeyPolicyInput{BypassPolicyLockoutSafetyCheck: true} }\n"))
	if err != nil || len(uses) != 1 {
		t.Fatalf("control: uses %v, err %v", uses, err)
	}
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "cdk.out", "testdata", ".git", "build", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		uses, err := bypassUses(path, src)
		if err != nil {
			return err
		}
		checked++
		for _, u := range uses {
			t.Errorf("%s uses BypassPolicyLockoutSafetyCheck: trailguard must never pass it", u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d Go files: the walk missed the module", checked)
	}
	t.Logf("checked %d Go files", checked)
}
