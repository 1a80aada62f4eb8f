package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/go-cmp/cmp"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

const stateTable = "trailguard-state"

// noticeText is the start of fix --apply's notice without a table.
const noticeText = "trailguard: notice: no state table"

// withTable creates the state table in moto (us-east-1) and returns the
// fixture's environment with TRAILGUARD_TABLE naming it.
func (f *fixture) withTable() env {
	f.t.Helper()
	if err := statetable.Create(context.Background(), dynamodb.NewFromConfig(f.cfg("us-east-1")), stateTable); err != nil {
		f.t.Fatal(err)
	}
	return f.env.with(config.EnvTable, stateTable)
}

// history runs `history -o json` with args and decodes the records.
func history(t *testing.T, e env, args ...string) []state.Change {
	t.Helper()
	code, stdout, stderr := cli(t, e, append([]string{"history", "-o", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("history %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	var cs []state.Change
	if err := json.Unmarshal([]byte(stdout), &cs); err != nil {
		t.Fatalf("history -o json is not a JSON array of changes: %v\n%s", err, stdout)
	}
	return cs
}

// writes summarizes changes as "Action resource" lines, sorted.
func writes(cs []state.Change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Action+" "+c.Resource)
	}
	slices.Sort(out)
	return out
}

// changeOf returns the only change of the list, failing otherwise.
func changeOf(t *testing.T, cs []state.Change) state.Change {
	t.Helper()
	if len(cs) != 1 {
		t.Fatalf("got %d changes, want 1: %+v", len(cs), cs)
	}
	return cs[0]
}

// TestHistoryAfterFix checks that fix --apply with a table records one
// change per write, with its before and after, and that history lists
// them, filtered by trail and by key, as a table, JSON and one in detail.
func TestHistoryAfterFix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.withTable()
	base := f.baseline("us-east-1")
	basePolicy := f.policy("us-east-1", base)
	bare := f.trail("us-east-1", "bare-trail", "us-east-1", "")
	gapKey := f.key("us-east-1", "")
	gapPolicy := f.policy("us-east-1", gapKey)
	gap := f.trail("us-east-1", "gap-trail", "us-east-1", gapKey)
	f.compliantTrail("good-trail")

	if cs := history(t, e); len(cs) != 0 {
		t.Fatalf("history before any write: %+v", cs)
	}
	code, stdout, stderr := cli(t, e, "fix", "--apply")
	if code != exitOK {
		t.Fatalf("fix --apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, noticeText) {
		t.Errorf("fix --apply with a table printed the no-table notice: %q", stderr)
	}

	all := history(t, e)
	want := []string{"PutKeyPolicy " + base, "PutKeyPolicy " + gapKey, "UpdateTrail " + bare}
	slices.Sort(want)
	if diff := cmp.Diff(want, writes(all)); diff != "" {
		t.Fatalf("history after fix --apply (-want +got):\n%s", diff)
	}
	for i, c := range all {
		if c.Writer != "cli" || c.Source != "cli" || c.Status != state.Applied || c.Account != account || c.ID == "" {
			t.Errorf("change %d: writer %q source %q status %q account %q id %q; want cli, cli, applied, %s, an id",
				i, c.Writer, c.Source, c.Status, c.Account, c.ID, account)
		}
		if i > 0 && c.ID > all[i-1].ID {
			t.Errorf("history is not newest first: %s after %s", c.ID, all[i-1].ID)
		}
	}
	byWrite := map[string]state.Change{}
	for _, c := range all {
		byWrite[c.Action+" "+c.Resource] = c
	}
	gapChange := byWrite["PutKeyPolicy "+gapKey]
	if gapChange.Before != gapPolicy || gapChange.After != f.policy("us-east-1", gapKey) {
		t.Errorf("change of gap-trail's key: Before/After are not the policy before and after fix --apply:\nbefore %s\nafter %s", gapChange.Before, gapChange.After)
	}
	if !slices.Equal(gapChange.Trails, []string{gap}) || !slices.Contains(gapChange.Rules, string(compliance.KeyPolicyNoEncrypt)) {
		t.Errorf("change of gap-trail's key: trails %v rules %v; want [%s] and %s", gapChange.Trails, gapChange.Rules, gap, compliance.KeyPolicyNoEncrypt)
	}
	if c := byWrite["UpdateTrail "+bare]; c.Before != "" || c.After != base {
		t.Errorf("UpdateTrail of bare-trail: before %q after %q; want \"\" and %s", c.Before, c.After, base)
	}
	if c := byWrite["PutKeyPolicy "+base]; c.Before != basePolicy {
		t.Errorf("PutKeyPolicy of the baseline key: Before is not its policy before the fix")
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"by trail", []string{"--trail", bare}, []string{"PutKeyPolicy " + base, "UpdateTrail " + bare}},
		{"by key", []string{"--key", gapKey}, []string{"PutKeyPolicy " + gapKey}},
		{"by an untouched trail", []string{"--trail", "arn:aws:cloudtrail:us-east-1:" + account + ":trail/good-trail"}, []string{}},
		{"limit", []string{"--limit", "1"}, []string{all[0].Action + " " + all[0].Resource}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, writes(history(t, e, tt.args...))); diff != "" {
				t.Errorf("history %v (-want +got):\n%s", tt.args, diff)
			}
		})
	}

	code, stdout, _ = cli(t, e, "history")
	if code != exitOK {
		t.Fatalf("history: exit %d", code)
	}
	for _, want := range []string{gapChange.ID, "PutKeyPolicy", "UpdateTrail", "applied", "cli", "bare-trail", "3 changes, newest first"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("history table does not show %q:\n%s", want, stdout)
		}
	}

	code, stdout, _ = cli(t, e, "history", gapChange.ID)
	if code != exitOK {
		t.Fatalf("history %s: exit %d", gapChange.ID, code)
	}
	if !strings.Contains(stdout, "--- key policy of "+gapKey+" before "+gapChange.ID) || !strings.Contains(stdout, "+++ key policy of "+gapKey+" after "+gapChange.ID) {
		t.Errorf("history ID has no unified diff header:\n%s", stdout)
	}
	var added []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") {
			added = append(added, l)
		}
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") && strings.Contains(l, "Enable IAM User Permissions") {
			t.Errorf("the diff removes the root statement: %s", l)
		}
	}
	if j := strings.Join(added, "\n"); !strings.Contains(j, `"TrailguardCloudTrailEncrypt"`) || !strings.Contains(j, gap) {
		t.Errorf("added lines do not show trailguard's statement for %s:\n%s", gap, j)
	}

	code, stdout, _ = cli(t, e, "history", gapChange.ID, "-o", "json")
	var one state.Change
	if err := json.Unmarshal([]byte(stdout), &one); code != exitOK || err != nil || one.ID != gapChange.ID || one.Before != gapPolicy {
		t.Errorf("history %s -o json: exit %d, %v, record %+v; want the record with its Before", gapChange.ID, code, err, one)
	}

	// --table wins over TRAILGUARD_TABLE.
	if got := history(t, e.with(config.EnvTable, "no-such-table"), "--table", stateTable); len(got) != len(all) {
		t.Errorf("history --table %s with TRAILGUARD_TABLE=no-such-table: %d changes, want %d", stateTable, len(got), len(all))
	}
	code, _, stderr = cli(t, e, "history", "--table", "no-such-table")
	if code != exitError {
		t.Errorf("history of a missing table: exit %d, want 2", code)
	}
	oneErrorLine(t, stderr, "no-such-table")
	code, _, stderr = cli(t, e, "history", "20990101T000000.000Z-000000000000")
	if code != exitError {
		t.Errorf("history of an unknown change: exit %d, want 2", code)
	}
	oneErrorLine(t, stderr, "no change 20990101T000000.000Z-000000000000")
	code, _, stderr = cli(t, e, "undo", "20990101T000000.000Z-000000000000")
	if code != exitError {
		t.Errorf("undo of an unknown change: exit %d, want 2", code)
	}
	oneErrorLine(t, stderr, "undo: no change 20990101T000000.000Z-000000000000 in table "+stateTable)
	if got := len(history(t, e)); got != len(all) {
		t.Errorf("undo of an unknown change recorded something: %d changes, want %d", got, len(all))
	}
}

// TestFixApplyWithoutTable: fix --apply works as before and says, once,
// that it cannot lock or record; fix without --apply writes nothing and
// says nothing.
func TestFixApplyWithoutTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := f.baseline("us-east-1")
	bare := f.trail("us-east-1", "bare-trail", "us-east-1", "")

	code, _, stderr := cli(t, f.env, "fix")
	if code != exitFindings || stderr != "" {
		t.Errorf("fix (plan): exit %d, stderr %q; want 1 and nothing", code, stderr)
	}
	code, stdout, stderr := cli(t, f.env, "fix", "--apply", "-o", "json")
	if code != exitOK {
		t.Fatalf("fix --apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if f.trailKey(bare) != base {
		t.Errorf("fix --apply without a table did not fix bare-trail")
	}
	if n := strings.Count(stderr, noticeText); n != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want the notice once, on one line", stderr)
	}
	for _, want := range []string{"cannot lock", "not recorded"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("notice does not say %q: %q", want, stderr)
		}
	}
	if !json.Valid([]byte(stdout)) {
		t.Errorf("the notice leaked into the JSON output:\n%s", stdout)
	}
}

// TestStateCommandsWithoutTable: history and undo need a table; without
// one they fail before any AWS call (the endpoint is unreachable here).
func TestStateCommandsWithoutTable(t *testing.T) {
	t.Parallel()
	e := isolated(t).with("AWS_REGION", "us-east-1", "AWS_ACCESS_KEY_ID", "k", "AWS_SECRET_ACCESS_KEY", "s",
		"AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	tests := []struct {
		name string
		env  env
		args []string
		want string
	}{
		{"undo without a table", e, []string{"undo", "20260101T000000.000Z-abc"}, "undo: no state table configured (TRAILGUARD_TABLE)"},
		{"history without a table", e, []string{"history"}, "history: no state table configured (TRAILGUARD_TABLE)"},
		{"undo without an id", e, []string{"undo", "--table", stateTable}, "accepts 1 arg(s)"},
		{"bad --table", e, []string{"history", "--table", "a/b"}, `invalid --table "a/b"`},
		{"bad TRAILGUARD_TABLE", e.with(config.EnvTable, "x"), []string{"undo", "id"}, config.EnvTable},
		{"trail and key", e, []string{"history", "--trail", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t", "--key", "arn:aws:kms:us-east-1:123456789012:key/k"}, "do not go together"},
		{"bad key", e, []string{"history", "--key", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t"}, "invalid --key"},
		{"id and a filter", e, []string{"history", "id", "--limit", "2"}, "do not go with it"},
		{"negative limit", e, []string{"history", "--limit", "-1"}, "invalid --limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.env, tt.args...)
			if code != exitError || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			oneErrorLine(t, stderr, tt.want)
			if strings.Contains(stderr, "cannot reach") {
				t.Errorf("%v called AWS before failing: %q", tt.args, stderr)
			}
		})
	}
}

// TestUndoReaderGrant: fix --apply adds a reader's statement to a
// compliant trail's key (TRAILGUARD_READERS); undo restores the policy
// exactly, records itself, marks the original undone, and a second undo
// is refused.
func TestUndoReaderGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A reader of another account: the own account's principals may
	// already decrypt (TrailguardLogDecryptAccounts).
	e := f.withTable().with(config.EnvReaders, "arn:aws:iam::444455556666:role/log-auditor")
	f.baseline("us-east-1")
	good, goodKey := f.compliantTrail("good-trail")
	goodPolicy := f.policy("us-east-1", goodKey)

	if code, stdout, stderr := cli(t, e, "fix", "--apply"); code != exitOK {
		t.Fatalf("fix --apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	granted := f.policy("us-east-1", goodKey)
	if granted == goodPolicy || !strings.Contains(granted, "log-auditor") {
		t.Fatalf("fix --apply did not grant the reader on %s:\n%s", goodKey, granted)
	}
	c := changeOf(t, history(t, e, "--key", goodKey))

	code, stdout, stderr := cli(t, e, "undo", c.ID)
	if code != exitOK {
		t.Fatalf("undo %s: exit %d\nstdout:\n%s\nstderr:\n%s", c.ID, code, stdout, stderr)
	}
	if got := f.policy("us-east-1", goodKey); got != c.Before || got != goodPolicy {
		t.Errorf("after undo the policy is not exactly the one before the change:\n%s\nwant:\n%s", got, c.Before)
	}
	if !strings.Contains(stdout, "undid change "+c.ID) || !strings.Contains(stdout, goodKey) {
		t.Errorf("undo output does not say what it restored:\n%s", stdout)
	}
	var removed []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") {
			removed = append(removed, l)
		}
	}
	if !strings.Contains(strings.Join(removed, "\n"), "log-auditor") {
		t.Errorf("undo's diff does not show the reader's grant removed:\n%s", stdout)
	}

	after := history(t, e, "--key", goodKey)
	if len(after) != 2 {
		t.Fatalf("history after undo: %d changes, want 2 (the change and its undo): %+v", len(after), after)
	}
	undo, orig := after[0], after[1]
	if undo.UndoOf != c.ID || undo.Writer != "cli" || undo.Status != state.Applied || undo.Before != granted || undo.After != c.Before {
		t.Errorf("undo record: %+v; want undo of %s by cli, applied, from the granted policy back to Before", undo, c.ID)
	}
	if orig.ID != c.ID || orig.Status != state.Undone {
		t.Errorf("original change: id %s status %q, want %s undone", orig.ID, orig.Status, c.ID)
	}
	if !slices.Equal(undo.Trails, []string{good}) {
		t.Errorf("undo record trails %v, want [%s]", undo.Trails, good)
	}

	code, _, stderr = cli(t, e, "undo", c.ID)
	if code != exitFindings {
		t.Errorf("second undo: exit %d, want 1", code)
	}
	oneErrorLine(t, stderr, "undone already")
}

// TestUndoKeyPolicy: trailguard's statements on a trail's own key are not
// undone while the trail uses the key (CloudTrail would lose it), are
// undone once a human moved the trail to another key, and an undo after
// a human edit of the policy is refused without writing.
func TestUndoKeyPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.withTable()
	f.baseline("us-east-1")
	gapKey := f.key("us-east-1", "")
	gapPolicy := f.policy("us-east-1", gapKey)
	gap := f.trail("us-east-1", "gap-trail", "us-east-1", gapKey)
	otherKey := f.key("us-east-1", "")
	otherPolicy := f.policy("us-east-1", otherKey)
	other := f.trail("us-east-1", "other-trail", "us-east-1", otherKey)

	if code, stdout, stderr := cli(t, e, "fix", "--apply"); code != exitOK {
		t.Fatalf("fix --apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	gapChange := changeOf(t, history(t, e, "--key", gapKey))
	otherChange := changeOf(t, history(t, e, "--key", otherKey))
	fixed := f.policy("us-east-1", gapKey)
	n := len(history(t, e))

	refused := func(t *testing.T, id, keyARN, policy, why string) {
		t.Helper()
		code, stdout, stderr := cli(t, e, "undo", id)
		if code != exitFindings || stdout != "" {
			t.Errorf("undo %s: exit %d, stdout %q; want 1 and nothing", id, code, stdout)
		}
		oneErrorLine(t, stderr, why)
		for _, want := range []string{"undo refused", "nothing was written"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("refusal does not say %q: %q", want, stderr)
			}
		}
		if got := f.policy("us-east-1", keyARN); got != policy {
			t.Errorf("a refused undo changed the policy of %s:\n%s", keyARN, got)
		}
		if got := len(history(t, e)); got != n {
			t.Errorf("a refused undo recorded something: %d changes, want %d", got, n)
		}
	}

	t.Run("trail still on the key", func(t *testing.T) {
		refused(t, gapChange.ID, gapKey, fixed, "move the trail first")
	})

	t.Run("after a human edit", func(t *testing.T) {
		edited := addStatement(t, f.policy("us-east-1", otherKey),
			`{"Sid": "HumanAudit", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::`+account+`:root"}, "Action": "kms:DescribeKey", "Resource": "*"}`)
		putPolicy(t, f, otherKey, edited)
		edited = f.policy("us-east-1", otherKey)
		refused(t, otherChange.ID, otherKey, edited, "changed after trailguard's write")
		if c := changeOf(t, history(t, e, "--key", otherKey)); c.Status != state.Applied {
			t.Errorf("a refused undo changed the status of %s to %q", c.ID, c.Status)
		}
		if otherPolicy == edited {
			t.Fatal("test setup: the edit changed nothing")
		}
	})

	t.Run("after the trail moved off the key", func(t *testing.T) {
		// A human moves gap-trail to a key of its own that grants
		// CloudTrail what it needs (as trailguard would).
		newKey := f.key("us-east-1", f.policy("us-east-1", gapKey))
		if _, err := f.cloudtrail("us-east-1").UpdateTrail(context.Background(), &cloudtrail.UpdateTrailInput{
			Name: aws.String(gap), KmsKeyId: aws.String(newKey)}); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cli(t, e, "undo", gapChange.ID)
		if code != exitOK {
			t.Fatalf("undo: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if got := f.policy("us-east-1", gapKey); got != gapChange.Before || got != gapPolicy {
			t.Errorf("after undo the policy of %s is not exactly Before:\n%s\nwant:\n%s", gapKey, got, gapChange.Before)
		}
		if f.trailKey(gap) != newKey || f.trailKey(other) != otherKey {
			t.Errorf("undo moved a trail")
		}
	})
}

// addStatement returns policy with one more statement.
func addStatement(t *testing.T, policy, statement string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatal(err)
	}
	var st any
	if err := json.Unmarshal([]byte(statement), &st); err != nil {
		t.Fatal(err)
	}
	doc["Statement"] = append(doc["Statement"].([]any), st)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// putPolicy writes a key policy, as a human would.
func putPolicy(t *testing.T, f *fixture, keyARN, policy string) {
	t.Helper()
	if _, err := f.kms("us-east-1").PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
}
