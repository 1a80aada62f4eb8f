package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is the part of the DynamoDB client the store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	// TransactWriteItems: the loop guard's count and the change records
	// it admits, in one round trip (Admit).
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Defaults of a Store.
const (
	// DefaultLeaseDuration is how long a lease is valid: far longer than
	// one read-merge-write (a few round trips), shorter than the
	// remediators' 60 s timeout, so a crashed writer's lease is free again
	// before Lambda retries its event.
	DefaultLeaseDuration = 20 * time.Second
	// DefaultLeaseWait is how long a writer waits for a busy lease before
	// giving up with ErrBusy (transient: Lambda retries the event).
	DefaultLeaseWait = 25 * time.Second
	// DefaultChangeRetention is how long change records are kept (TTL).
	DefaultChangeRetention = 400 * 24 * time.Hour
	// maxLeaseSafety is the most lease time that must be left for a write
	// to start (a fifth of the lease when that is less).
	maxLeaseSafety = 2 * time.Second
)

// Partition key values of the item kinds.
const (
	pkLease  = "lease"
	pkGuard  = "guard"
	pkChange = "change"
)

// ErrBusy is returned (wrapped) when a lease stayed taken for the whole
// wait. It is transient: the caller returns it so Lambda retries.
var ErrBusy = errors.New("state: the lease is held by another writer")

// ErrLeaseLost is returned by Lease.Check when too little of the lease is
// left to start a write safely (or it expired): another writer may take
// it, so the write must not be made.
var ErrLeaseLost = errors.New("state: the lease expired or is about to")

// ErrNotFound is returned (wrapped) for a change id that is not recorded.
var ErrNotFound = errors.New("state: no such change")

// Store is the state table. It is safe for concurrent use.
type Store struct {
	db        DynamoDBAPI
	table     string
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	lease     time.Duration
	wait      time.Duration
	retention time.Duration
	writer    string
	// refresh: the trail index's (index.go).
	refresh time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithSleep sets how the store waits between attempts to take a busy
// lease (default: a timer honouring ctx).
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(s *Store) { s.sleep = f }
}

// WithLease sets the lease duration and the longest wait for a busy one.
func WithLease(duration, wait time.Duration) Option {
	return func(s *Store) { s.lease, s.wait = duration, wait }
}

// WithRetention sets how long change records are kept.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithWriter names the writer recorded in leases and changes ("sweeper",
// "cli", ...).
func WithWriter(name string) Option { return func(s *Store) { s.writer = name } }

// New returns the store on table.
func New(db DynamoDBAPI, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, now: time.Now, sleep: sleepCtx,
		lease: DefaultLeaseDuration, wait: DefaultLeaseWait, retention: DefaultChangeRetention}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

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

// key is the primary key of an item.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }

// numAttr reads a number attribute (0 when absent or not a number).
func numAttr(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// conditionFailed reports whether err is a failed condition check.
func conditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func randomID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("state: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// expiresAt is the TTL value d from now.
func (s *Store) expiresAt(d time.Duration) *types.AttributeValueMemberN {
	return num(s.now().Add(d).Unix())
}

// table name as the SDK wants it.
func (s *Store) tableName() *string { return aws.String(s.table) }

// Permissions are the IAM actions the functions call on the table
// (leases, loop guard, change records); the stack grants exactly these on
// the table's ARN. Admit's TransactWriteItems holds only Puts, and a
// transaction needs the permission of each action inside it, here
// dynamodb:PutItem
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
var Permissions = []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}

// OperatorPermissions are what `trailguard history` and `undo` also need
// (Query lists the change log); no function holds them.
var OperatorPermissions = []string{"dynamodb:Query"}
