package policydiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trailguard/trailguard/pkg/policy"
)

// simDir holds the Node side: package.json, package-lock.json (the pinned
// @cloud-copilot/iam-simulate) and run.mjs. It is under testdata, so the go
// tool ignores it; node_modules there is gitignored.
var simDir = filepath.Join("testdata", "iamsim")

// Verdicts compared. "Uncertain" is trailguard's undecided verdict.
const (
	vAllowed      = "Allowed"
	vExplicitDeny = "ExplicitDeny"
	vImplicitDeny = "ImplicitDeny"
	vUncertain    = "Uncertain"
)

// trailguardVerdict is Evaluate's verdict: Uncertain whenever the decision
// rests on a statement trailguard could not decide (an uncertain Deny, or
// an ImplicitDeny because an undecided Allow was not counted).
func trailguardVerdict(c Case) (string, policy.Decision, error) {
	d, err := policy.Parse(c.Policy)
	if err != nil {
		return "", policy.Decision{}, fmt.Errorf("parse generated policy %d: %w", c.ID, err)
	}
	dec := d.Evaluate(c.Request)
	if dec.Uncertain {
		return vUncertain, dec, nil
	}
	return dec.Effect.String(), dec, nil
}

// simulatorVerdict maps the simulator's verdict on the key policy alone
// (its resource-policy analysis) to trailguard's terms.
//
// trailguard evaluates the key policy alone: an Allow naming an account
// (id or root ARN) delegates to that account's IAM policies, which it does
// not follow, so it counts only for the root caller that stands for the
// account (see policy.Evaluate). The simulator reports such a grant as
// "AllowedForAccount" (the key policy lets the account's IAM decide). So
// AllowedForAccount maps to Allowed for the account's root caller and to
// ImplicitDeny for any other caller (the key policy alone does not allow
// it). "DeniedForAccount" (a Deny naming the account) is an explicit deny.
func simulatorVerdict(c Case, resource string) (string, error) {
	switch resource {
	case "Allowed":
		return vAllowed, nil
	case "ExplicitlyDenied", "DeniedForAccount":
		return vExplicitDeny, nil
	case "ImplicitlyDenied", "NotApplicable":
		return vImplicitDeny, nil
	case "AllowedForAccount":
		if strings.HasSuffix(c.Request.Caller.ARN, ":root") {
			return vAllowed, nil
		}
		return vImplicitDeny, nil
	}
	return "", fmt.Errorf("case %d: unknown simulator verdict %q", c.ID, resource)
}

// simCase is one case as run.mjs reads it.
type simCase struct {
	ID              int                 `json:"id"`
	Policy          json.RawMessage     `json:"policy"`
	Principal       string              `json:"principal"`
	Action          string              `json:"action"`
	Resource        string              `json:"resource"`
	ResourceAccount string              `json:"resourceAccount"`
	Context         map[string][]string `json:"context"`
}

type simVerdict struct {
	ID       int      `json:"id"`
	Overall  string   `json:"overall"`
	Resource string   `json:"resource"`
	Readded  []string `json:"readded"`
	Error    string   `json:"error"`
}

var npmOnce sync.Once

// requireSimulator returns the node binary with the simulator installed in
// simDir (npm ci on first use), or skips (fails under CI=true) when Node
// or npm is missing.
func requireSimulator(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err != nil || err2 != nil {
		msg := "differential test needs Node.js and npm on PATH (node: " + errText(err) + ", npm: " + errText(err2) + "); install them with: apt-get install -y nodejs npm"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var installErr error
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(simDir, "node_modules", "@cloud-copilot", "iam-simulate", "package.json")); err == nil {
			return
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = simDir
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("npm ci in %s: %w\n%s", simDir, err, out)
		}
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
	return node
}

func errText(err error) string {
	if err != nil {
		return "missing"
	}
	return "found"
}

// runSimulator runs all cases through one node process.
func runSimulator(t *testing.T, node string, cases []Case) []simVerdict {
	t.Helper()
	in := make([]simCase, len(cases))
	for i, c := range cases {
		in[i] = simCase{ID: c.ID, Policy: c.Policy, Principal: c.Principal, Action: c.Request.Action,
			Resource: c.Request.Resource, ResourceAccount: KeyAccount, Context: c.Request.Context}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "run.mjs")
	cmd.Dir = simDir
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run simulator: %v\n%s", err, stderr.String())
	}
	var verdicts []simVerdict
	if err := json.Unmarshal(out, &verdicts); err != nil {
		t.Fatalf("simulator output: %v", err)
	}
	if len(verdicts) != len(cases) {
		t.Fatalf("simulator returned %d verdicts for %d cases", len(verdicts), len(cases))
	}
	return verdicts
}

// AllowEntry is one accepted class of disagreement (testdata/allowlist.json).
// A disagreement matches when the case has every feature listed and the
// two verdicts are the ones named.
type AllowEntry struct {
	Class      string   `json:"class"`
	Features   []string `json:"features"`
	Trailguard string   `json:"trailguard"`
	Simulator  string   `json:"simulator"`
	Reason     string   `json:"reason"`
	Doc        string   `json:"doc"`
}

func (e AllowEntry) matches(c Case, tg, sim string) bool {
	if e.Trailguard != tg || e.Simulator != sim {
		return false
	}
	for _, f := range e.Features {
		if !slices.Contains(c.Features, f) {
			return false
		}
	}
	return true
}

func loadAllowlist(t *testing.T) []AllowEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "allowlist.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list []AllowEntry
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("allowlist.json: %v", err)
	}
	for _, e := range list {
		if e.Class == "" || len(e.Features) == 0 || e.Reason == "" || !strings.HasPrefix(e.Doc, "https://docs.aws.amazon.com/") {
			t.Fatalf("allowlist entry %+v: needs class, features, reason and an AWS documentation link", e)
		}
	}
	return list
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestDifferential compares trailguard's verdicts with the simulator's on
// generated cases. DIFF_CASES (default 2000), DIFF_SEED (default 1) and
// DIFF_PROFILE ("default" or "alt") choose the corpus; `make diff-large`
// runs bigger ones.
func TestDifferential(t *testing.T) {
	node := requireSimulator(t)
	n := envInt(t, "DIFF_CASES", 2000)
	seed := envInt(t, "DIFF_SEED", 1)
	profName := os.Getenv("DIFF_PROFILE")
	if profName == "" {
		profName = "default"
	}
	prof, ok := Profiles[profName]
	if !ok {
		t.Fatalf("DIFF_PROFILE=%q: want one of default, alt", profName)
	}
	allow := loadAllowlist(t)
	cases := Generate(uint64(seed), n, prof)
	verdicts := runSimulator(t, node, cases)

	var (
		decided, agree, uncertain, simErrors, readded int
		allowlisted                                   = map[string]int{}
		failures                                      []string
		pairs                                         = map[string]int{}
		byVerdict, byReason                           = map[string]int{}, map[string]int{}
	)
	for i, c := range cases {
		tg, dec, err := trailguardVerdict(c)
		if err != nil {
			t.Fatal(err)
		}
		v := verdicts[i]
		if v.ID != c.ID {
			t.Fatalf("verdict %d is for case %d", i, v.ID)
		}
		if v.Error != "" {
			simErrors++
			if len(failures) < 5 {
				t.Logf("simulator rejected case %d: %.300s\npolicy: %s", c.ID, v.Error, c.Policy)
			}
			continue
		}
		if len(v.Readded) > 0 {
			readded++
		}
		sim, err := simulatorVerdict(c, v.Resource)
		if err != nil {
			t.Fatal(err)
		}
		if tg == vUncertain {
			uncertain++
			byReason[reasonClass(dec.Reason)+" -> simulator "+sim]++
			continue
		}
		decided++
		byVerdict[tg]++
		if tg == sim {
			agree++
			continue
		}
		pairs[tg+" vs "+sim]++
		matched := ""
		for _, e := range allow {
			if e.matches(c, tg, sim) {
				matched = e.Class
				break
			}
		}
		if matched != "" {
			allowlisted[matched]++
			continue
		}
		if len(failures) < 15 {
			ctx, _ := json.Marshal(c.Request.Context)
			failures = append(failures, fmt.Sprintf("case %d: trailguard %s (%s), simulator %s (resource analysis %q)\n  caller %s action %s context %s\n  features %v\n  policy %s",
				c.ID, tg, dec.Statement, sim, v.Resource, c.Principal, c.Request.Action, ctx, c.Features, c.Policy))
		} else {
			failures = append(failures, "")
		}
	}
	total := len(cases)
	disagree := decided - agree
	nAllow := 0
	for _, k := range allowlisted {
		nAllow += k
	}
	t.Logf("profile %s seed %d: %d cases; simulator rejected %d; encryption-context keys passed past the simulator's filter in %d; trailguard uncertain %d (%.1f%% of evaluated)",
		prof.Name, seed, total, simErrors, readded, uncertain, pct(uncertain, total-simErrors))
	t.Logf("decided %d: agree %d (%.2f%%), disagree %d (allowlisted %d %v, not allowlisted %d)",
		decided, agree, pct(agree, decided), disagree, nAllow, allowlisted, len(failures))
	t.Logf("decided verdicts: %v", byVerdict)
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		t.Logf("uncertain: %5d  %s", byReason[r], r)
	}
	if len(pairs) > 0 {
		t.Logf("disagreements by verdict pair: %v", pairs)
	}
	for _, f := range failures {
		if f != "" {
			t.Error(f)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d disagreements match no allowlist entry (testdata/allowlist.json)", len(failures))
	}
	if simErrors*20 > total {
		t.Errorf("the simulator rejected %d of %d cases (over 5%%): the generator or the request mapping is wrong", simErrors, total)
	}
	if decided == 0 || agree*100 < decided*99 {
		t.Errorf("agreement on decided cases %.2f%% (%d/%d), want at least 99%%", pct(agree, decided), agree, decided)
	}
}

// reasonClass shortens an uncertainty reason to its kind (the condition
// reasons name the operator and key; keep what follows them).
func reasonClass(r string) string {
	if i := strings.Index(r, ": "); i >= 0 && strings.HasPrefix(r, "condition ") {
		r = r[i+2:]
	}
	if len(r) > 60 {
		r = r[:60]
	}
	return r
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// TestGenerateDeterministic: the corpus is a function of seed and profile.
func TestGenerateDeterministic(t *testing.T) {
	for name, p := range Profiles {
		a, b := Generate(7, 200, p), Generate(7, 200, p)
		for i := range a {
			if !bytes.Equal(a[i].Policy, b[i].Policy) || a[i].Principal != b[i].Principal || a[i].Request.Action != b[i].Request.Action {
				t.Fatalf("profile %s case %d differs between two runs with the same seed", name, i)
			}
		}
		if c := Generate(8, 200, p); bytes.Equal(mustJSON(t, c), mustJSON(t, a)) {
			t.Errorf("profile %s: seeds 7 and 8 give the same corpus", name)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSimulatorKnownCases runs hand-written cases through the simulator
// and checks its verdicts, so a runner that silently returned one verdict
// for everything (or dropped the encryption context) would fail here.
func TestSimulatorKnownCases(t *testing.T) {
	node := requireSimulator(t)
	bob := "arn:aws:iam::" + KeyAccount + ":user/bob"
	mk := func(id int, principal, action string, ctx map[string][]string, stmts string) Case {
		return Case{ID: id, Principal: principal, Policy: json.RawMessage(`{"Version":"2012-10-17","Statement":[` + stmts + `]}`),
			Request: policy.Request{Action: action, Resource: KeyARN, Context: ctx}}
	}
	root := `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + KeyAccount + `:root"},"Action":"kms:*","Resource":"*"}`
	ctAllow := `{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"arn:aws:cloudtrail:*:` + KeyAccount + `:trail/*"}}}`
	cases := []Case{
		mk(0, bob, "kms:Decrypt", nil, root+`,{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::`+KeyAccount+`:root"},"Action":"*","Resource":"*"}`),
		mk(1, bob, "kms:Decrypt", nil, root),
		mk(2, CloudTrail, "kms:GenerateDataKey", map[string][]string{"kms:EncryptionContext:aws:cloudtrail:arn": {TrailARN}}, ctAllow),
		mk(3, CloudTrail, "kms:GenerateDataKey", map[string][]string{"kms:EncryptionContext:aws:cloudtrail:arn": {OtherTrail}}, ctAllow),
		mk(4, CloudTrail, "kms:GenerateDataKey", nil, ctAllow),
		mk(5, bob, "kms:Decrypt", nil, `{"Effect":"Allow","Principal":{"AWS":"`+bob+`"},"Action":"kms:Decrypt","Resource":"*"}`),
	}
	want := []string{"DeniedForAccount", "AllowedForAccount", "Allowed", "ImplicitlyDenied", "ImplicitlyDenied", "Allowed"}
	for i, v := range runSimulator(t, node, cases) {
		if v.Error != "" || v.Resource != want[i] {
			t.Errorf("case %d: simulator resource verdict %q (error %q), want %q", i, v.Resource, v.Error, want[i])
		}
	}
}

// TestSimulatorVerdictMapping pins the mapping of the simulator's
// resource-policy verdicts.
func TestSimulatorVerdictMapping(t *testing.T) {
	root := Case{Request: policy.Request{Caller: policy.Caller{ARN: "arn:aws:iam::" + KeyAccount + ":root"}}}
	user := Case{Request: policy.Request{Caller: policy.Caller{ARN: "arn:aws:iam::" + KeyAccount + ":user/bob"}}}
	tests := []struct {
		c    Case
		in   string
		want string
	}{
		{user, "Allowed", vAllowed},
		{user, "ExplicitlyDenied", vExplicitDeny},
		{user, "DeniedForAccount", vExplicitDeny},
		{user, "ImplicitlyDenied", vImplicitDeny},
		{user, "NotApplicable", vImplicitDeny},
		{user, "AllowedForAccount", vImplicitDeny},
		{root, "AllowedForAccount", vAllowed},
	}
	for _, tt := range tests {
		if got, err := simulatorVerdict(tt.c, tt.in); err != nil || got != tt.want {
			t.Errorf("simulatorVerdict(%s, %q) = %q, %v; want %q", tt.c.Request.Caller.ARN, tt.in, got, err, tt.want)
		}
	}
	if _, err := simulatorVerdict(user, "Maybe"); err == nil {
		t.Error("unknown simulator verdict accepted")
	}
}

// TestAllowEntryMatches: an allowlist entry matches by verdict pair and
// features (the case's shape), never by case number.
func TestAllowEntryMatches(t *testing.T) {
	e := AllowEntry{Class: "x", Features: []string{"deny-notprincipal:account-root", "caller:user"}, Trailguard: vExplicitDeny, Simulator: vImplicitDeny}
	c := Case{ID: 7, Features: []string{"caller:user", "deny-notprincipal:account-root", "op:Bool"}}
	tests := []struct {
		c       Case
		tg, sim string
		want    bool
	}{
		{c, vExplicitDeny, vImplicitDeny, true},
		{Case{ID: 8, Features: c.Features}, vExplicitDeny, vImplicitDeny, true},
		{c, vImplicitDeny, vExplicitDeny, false},
		{c, vExplicitDeny, vAllowed, false},
		{Case{ID: 7, Features: []string{"caller:user"}}, vExplicitDeny, vImplicitDeny, false},
	}
	for i, tt := range tests {
		if got := e.matches(tt.c, tt.tg, tt.sim); got != tt.want {
			t.Errorf("%d: matches = %v, want %v", i, got, tt.want)
		}
	}
	// The checked-in allowlist is well formed (every entry has a class,
	// features, a reason and an AWS documentation link).
	t.Logf("allowlist: %d entries", len(loadAllowlist(t)))
}
