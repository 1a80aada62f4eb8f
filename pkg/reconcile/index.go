package reconcile

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/state"
)

// TrailIndex answers which trails use a key, so that a key event reads
// those trails instead of listing the trails of every Region (state.Store
// implements it). It is an optimisation: a failed index write is logged
// and never fails a reconcile, and a key event whose index answer is
// missing, stale or unreadable lists every Region as without it.
type TrailIndex interface {
	TrailsOfKey(ctx context.Context, keyARN string) (state.KeyTrails, error)
	NoteTrail(ctx context.Context, keyARN string, e state.IndexedTrail) error
	DropTrails(ctx context.Context, keyARN string, trails ...string) error
	MarkIndexSwept(ctx context.Context, started time.Time) (bool, error)
}

var _ TrailIndex = (*state.Store)(nil)

// WithIndex sets the trail index (nil: none). WithStore sets it to the
// store when the store implements TrailIndex; an option after it wins.
func WithIndex(ix TrailIndex) Option { return func(r *Reconciler) { r.index = ix } }

// indexWork are the index writes of one run: made in the background while
// the run goes on, waited for before the run returns.
type indexWork struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed bool
	// read are the entries this run read (by key ARN and trail ARN).
	read map[[2]string]state.IndexedTrail
}

// remember keeps the entries of keyARN the run read.
func (w *indexWork) remember(keyARN string, entries []state.IndexedTrail) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.read == nil {
		w.read = map[[2]string]state.IndexedTrail{}
	}
	for _, e := range entries {
		w.read[[2]string{keyARN, e.Trail}] = e
	}
}

// current reports whether the run read entry e of keyARN fresh, with the
// same account, Region and bucket: writing it again would change nothing
// worth a write.
func (w *indexWork) current(keyARN string, e state.IndexedTrail) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.read[[2]string{keyARN, e.Trail}]
	return ok && r.Fresh && r.Account == e.Account && r.Region == e.Region && r.Bucket == e.Bucket
}

// isKeyARN reports whether s is a KMS key ARN (not an alias ARN).
func isKeyARN(s string) bool {
	a, err := arn.Parse(s)
	return err == nil && a.Service == "kms" && strings.HasPrefix(a.Resource, "key/")
}

// keyIDRE matches a bare key id (a UUID, or mrk- and 32 hex digits for a
// multi-Region key).
var keyIDRE = regexp.MustCompile(`^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// keyARNOf returns the ARN of key ref (an ARN or a bare id, in account and
// region) without a call, or "" for an alias.
func keyARNOf(account, region, ref string) string {
	if isKeyARN(ref) {
		return ref
	}
	if account != "" && region != "" && keyIDRE.MatchString(ref) {
		return "arn:aws:kms:" + region + ":" + account + ":key/" + ref
	}
	return ""
}

// indexKeyOf is the key ARN a trail is indexed under: the key observe
// read, else the trail's KmsKeyId, which CloudTrail gives as "a fully
// specified ARN to a AWS KMS key"
// (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Trail.html).
func indexKeyOf(st compliance.State, t compliance.Trail) string {
	if st.Key != nil && isKeyARN(st.Key.ARN) {
		return st.Key.ARN
	}
	if isKeyARN(t.KMSKeyID) {
		return t.KMSKeyID
	}
	return ""
}

// noteTrail records in the background that trail t of account uses
// keyARN, unless the run read that entry fresh and unchanged.
func (rn *run) noteTrail(ctx context.Context, keyARN string, t compliance.Trail, account string) {
	ix := rn.r.index
	if ix == nil || keyARN == "" || t.ARN == "" {
		return
	}
	if a, err := arn.Parse(keyARN); err != nil || a.AccountID != account {
		// A key event reads only the entries of the key's own account
		// (it covers that account, as the scan does); another account's
		// entries would only grow the key's item, which a key shared
		// across an organization could push past DynamoDB's item size.
		return
	}
	e := state.IndexedTrail{Trail: t.ARN, Account: account, Region: t.HomeRegion, Bucket: t.S3BucketName}
	if rn.index.current(keyARN, e) {
		return
	}
	rn.index.wg.Go(func() { rn.indexDone(ix.NoteTrail(ctx, keyARN, e)) })
}

// dropTrails removes trails from keyARN's entries in the background.
func (rn *run) dropTrails(ctx context.Context, keyARN string, trails []string) {
	ix := rn.r.index
	if ix == nil || len(trails) == 0 {
		return
	}
	rn.index.wg.Go(func() {
		rn.indexDone(ix.DropTrails(ctx, keyARN, trails...))
	})
}

func (rn *run) indexDone(err error) {
	if err == nil {
		return
	}
	rn.index.mu.Lock()
	rn.index.failed = true
	rn.index.mu.Unlock()
	rn.r.log.Warn("trail index write failed (key events scan every Region until the next sweep)", "error", err.Error())
}

// waitIndex waits for the run's index writes and reports whether all of
// them succeeded.
func (rn *run) waitIndex() bool {
	rn.index.wg.Wait()
	rn.index.mu.Lock()
	defer rn.index.mu.Unlock()
	return !rn.index.failed
}

// indexAfterFix keeps the index true after a fix moved a trail from one
// key to another (UpdateTrail).
func (rn *run) indexAfterFix(ctx context.Context, account string, t compliance.Trail, before string, res Result) {
	after := res.KMSKeyARN
	if after == before || after == "" {
		return
	}
	moved := t
	moved.KMSKeyID = after
	rn.noteTrail(ctx, after, moved, account)
	if before != "" {
		rn.dropTrails(ctx, before, []string{t.ARN})
	}
}

// indexLookup is the index's answer for a key (err: it could not be read).
type indexLookup struct {
	kt  state.KeyTrails
	err error
	// asked is false when there is no index or the key's ARN was not
	// known before DescribeKey.
	asked bool
	arn   string
}

// lookupIndex reads the index entries of keyARN.
func (rn *run) lookupIndex(ctx context.Context, keyARN string) indexLookup {
	if rn.r.index == nil || keyARN == "" {
		return indexLookup{}
	}
	kt, err := rn.r.index.TrailsOfKey(ctx, keyARN)
	if err == nil {
		rn.index.remember(keyARN, kt.Trails)
	}
	return indexLookup{kt: kt, err: err, asked: true, arn: keyARN}
}

// trailsOfKey returns the trails of account that use key k: the indexed
// trails, each read again (GetTrail in its home Region) and kept only if
// it still uses k, when the index answer is current; else every Region's
// trails (findTrails), after which the entries the scan did not find are
// dropped. Trails the index names that left the key or no longer exist are
// dropped and not reconciled.
func (rn *run) trailsOfKey(ctx context.Context, account string, k *compliance.Key, look indexLookup) ([]compliance.Trail, error) {
	match := func(kmsKeyID string) bool {
		return kmsKeyID != "" && (kmsKeyID == k.ARN || kmsKeyID == k.ID)
	}
	if rn.r.index != nil && (!look.asked || look.arn != k.ARN) {
		look = rn.lookupIndex(ctx, k.ARN)
	}
	switch {
	case !look.asked:
	case look.err != nil:
		rn.r.log.Warn("trail index unreadable: scanning every Region", "key", k.ARN, "error", look.err.Error())
	case !look.kt.Current:
		rn.r.log.Info("trail index not current: scanning every Region", "key", k.ARN, "reason", look.kt.Reason)
	default:
		trails, ok := rn.indexedTrails(ctx, account, k.ARN, look.kt.Trails, match)
		if ok {
			rn.r.log.Info("trails using key from the index", "key", k.ARN, "indexed", len(look.kt.Trails), "trails", len(trails))
			return trails, nil
		}
	}
	rn.mu.Lock()
	errsBefore := len(rn.errors)
	rn.mu.Unlock()
	trails, err := rn.findTrails(ctx, account, match)
	if err != nil {
		return nil, err
	}
	rn.mu.Lock()
	listedAll := len(rn.errors) == errsBefore
	rn.mu.Unlock()
	// Entries the scan did not find are dropped only after a scan that
	// listed every Region: a Region that could not be listed may hold them.
	if look.asked && look.err == nil && listedAll {
		var gone []string
		for _, e := range look.kt.Trails {
			if e.Account == account && !slices.ContainsFunc(trails, func(t compliance.Trail) bool { return t.ARN == e.Trail }) {
				gone = append(gone, e.Trail)
			}
		}
		rn.dropTrails(ctx, k.ARN, gone)
	}
	return trails, nil
}

// indexedTrails reads the indexed trails of account (GetTrail in each
// one's home Region, side by side) and returns those that still use the
// key; the others are dropped from the index. ok is false when a trail
// could not be read (other than not found): the caller scans instead.
func (rn *run) indexedTrails(ctx context.Context, account, keyARN string, entries []state.IndexedTrail, match func(string) bool) (trails []compliance.Trail, ok bool) {
	type read struct {
		t    compliance.Trail
		gone bool
		err  error
	}
	var mine []state.IndexedTrail
	for _, e := range entries {
		// A key event covers the key's own account, as the scan does.
		if e.Account == account && e.Region != "" {
			mine = append(mine, e)
		}
	}
	reads := make([]read, len(mine))
	var wg sync.WaitGroup
	for i, e := range mine {
		wg.Go(func() {
			c, err := rn.r.clients(ctx, account, e.Region)
			if err != nil {
				reads[i].err = err
				return
			}
			rn.prefetch(ctx, &wg, c, e)
			out, err := c.CloudTrail.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(e.Trail)})
			switch {
			case (isNotFound(err) || err == nil && out.Trail == nil) && trailOwner(e.Trail) != account:
				// Another account's trail (an organization trail seen
				// from a member account) that GetTrail does not show:
				// not proof it is gone; the scan, which lists shadow
				// trails, decides.
				reads[i].err = fmt.Errorf("get indexed trail %s of account %s: not found from account %s", e.Trail, trailOwner(e.Trail), account)
			case isNotFound(err), err == nil && out.Trail == nil:
				reads[i].gone = true
			case err != nil:
				reads[i].err = fmt.Errorf("get indexed trail %s: %w", e.Trail, err)
			default:
				reads[i].t = toTrail(out.Trail)
			}
		})
	}
	wg.Wait()
	var drop []string
	for i, rd := range reads {
		switch {
		case rd.err != nil:
			rn.r.log.Warn("cannot read an indexed trail: scanning every Region", "trail", mine[i].Trail, "error", rd.err.Error())
			return nil, false
		case rd.gone || !match(rd.t.KMSKeyID):
			drop = append(drop, mine[i].Trail)
		default:
			trails = append(trails, rd.t)
		}
	}
	rn.dropTrails(ctx, keyARN, drop)
	slices.SortFunc(trails, func(a, b compliance.Trail) int { return strings.Compare(a.ARN, b.ARN) })
	return trails, true
}

// markSwept records, after a sweep in one invocation that listed the
// trails of every account and indexed all of them, that the index is
// complete as of started: entries this sweep did not confirm are stale
// from then on. A sweep with errors (failed is set, or the run recorded
// a listing error) marks nothing.
func (rn *run) markSwept(ctx context.Context, started time.Time, failed bool) {
	if rn.r.index == nil || !rn.waitIndex() {
		return
	}
	rn.mu.Lock()
	unlisted := len(rn.errors)
	rn.mu.Unlock()
	if failed || unlisted > 0 {
		// An account or Region whose trails could not be listed, or a
		// group that failed: trails there were not confirmed, and an
		// entry of theirs missing would look complete.
		rn.r.log.Info("trail index not marked swept: the sweep did not list or reconcile everything", "errors", unlisted)
		return
	}
	if _, err := rn.r.index.MarkIndexSwept(ctx, started); err != nil {
		rn.r.log.Warn("trail index: cannot record the completed sweep", "error", err.Error())
	}
}

// prefetch starts, beside the GetTrail of indexed trail e, the reads
// observe makes next that need only what the index holds (the trail's
// ARN and bucket): its status and tags, the bucket's Region and
// encryption. They are cached for the run (observe then waits for no
// round trip); a failed one is read again by observe, and a bucket that
// changed costs two reads that are not used.
func (rn *run) prefetch(ctx context.Context, wg *sync.WaitGroup, c *Clients, e state.IndexedTrail) {
	wg.Go(func() { _, _ = rn.trailStatus(ctx, c, e.Trail) })
	wg.Go(func() { _, _ = rn.trailTags(ctx, c, e.Trail) })
	if e.Bucket != "" {
		wg.Go(func() { _, _ = rn.bucketRegion(ctx, c, e.Bucket) })
		wg.Go(func() { _, _ = rn.bucketKey(ctx, c, e.Bucket) })
	}
}
