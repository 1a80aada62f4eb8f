package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
)

// oneErrorLine checks that stderr is exactly one "trailguard: " line
// containing want, without a stack trace.
func oneErrorLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "trailguard: ") || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with \"trailguard: \"", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	for _, bad := range []string{"goroutine", "panic", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr has %q: %q", bad, stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := cli(t, isolated(t), "--help")
	if code != exitOK || stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, stderr)
	}
	for _, cmd := range []string{"scan", "fix", "policy", "history", "undo", "demo", "--role-name"} {
		if !strings.Contains(stdout, cmd) {
			t.Errorf("--help does not mention %s:\n%s", cmd, stdout)
		}
	}
}

// TestUsageErrors covers errors found before any AWS call: exit 2, one
// line, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	e := isolated(t).with("AWS_REGION", "us-east-1", "AWS_ACCESS_KEY_ID", "k", "AWS_SECRET_ACCESS_KEY", "s",
		"AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	tests := []struct {
		name string
		env  env
		args []string
		want string
	}{
		{"unknown flag", e, []string{"scan", "--bogus"}, "unknown flag: --bogus"},
		{"unknown command", e, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"bad output", e, []string{"scan", "--output", "yaml"}, `invalid --output "yaml"`},
		{"bad region", e, []string{"fix", "--region", "mars-1"}, `invalid --region "mars-1"`},
		{"region and all-regions", e, []string{"scan", "--region", "us-east-1", "--all-regions"}, "none of the others can be"},
		{"policy without trail", e, []string{"policy"}, `"trail" not set`},
		{"policy with a key ARN", e, []string{"policy", "--trail", "arn:aws:kms:us-east-1:123456789012:key/abc"}, "invalid --trail"},
		{"extra argument", e, []string{"scan", "us-east-1"}, "unknown command"},
		{"bad TRAILGUARD_MODE", e.with("TRAILGUARD_MODE", "sometimes"), []string{"scan"}, "TRAILGUARD_MODE"},
		{"bad role name", e, []string{"scan", "--role-name", "no/slashes"}, "invalid --role-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.env, tt.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			oneErrorLine(t, stderr, tt.want)
		})
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	t.Parallel()
	e := isolated(t).with("AWS_REGION", "us-east-1", "AWS_ACCESS_KEY_ID", "k", "AWS_SECRET_ACCESS_KEY", "s",
		"AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	for _, args := range [][]string{{"scan"}, {"fix", "--apply"}, {"policy", "--trail", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t-1"}} {
		code, stdout, stderr := cli(t, e, args...)
		if code != exitError || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want exit 2 and no output", args, code, stdout)
		}
		oneErrorLine(t, stderr, "cannot reach AWS endpoint http://127.0.0.1:1: connection refused (check AWS_ENDPOINT_URL / network)")
	}
}

// TestMissingCredentials blanks the process's AWS variables too, since the
// SDK also reads them: not parallel.
func TestMissingCredentials(t *testing.T) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	e := isolated(t).with("AWS_REGION", "us-east-1", "AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	code, stdout, stderr := cli(t, e, "scan")
	if code != exitError || stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 2 and no output", code, stdout)
	}
	oneErrorLine(t, stderr, "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
}

func TestScanCompliant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.baseline("us-east-1")
	f.compliantTrail("good-trail")
	code, stdout, stderr := cli(t, f.env, "scan")
	if code != exitOK {
		t.Fatalf("scan: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	for _, want := range []string{"good-trail", "us-east-1", "compliant", "1 trail: 1 compliant, 0 with findings"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table does not show %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Errorf("colour codes written to a buffer that is not a terminal:\n%q", stdout)
	}
}

func TestScanNoTrails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, stdout, _ := cli(t, f.env, "scan")
	if code != exitOK || !strings.Contains(stdout, "no trails found") {
		t.Errorf("scan of an empty account: exit %d, stdout %q; want 0 and \"no trails found\"", code, stdout)
	}
	code, stdout, _ = cli(t, f.env, "scan", "-o", "json")
	if code != exitOK || strings.TrimSpace(stdout) != `{
  "results": []
}` {
		t.Errorf("scan -o json of an empty account: exit %d, stdout %q", code, stdout)
	}
}

// TestScanFindings checks exit 1, the table, and that scan writes nothing.
func TestScanFindings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := f.baseline("us-east-1")
	basePolicy := f.policy("us-east-1", base)
	bare := f.trail("us-east-1", "bare-trail", "us-east-1", "")
	f.compliantTrail("good-trail")

	code, stdout, stderr := cli(t, f.env, "scan")
	if code != exitFindings {
		t.Fatalf("scan: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	for _, want := range []string{"bare-trail", "NON-COMPLIANT", "trail-not-encrypted", "good-trail", "2 trails: 1 compliant, 1 with findings"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table does not show %q:\n%s", want, stdout)
		}
	}
	if got := f.trailKey(bare); got != "" {
		t.Errorf("scan changed the trail: KmsKeyId %q", got)
	}
	if got := f.policy("us-east-1", base); got != basePolicy {
		t.Errorf("scan changed the baseline key policy:\n%s", got)
	}
}

// jsonReport is the handlers' output shape.
type jsonReport struct {
	Results []struct {
		Trail    string `json:"trail"`
		Account  string `json:"account"`
		Region   string `json:"region"`
		Findings []struct {
			Rule       string `json:"rule"`
			Detail     string `json:"detail"`
			Actionable bool   `json:"actionable"`
		} `json:"findings"`
		Actions []struct {
			Action  string `json:"action"`
			Target  string `json:"target"`
			Outcome string `json:"outcome"`
		} `json:"actions"`
	} `json:"results"`
}

// summaryRow is a result without free text: trail, account, Region, rules
// and actions.
type summaryRow struct {
	Trail, Account, Region string
	Rules                  []string
	Actions                []string
}

func summarize(t *testing.T, stdout string) []summaryRow {
	t.Helper()
	var rep jsonReport
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if _, ok := raw["results"]; !ok {
		t.Fatalf("output has no \"results\": %s", stdout)
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("decode output: %v", err)
	}
	var out []summaryRow
	for _, r := range rep.Results {
		s := summaryRow{Trail: r.Trail, Account: r.Account, Region: r.Region, Rules: []string{}, Actions: []string{}}
		for _, f := range r.Findings {
			if f.Detail == "" {
				t.Errorf("%s: finding %s without detail", r.Trail, f.Rule)
			}
			s.Rules = append(s.Rules, f.Rule)
		}
		for _, a := range r.Actions {
			s.Actions = append(s.Actions, a.Action+" "+a.Outcome)
		}
		out = append(out, s)
	}
	return out
}

// TestScanJSON checks the JSON shape, its order (account, Region, trail)
// and that it is stable from run to run.
func TestScanJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.baseline("us-east-1")
	f.baseline("eu-west-1")
	zeta := f.trail("us-east-1", "zeta-trail", "us-east-1", "")
	alpha, _ := f.compliantTrail("alpha-trail")
	gap := f.trail("us-east-1", "gap-trail", "us-east-1", f.key("us-east-1", ""))
	west := f.trail("eu-west-1", "west-trail", "eu-west-1", "")

	code, stdout, stderr := cli(t, f.env, "scan", "--region", "us-east-1", "--region", "eu-west-1", "--output", "json")
	if code != exitFindings {
		t.Fatalf("scan: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := []summaryRow{
		{Trail: west, Account: account, Region: "eu-west-1", Rules: []string{"trail-not-encrypted"}, Actions: []string{"PutKeyPolicy planned", "UpdateTrail planned"}},
		{Trail: alpha, Account: account, Region: "us-east-1", Rules: []string{}, Actions: []string{}},
		{Trail: gap, Account: account, Region: "us-east-1", Rules: []string{"key-policy-no-encrypt", "key-policy-no-describe"}, Actions: []string{"PutKeyPolicy planned"}},
		{Trail: zeta, Account: account, Region: "us-east-1", Rules: []string{"trail-not-encrypted"}, Actions: []string{"PutKeyPolicy planned", "UpdateTrail planned"}},
	}
	if diff := cmp.Diff(want, summarize(t, stdout)); diff != "" {
		t.Errorf("scan -o json (-want +got):\n%s\n%s", diff, stdout)
	}
	_, again, _ := cli(t, f.env, "scan", "--region", "eu-west-1", "--region", "us-east-1", "--output", "json")
	if again != stdout {
		t.Errorf("second scan differs:\n%s\nfirst:\n%s", again, stdout)
	}
}

// TestScanRegions checks which Regions a scan covers.
func TestScanRegions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.baseline("us-east-1")
	f.baseline("ap-southeast-2")
	f.trail("ap-southeast-2", "far-trail", "ap-southeast-2", "")

	code, stdout, _ := cli(t, f.env, "scan")
	if code != exitOK || strings.Contains(stdout, "far-trail") {
		t.Errorf("scan of us-east-1 only: exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = cli(t, f.env, "scan", "--all-regions")
	if code != exitFindings || !strings.Contains(stdout, "far-trail") {
		t.Errorf("scan --all-regions: exit %d, want 1 and far-trail:\n%s", code, stdout)
	}
	code, stdout, _ = cli(t, f.env.with("TRAILGUARD_REGIONS", "ap-southeast-2"), "scan")
	if code != exitFindings || !strings.Contains(stdout, "far-trail") {
		t.Errorf("scan with TRAILGUARD_REGIONS: exit %d, want 1 and far-trail:\n%s", code, stdout)
	}
}

// TestFix checks that fix plans without writing, and fix --apply fixes.
func TestFix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := f.baseline("us-east-1")
	basePolicy := f.policy("us-east-1", base)
	bare := f.trail("us-east-1", "bare-trail", "us-east-1", "")
	gapKey := f.key("us-east-1", "")
	gapPolicy := f.policy("us-east-1", gapKey)
	gap := f.trail("us-east-1", "gap-trail", "us-east-1", gapKey)
	good, goodKey := f.compliantTrail("good-trail")
	goodPolicy := f.policy("us-east-1", goodKey)

	code, stdout, stderr := cli(t, f.env, "fix")
	if code != exitFindings {
		t.Fatalf("fix: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"fix planned", "PutKeyPolicy", "UpdateTrail", "planned", "run `trailguard fix --apply`"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("fix output does not show %q:\n%s", want, stdout)
		}
	}
	if f.trailKey(bare) != "" || f.policy("us-east-1", base) != basePolicy || f.policy("us-east-1", gapKey) != gapPolicy {
		t.Fatalf("fix without --apply wrote something")
	}

	code, stdout, stderr = cli(t, f.env, "fix", "--apply", "-o", "json")
	if code != exitOK {
		t.Fatalf("fix --apply: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := []summaryRow{
		{Trail: bare, Account: account, Region: "us-east-1", Rules: []string{"trail-not-encrypted"}, Actions: []string{"PutKeyPolicy updated", "UpdateTrail updated"}},
		{Trail: gap, Account: account, Region: "us-east-1", Rules: []string{"key-policy-no-encrypt", "key-policy-no-describe"}, Actions: []string{"PutKeyPolicy updated"}},
		{Trail: good, Account: account, Region: "us-east-1", Rules: []string{}, Actions: []string{}},
	}
	if diff := cmp.Diff(want, summarize(t, stdout)); diff != "" {
		t.Errorf("fix --apply -o json (-want +got):\n%s", diff)
	}
	if got := f.trailKey(bare); got != base {
		t.Errorf("after fix --apply, bare-trail uses key %q, want the baseline %s", got, base)
	}
	if f.policy("us-east-1", gapKey) == gapPolicy {
		t.Errorf("fix --apply did not change the policy of gap-trail's key")
	}
	if f.trailKey(good) != goodKey || f.policy("us-east-1", goodKey) != goodPolicy {
		t.Errorf("fix --apply touched the compliant trail")
	}

	code, stdout, _ = cli(t, f.env, "scan")
	if code != exitOK {
		t.Errorf("scan after fix --apply: exit %d, want 0\n%s", code, stdout)
	}
	code, stdout, _ = cli(t, f.env, "fix", "--apply")
	if code != exitOK || strings.Contains(stdout, "updated") {
		t.Errorf("second fix --apply: exit %d, want 0 and no update:\n%s", code, stdout)
	}
}

// TestPolicy checks the diff of a key whose policy lacks CloudTrail's
// statements, "no change needed" for a compliant trail, and that policy
// writes nothing.
func TestPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.baseline("us-east-1")
	gapKey := f.key("us-east-1", "")
	gapPolicy := f.policy("us-east-1", gapKey)
	gap := f.trail("us-east-1", "gap-trail", "us-east-1", gapKey)
	good, _ := f.compliantTrail("good-trail")

	code, stdout, stderr := cli(t, f.env, "policy", "--trail", gap)
	if code != exitFindings {
		t.Fatalf("policy: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "--- key policy of "+gapKey+" (current)") || !strings.Contains(stdout, "+++ key policy of "+gapKey) {
		t.Errorf("policy output has no unified diff header for %s:\n%s", gapKey, stdout)
	}
	var added, removed []string
	for _, l := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		case strings.HasPrefix(l, "+"):
			added = append(added, l)
		case strings.HasPrefix(l, "-"):
			removed = append(removed, l)
		}
	}
	joined := strings.Join(added, "\n")
	for _, want := range []string{`"TrailguardCloudTrailEncrypt"`, `"TrailguardCloudTrailDescribe"`, `"cloudtrail.amazonaws.com"`, gap} {
		if !strings.Contains(joined, want) {
			t.Errorf("added lines do not contain %s:\n%s", want, joined)
		}
	}
	if strings.Contains(strings.Join(removed, "\n"), "Enable IAM User Permissions") {
		t.Errorf("the diff removes a statement trailguard does not own:\n%s", stdout)
	}
	if got := f.policy("us-east-1", gapKey); got != gapPolicy {
		t.Errorf("policy changed the key policy:\n%s", got)
	}

	code, stdout, stderr = cli(t, f.env, "policy", "--trail", good)
	if code != exitOK || !strings.Contains(stdout, "no change needed") {
		t.Errorf("policy of a compliant trail: exit %d, want 0 and \"no change needed\"\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, _, stderr = cli(t, f.env, "policy", "--trail", "arn:aws:cloudtrail:us-east-1:"+account+":trail/no-such-trail")
	if code != exitError {
		t.Errorf("policy of a missing trail: exit %d, want 2", code)
	}
	oneErrorLine(t, stderr, "no-such-trail")
}

func TestDemoCommand(t *testing.T) {
	t.Parallel()
	if _, err := motoserver.Find(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: failing instead of skipping)", err)
		}
		t.Skipf("SKIP: %v", err)
	}
	code, stdout, stderr := cli(t, isolated(t), "demo")
	if code != exitOK {
		t.Fatalf("demo: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "RESULT: PASS") {
		t.Errorf("demo output has no RESULT: PASS:\n%s", stdout)
	}
}

// TestDemoWithoutMoto hides moto_server: exit 2 with what to install. It
// changes PATH: not parallel.
func TestDemoWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, _, stderr := cli(t, isolated(t), "demo")
	if code != exitError {
		t.Errorf("demo without moto_server: exit %d, want 2", code)
	}
	oneErrorLine(t, stderr, `pip install "moto[server]==5.2.1"`)
}
