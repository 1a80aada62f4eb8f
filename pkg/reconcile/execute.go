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
	for _, a := range p.Actions {
		ar := ActionResult{Action: a.Kind, Target: a.Target, Region: a.Region, KMSKeyID: a.KMSKeyID}
		switch {
		case rn.r.cfg.Mode == config.Report:
			ar.Outcome = Planned
		case a.Kind == plan.UpdateTrail && anyFail:
			ar.Outcome, ar.Message = Skipped, "an action it depends on failed or was skipped"
		case failed[a.Target] && a.Kind != plan.StartLogging: // logging does not depend on the key fixes
			ar.Outcome, ar.Message = Skipped, "an earlier action on "+a.Target+" failed or was skipped"
		default:
			out, alert, err := rn.apply(ctx, st, a, shared)
			ar.Outcome = out
			if alert != "" {
				alerts = append(alerts, alert)
			}
			if err != nil {
				ar.Outcome, ar.Message = Failed, err.Error()
				if Transient(err) {
					results = append(results, ar)
					return results, alerts, err
				}
				rn.r.log.Warn("action failed", "action", string(a.Kind), "target", a.Target, "trail", st.Trail.ARN, "error", err.Error())
			} else if out == Skipped {
				ar.Message = "loop guard: too many changes of " + a.Target + " in the last hour"
			}
		}
		if ar.Outcome == Failed || ar.Outcome == Skipped {
			failed[a.Target] = true
			anyFail = true
		}
		results = append(results, ar)
	}
	return results, alerts, nil
}

// apply carries out one action. alert is set when a human must know (a
// Deny or size problem found at write time, the loop guard tripping).
func (rn *run) apply(ctx context.Context, st compliance.State, a plan.Action, shared sharedWrites) (out Outcome, alert string, err error) {
	switch a.Kind {
	case plan.PutKeyPolicy:
		return rn.putKeyPolicy(ctx, st, a, shared)
	case plan.EnableKey, plan.CancelKeyDeletion, plan.EnableKeyRotation:
		return rn.keyState(ctx, st, a)
	case plan.UpdateTrail:
		return rn.updateTrail(ctx, st, a)
	case plan.StartLogging:
		return rn.startLogging(ctx, st, a)
	}
	return Failed, "", fmt.Errorf("unknown action %q on %s", a.Kind, a.Target)
}

// guard asks the loop guard for one more write to target. When refused,
// the action is skipped with msg, and msg is also an alert the first time
// in the guard's window. err is a failure of the shared guard's table
// (transient: nothing is written without the guard's answer).
func (rn *run) guard(ctx context.Context, target string) (Outcome, string, bool, error) {
	ok, first, err := rn.r.allow(ctx, target)
	if err != nil {
		return Failed, "", false, fmt.Errorf("loop guard for %s: %w", target, err)
	}
	if ok {
		return "", "", true, nil
	}
	if !first {
		return Skipped, "", false, nil
	}
	rn.r.log.Error("loop guard tripped", "target", target)
	return Skipped, fmt.Sprintf("loop guard: %s was already changed %d times in the last %s; trailguard stops changing it and alerts instead (something may be reverting its fixes)",
		target, rn.r.guard.max, rn.r.guard.window), false, nil
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
// lease: it reads the policy again, merges grant, asks the loop guard,
// records the change, checks the lease is still held, writes, and records
// the outcome.
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
	cur, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.Target), PolicyName: aws.String(defaultPolicyName)})
	if err != nil {
		return Failed, "", fmt.Errorf("get key policy %s: %w", a.Target, err)
	}
	before := aws.ToString(cur.Policy)
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
	// Counted per key and trails: a key shared by many trails legitimately
	// gets one write per trail (or set of trails) it starts serving; a
	// loop rewrites it for the same trails again and again.
	if out, alert, ok, err := rn.guard(ctx, guardKey(a.Target, trails)); !ok {
		return out, alert, err
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
	if rn.r.store == nil {
		return rn.recorded(ctx, h, change, func(ctx context.Context) error { return put(ctx, merged) })
	}
	// With a table, the loop guard and the change record cost round trips
	// after the read above: read the policy once more right before the
	// write, so that a person's edit is overwritten only if it lands in
	// the single round trip between this read and the write (KMS has no
	// conditional PutKeyPolicy).
	return rn.recorded(ctx, h, change, func(ctx context.Context) error {
		again, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.Target), PolicyName: aws.String(defaultPolicyName)})
		if err != nil {
			return fmt.Errorf("get key policy %s: %w", a.Target, err)
		}
		now := aws.ToString(again.Policy)
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

// recorded makes one write: it records the change as pending (when a
// table is configured), checks the lease is still held, calls write, and
// records the outcome. Nothing is written when the record cannot be made:
// every write trailguard makes is in the change log.
func (rn *run) recorded(ctx context.Context, h held, c state.Change, write func(context.Context) error) (Outcome, string, error) {
	var id string
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
		id, c = rec.ID, rec
	}
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

func (rn *run) finishChange(ctx context.Context, id, status, detail string) {
	rn.mu.Lock()
	amended := rn.amended
	rn.amended = nil
	rn.mu.Unlock()
	if id == "" {
		return
	}
	if amended != nil {
		if err := rn.r.store.Amend(ctx, id, amended[0], amended[1]); err != nil {
			rn.r.log.Warn("amend change record", "change", id, "error", err.Error())
		}
	}
	if err := rn.r.store.Finish(ctx, id, status, detail); err != nil {
		rn.r.log.Warn("record change outcome", "change", id, "status", status, "error", err.Error())
	}
}

func ruleNames(rules []compliance.Rule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	return out
}

// keyState carries out EnableKey, CancelKeyDeletion and EnableKeyRotation
// after re-reading the key's state.
func (rn *run) keyState(ctx context.Context, st compliance.State, a plan.Action) (Outcome, string, error) {
	h, err := rn.r.lock(ctx, a.Target)
	if err != nil {
		return Failed, "", fmt.Errorf("%s %s: %w", opName(a.Kind), a.Target, err)
	}
	defer h.release(ctx, rn.r)
	region, acct := keyRegionAccount(a.Target, a.Region)
	c, err := rn.keyClients(ctx, st.Account, acct, region)
	if err != nil {
		return Failed, "", err
	}
	id := aws.String(keyID(a.Target))
	var done bool
	var before string
	switch a.Kind {
	case plan.EnableKeyRotation:
		out, err := c.KMS.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return Failed, "", fmt.Errorf("get key rotation status %s: %w", a.Target, err)
		}
		done = out.KeyRotationEnabled
		before = "rotation " + strconv.FormatBool(out.KeyRotationEnabled)
	default:
		out, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return Failed, "", fmt.Errorf("describe key %s: %w", a.Target, err)
		}
		ks := string(out.KeyMetadata.KeyState)
		before = ks
		if a.Kind == plan.EnableKey {
			done = ks == compliance.KeyStateEnabled
		} else {
			done = ks != compliance.KeyStatePendingDeletion
		}
	}
	if done {
		return Unchanged, "", nil
	}
	if out, alert, ok, err := rn.guard(ctx, a.Target); !ok {
		return out, alert, err
	}
	defer rn.forgetKey(a.Target)
	after := map[plan.Kind]string{plan.EnableKey: compliance.KeyStateEnabled, plan.CancelKeyDeletion: "Disabled", plan.EnableKeyRotation: "rotation true"}[a.Kind]
	change := state.Change{Account: st.Account, Region: region, Resource: a.Target, Trails: []string{st.Trail.ARN},
		Rules: ruleNames(a.Rules), Action: string(a.Kind), Before: before, After: after}
	return rn.recorded(ctx, h, change, func(ctx context.Context) error {
		var err error
		switch a.Kind {
		case plan.EnableKey:
			_, err = c.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
		case plan.CancelKeyDeletion:
			_, err = c.KMS.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id})
		case plan.EnableKeyRotation:
			_, err = c.KMS.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id})
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", opName(a.Kind), a.Target, err)
		}
		return nil
	})
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
	if out, alert, ok, err := rn.guard(ctx, a.Target); !ok {
		return out, alert, err
	}
	c, err := rn.r.clients(ctx, st.Account, trailRegion)
	if err != nil {
		return Failed, "", err
	}
	change := state.Change{Account: st.Account, Region: trailRegion, Resource: a.Target, Trails: []string{a.Target},
		Rules: ruleNames(a.Rules), Action: string(plan.UpdateTrail), Before: before, After: keyARN}
	return rn.recorded(ctx, h, change, func(ctx context.Context) error {
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
