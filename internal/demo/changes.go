package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/changelog"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/policy"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// StateTable is the state table the demo creates in moto (the stack
// deploys one; TRAILGUARD_TABLE names it).
const StateTable = "trailguard-state"

// cliWriter is the writer and source of what the demo's `trailguard`
// command does, as in cmd/trailguard.
const cliWriter = "cli"

// changeLog is the state table as the demo's `trailguard history` and
// `trailguard undo` see it, and what the demo checks against it.
type changeLog struct {
	db *dynamodb.Client
	// cli is the reconciler of `trailguard undo` / `history`: on the
	// table, writer and source "cli".
	cli *reconcile.Reconciler

	// writes are "Action target" for every write trailguard reported
	// (handlers' "updated" actions and the undo), in order.
	writes []string
	// listed is what `trailguard history` showed.
	listed []state.Change
	// undone is the change the demo undid and undo the undo's own change.
	undone, undo state.Change
	// refused is the change whose undo was refused after a human edit,
	// and edited the policy that edit left (which must stay).
	refused state.Change
	edited  string
}

func newChangeLog(base aws.Config, c config.Config, log *slog.Logger) changeLog {
	db := dynamodb.NewFromConfig(base)
	st := state.New(db, StateTable, state.WithWriter(cliWriter))
	c.Mode = config.Enforce
	return changeLog{db: db, cli: reconcile.New(base, c, reconcile.WithLogger(log), reconcile.WithOwnAccount(Account),
		reconcile.WithStore(st), reconcile.WithSource(cliWriter))}
}

// setupState creates the state table the functions share.
func (d *demo) setupState(ctx context.Context) error {
	d.p.heading("State table: one writer at a time, a shared loop guard, a change log")
	if err := statetable.Create(ctx, d.changes.db, StateTable); err != nil {
		return err
	}
	d.p.printf("  DynamoDB table %s in moto (pk/sk, TTL on expires_at, as the stack deploys it).", StateTable)
	d.p.printf("  %s and %s each take a lease on a key or trail around every read-merge-write", trailFunction, keyFunction)
	d.p.printf("  and record every write they make in it, with the value before and after.")
	return nil
}

// history lists the change log (filtered by resource when not "").
func (d *demo) history(ctx context.Context, resource string) ([]state.Change, error) {
	cs, err := d.changes.cli.History(ctx, state.Filter{Resource: resource})
	if err != nil {
		return nil, fmt.Errorf("trailguard history: %w", err)
	}
	return cs, nil
}

// printIndented prints text written by f, each line indented.
func (d *demo) printIndented(f func(w *strings.Builder) error) {
	var b strings.Builder
	if err := f(&b); err != nil {
		d.p.err = cmpOr(d.p.err, err)
		return
	}
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		d.p.printf("  %s", l)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// showHistory prints `trailguard history` and checks it has exactly one
// record per write the handlers reported.
func (d *demo) showHistory(ctx context.Context) error {
	d.p.heading("The change log: trailguard history")
	cs, err := d.history(ctx, "")
	if err != nil {
		return err
	}
	d.changes.listed = cs
	d.p.printf("  $ trailguard history")
	d.printIndented(func(b *strings.Builder) error { return changelog.WriteTable(b, cs, d.name) })
	d.checkRecords(cs)
	return nil
}

// checkRecords checks that cs holds one record per write trailguard
// reported, none failed or left pending.
func (d *demo) checkRecords(cs []state.Change) {
	var got []string
	bad := 0
	for _, c := range cs {
		got = append(got, c.Action+" "+c.Resource)
		if c.Status != state.Applied && c.Status != state.Undone {
			bad++
		}
	}
	want := slices.Clone(d.changes.writes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		d.problems = append(d.problems, fmt.Sprintf("the change log has %d records for %d writes: records %v, writes %v", len(got), len(want), got, want))
		d.p.printf("  FAIL  %d records in the change log for %d writes trailguard reported", len(got), len(want))
		return
	}
	if bad > 0 {
		d.problems = append(d.problems, fmt.Sprintf("%d change records are neither applied nor undone", bad))
	}
	d.p.printf("  ok    one record per write: %d writes reported by the handlers and undo, %d records", len(want), len(got))
}

// undoMove: a human moves demo-policy-gap to a new key of its own, so
// nothing uses its old key any more, and undoes the statements
// trailguard added to the old key. Undo allows it: the key's policy is
// still exactly what trailguard wrote and no trail on the key needs them.
func (d *demo) undoMove(ctx context.Context) error {
	d.p.heading("Undo: a trail moves to a new key; trailguard's statements on the old one are undone")
	s := d.scenario(TrailPolicyGap)
	oldKey := s.KeyARN
	cs, err := d.history(ctx, oldKey)
	if err != nil {
		return err
	}
	if len(cs) != 1 {
		d.problems = append(d.problems, fmt.Sprintf("the change log has %d changes of %s, want 1 (trailguard's PutKeyPolicy)", len(cs), d.name(oldKey)))
		return nil
	}
	c := cs[0]
	pol, err := compliantPolicy(s, d.cfg.Compliance())
	if err != nil {
		return err
	}
	newKey, err := d.w.createKey(ctx, HomeRegion, "new key of trail "+s.Trail, pol)
	if err != nil {
		return err
	}
	d.labels[newKey] = "new key of " + s.Trail
	if err := d.w.updateTrail(ctx, HomeRegion, s.Trail, newKey); err != nil {
		return err
	}
	d.p.printf("  CreateKey %s: its policy grants CloudTrail what %s needs", d.name(newKey), s.Trail)
	d.p.printf("  UpdateTrail %s -> %s: no trail uses %s any more", s.Trail, d.name(newKey), d.name(oldKey))
	if err := d.deliver(ctx, d.w.takeCalls()); err != nil {
		return err
	}
	d.p.printf("")
	d.p.printf("  $ trailguard undo %s        (trailguard's PutKeyPolicy on %s)", c.ID, d.name(oldKey))
	undo, err := d.changes.cli.Undo(ctx, c.ID)
	if err != nil {
		d.p.printf("  FAIL  trailguard: %v", err)
		d.problems = append(d.problems, fmt.Sprintf("undo of %s: %v", c.ID, err))
		return nil
	}
	d.changes.writes = append(d.changes.writes, undo.Action+" "+undo.Resource)
	d.changes.undone, d.changes.undo = c, undo
	d.printIndented(func(b *strings.Builder) error { return changelog.WriteUndo(b, c.ID, undo) })
	k, err := d.w.key(ctx, HomeRegion, oldKey)
	if err != nil {
		return err
	}
	if k.Policy != c.Before {
		d.problems = append(d.problems, fmt.Sprintf("undo of %s did not restore exactly the policy before it", c.ID))
		d.p.printf("  FAIL  the policy of %s is not the one before %s", d.name(oldKey), c.ID)
	} else {
		d.p.printf("  ok    the policy of %s is, byte for byte, the one before %s (%d statement(s))", d.name(oldKey), c.ID, statementCount(k.Policy))
	}
	d.p.printf("")
	d.p.printf("  The undo's PutKeyPolicy is an event too:")
	own, _ := ownCall("PutKeyPolicy", oldKey, "")
	return d.deliver(ctx, []call{own})
}

// undoRefused: a security engineer adds a statement to the baseline key
// after trailguard restored its statements there; undoing trailguard's
// change would overwrite that edit, so it is refused and nothing written.
func (d *demo) undoRefused(ctx context.Context) error {
	d.p.heading("A human edits a key after trailguard: its undo is refused")
	keyARN := d.baseline[HomeRegion]
	cs, err := d.history(ctx, keyARN)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		d.problems = append(d.problems, fmt.Sprintf("the change log has no change of %s", d.name(keyARN)))
		return nil
	}
	c := cs[0] // the newest: key-remediator restoring its statements
	k, err := d.w.key(ctx, HomeRegion, keyARN)
	if err != nil {
		return err
	}
	doc, err := policy.Parse([]byte(k.Policy))
	if err != nil {
		return fmt.Errorf("parse policy of %s: %w", keyARN, err)
	}
	doc.Append(policy.Statement{Sid: "SecurityAuditDescribe", Effect: "Allow",
		Principal: policy.AWSPrincipal("arn:aws:iam::" + Account + ":role/security-audit"),
		Action:    []string{"kms:DescribeKey"}, Resource: []string{"*"}})
	out, err := doc.Marshal()
	if err != nil {
		return fmt.Errorf("write policy of %s: %w", keyARN, err)
	}
	if err := d.w.putKeyPolicy(ctx, keyARN, string(out)); err != nil {
		return err
	}
	d.p.printf("  PutKeyPolicy on %s: a security engineer adds statement SecurityAuditDescribe", d.name(keyARN))
	if err := d.deliver(ctx, d.w.takeCalls()); err != nil {
		return err
	}
	k, err = d.w.key(ctx, HomeRegion, keyARN)
	if err != nil {
		return err
	}
	edited := k.Policy
	before, err := d.history(ctx, "")
	if err != nil {
		return err
	}
	d.p.printf("")
	d.p.printf("  $ trailguard undo %s        (%s's PutKeyPolicy on %s)", c.ID, c.Writer, d.name(keyARN))
	_, err = d.changes.cli.Undo(ctx, c.ID)
	switch {
	case err == nil:
		d.problems = append(d.problems, fmt.Sprintf("undo of %s after a human edit was not refused", c.ID))
		d.p.printf("  FAIL  the undo was not refused")
	case !errors.Is(err, reconcile.ErrUndoRefused):
		return fmt.Errorf("trailguard undo %s: %w", c.ID, err)
	default:
		d.p.printf("  trailguard: %v; nothing was written", err)
		d.p.printf("  (exit status 1)")
	}
	d.changes.refused, d.changes.edited = c, edited
	k, err = d.w.key(ctx, HomeRegion, keyARN)
	if err != nil {
		return err
	}
	after, err := d.history(ctx, "")
	if err != nil {
		return err
	}
	switch {
	case k.Policy != edited:
		d.problems = append(d.problems, fmt.Sprintf("the refused undo of %s changed the policy of %s", c.ID, d.name(keyARN)))
		d.p.printf("  FAIL  the policy of %s changed", d.name(keyARN))
	case len(after) != len(before):
		d.problems = append(d.problems, fmt.Sprintf("the refused undo of %s recorded %d changes", c.ID, len(after)-len(before)))
		d.p.printf("  FAIL  the change log grew from %d to %d records", len(before), len(after))
	default:
		d.p.printf("  ok    the policy of %s still has the human's edit, byte for byte; the change log still has %d records", d.name(keyARN), len(after))
	}
	d.checkRecords(after)
	return nil
}
