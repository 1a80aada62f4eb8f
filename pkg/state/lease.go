package state

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is a held lease on one resource.
type Lease struct {
	s        *Store
	resource string
	owner    string
	until    time.Time
}

// Acquire takes the lease on resource: a conditional PutItem that succeeds
// only when no lease item exists, the existing one has expired, or it is
// this attempt's own (a retried request). While
// another writer holds it, Acquire waits (50 ms, doubling to 1 s) up to
// the store's wait, then returns ErrBusy. A crashed holder's lease expires
// after the lease duration.
func (s *Store) Acquire(ctx context.Context, resource string) (*Lease, error) {
	owner := s.writer + "/" + randomID()
	deadline := s.now().Add(s.wait)
	backoff := 50 * time.Millisecond
	for {
		now := s.now()
		until := now.Add(s.lease)
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: s.tableName(),
			Item: map[string]types.AttributeValue{
				"pk": str(pkLease), "sk": str(resource), "owner": str(owner),
				"until_ms": num(until.UnixMilli()), "expires_at": num(until.Add(time.Hour).Unix()),
			},
			// The owner clause makes an SDK retry of a take whose answer
			// was lost succeed instead of waiting for its own lease.
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR until_ms < :now OR #o = :me"),
			ExpressionAttributeNames:  map[string]string{"#o": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli()), ":me": str(owner)},
		})
		if err == nil {
			return &Lease{s: s, resource: resource, owner: owner, until: until}, nil
		}
		if !conditionFailed(err) {
			return nil, fmt.Errorf("take lease on %s: %w", resource, err)
		}
		if !s.now().Add(backoff).Before(deadline) {
			return nil, fmt.Errorf("take lease on %s (waited %s): %w", resource, s.wait, ErrBusy)
		}
		if err := s.sleep(ctx, backoff); err != nil {
			return nil, fmt.Errorf("take lease on %s: %w", resource, err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// safety is how much of the lease must be left for a write to start.
func (l *Lease) safety() time.Duration { return min(maxLeaseSafety, l.s.lease/5) }

// Check returns ErrLeaseLost when less than a safety margin of the lease
// is left: a write must start only while the lease is surely still held.
func (l *Lease) Check() error {
	if left := l.until.Sub(l.s.now()); left < l.safety() {
		return fmt.Errorf("lease on %s (%s left): %w", l.resource, left.Round(time.Millisecond), ErrLeaseLost)
	}
	return nil
}

// WriteContext returns ctx bounded by the time the lease still protects a
// write: its end less half the safety margin. The read-merge-write made
// under the lease runs in it, so a call that is still retrying or waiting
// (the SDK's retry backoff, the adaptive mode's client-side rate limiter)
// when the lease runs out is cancelled instead of landing after another
// writer took the lease and wrote: KMS has no conditional PutKeyPolicy and
// CloudTrail no conditional UpdateTrail to fence a late write. The half
// margin left covers a request already on the wire when the context ends.
func (l *Lease) WriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.until.Sub(l.s.now())-l.safety()/2)
}

// Release gives the lease up: a DeleteItem conditioned on still owning it,
// so a lease that expired and was taken by another writer is left alone.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.s.db.DeleteItem(context.WithoutCancel(ctx), &dynamodb.DeleteItemInput{
		TableName:                 l.s.tableName(),
		Key:                       key(pkLease, l.resource),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(l.owner)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release lease on %s: %w", l.resource, err)
	}
	return nil
}
