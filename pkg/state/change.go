package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Status of a change record.
const (
	// Pending: recorded right before the write; a record left pending
	// means the writer stopped (crashed, timed out) before it knew
	// whether the write took effect. Compare the resource with After.
	Pending = "pending"
	// Applied: the write succeeded.
	Applied = "applied"
	// Failed: the write returned an error.
	Failed = "failed"
	// Undone: a later `trailguard undo` restored Before.
	Undone = "undone"
)

// Change is one write trailguard made (or was about to make).
type Change struct {
	// ID is "<UTC time>-<random>", sortable by time.
	ID   string    `dynamodbav:"sk" json:"id"`
	Time time.Time `dynamodbav:"time" json:"time"`
	// Source is the event id, "sweep", or "cli".
	Source string `dynamodbav:"source" json:"source"`
	// Writer is the function or tool that wrote ("trail-remediator").
	Writer  string `dynamodbav:"writer" json:"writer"`
	Account string `dynamodbav:"account" json:"account"`
	Region  string `dynamodbav:"region" json:"region"`
	// Resource is the key ARN (PutKeyPolicy, EnableKey, ...) or the trail
	// ARN (UpdateTrail).
	Resource string `dynamodbav:"resource" json:"resource"`
	// Trails are the trails the write was for.
	Trails []string `dynamodbav:"trails,omitempty" json:"trails,omitempty"`
	Rules  []string `dynamodbav:"rules,omitempty" json:"rules,omitempty"`
	// Action is the API call ("PutKeyPolicy", "UpdateTrail", ...).
	Action string `dynamodbav:"action" json:"action"`
	// Before and After are the key policy (PutKeyPolicy), the trail's
	// KmsKeyId (UpdateTrail, "" for none) or the key's state.
	Before string `dynamodbav:"before" json:"before"`
	After  string `dynamodbav:"after" json:"after"`
	Status string `dynamodbav:"status" json:"status"`
	// Detail is the error of a failed write, or who undid it.
	Detail string `dynamodbav:"detail,omitempty" json:"detail,omitempty"`
	// UndoOf is the change an undo restored.
	UndoOf string `dynamodbav:"undo_of,omitempty" json:"undo_of,omitempty"`
}

type changeItem struct {
	PK string `dynamodbav:"pk"`
	Change
	ExpiresAt int64 `dynamodbav:"expires_at"`
}

// newChangeID is the id of a change made at t.
func newChangeID(t time.Time) string {
	return t.UTC().Format("20060102T150405.000Z") + "-" + randomID()
}

// Record stores c as Pending (right before the write) and returns it with
// its id, time and writer set.
func (s *Store) Record(ctx context.Context, c Change) (Change, error) {
	c, item, err := s.changeItem(c)
	if err != nil {
		return c, err
	}
	// No condition: the id is new (time and 48 random bits), and an SDK
	// retry of a put whose answer was lost must succeed.
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.tableName(), Item: item}); err != nil {
		return c, fmt.Errorf("record change of %s: %w", c.Resource, err)
	}
	return c, nil
}

// changeItem sets the time, id, writer and status (Pending unless set) of
// a new change record and returns it with its item.
func (s *Store) changeItem(c Change) (Change, map[string]types.AttributeValue, error) {
	c.Time = s.now().UTC()
	c.ID = newChangeID(c.Time)
	if c.Writer == "" {
		c.Writer = s.writer
	}
	if c.Status == "" {
		c.Status = Pending
	}
	item, err := attributevalue.MarshalMap(changeItem{PK: pkChange, Change: c, ExpiresAt: c.Time.Add(s.retention).Unix()})
	if err != nil {
		return c, nil, fmt.Errorf("record change of %s: %w", c.Resource, err)
	}
	return c, item, nil
}

// Finish sets the status (and detail) of change id.
func (s *Store) Finish(ctx context.Context, id, status, detail string) error {
	_, err := s.db.UpdateItem(context.WithoutCancel(ctx), &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(pkChange, id),
		UpdateExpression:         aws.String("SET #s = :s, detail = :d"),
		ConditionExpression:      aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": str(status), ":d": str(detail),
		},
	})
	if err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("finish change %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("finish change %s: %w", id, err)
	}
	return nil
}

// Amend replaces the before and after values of change id (the writer's
// last read right before the write differed from the one recorded).
func (s *Store) Amend(ctx context.Context, id, before, after string) error {
	_, err := s.db.UpdateItem(context.WithoutCancel(ctx), &dynamodb.UpdateItemInput{
		TableName:                 s.tableName(),
		Key:                       key(pkChange, id),
		UpdateExpression:          aws.String("SET #b = :b, #a = :a"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#b": "before", "#a": "after"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": str(before), ":a": str(after)},
	})
	if err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("amend change %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("amend change %s: %w", id, err)
	}
	return nil
}

// Get returns change id.
func (s *Store) Get(ctx context.Context, id string) (Change, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.tableName(), Key: key(pkChange, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Change{}, fmt.Errorf("get change %s: %w", id, err)
	}
	if out.Item == nil {
		return Change{}, fmt.Errorf("change %s: %w", id, ErrNotFound)
	}
	var it changeItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return Change{}, fmt.Errorf("get change %s: %w", id, err)
	}
	return it.Change, nil
}

// Filter selects changes for History. Empty fields match everything.
type Filter struct {
	// Resource matches the changed resource or one of the trails the
	// change was for.
	Resource string
	// Limit is the most changes returned (0: all).
	Limit int
}

// History returns the recorded changes, newest first.
func (s *Store) History(ctx context.Context, f Filter) ([]Change, error) {
	var out []Change
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkChange)},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list changes: %w", err)
		}
		for _, item := range page.Items {
			var it changeItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("list changes: %w", err)
			}
			c := it.Change
			if f.Resource != "" && !strings.EqualFold(c.Resource, f.Resource) && !slices.Contains(c.Trails, f.Resource) {
				continue
			}
			out = append(out, c)
			if f.Limit > 0 && len(out) >= f.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}
