package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/state"
)

// execute carries out plan p for the trail observed in st, in order and
// idempotently: every write is preceded by a fresh read, and an action
// whose fresh read shows nothing to do is "unchanged". In report mode every
// action is "planned" and nothing is written. After a failure, later
// actions on the same target and every UpdateTrail are skipped. A
// transient error stops the plan and is returned.
func (rn *run) execute(ctx context.Context, st compliance.State, p plan.Plan, shared sharedWrites) ([]ActionResult, []string, error) {
	var (
		results []ActionResult
		alerts  []string
		failed  = map[string]bool{}
		anyFail bool
	)
	for i := 0; i < len(p.Actions); i++ {
		a := p.Actions[i]
		ar := ActionResult{Action: a.Kind, Target: a.Target, Region: a.Region, KMSKeyID: a.KMSKeyID}
		var outs []applied
		switch {
		case rn.r.cfg.Mode == config.Report:
			ar.Outcome = Planned
		case a.Kind == plan.UpdateTrail && anyFail:
			ar.Outcome, ar.Message = Skipped, "an action it depends on failed or was skipped"
		case failed[a.Target] && a.Kind != plan.StartLogging: // logging does not depend on the key fixes
			ar.Outcome, ar.Message = Skipped, "an earlier action on "+a.Target+" failed or was skipped"
		case restoresKey(p.Actions[i:]):
			// A pending deletion's fix: CancelKeyDeletion leaves the key
			// Disabled, EnableKey follows, both under one lease.
			outs = rn.keyState(ctx, st, p.Actions[i:i+2]...)
		default:
			outs = []applied{rn.apply(ctx, st, a, shared)}
		}
		if outs == nil {
			outs = []applied{{out: ar.Outcome, msg: ar.Message}}
		}
		for j, o := range outs {
			a := p.Actions[i+j]
			ar := ActionResult{Action: a.Kind, Target: a.Target, Region: a.Region, KMSKeyID: a.KMSKeyID, Outcome: o.out, Message: o.msg}
			if o.alert != "" {
				alerts = append(alerts, o.alert)
			}
			if o.err != nil {
				ar.Outcome, ar.Message = Failed, o.err.Error()
				if Transient(o.err) {
					results = append(results, ar)
					return results, alerts, o.err
				}
				rn.r.log.Warn("action failed", "action", string(a.Kind), "target", a.Target, "trail", st.Trail.ARN, "error", o.err.Error())
			} else if ar.Outcome == Skipped && ar.Message == "" {
				ar.Message = "loop guard: too many changes of " + a.Target + " in the last hour"
			}
			if ar.Outcome == Failed || ar.Outcome == Skipped {
				failed[a.Target] = true
				anyFail = true
			}
			results = append(results, ar)
		}
		i += len(outs) - 1
	}
	return results, alerts, nil
}

// applied is the outcome of one action: msg explains a skip, alert is for
// a human, err a failure.
type applied struct {
	out   Outcome
	msg   string
	alert string
	err   error
}

// restoresKey reports whether acts start with a CancelKeyDeletion and the
// EnableKey of the same key.
func restoresKey(acts []plan.Action) bool {
	return len(acts) >= 2 && acts[0].Kind == plan.CancelKeyDeletion && acts[1].Kind == plan.EnableKey && acts[0].Target == acts[1].Target
}

// apply carries out one action. alert is set when a human must know (a
// Deny or size problem found at write time, the loop guard tripping).
func (rn *run) apply(ctx context.Context, st compliance.State, a plan.Action, shared sharedWrites) applied {
	var o applied
	switch a.Kind {
	case plan.PutKeyPolicy:
		o.out, o.alert, o.err = rn.putKeyPolicy(ctx, st, a, shared)
	case plan.EnableKey, plan.CancelKeyDeletion, plan.EnableKeyRotation:
		return rn.keyState(ctx, st, a)[0]
	case plan.UpdateTrail:
		o.out, o.alert, o.err = rn.updateTrail(ctx, st, a)
	case plan.StartLogging:
		o.out, o.alert, o.err = rn.startLogging(ctx, st, a)
	default:
		o.out, o.err = Failed, fmt.Errorf("unknown action %q on %s", a.Kind, a.Target)
	}
	return o
}

// guardRead is the loop guard's read of one resource started beside the
// writer's last read of it (startGuardRead), so the guard adds no round
// trip of its own.
type guardRead struct {
	done chan struct{}
	g    state.GuardRead
	err  error
}

// startGuardRead starts reading the loop guard of resource.
func (rn *run) startGuardRead(ctx context.Context, resource string) *guardRead {
	f := &guardRead{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.g, f.err = rn.r.readGuard(ctx, resource)
	}()
	return f
}

// settle waits for the read to end (deferred by the writer, so no read
// outlives the write it was for).
func (f *guardRead) settle() { <-f.done }

// wait returns the guard's read; a failed read is a failure of the shared
// guard's table (nothing is written without the guard's answer).
func (f *guardRead) wait() (state.GuardRead, error) {
	<-f.done
	return f.g, f.err
}

// admit asks the loop guard for one write per change on guardRes, read as
// g, and, with a table, records the changes it admits as pending in the
// same round trip (state.Store.Admit): every write trailguard makes is in
// the change log, and no attempt is counted without its record. It
// returns the admitted prefix of changes, with their ids. alert is set
// the first time in the guard's window that it refuses one; err is a
// failure of the shared guard's table (transient: nothing is written
// without the guard's answer).
func (rn *run) admit(ctx context.Context, g state.GuardRead, guardRes string, changes ...state.Change) (admitted []state.Change, alert string, err error) {
	var first bool
	if rn.r.store == nil {
		for _, c := range changes {
			ok, a := rn.r.guard.Allow(guardRes)
			if !ok {
				first = a
				break
			}
			admitted = append(admitted, c)
		}
	} else {
		changes = slices.Clone(changes)
		for i := range changes {
			changes[i].Source, changes[i].UndoOf = rn.r.sourceOf(ctx), undoOf(ctx)
			if changes[i].UndoOf != "" {
				changes[i].Source = "undo of " + changes[i].UndoOf
			}
		}
		admitted, first, err = rn.r.store.Admit(ctx, g, rn.r.guard.max, rn.r.guard.window, changes...)
		if err != nil {
			return nil, "", fmt.Errorf("loop guard for %s: %w", guardRes, err)
		}
	}
	if first {
		rn.r.log.Error("loop guard tripped", "target", guardRes)
		alert = fmt.Sprintf("loop guard: %s was already changed %d times in the last %s; trailguard stops changing it and alerts instead (something may be reverting its fixes)",
			guardRes, rn.r.guard.max, rn.r.guard.window)
	}
	return admitted, alert, nil
}

// guardedWrite makes the one write of change under h: the loop guard read
// as f admits and records it, then perform writes.
func (rn *run) guardedWrite(ctx context.Context, h held, f *guardRead, guardRes string, change state.Change, write func(context.Context) error) (Outcome, string, error) {
	g, err := f.wait()
	if err != nil {
		return Failed, "", fmt.Errorf("loop guard for %s: %w", guardRes, err)
	}
	admitted, alert, err := rn.admit(ctx, g, guardRes, change)
	if err != nil {
		return Failed, "", err
	}
	if len(admitted) == 0 {
		return Skipped, alert, nil
	}
	return rn.perform(ctx, h, admitted[0], write)
}

// keyRegionAccount returns the Region and account of a key ARN.
func keyRegionAccount(keyARN, fallbackRegion string) (region, account string) {
	if a, err := arn.Parse(keyARN); err == nil {
		return a.Region, a.AccountID
	}
	return fallbackRegion, ""
}

// keyID returns the key id of a key ARN (the ARN itself otherwise). Write
// calls use the id: trailguard only changes keys of the account whose
// credentials it uses.
func keyID(keyARN string) string {
	if a, err := arn.Parse(keyARN); err == nil && strings.HasPrefix(a.Resource, "key/") {
		return strings.TrimPrefix(a.Resource, "key/")
	}
	return keyARN
}

func (rn *run) putKeyPolicy(ctx context.Context, st compliance.State, a plan.Action, shared sharedWrites) (Outcome, string, error) {
	if a.Grant == nil {
		return Failed, "", fmt.Errorf("put key policy %s: the plan has no grant", a.Target)
	}
	sw := shared[a.Target]
	if sw == nil {
		return rn.writeKeyPolicy(ctx, st, a, *a.Grant, []string{st.Trail.ARN}, a.Rules)
	}
	// Several trails of this group need statements on this key: the first
	// of them writes everything they all need, once.
	sw.once.Do(func() {
		sw.out, sw.alert, sw.err = rn.writeKeyPolicy(ctx, st, a, sw.grant, sw.trails, sw.rules)
	})
	return sw.out, sw.alert, sw.err
}

// writeKeyPolicy is one read-merge-write of a key policy under the key's
// lease: it merges grant into the policy observed, asks the loop guard and
// records the change (one round trip with a table), reads the policy again
// right before the write (merging again if it changed), checks the lease
// is still held, writes, and records the outcome.
func (rn *run) writeKeyPolicy(ctx context.Context, st compliance.State, a plan.Action, grant compliance.Grant, trails []string, rules []compliance.Rule) (Outcome, string, error) {
	h, err := rn.r.lock(ctx, a.Target)
	if err != nil {
		return Failed, "", fmt.Errorf("put key policy %s: %w", a.Target, err)
	}
	defer h.release(ctx, rn.r)
	region, acct := keyRegionAccount(a.Target, a.Region)
	c, err := rn.keyClients(ctx, st.Account, acct, region)
	if err != nil {
		return Failed, "", err
	}
	// Counted per key and trails: a key shared by many trails legitimately
	// gets one write per trail (or set of trails) it starts serving; a
	// loop rewrites it for the same trails again and again.
	guardRes := guardKey(a.Target, trails)
	gf := rn.startGuardRead(ctx, guardRes)
	defer gf.settle()
	getPolicy := func(ctx context.Context) (string, error) {
		out, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.Target), PolicyName: aws.String(defaultPolicyName)})
		if err != nil {
			return "", fmt.Errorf("get key policy %s: %w", a.Target, err)
		}
		return aws.ToString(out.Policy), nil
	}
	// The merge starts from the policy this run observed (its read, or a
	// fresh one if the run wrote to the key since: every key write forgets
	// it); the loop guard's count and the change record go in one round
	// trip under the lease, and the policy is read once more right before
	// the write (below), so that a person's edit is overwritten only if it
	// lands in the single round trip between that read and the write (KMS
	// has no conditional PutKeyPolicy).
	var before string
	if kr, err := rn.readKey(ctx, st.Account, region, a.Target); err == nil && kr.Key != nil && kr.Key.Policy != "" {
		before = kr.Key.Policy
	} else if before, err = getPolicy(ctx); err != nil {
		return Failed, "", err
	}
	merged, changed, err := compliance.Merge(before, grant)
	if err != nil {
		alert := ""
		if errors.Is(err, compliance.ErrDenied) || errors.Is(err, compliance.ErrTooLarge) || errors.Is(err, compliance.ErrInvalidPolicy) {
			alert = fmt.Sprintf("key %s: %v", a.Target, err)
		}
		return Failed, alert, fmt.Errorf("put key policy %s: %w", a.Target, err)
	}
	if !changed {
		return Unchanged, "", nil
	}
	defer rn.forgetKey(a.Target)
	change := state.Change{Account: st.Account, Region: region, Resource: a.Target, Trails: trails,
		Rules: ruleNames(rules), Action: string(plan.PutKeyPolicy), Before: before, After: merged}
	put := func(ctx context.Context, p string) error {
		_, err := c.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
			KeyId:      aws.String(keyID(a.Target)),
			PolicyName: aws.String(defaultPolicyName),
			Policy:     aws.String(p),
		})
		if err != nil {
			return fmt.Errorf("put key policy %s: %w", a.Target, err)
		}
		rn.noteWrite(a.Target)
		return nil
	}
	return rn.guardedWrite(ctx, h, gf, guardRes, change, func(ctx context.Context) error {
		now, err := getPolicy(ctx)
		if err != nil {
			return err
		}
		if now == before {
			return put(ctx, merged)
		}
		m, changed, err := compliance.Merge(now, grant)
		if err != nil {
			return fmt.Errorf("put key policy %s: %w", a.Target, err)
		}
		if !changed {
			return errNothingToWrite
		}
		// The record says what was replaced: amended after the write
		// (nothing may come between this read and the write).
		rn.amendChange(now, m)
		return put(ctx, m)
	})
}

// guardKey is the loop guard's resource for a write to keyARN for trails:
// readable for one trail; for several, a digest of their sorted ARNs, so
// the name stays far below DynamoDB's 1,024-byte sort-key limit
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
func guardKey(keyARN string, trails []string) string {
	if len(trails) == 1 {
		return keyARN + " for trail " + trails[0]
	}
	sorted := slices.Clone(trails)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return fmt.Sprintf("%s for %d trails %x", keyARN, len(trails), sum[:12])
}

// errNothingToWrite ends a recorded write whose last re-read showed the
// change is no longer needed (another writer made it).
var errNothingToWrite = errors.New("nothing to write: the last read shows the change made already")

// recorded makes one write the loop guard does not count (an undo, which a
// person asks for): it records the change as pending (when a table is
// configured), then perform. Nothing is written when the record cannot be
// made: every write trailguard makes is in the change log.
func (rn *run) recorded(ctx context.Context, h held, c state.Change, write func(context.Context) error) (Outcome, string, error) {
	if rn.r.store != nil {
		c.Source = rn.r.sourceOf(ctx)
		c.UndoOf = undoOf(ctx)
		if c.UndoOf != "" {
			c.Source = "undo of " + c.UndoOf
		}
		rec, err := rn.r.store.Record(ctx, c)
		if err != nil {
			return Failed, "", fmt.Errorf("%s %s: not written: %w", c.Action, c.Resource, err)
		}
		c = rec
	}
	return rn.perform(ctx, h, c, write)
}

// perform makes the write of change c, recorded already (c.ID; "" without
// a table): it checks the lease is still held, calls write within the
// lease, and records the outcome.
func (rn *run) perform(ctx context.Context, h held, c state.Change, write func(context.Context) error) (Outcome, string, error) {
	id := c.ID
	if err := h.check(); err != nil {
		rn.finishChange(ctx, id, state.Failed, "not written: "+err.Error())
		return Failed, "", fmt.Errorf("%s %s: not written: %w", c.Action, c.Resource, err)
	}
	wctx, cancel := h.writeContext(ctx)
	err := write(wctx)
	leaseEnded := wctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		if leaseEnded {
			// The outcome is unknown (a call may have been cancelled
			// on the wire): the record stays pending, like a lost answer;
			// unless the lease ran out in a propagation wait, after
			// CloudTrail had answered the last call with a refusal.
			var prop *errPropagating
			if errors.As(err, &prop) {
				rn.finishChange(ctx, id, state.Failed, "not written: the lease ran out waiting for the key policy to propagate")
			}
			return Failed, "", fmt.Errorf("%s %s: the lease ran out during the write: %w: %w", c.Action, c.Resource, state.ErrLeaseLost, err)
		}
		if errors.Is(err, errNothingToWrite) {
			rn.finishChange(ctx, id, state.Failed, err.Error())
			return Unchanged, "", nil
		}
		// A transient error may hide a write that took effect (a lost
		// answer): the record stays pending, to be compared with After.
		if !Transient(err) {
			rn.finishChange(ctx, id, state.Failed, err.Error())
		}
		return Failed, "", err
	}
	rn.finishChange(ctx, id, state.Applied, "")
	if c.UndoOf != "" {
		c.Status = state.Applied
		rn.mu.Lock()
		rn.lastUndo = c
		rn.mu.Unlock()
	}
	return Updated, "", nil
}

// amendChange notes the before and after of the write being made when
// the last re-read differed from the one recorded; the record is amended
// after the write (nothing may come between that read and the write).
func (rn *run) amendChange(before, after string) {
	rn.mu.Lock()
	rn.amended = &[2]string{before, after}
	rn.mu.Unlock()
}

// finishChange records the outcome of change id (and the amended before
// and after) in the background: the next write need not wait for it. The
// run waits for these records before it returns (waitFinished).
func (rn *run) finishChange(ctx context.Context, id, status, detail string) {
	rn.mu.Lock()
	amended := rn.amended
	rn.amended = nil
	rn.mu.Unlock()
	if id == "" {
		return
	}
	rn.finishing.Go(func() {
		if amended != nil {
			if err := rn.r.store.Amend(ctx, id, amended[0], amended[1]); err != nil {
				rn.r.log.Warn("amend change record", "change", id, "error", err.Error())
			}
		}
		if err := rn.r.store.Finish(ctx, id, status, detail); err != nil {
			rn.r.log.Warn("record change outcome", "change", id, "status", status, "error", err.Error())
		}
	})
}

// waitFinished waits for the change records' outcomes (finishChange).
func (rn *run) waitFinished() { rn.finishing.Wait() }

func ruleNames(rules []compliance.Rule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	return out
}

// keyState carries out EnableKey, CancelKeyDeletion or EnableKeyRotation
// after re-reading the key's state. acts is one of them, or the
// CancelKeyDeletion and EnableKey of one key (a pending deletion's fix:
// the cancel leaves the key Disabled): both are made under one lease,
// after one re-read, with their loop-guard count and change records in one
// round trip. It returns an outcome per action, fewer when a transient
// error stops it; an action whose re-read shows nothing to do is
// "unchanged".
func (rn *run) keyState(ctx context.Context, st compliance.State, acts ...plan.Action) []applied {
	a := acts[0]
	fail := func(err error) []applied { return []applied{{out: Failed, err: err}} }
	h, err := rn.r.lock(ctx, a.Target)
	if err != nil {
		return fail(fmt.Errorf("%s %s: %w", opName(a.Kind), a.Target, err))
	}
	defer h.release(ctx, rn.r)
	region, acct := keyRegionAccount(a.Target, a.Region)
	c, err := rn.keyClients(ctx, st.Account, acct, region)
	if err != nil {
		return fail(err)
	}
	gf := rn.startGuardRead(ctx, a.Target)
	defer gf.settle()
	var cur string // the key's state, or "rotation <bool>"
	if a.Kind == plan.EnableKeyRotation {
		out, err := c.KMS.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return fail(fmt.Errorf("get key rotation status %s: %w", a.Target, err))
		}
		cur = "rotation " + strconv.FormatBool(out.KeyRotationEnabled)
	} else {
		out, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return fail(fmt.Errorf("describe key %s: %w", a.Target, err))
		}
		cur = string(out.KeyMetadata.KeyState)
	}
	outs := make([]applied, len(acts))
	var (
		changes []state.Change
		needed  []int // the acts with a change, in order
	)
	for i, act := range acts {
		after, done := keyStateAfter(act.Kind, cur)
		if done {
			outs[i].out = Unchanged
			continue
		}
		changes = append(changes, state.Change{Account: st.Account, Region: region, Resource: a.Target, Trails: []string{st.Trail.ARN},
			Rules: ruleNames(act.Rules), Action: string(act.Kind), Before: cur, After: after})
		needed = append(needed, i)
		cur = after
	}
	if len(changes) == 0 {
		return outs
	}
	g, err := gf.wait()
	if err == nil {
		changes, outs[needed[0]].alert, err = rn.admit(ctx, g, a.Target, changes...)
	} else {
		err = fmt.Errorf("loop guard for %s: %w", a.Target, err)
	}
	if err != nil {
		outs[needed[0]] = applied{out: Failed, err: err}
		return outs[:needed[0]+1]
	}
	if len(changes) > 0 {
		defer rn.forgetKey(a.Target)
	}
	id := aws.String(keyID(a.Target))
	for j, i := range needed {
		act := acts[i]
		if j >= len(changes) {
			outs[i].out = Skipped // refused by the loop guard (admit's alert is on the first)
			continue
		}
		if j > 0 && outs[needed[j-1]].out != Updated {
			// Recorded, not written: the action before it failed.
			rn.finishChange(ctx, changes[j].ID, state.Failed, "not written: "+opName(acts[needed[j-1]].Kind)+" did not succeed")
			outs[i] = applied{out: Skipped, msg: "an earlier action on " + a.Target + " failed or was skipped"}
			continue
		}
		var o applied
		o.out, o.alert, o.err = rn.perform(ctx, h, changes[j], func(ctx context.Context) error {
			var err error
			switch act.Kind {
			case plan.EnableKey:
				_, err = c.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
			case plan.CancelKeyDeletion:
				_, err = c.KMS.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id})
			case plan.EnableKeyRotation:
				_, err = c.KMS.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id})
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", opName(act.Kind), a.Target, err)
			}
			return nil
		})
		o.alert = cmp.Or(outs[i].alert, o.alert)
		outs[i] = o
		if o.err != nil && Transient(o.err) {
			for _, later := range changes[j+1:] {
				rn.finishChange(ctx, later.ID, state.Failed, "not written: "+opName(act.Kind)+" did not succeed")
			}
			return outs[:i+1]
		}
	}
	return outs
}

// keyStateAfter is the key's state after action k from cur, and whether
// cur needs no k at all.
func keyStateAfter(k plan.Kind, cur string) (after string, done bool) {
	switch k {
	case plan.EnableKey:
		return compliance.KeyStateEnabled, cur == compliance.KeyStateEnabled
	case plan.CancelKeyDeletion:
		// CancelKeyDeletion leaves the key Disabled
		// (https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html).
		return "Disabled", cur != compliance.KeyStatePendingDeletion
	default: // EnableKeyRotation
		return "rotation true", cur == "rotation true"
	}
}

// opName is the operation in an error message ("enable key").
func opName(k plan.Kind) string {
	var b strings.Builder
	for i, r := range string(k) {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// errKeyUnusable wraps updateTrail's refusals to point a trail at a key
// CloudTrail cannot use (nothing was written).
var errKeyUnusable = errors.New("not pointing it at key")

// errOwnWriteGone marks an UpdateTrail refused because the key policy this
// run had just written no longer grants what the trail needs (transient:
// the event is tried again).
var errOwnWriteGone = errors.New("the key policy this run wrote is no longer there")

// blocksUpdate are the findings on a freshly read key policy that forbid
// pointing a trail at the key: CloudTrail would be refused.
var blocksUpdate = map[compliance.Rule]bool{
	compliance.KeyPolicyNoEncrypt:        true,
	compliance.KeyPolicyNoDescribe:       true,
	compliance.KeyPolicyDeniesCloudTrail: true,
	// Issue 11: a policy that could not be read proves nothing, and
	// CloudTrail refuses the update without its Bucket Key Decrypt.
	compliance.KeyUnverifiable:             true,
	compliance.KeyPolicyNoBucketKeyDecrypt: true,
}

// updateTrail points the trail at a.KMSKeyID, but only after evaluating
// the key and its policy (as read in this run, and read again if the run
// wrote to the key) and finding that CloudTrail may use it.
func (rn *run) updateTrail(ctx context.Context, st compliance.State, a plan.Action) (Outcome, string, error) {
	keyARN := a.KMSKeyID
	if keyARN == "" {
		return Failed, "", fmt.Errorf("update trail %s: the plan names no key", a.Target)
	}
	if st.Trail.KMSKeyID == keyARN {
		return Unchanged, "", nil
	}
	region, _ := keyRegionAccount(keyARN, st.BucketRegion)
	// readKey answers from this run's cache unless the run wrote to the key
	// (every key write forgets it): a key this run changed is read again,
	// so a lost or overwritten write is seen before the trail moves.
	kr, err := rn.readKey(ctx, st.Account, region, keyARN)
	if err != nil {
		return Failed, "", err
	}
	if kr.Key == nil {
		return Failed, "", fmt.Errorf("update trail %s: %w %s: %s", a.Target, errKeyUnusable, keyARN, kr.Problem)
	}
	if kr.Key.State != compliance.KeyStateEnabled {
		return Failed, "", fmt.Errorf("update trail %s: %w %s: the key is %s", a.Target, errKeyUnusable, keyARN, kr.Key.State)
	}
	var why []string
	for _, f := range compliance.PolicyFindings(*kr.Key, st, rn.r.ccfg) {
		if blocksUpdate[f.Rule] {
			why = append(why, fmt.Sprintf("%s: %s", f.Rule, f.Detail))
		}
	}
	if len(why) > 0 {
		err := fmt.Errorf("update trail %s: %w %s: its policy does not let CloudTrail use it: %s",
			a.Target, errKeyUnusable, keyARN, strings.Join(why, "; "))
		if rn.wroteKey(keyARN) {
			// This run wrote what the trail needs to the key, and the policy
			// read since lacks it: someone's read-modify-write overwrote it
			// (KMS has no conditional PutKeyPolicy), or the read does not
			// show it yet. Nothing moves now; the event is tried again, and
			// the retry adds the statements again.
			err = fmt.Errorf("%w: %w", errOwnWriteGone, err)
		}
		return Failed, "", err
	}
	name := a.TrailName
	if name == "" {
		name = a.Target
	}
	trailRegion := cmp.Or(a.Region, st.Trail.HomeRegion)
	h, err := rn.r.lock(ctx, a.Target)
	if err != nil {
		return Failed, "", fmt.Errorf("update trail %s: %w", a.Target, err)
	}
	defer h.release(ctx, rn.r)
	before := st.Trail.KMSKeyID
	gf := rn.startGuardRead(ctx, a.Target)
	defer gf.settle()
	if rn.r.store != nil {
		// Under the lease, the trail as it is now: another writer may have
		// moved it since it was observed, and the change log records the
		// exact value replaced.
		out, err := rn.getTrail(ctx, st.Account, trailRegion, name)
		if err != nil {
			return Failed, "", fmt.Errorf("get trail %s: %w", a.Target, err)
		}
		if out.Trail == nil {
			return Failed, "", fmt.Errorf("update trail %s: the trail no longer exists", a.Target)
		}
		before = aws.ToString(out.Trail.KmsKeyId)
		if before == keyARN {
			return Unchanged, "", nil
		}
	}
	c, err := rn.r.clients(ctx, st.Account, trailRegion)
	if err != nil {
		return Failed, "", err
	}
	change := state.Change{Account: st.Account, Region: trailRegion, Resource: a.Target, Trails: []string{a.Target},
		Rules: ruleNames(a.Rules), Action: string(plan.UpdateTrail), Before: before, After: keyARN}
	return rn.guardedWrite(ctx, h, gf, a.Target, change, func(ctx context.Context) error {
		return rn.callUpdateTrail(ctx, c, a.Target, &cloudtrail.UpdateTrailInput{Name: aws.String(name), KmsKeyId: aws.String(keyARN)})
	})
}

// sharedWrite is the one key-policy write a group of trails sharing a key
// makes: the union of what each of their plans needs on the key.
type sharedWrite struct {
	grant  compliance.Grant
	trails []string
	rules  []compliance.Rule

	once  sync.Once
	out   Outcome
	alert string
	err   error
}

// sharedWrites are a group's shared writes, by key ARN.
type sharedWrites map[string]*sharedWrite

// shareWrites returns the shared writes of plans: one per key that two or
// more of the plans write statements to.
func shareWrites(states []compliance.State, plans []plan.Plan) sharedWrites {
	count := map[string]int{}
	for _, p := range plans {
		for _, a := range p.Actions {
			if a.Kind == plan.PutKeyPolicy && a.Grant != nil {
				count[a.Target]++
			}
		}
	}
	out := sharedWrites{}
	for i, p := range plans {
		for _, a := range p.Actions {
			if a.Kind != plan.PutKeyPolicy || a.Grant == nil || count[a.Target] < 2 {
				continue
			}
			sw := out[a.Target]
			if sw == nil {
				sw = &sharedWrite{grant: *a.Grant}
				out[a.Target] = sw
			} else {
				sw.grant = sw.grant.Union(*a.Grant)
			}
			if !slices.Contains(sw.trails, states[i].Trail.ARN) {
				sw.trails = append(sw.trails, states[i].Trail.ARN)
			}
			for _, r := range a.Rules {
				if !slices.Contains(sw.rules, r) {
					sw.rules = append(sw.rules, r)
				}
			}
		}
	}
	return out
}
