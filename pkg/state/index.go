package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The trail index answers "which trails use key K" without listing the
// trails of every Region. One item per key, pk="index#<key ARN>",
// sk="trails" (a partition per key, so a sweep's writes spread over the
// table), holds one top-level attribute per trail, named "t:<trail ARN>", a map of
// the trail's account ("a"), home Region ("r"), S3 bucket ("b") and the
// time it was last confirmed to use the key ("c", epoch ms). One more item, pk="index",
// sk="#sweep", holds "swept_ms", the start of the last sweep that
// completed with every work item done, and "dirty_ms", the last time an
// index write failed.
//
// Top-level attributes, not a map attribute, so that adding one trail is a
// single UpdateItem that also creates the item: "The UpdateItem operation
// updates an existing item, or adds a new item to the table if it does not
// already exist", and SET overwrites an existing attribute
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.Modifying.html);
// a SET of a path inside a map needs the map to exist. A key's trails in
// its own account are at most 5 per Region, far below the 400 KB of an
// item (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
//
// Reading the key's item and the sweep item is two GetItem calls made side
// by side (no Query, no new IAM action); both are strongly consistent, so
// a trail indexed by an event just before is seen: a strongly consistent
// read "always returns the last updated value"
// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html).
const (
	pkIndex       = "index"
	pkIndexKey    = "index#"
	skIndexTrails = "trails"
	skIndexSweep  = "#sweep"
	indexTrailPfx = "t:"
	// DefaultIndexRefresh is how old an entry may be and still count as
	// fresh (IndexedTrail.Fresh): a key event that read it fresh does
	// not write it again. It is also the slack allowed between an
	// entry's confirmation and the start of the sweep that confirmed it
	// (clocks of different hosts).
	DefaultIndexRefresh = time.Hour
	// DefaultIndexRetention is how long a key's entries live (TTL) after
	// the last write to them: a key no trail uses any more disappears.
	DefaultIndexRetention = 30 * 24 * time.Hour
)

// IndexedTrail is one entry of the trail index: a trail that was seen
// using a key.
type IndexedTrail struct {
	// Trail is the trail's ARN.
	Trail string
	// Account and Region are the trail's account and home Region.
	Account, Region string
	// Bucket is the trail's S3 bucket when it was confirmed: a key event
	// reads the bucket's settings while it reads the trail again.
	Bucket string
	// Confirmed is when the trail was last seen using the key.
	Confirmed time.Time
	// Fresh is true when Confirmed is less than the refresh interval
	// before the read (TrailsOfKey).
	Fresh bool
}

// KeyTrails is what the index knows about one key.
type KeyTrails struct {
	// Trails are the indexed trails, sorted by ARN.
	Trails []IndexedTrail
	// Current is true when the entries can replace a full scan: a sweep
	// completed since the index began, no index write failed since that
	// sweep started, there is at least one entry, and every entry was
	// confirmed by that sweep or later (allowing the refresh interval).
	Current bool
	// Reason says why the entries are not current ("" when they are).
	Reason string
}

// WithIndexRefresh sets how old an index entry may be and still be fresh
// (default DefaultIndexRefresh).
func WithIndexRefresh(d time.Duration) Option { return func(s *Store) { s.refresh = d } }

// TrailsOfKey reads the index entries of keyARN and says whether they are
// current (KeyTrails.Current). Its two reads run side by side.
func (s *Store) TrailsOfKey(ctx context.Context, keyARN string) (KeyTrails, error) {
	var (
		keyItem, sweepItem map[string]types.AttributeValue
		keyErr, sweepErr   error
		wg                 sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.tableName(), Key: key(pkIndexKey+keyARN, skIndexTrails), ConsistentRead: aws.Bool(true)})
		if err == nil {
			keyItem = out.Item
		}
		keyErr = err
	}()
	go func() {
		defer wg.Done()
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.tableName(), Key: key(pkIndex, skIndexSweep), ConsistentRead: aws.Bool(true)})
		if err == nil {
			sweepItem = out.Item
		}
		sweepErr = err
	}()
	wg.Wait()
	if err := errors.Join(keyErr, sweepErr); err != nil {
		return KeyTrails{}, fmt.Errorf("read trail index of %s: %w", keyARN, err)
	}
	kt := KeyTrails{Trails: indexEntries(keyItem)}
	now := s.now()
	for i := range kt.Trails {
		kt.Trails[i].Fresh = now.Sub(kt.Trails[i].Confirmed) < s.refreshInterval()
	}
	swept, dirty := numAttr(sweepItem, "swept_ms"), numAttr(sweepItem, "dirty_ms")
	cut := time.UnixMilli(swept).Add(-s.refreshInterval())
	switch {
	case len(kt.Trails) == 0:
		kt.Reason = "no entry for the key"
	case swept == 0:
		kt.Reason = "no sweep has completed since the index began"
	case dirty >= swept:
		kt.Reason = "an index write failed since the last completed sweep started"
	default:
		for _, e := range kt.Trails {
			if e.Confirmed.Before(cut) {
				kt.Reason = "the last completed sweep did not confirm " + e.Trail
				break
			}
		}
	}
	kt.Current = kt.Reason == ""
	return kt, nil
}

// indexEntries reads the entries of a key's item, sorted by trail ARN.
func indexEntries(item map[string]types.AttributeValue) []IndexedTrail {
	var out []IndexedTrail
	for _, name := range slices.Sorted(maps.Keys(item)) {
		trail, ok := strings.CutPrefix(name, indexTrailPfx)
		if !ok || trail == "" {
			continue
		}
		m, ok := item[name].(*types.AttributeValueMemberM)
		if !ok {
			continue
		}
		out = append(out, IndexedTrail{Trail: trail, Account: strAttr(m.Value, "a"), Region: strAttr(m.Value, "r"),
			Bucket: strAttr(m.Value, "b"), Confirmed: time.UnixMilli(numAttr(m.Value, "c"))})
	}
	return out
}

func (s *Store) refreshInterval() time.Duration {
	if s.refresh <= 0 {
		return DefaultIndexRefresh
	}
	return s.refresh
}

// NoteTrail records that trail e (its ARN, account, home Region and
// bucket; e.Confirmed and e.Fresh are ignored) uses keyARN, confirmed now:
// one UpdateItem. (The caller skips it for an entry it has just read
// fresh; no cache outlives a run, since another container may have
// dropped the entry since.) A failed write
// marks the index dirty (MarkIndexDirty), so key events scan in full until
// the next completed sweep; the error is returned for the caller to log.
func (s *Store) NoteTrail(ctx context.Context, keyARN string, e IndexedTrail) error {
	now := s.now()
	trail := e.Trail
	entry := map[string]types.AttributeValue{"a": str(e.Account), "r": str(e.Region), "c": num(now.UnixMilli())}
	if e.Bucket != "" {
		entry["b"] = str(e.Bucket)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(pkIndexKey+keyARN, skIndexTrails),
		UpdateExpression:         aws.String("SET #t = :e, expires_at = :x"),
		ExpressionAttributeNames: map[string]string{"#t": indexTrailPfx + trail},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e": &types.AttributeValueMemberM{Value: entry},
			":x": s.expiresAt(DefaultIndexRetention),
		},
	})
	if err != nil {
		return s.dirty(ctx, fmt.Errorf("index trail %s under key %s: %w", trail, keyARN, err))
	}
	return nil
}

// DropTrails removes trails from the index entries of keyARN (they no
// longer use it, or no longer exist). A failed write marks the index
// dirty, as NoteTrail's does.
func (s *Store) DropTrails(ctx context.Context, keyARN string, trails ...string) error {
	if len(trails) == 0 {
		return nil
	}
	names := map[string]string{}
	var parts []string
	for i, t := range trails {
		n := "#t" + strconv.Itoa(i)
		names[n] = indexTrailPfx + t
		parts = append(parts, n)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                s.tableName(),
		Key:                      key(pkIndexKey+keyARN, skIndexTrails),
		UpdateExpression:         aws.String("REMOVE " + strings.Join(parts, ", ")),
		ExpressionAttributeNames: names,
	})
	if err != nil {
		return s.dirty(ctx, fmt.Errorf("drop %d trails from the index of key %s: %w", len(trails), keyARN, err))
	}
	return nil
}

// dirtyMarkTimeout bounds the write marking the index dirty: it runs
// after the failed write, often because the run's context ended, and must
// not eat the time the invocation keeps for its notice.
const dirtyMarkTimeout = 3 * time.Second

// dirty marks the index dirty after err (a failed index write) and
// returns err, joined with the marking's own failure.
func (s *Store) dirty(ctx context.Context, err error) error {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dirtyMarkTimeout)
	defer cancel()
	return errors.Join(err, markIndexDirty(mctx, s.db, s.table, s.now()))
}

// indexUpdater is the one call the index's sweep item needs.
type indexUpdater interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// markIndexDirty records that an index write failed at now: the index is
// not trusted until a sweep that started later completes. The time only
// moves forward.
func markIndexDirty(ctx context.Context, db indexUpdater, table string, now time.Time) error {
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       key(pkIndex, skIndexSweep),
		UpdateExpression:          aws.String("SET dirty_ms = :now"),
		ConditionExpression:       aws.String("attribute_not_exists(dirty_ms) OR dirty_ms < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli())},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("mark the trail index dirty: %w", err)
	}
	return nil
}

// markIndexSwept records that a sweep started at started completed with
// every work item done: entries it did not confirm are stale from now on.
// The condition keeps the mark from moving back, and from covering an
// index write that failed after the sweep started (moved is then false).
func markIndexSwept(ctx context.Context, db indexUpdater, table string, started time.Time) (moved bool, err error) {
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(table),
		Key:              key(pkIndex, skIndexSweep),
		UpdateExpression: aws.String("SET swept_ms = :s"),
		ConditionExpression: aws.String("(attribute_not_exists(swept_ms) OR swept_ms < :s) AND " +
			"(attribute_not_exists(dirty_ms) OR dirty_ms < :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": num(started.UnixMilli())},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark the trail index swept: %w", err)
	}
	return true, nil
}

// MarkIndexSwept records that a sweep in one invocation, started at
// started, listed every trail (Reconciler.Sweep).
func (s *Store) MarkIndexSwept(ctx context.Context, started time.Time) (bool, error) {
	return markIndexSwept(ctx, s.db, s.table, started)
}

// MarkIndexSwept records that a fanned-out sweep started at started
// completed; the worker that won the summary calls it, only when no work
// item failed for good.
func (s *Sweeps) MarkIndexSwept(ctx context.Context, started time.Time) (bool, error) {
	return markIndexSwept(ctx, s.db, s.table, started)
}
