package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/plan"
)

// execute carries out plan p for the trail observed in st, in order and
// idempotently: every write is preceded by a fresh read, and an action
// whose fresh read shows nothing to do is "unchanged". In report mode every
// action is "planned" and nothing is written. After a failure, later
// actions on the same target and every UpdateTrail are skipped. A
// transient error stops the plan and is returned.
func (rn *run) execute(ctx context.Context, st compliance.State, p plan.Plan) ([]ActionResult, []string, error) {
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
			out, alert, err := rn.apply(ctx, st, a)
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
func (rn *run) apply(ctx context.Context, st compliance.State, a plan.Action) (out Outcome, alert string, err error) {
	switch a.Kind {
	case plan.PutKeyPolicy:
		return rn.putKeyPolicy(ctx, st, a)
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
// in the guard's window.
func (rn *run) guard(target string) (Outcome, string, bool) {
	ok, first := rn.r.guard.Allow(target)
	if ok {
		return "", "", true
	}
	if !first {
		return Skipped, "", false
	}
	rn.r.log.Error("loop guard tripped", "target", target)
	return Skipped, fmt.Sprintf("loop guard: %s was already changed %d times in the last %s; trailguard stops changing it and alerts instead (something may be reverting its fixes)",
		target, rn.r.guard.max, rn.r.guard.window), false
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

func (rn *run) putKeyPolicy(ctx context.Context, st compliance.State, a plan.Action) (Outcome, string, error) {
	if a.Grant == nil {
		return Failed, "", fmt.Errorf("put key policy %s: the plan has no grant", a.Target)
	}
	unlock := rn.locks.lock(a.Target)
	defer unlock()
	region, acct := keyRegionAccount(a.Target, a.Region)
	c, err := rn.keyClients(ctx, st.Account, acct, region)
	if err != nil {
		return Failed, "", err
	}
	cur, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.Target), PolicyName: aws.String(defaultPolicyName)})
	if err != nil {
		return Failed, "", fmt.Errorf("get key policy %s: %w", a.Target, err)
	}
	merged, changed, err := compliance.Merge(aws.ToString(cur.Policy), *a.Grant)
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
	// Counted per key and trail: a key shared by many trails legitimately
	// gets one write per trail it starts serving; a loop rewrites it for
	// the same trail again and again.
	if out, alert, ok := rn.guard(a.Target + " for trail " + st.Trail.ARN); !ok {
		return out, alert, nil
	}
	defer rn.forgetKey(a.Target)
	_, err = c.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
		KeyId:      aws.String(keyID(a.Target)),
		PolicyName: aws.String(defaultPolicyName),
		Policy:     aws.String(merged),
	})
	if err != nil {
		return Failed, "", fmt.Errorf("put key policy %s: %w", a.Target, err)
	}
	rn.noteWrite(a.Target)
	return Updated, "", nil
}

// keyState carries out EnableKey, CancelKeyDeletion and EnableKeyRotation
// after re-reading the key's state.
func (rn *run) keyState(ctx context.Context, st compliance.State, a plan.Action) (Outcome, string, error) {
	unlock := rn.locks.lock(a.Target)
	defer unlock()
	region, acct := keyRegionAccount(a.Target, a.Region)
	c, err := rn.keyClients(ctx, st.Account, acct, region)
	if err != nil {
		return Failed, "", err
	}
	id := aws.String(keyID(a.Target))
	var done bool
	switch a.Kind {
	case plan.EnableKeyRotation:
		out, err := c.KMS.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return Failed, "", fmt.Errorf("get key rotation status %s: %w", a.Target, err)
		}
		done = out.KeyRotationEnabled
	default:
		out, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(a.Target)})
		if err != nil {
			return Failed, "", fmt.Errorf("describe key %s: %w", a.Target, err)
		}
		state := string(out.KeyMetadata.KeyState)
		if a.Kind == plan.EnableKey {
			done = state == compliance.KeyStateEnabled
		} else {
			done = state != compliance.KeyStatePendingDeletion
		}
	}
	if done {
		return Unchanged, "", nil
	}
	if out, alert, ok := rn.guard(a.Target); !ok {
		return out, alert, nil
	}
	defer rn.forgetKey(a.Target)
	switch a.Kind {
	case plan.EnableKey:
		_, err = c.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
	case plan.CancelKeyDeletion:
		_, err = c.KMS.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id})
	case plan.EnableKeyRotation:
		_, err = c.KMS.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id})
	}
	if err != nil {
		return Failed, "", fmt.Errorf("%s %s: %w", opName(a.Kind), a.Target, err)
	}
	return Updated, "", nil
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
		return Failed, "", fmt.Errorf("update trail %s: not pointing it at key %s: %s", a.Target, keyARN, kr.Problem)
	}
	if kr.Key.State != compliance.KeyStateEnabled {
		return Failed, "", fmt.Errorf("update trail %s: not pointing it at key %s: the key is %s", a.Target, keyARN, kr.Key.State)
	}
	var why []string
	for _, f := range compliance.PolicyFindings(*kr.Key, st, rn.r.ccfg) {
		if blocksUpdate[f.Rule] {
			why = append(why, fmt.Sprintf("%s: %s", f.Rule, f.Detail))
		}
	}
	if len(why) > 0 {
		return Failed, "", fmt.Errorf("update trail %s: not pointing it at key %s: its policy does not let CloudTrail use it: %s",
			a.Target, keyARN, strings.Join(why, "; "))
	}
	if out, alert, ok := rn.guard(a.Target); !ok {
		return out, alert, nil
	}
	name := a.TrailName
	if name == "" {
		name = a.Target
	}
	c, err := rn.r.clients(ctx, st.Account, cmp.Or(a.Region, st.Trail.HomeRegion))
	if err != nil {
		return Failed, "", err
	}
	if err := rn.callUpdateTrail(ctx, c, a.Target, &cloudtrail.UpdateTrailInput{Name: aws.String(name), KmsKeyId: aws.String(keyARN)}); err != nil {
		return Failed, "", err
	}
	return Updated, "", nil
}
