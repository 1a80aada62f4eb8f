package state

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SweepAPI is the part of the DynamoDB client a fanned-out sweep's record
// uses (Sweeps).
type SweepAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ SweepAPI = (*dynamodb.Client)(nil)

// SweepPermissions are the IAM actions the sweep coordinator and workers
// call on the state table for the sweep record. A TransactWriteItems call
// needs the permission of each action inside it (PutItem, UpdateItem)
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
var SweepPermissions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}

// Partition key values of the sweep items: one record per sweep (sk: the
// sweep id) and one marker per completed work item (pk "sweep#<id>").
const (
	pkSweep     = "sweep"
	pkSweepItem = "sweep#"
	// DefaultSweepRetention is how long sweep records and markers are kept
	// (TTL): far longer than a sweep.
	DefaultSweepRetention = 7 * 24 * time.Hour
	// MaxNoteBytes bounds the note a work item leaves for the summary
	// (a DynamoDB item holds at most 400 KB).
	MaxNoteBytes = 32 * 1024
)

// ErrSweepNotFound is returned (wrapped) when a work item names a sweep
// that has no record.
var ErrSweepNotFound = errors.New("state: no such sweep")

// ErrSweepStarted is returned (wrapped) by Start when the sweep already
// has a record that another call wrote (a retried delivery of the same
// schedule event).
var ErrSweepStarted = errors.New("state: the sweep has been started already")

// Sweeps keeps the records of fanned-out sweeps in the state table: the
// coordinator writes the number of work items (Start); each worker adds
// its item's counts exactly once (Complete); the one that finds every item
// done and wins Claim writes the summary. It is safe for concurrent use.
type Sweeps struct {
	db        SweepAPI
	table     string
	now       func() time.Time
	retention time.Duration
}

// NewSweeps returns the sweep records on table; now is the clock (nil:
// time.Now).
func NewSweeps(db SweepAPI, table string, now func() time.Time) *Sweeps {
	if now == nil {
		now = time.Now
	}
	return &Sweeps{db: db, table: table, now: now, retention: DefaultSweepRetention}
}

// ItemCounts is what one work item (or a whole sweep) counted.
type ItemCounts struct {
	// Trails reconciled, Changed (a write made), Alerting (an alert or a
	// failed action), Errors (terminal errors not tied to a trail).
	Trails, Changed, Alerting, Errors int
	// Failed is 1 for an item that failed for good (its last delivery
	// failed, or it could not be enqueued).
	Failed int
}

// SweepRecord is a sweep's record: items enqueued, items done and the
// sums of their counts.
type SweepRecord struct {
	ID      string
	Items   int
	Done    int
	Started time.Time
	Counts  ItemCounts
	// Claimed is set once a worker has taken the summary.
	Claimed bool
}

// Complete reports whether every item of the sweep is done.
func (r SweepRecord) Complete() bool { return r.Items > 0 && r.Done >= r.Items }

// Start writes the record of sweep id with items work items. It fails
// with ErrSweepStarted if another call already wrote it.
func (s *Sweeps) Start(ctx context.Context, id string, items int) error {
	if id == "" || items < 1 {
		return fmt.Errorf("start sweep %q: want an id and at least one item (got %d)", id, items)
	}
	item := key(pkSweep, id)
	item["items"] = num(int64(items))
	item["done"] = num(0)
	item["started"] = num(s.now().UnixMilli())
	item["expires_at"] = num(s.now().Add(s.retention).Unix())
	token := randomID()
	item["token"] = str(token)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if conditionFailed(err) {
		// The SDK retries a call whose answer was lost: the record may be
		// this call's own.
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pkSweep, id), ConsistentRead: aws.Bool(true)})
		if gerr == nil && strAttr(out.Item, "token") == token {
			return nil
		}
		if gerr == nil && out.Item != nil {
			return fmt.Errorf("start sweep %s: %w", id, ErrSweepStarted)
		}
	}
	if err != nil {
		return fmt.Errorf("start sweep %s: %w", id, err)
	}
	return nil
}

// Complete records work item index of sweep id as done with counts c and
// note (what the summary lists, at most MaxNoteBytes; longer is cut). The
// item's marker and the record's sums are written in one transaction, so
// an item delivered twice is counted once: the second time dup is true
// and nothing is written. It returns the record as read right after
// (strongly consistent).
func (s *Sweeps) Complete(ctx context.Context, id string, index int, c ItemCounts, note string) (rec SweepRecord, dup bool, err error) {
	if len(note) > MaxNoteBytes {
		note = note[:MaxNoteBytes]
	}
	marker := key(pkSweepItem+id, fmt.Sprintf("%09d", index))
	marker["expires_at"] = num(s.now().Add(s.retention).Unix())
	if note != "" {
		marker["note"] = str(note)
	}
	vals := map[string]types.AttributeValue{
		":one": num(1), ":t": num(int64(c.Trails)), ":c": num(int64(c.Changed)), ":a": num(int64(c.Alerting)),
		":e": num(int64(c.Errors)), ":f": num(int64(c.Failed)),
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: key(pkSweep, id),
			// An item beyond the count (never sent by the coordinator)
			// cannot complete the sweep early.
			ConditionExpression:       aws.String("attribute_exists(pk) AND done < #items"),
			UpdateExpression:          aws.String("ADD done :one, trails :t, changed :c, alerting :a, errors :e, failed :f"),
			ExpressionAttributeNames:  map[string]string{"#items": "items"},
			ExpressionAttributeValues: vals,
		}},
	}}
	// Every work item updates the one sweep record, so transactions of
	// workers finishing at the same time conflict: DynamoDB cancels a
	// TransactWriteItems that "conflicts with a concurrent
	// TransactWriteItems request" (reason code TransactionConflict,
	// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html),
	// and a canceled transaction wrote nothing, so it is tried again after
	// a jittered pause rather than failing the item (which would
	// reconcile its account and Region again).
	for attempt := 1; ; attempt++ {
		_, err = s.db.TransactWriteItems(ctx, in)
		if !transactionConflict(err) || attempt == conflictAttempts {
			break
		}
		if serr := sleepCtx(ctx, conflictPause(attempt)); serr != nil {
			break
		}
	}
	if err != nil {
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			return rec, false, fmt.Errorf("complete sweep %s item %d: %w", id, index, err)
		}
		reasons := tc.CancellationReasons
		switch {
		case len(reasons) == 2 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed":
			dup = true
		case len(reasons) == 2 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed":
			return rec, false, fmt.Errorf("complete sweep %s item %d: %w (or every item is already done)", id, index, ErrSweepNotFound)
		default:
			return rec, false, fmt.Errorf("complete sweep %s item %d: %w", id, index, err)
		}
	}
	rec, err = s.Get(ctx, id)
	return rec, dup, err
}

// conflictAttempts bounds the tries of a work item's transaction that
// DynamoDB cancels for a concurrent one (Complete).
const conflictAttempts = 10

// conflictPause is the pause before try attempt+1: a random duration up
// to 25 ms doubled per try, at most 1.6 s ("full jitter").
func conflictPause(attempt int) time.Duration {
	ceiling := 25 * time.Millisecond << min(attempt-1, 6)
	return time.Duration(mrand.Int64N(int64(ceiling)) + 1)
}

// transactionConflict reports whether err is a TransactWriteItems
// cancellation caused only by concurrent transactions (no condition
// failed), which is safe to try again.
func transactionConflict(err error) bool {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		return false
	}
	conflict := false
	for _, r := range tc.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			conflict = true
		case "", "None":
		default:
			return false
		}
	}
	return conflict
}

// Get reads the record of sweep id (strongly consistent).
func (s *Sweeps) Get(ctx context.Context, id string) (SweepRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pkSweep, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return SweepRecord{}, fmt.Errorf("read sweep %s: %w", id, err)
	}
	if out.Item == nil {
		return SweepRecord{}, fmt.Errorf("read sweep %s: %w", id, ErrSweepNotFound)
	}
	it := out.Item
	_, claimed := it["claimed"]
	return SweepRecord{
		ID: id, Items: int(numAttr(it, "items")), Done: int(numAttr(it, "done")),
		Started: time.UnixMilli(numAttr(it, "started")), Claimed: claimed,
		Counts: ItemCounts{
			Trails: int(numAttr(it, "trails")), Changed: int(numAttr(it, "changed")), Alerting: int(numAttr(it, "alerting")),
			Errors: int(numAttr(it, "errors")), Failed: int(numAttr(it, "failed")),
		},
	}, nil
}

// Claim takes the summary of sweep id: true for exactly one caller, once
// every item is done (the condition is checked by DynamoDB, so two workers
// finishing the last items at once cannot both win).
func (s *Sweeps) Claim(ctx context.Context, id string) (bool, error) {
	token := randomID()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pkSweep, id),
		UpdateExpression:          aws.String("SET claimed = :token"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(claimed) AND done >= #items"),
		ExpressionAttributeNames:  map[string]string{"#items": "items"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token)},
	})
	if conditionFailed(err) {
		// Won by another caller, or by this one when the SDK retried a
		// call whose answer was lost.
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pkSweep, id), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return false, fmt.Errorf("claim summary of sweep %s: %w", id, gerr)
		}
		return strAttr(out.Item, "token") != "" && strAttr(out.Item, "claimed") == token, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim summary of sweep %s: %w", id, err)
	}
	return true, nil
}

// Notes returns the notes the items of sweep id left, by item index.
func (s *Sweeps) Notes(ctx context.Context, id string) (map[int]string, error) {
	notes := map[int]string{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("attribute_exists(note)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkSweepItem + id)},
		ConsistentRead:            aws.Bool(true),
	}
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read notes of sweep %s: %w", id, err)
		}
		for _, it := range page.Items {
			n, err := strconv.Atoi(strAttr(it, "sk"))
			if err != nil {
				continue
			}
			notes[n] = strAttr(it, "note")
		}
	}
	return notes, nil
}
