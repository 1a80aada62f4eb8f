package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

// DefaultPropagationBackoff are the waits before each retry of an
// UpdateTrail that CloudTrail refused with
// InsufficientEncryptionPolicyException right after this run wrote the
// key's policy: about half a minute in all, then the run returns a
// transient error and Lambda's retry takes over.
//
// KMS is eventually consistent: "changes ... might not be immediately
// visible"; a change usually takes effect within seconds but can take
// minutes (AWS KMS developer guide, "AWS KMS eventual consistency",
// https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html).
var DefaultPropagationBackoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second}

// Sleeper waits d or until ctx ends (then it returns ctx's error).
type Sleeper func(ctx context.Context, d time.Duration) error

// sleepCtx is the real Sleeper.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WithSleeper replaces how the reconciler waits between propagation
// retries (tests: a sleeper that records and returns at once).
func WithSleeper(s Sleeper) Option { return func(r *Reconciler) { r.sleep = s } }

// WithPropagationBackoff replaces DefaultPropagationBackoff (nil or empty:
// no retry within the run).
func WithPropagationBackoff(waits []time.Duration) Option {
	return func(r *Reconciler) { r.propagation = append([]time.Duration{}, waits...) }
}

// errPropagating wraps the last InsufficientEncryptionPolicyException of an
// UpdateTrail retried after this run's own key-policy write: Transient
// reports it as transient, so Lambda retries the event.
type errPropagating struct{ err error }

func (e *errPropagating) Error() string {
	return e.err.Error() + " (the key policy this run wrote may still be propagating; retried later)"
}
func (e *errPropagating) Unwrap() error { return e.err }

// noteWrite records that this run wrote the policy of key keyARN.
func (rn *run) noteWrite(keyARN string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.wrote == nil {
		rn.wrote = map[string]bool{}
	}
	rn.wrote[keyARN] = true
}

func (rn *run) wroteKey(keyARN string) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.wrote[keyARN]
}

// callUpdateTrail calls UpdateTrail for trail target. When CloudTrail
// answers InsufficientEncryptionPolicyException and this run wrote the
// policy of in.KmsKeyId, the policy may not have propagated yet: the call is
// retried after each of the reconciler's propagation waits, and when they
// are used up the error is returned as transient. Without a write in this
// run the exception is terminal: the policy trailguard checked is what KMS
// has, so something else (the bucket policy, say) is refusing.
func (rn *run) callUpdateTrail(ctx context.Context, c *Clients, target string, in *cloudtrail.UpdateTrailInput) error {
	keyARN := ""
	if in.KmsKeyId != nil {
		keyARN = *in.KmsKeyId
	}
	waits := rn.r.propagation
	for attempt := 0; ; attempt++ {
		_, err := c.CloudTrail.UpdateTrail(ctx, in)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("update trail %s: %w", target, err)
		if errorCode(err) != "InsufficientEncryptionPolicyException" || !rn.wroteKey(keyARN) {
			return err
		}
		if attempt >= len(waits) {
			rn.r.log.Warn("key policy still not in effect for CloudTrail after retries", "trail", target, "key", keyARN, "attempts", attempt+1)
			return &errPropagating{err: err}
		}
		rn.r.log.Info("UpdateTrail refused right after our key-policy write; waiting for KMS to propagate it",
			"trail", target, "key", keyARN, "attempt", attempt+1, "wait", waits[attempt].String())
		if serr := rn.r.sleep(ctx, waits[attempt]); serr != nil {
			return errors.Join(&errPropagating{err: err}, serr)
		}
	}
}
