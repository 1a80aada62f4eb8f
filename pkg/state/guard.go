package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// guardAttempts bounds the tries of a guard write that lost a race with
// another writer's (read again, counted again).
const guardAttempts = 20

// Allow is the loop guard shared by every container: it records one write
// attempt on resource and returns true while fewer than max attempts were
// recorded in the last window. When it refuses, alert is true the first
// time in the window, so exactly one alert is raised however many
// containers are refused.
//
// The item keeps the attempt times (epoch ms) and a version; every change
// is conditioned on the version read, and a lost race is read again, so
// concurrent writers never count one attempt twice or lose one.
func (s *Store) Allow(ctx context.Context, resource string, max int, window time.Duration) (ok, alert bool, err error) {
	for range guardAttempts {
		g, err := s.ReadGuard(ctx, resource)
		if err != nil {
			return false, false, err
		}
		next := s.nextGuard(g, max, window, 1)
		if next.item == nil {
			return false, false, nil // refused, already alerted in this window
		}
		if _, err := s.db.PutItem(ctx, next.put()); err != nil {
			if conditionFailed(err) {
				continue // another container counted at the same time: read again
			}
			return false, false, fmt.Errorf("loop guard %s: write: %w", resource, err)
		}
		return next.admitted == 1, next.alert, nil
	}
	return false, false, fmt.Errorf("loop guard %s: %w", resource, ErrBusy)
}

// GuardRead is the loop guard of one resource as read (ReadGuard), to be
// counted and committed with the change records of the writes it admits
// (Admit). A writer reads it beside its last read of the resource, so the
// guard costs no round trip of its own.
type GuardRead struct {
	resource string
	item     map[string]types.AttributeValue
	read     bool
}

// ReadGuard reads the loop guard of resource (strongly consistent).
func (s *Store) ReadGuard(ctx context.Context, resource string) (GuardRead, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.tableName(), Key: key(pkGuard, resource), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return GuardRead{}, fmt.Errorf("loop guard %s: read: %w", resource, err)
	}
	return GuardRead{resource: resource, item: out.Item, read: true}, nil
}

// guardWrite is the guard item to put after counting n attempts against
// what was read: item is nil when nothing is to be written (every attempt
// refused and the alert already raised in this window).
type guardWrite struct {
	s        *Store
	item     map[string]types.AttributeValue
	cond     string
	vals     map[string]types.AttributeValue
	admitted int
	alert    bool
}

func (w guardWrite) put() *dynamodb.PutItemInput {
	in := &dynamodb.PutItemInput{TableName: w.s.tableName(), Item: w.item, ConditionExpression: aws.String(w.cond)}
	if len(w.vals) > 0 {
		in.ExpressionAttributeValues = w.vals
	}
	return in
}

// nextGuard counts n more write attempts on the guard read as g: the first
// ones that fit under limit in the last window are admitted; when one is
// refused, the alert is raised unless it was already in this window. The
// put is conditioned on the version read.
func (s *Store) nextGuard(g GuardRead, limit int, window time.Duration, n int) guardWrite {
	limit = max(limit, 1)
	now := s.now()
	cut := now.Add(-window).UnixMilli()
	version := numAttr(g.item, "version")
	var kept []types.AttributeValue
	if l, isList := g.item["attempts"].(*types.AttributeValueMemberL); isList {
		for _, v := range l.Value {
			if nv, isNum := v.(*types.AttributeValueMemberN); isNum {
				if t, perr := strconv.ParseInt(nv.Value, 10, 64); perr == nil && t > cut {
					kept = append(kept, nv)
				}
			}
		}
	}
	w := guardWrite{s: s, cond: "attribute_not_exists(pk)", admitted: min(n, max(0, limit-len(kept)))}
	if g.item != nil {
		w.cond, w.vals = "version = :v", map[string]types.AttributeValue{":v": num(version)}
	}
	item := map[string]types.AttributeValue{
		"pk": str(pkGuard), "sk": str(g.resource), "version": num(version + 1),
		"expires_at": s.expiresAt(2 * window),
	}
	alerted := numAttr(g.item, "alerted_ms")
	if w.admitted < n {
		if alerted > cut {
			if w.admitted == 0 {
				return guardWrite{s: s} // refused again: nothing to count or raise
			}
		} else {
			alerted, w.alert = now.UnixMilli(), true
		}
	}
	if alerted > 0 {
		item["alerted_ms"] = num(alerted)
	}
	for range w.admitted {
		kept = append(kept, num(now.UnixMilli()))
	}
	item["attempts"] = &types.AttributeValueMemberL{Value: kept}
	w.item = item
	return w
}

// Admit asks the loop guard read as g for one write attempt per change and
// records the changes it admits as Pending, in one TransactWriteItems: the
// attempts are counted if and only if their records exist. admitted is the
// prefix of changes the guard allows (fewer than max attempts in the last
// window, the earlier changes included), with their ids, times and writer
// set; alert is true when a change was refused for the first time in the
// window, as Allow's. A guard changed by another writer since g was read
// is read again. Nothing is written on an error.
//
// The transaction's ClientRequestToken, which the SDK fills in once per
// call, makes an SDK retry after a lost answer return the first outcome
// instead of counting twice ("Providing a ClientRequestToken makes the call
// to TransactWriteItems idempotent",
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
func (s *Store) Admit(ctx context.Context, g GuardRead, max int, window time.Duration, changes ...Change) (admitted []Change, alert bool, err error) {
	if !g.read {
		return nil, false, errors.New("loop guard: Admit needs a ReadGuard of the resource")
	}
	if len(changes) == 0 {
		return nil, false, fmt.Errorf("loop guard %s: no change to admit", g.resource)
	}
	for attempt := 1; attempt <= guardAttempts; attempt++ {
		if attempt > 1 {
			if g, err = s.ReadGuard(ctx, g.resource); err != nil {
				return nil, false, err
			}
		}
		next := s.nextGuard(g, max, window, len(changes))
		if next.item == nil {
			return nil, false, nil
		}
		if next.admitted == 0 {
			// Refused, alerted now: only the alert mark is written.
			if _, err := s.db.PutItem(ctx, next.put()); err != nil {
				if conditionFailed(err) {
					continue
				}
				return nil, false, fmt.Errorf("loop guard %s: write: %w", g.resource, err)
			}
			return nil, true, nil
		}
		recs := make([]Change, next.admitted)
		items := []types.TransactWriteItem{{Put: &types.Put{TableName: s.tableName(), Item: next.item,
			ConditionExpression: aws.String(next.cond), ExpressionAttributeValues: next.vals}}}
		for i, c := range changes[:next.admitted] {
			rec, item, err := s.changeItem(c)
			if err != nil {
				return nil, false, err
			}
			recs[i] = rec
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: s.tableName(), Item: item}})
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return recs, next.alert, nil
		}
		var tc *types.TransactionCanceledException
		switch {
		case errors.As(err, &tc) && len(tc.CancellationReasons) > 0 && aws.ToString(tc.CancellationReasons[0].Code) == "ConditionalCheckFailed":
			// Another writer counted since the read: read again.
		case transactionConflict(err):
			if serr := sleepCtx(ctx, conflictPause(attempt)); serr != nil {
				return nil, false, fmt.Errorf("loop guard %s: %w", g.resource, err)
			}
		default:
			return nil, false, fmt.Errorf("loop guard %s and change record: %w", g.resource, err)
		}
	}
	return nil, false, fmt.Errorf("loop guard %s: %w", g.resource, ErrBusy)
}
