package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/state"
)

// ChangeLog is what Undo and History read of the store (state.Store).
type ChangeLog interface {
	Get(ctx context.Context, id string) (state.Change, error)
	History(ctx context.Context, f state.Filter) ([]state.Change, error)
}

// ErrNoStore is returned by History and Undo without a state table.
var ErrNoStore = errors.New("no state table configured (TRAILGUARD_TABLE): trailguard cannot lock or record changes here")

// ErrUndoRefused is returned (wrapped) when an undo would be unsafe or
// would overwrite someone else's later change; nothing was written.
var ErrUndoRefused = errors.New("undo refused")

// History lists the recorded changes, newest first.
func (r *Reconciler) History(ctx context.Context, f state.Filter) ([]state.Change, error) {
	if r.store == nil {
		return nil, ErrNoStore
	}
	return r.store.History(ctx, f)
}

type undoKey struct{}

// Undo restores the value change id replaced, only while the resource
// still holds exactly what trailguard wrote: a later edit by anyone else
// is never overwritten (ErrUndoRefused says so). It also refuses what
// trailguard never does: a key policy that would leave a trail on the key
// unable to use it, a trail moved back to no encryption or to a key
// CloudTrail cannot use, and disabling a key or scheduling its deletion
// again. The undo is itself a recorded change (UndoOf = id) and the
// original is marked undone. A trail that still breaks a rule afterwards
// is fixed again by the next event or sweep unless it is exempt (tag) or
// trailguard runs in report mode.
func (r *Reconciler) Undo(ctx context.Context, id string) (state.Change, error) {
	if r.store == nil {
		return state.Change{}, ErrNoStore
	}
	c, err := r.store.Get(ctx, id)
	if err != nil {
		return state.Change{}, err
	}
	refuse := func(format string, args ...any) (state.Change, error) {
		return c, fmt.Errorf("change %s: %w: %s", id, ErrUndoRefused, fmt.Sprintf(format, args...))
	}
	switch c.Status {
	case state.Undone:
		return refuse("it was undone already")
	case state.Failed:
		return refuse("the write failed, there is nothing to undo")
	}
	if c.UndoOf != "" {
		return refuse("it is itself the undo of %s", c.UndoOf)
	}
	rn := r.newRun()
	ctx = context.WithValue(ctx, undoKey{}, id)
	var undone state.Change
	switch plan.Kind(c.Action) {
	case plan.PutKeyPolicy:
		undone, err = rn.undoKeyPolicy(ctx, c)
	case plan.UpdateTrail:
		undone, err = rn.undoUpdateTrail(ctx, c)
	default:
		return refuse("%s is not undone by trailguard: it never disables a key, schedules its deletion, turns rotation off or stops a trail logging; do that yourself if you mean it", c.Action)
	}
	rn.waitFinished()
	if err != nil {
		return c, err
	}
	if err := r.store.Finish(ctx, id, state.Undone, "undone by "+undone.ID); err != nil {
		r.log.Warn("mark change undone", "change", id, "error", err.Error())
	}
	return undone, nil
}

// undoOf returns the change id being undone under ctx.
func undoOf(ctx context.Context) string {
	id, _ := ctx.Value(undoKey{}).(string)
	return id
}

func (rn *run) undoKeyPolicy(ctx context.Context, c state.Change) (state.Change, error) {
	refuse := func(format string, args ...any) (state.Change, error) {
		return state.Change{}, fmt.Errorf("change %s: %w: %s", c.ID, ErrUndoRefused, fmt.Sprintf(format, args...))
	}
	h, err := rn.r.lock(ctx, c.Resource)
	if err != nil {
		return state.Change{}, fmt.Errorf("undo %s: %w", c.ID, err)
	}
	defer h.release(ctx, rn.r)
	region, acct := keyRegionAccount(c.Resource, c.Region)
	kc, err := rn.keyClients(ctx, c.Account, acct, region)
	if err != nil {
		return state.Change{}, err
	}
	cur, err := kc.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(c.Resource), PolicyName: aws.String(defaultPolicyName)})
	if err != nil {
		return state.Change{}, fmt.Errorf("undo %s: get key policy %s: %w", c.ID, c.Resource, err)
	}
	if !sameJSON(aws.ToString(cur.Policy), c.After) {
		return refuse("the policy of %s was changed after trailguard's write; the later change is not overwritten", c.Resource)
	}
	// Every trail now on the key must still be able to use it under the
	// policy restored.
	kr, err := rn.readKey(ctx, c.Account, region, c.Resource)
	if err != nil {
		return state.Change{}, err
	}
	if kr.Key == nil {
		return refuse("key %s: %s", c.Resource, kr.Problem)
	}
	restored := *kr.Key
	restored.Policy = c.Before
	trails, err := rn.findTrails(ctx, c.Account, func(id string) bool { return id != "" && (id == kr.Key.ARN || id == kr.Key.ID) })
	if err != nil {
		return state.Change{}, fmt.Errorf("undo %s: find trails using %s: %w", c.ID, c.Resource, err)
	}
	for _, t := range trails {
		st, err := rn.observe(ctx, c.Account, t)
		if err != nil {
			return state.Change{}, fmt.Errorf("undo %s: %w", c.ID, err)
		}
		for _, f := range compliance.PolicyFindings(restored, st, rn.r.ccfg) {
			if blocksUpdate[f.Rule] {
				return refuse("trail %s uses %s and the previous policy would not let CloudTrail use it (%s); move the trail first", t.ARN, c.Resource, f.Rule)
			}
		}
	}
	change := state.Change{Account: c.Account, Region: region, Resource: c.Resource, Trails: c.Trails,
		Rules: c.Rules, Action: string(plan.PutKeyPolicy), Before: aws.ToString(cur.Policy), After: c.Before}
	return rn.undoWrite(ctx, h, change, func(ctx context.Context) error {
		_, err := kc.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID(c.Resource)),
			PolicyName: aws.String(defaultPolicyName), Policy: aws.String(c.Before)})
		if err != nil {
			return fmt.Errorf("put key policy %s: %w", c.Resource, err)
		}
		return nil
	})
}

func (rn *run) undoUpdateTrail(ctx context.Context, c state.Change) (state.Change, error) {
	refuse := func(format string, args ...any) (state.Change, error) {
		return state.Change{}, fmt.Errorf("change %s: %w: %s", c.ID, ErrUndoRefused, fmt.Sprintf(format, args...))
	}
	if c.Before == "" {
		return refuse("the trail was not encrypted before; trailguard never removes a trail's encryption")
	}
	out, err := rn.getTrail(ctx, c.Account, c.Region, c.Resource)
	if err != nil {
		return state.Change{}, fmt.Errorf("undo %s: get trail %s: %w", c.ID, c.Resource, err)
	}
	if out.Trail == nil {
		return refuse("trail %s no longer exists", c.Resource)
	}
	if got := aws.ToString(out.Trail.KmsKeyId); got != c.After {
		return refuse("trail %s is on %q now, not on %s that trailguard set; the later change is not overwritten", c.Resource, got, c.After)
	}
	st, err := rn.observe(ctx, c.Account, toTrail(out.Trail))
	if err != nil {
		return state.Change{}, fmt.Errorf("undo %s: %w", c.ID, err)
	}
	// updateTrail checks the previous key like any other: enabled, and a
	// policy that lets CloudTrail use it; it re-reads the trail under the
	// lease and records the change.
	res, _, err := rn.updateTrail(ctx, st, plan.Action{Kind: plan.UpdateTrail, Target: c.Resource, Region: c.Region,
		TrailName: c.Resource, KMSKeyID: c.Before, Rules: rulesOf(c.Rules)})
	if err != nil {
		if errors.Is(err, errKeyUnusable) {
			return refuse("%v", err)
		}
		// Anything else (a transient error, a lost answer, access
		// denied) is not a refusal: the trail may have moved.
		return state.Change{}, fmt.Errorf("undo %s: %w", c.ID, err)
	}
	if res != Updated {
		return refuse("the trail was not changed (%s)", res)
	}
	return rn.lastUndo, nil
}

// undoWrite records and makes an undo's write.
func (rn *run) undoWrite(ctx context.Context, h held, c state.Change, write func(context.Context) error) (state.Change, error) {
	out, _, err := rn.recorded(ctx, h, c, write)
	if err != nil {
		return state.Change{}, err
	}
	if out != Updated {
		return state.Change{}, fmt.Errorf("undo: %s", out)
	}
	return rn.lastUndo, nil
}

func rulesOf(names []string) []compliance.Rule {
	out := make([]compliance.Rule, 0, len(names))
	for _, n := range names {
		out = append(out, compliance.Rule(n))
	}
	return out
}

// sameJSON reports whether a and b are the same JSON value (KMS may
// return a policy with other whitespace than it was given).
func sameJSON(a, b string) bool {
	if strings.TrimSpace(a) == strings.TrimSpace(b) {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
