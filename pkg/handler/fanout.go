package handler

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/lazyregexp"
	"github.com/trailguard/trailguard/pkg/metrics"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// WorkItem is the body of one message of the sweep work queue: one account
// and Region of sweep Sweep.
type WorkItem struct {
	Sweep string `json:"sweep"`
	// Index is the item's number in the sweep, 0 to items-1.
	Index   int    `json:"index"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Regions are the Regions the sweep covers in the account (a
	// multi-Region trail whose home Region is not among them is
	// reconciled by the item of the first of them).
	Regions []string `json:"regions"`
	// Coordinator is the coordinator function's name: the summary's
	// metrics carry it, as the one-invocation sweep's did.
	Coordinator string `json:"coordinator,omitempty"`
}

var (
	sweepIDRE = lazyregexp.New(`^[A-Za-z0-9-]{1,64}$`)
	accountRE = lazyregexp.New(`^[0-9]{12}$`)
	regionRE  = lazyregexp.New(`^[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}$`)
	nameRE    = lazyregexp.New(`^[A-Za-z0-9_-]{0,140}$`)
)

// maxWorkItem bounds a work item's body (what the coordinator sends is a
// few hundred bytes).
const maxWorkItem = 16 * 1024

// DecodeWorkItem decodes and checks a work queue message body: a JSON
// object with exactly WorkItem's members, a sweep id, an account id, a
// Region among Regions. Anything else is an error naming the problem.
func DecodeWorkItem(body string) (WorkItem, error) {
	var w WorkItem
	if len(body) > maxWorkItem {
		return w, fmt.Errorf("sweep work item: %d bytes, more than %d", len(body), maxWorkItem)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return WorkItem{}, fmt.Errorf("sweep work item: not a work item object: %w", err)
	}
	if dec.More() {
		return WorkItem{}, errors.New("sweep work item: data after the object")
	}
	var probs []string
	if !sweepIDRE.MatchString(w.Sweep) {
		probs = append(probs, fmt.Sprintf("sweep %q is not a sweep id", w.Sweep))
	}
	if w.Index < 0 {
		probs = append(probs, fmt.Sprintf("index %d is negative", w.Index))
	}
	if !accountRE.MatchString(w.Account) {
		probs = append(probs, fmt.Sprintf("account %q is not a 12-digit account id", w.Account))
	}
	if !regionRE.MatchString(w.Region) {
		probs = append(probs, fmt.Sprintf("region %q is not a Region name", w.Region))
	}
	for _, r := range w.Regions {
		if !regionRE.MatchString(r) {
			probs = append(probs, fmt.Sprintf("regions: %q is not a Region name", r))
		}
	}
	if len(w.Regions) > 0 && !slices.Contains(w.Regions, w.Region) {
		probs = append(probs, fmt.Sprintf("region %s is not among regions", w.Region))
	}
	if !nameRE.MatchString(w.Coordinator) {
		probs = append(probs, fmt.Sprintf("coordinator %q is not a function name", w.Coordinator))
	}
	if len(probs) > 0 {
		return WorkItem{}, fmt.Errorf("sweep work item: %s", strings.Join(probs, "; "))
	}
	return w, nil
}

// QueueAPI is the part of the SQS client the coordinator uses.
type QueueAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ QueueAPI = (*sqs.Client)(nil)

// SweepRecords are the records of fanned-out sweeps (state.Sweeps).
type SweepRecords interface {
	Start(ctx context.Context, id string, items int) error
	Complete(ctx context.Context, id string, index int, c state.ItemCounts, note string) (state.SweepRecord, bool, error)
	Claim(ctx context.Context, id string) (bool, error)
	Notes(ctx context.Context, id string) (map[int]string, error)
}

var _ SweepRecords = (*state.Sweeps)(nil)

// TargetLister lists a sweep's accounts and Regions (reconcile.Reconciler).
type TargetLister interface {
	SweepTargets(ctx context.Context) ([]reconcile.Target, []string, error)
}

// RegionSweeper reconciles one work item and sends the summary's notice
// (reconcile.Reconciler).
type RegionSweeper interface {
	SweepRegion(ctx context.Context, account, region string, covered []string) (reconcile.Report, error)
	NotifySweep(ctx context.Context, rep reconcile.Report)
}

// Summarizer counts completed work items in the sweep record and, for the
// item that completes the sweep, writes the one summary: a log line, the
// notice (NotifySweep) and an EMF metrics line.
type Summarizer struct {
	Sweeps   SweepRecords
	Notifier interface {
		NotifySweep(ctx context.Context, rep reconcile.Report)
	}
	// Metrics receives the summary's EMF line (nil: none).
	Metrics io.Writer
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Summary is what a finished sweep reports.
type Summary struct {
	Sweep   string  `json:"sweep"`
	Items   int     `json:"items"`
	Failed  int     `json:"failed_items"`
	Trails  int     `json:"trails"`
	Changed int     `json:"changed"`
	Alert   int     `json:"alerting"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	// Report lists the trails that changed or need a human, the alerts
	// and the errors, from the items' notes.
	Report reconcile.Report `json:"-"`
}

// complete records item w as done with counts c and note; when it is the
// last item and this caller wins the claim, it summarizes. It returns the
// summary when it wrote it.
func (s Summarizer) complete(ctx context.Context, w WorkItem, c state.ItemCounts, note string) (*Summary, error) {
	log := logger(s.Logger)
	rec, dup, err := s.Sweeps.Complete(ctx, w.Sweep, w.Index, c, note)
	if err != nil {
		return nil, err
	}
	if dup {
		// Delivered again after it was counted: not counted twice. The
		// claim below is still tried, in case the delivery that counted
		// it stopped before summarizing.
		log.Info("sweep work item already counted", "sweep", w.Sweep, "index", w.Index)
	}
	if !rec.Complete() || rec.Claimed {
		return nil, nil
	}
	won, err := s.Sweeps.Claim(ctx, w.Sweep)
	if err != nil || !won {
		return nil, err
	}
	s.markIndexSwept(ctx, rec)
	return s.summarize(ctx, rec, w.Coordinator)
}

// IndexMarker records a completed sweep in the trail index
// (state.Sweeps): entries the sweep did not confirm are stale from then on.
type IndexMarker interface {
	MarkIndexSwept(ctx context.Context, started time.Time) (bool, error)
}

var _ IndexMarker = (*state.Sweeps)(nil)

// markIndexSwept marks the trail index swept as of rec's start when no
// work item failed for good and none had errors (a failed item's trails,
// or those of an account or Region that could not be listed, were not
// confirmed).
// The index is an optimisation: a failure is logged only.
func (s Summarizer) markIndexSwept(ctx context.Context, rec state.SweepRecord) {
	m, ok := s.Sweeps.(IndexMarker)
	if !ok {
		return
	}
	log := logger(s.Logger)
	if rec.Counts.Failed > 0 || rec.Counts.Errors > 0 {
		// A failed item, or an account or Region whose trails could not
		// be listed (the coordinator's problems, a worker's listing
		// errors): trails there were not confirmed.
		log.Info("trail index not marked swept: work items failed or had errors", "sweep", rec.ID, "failed_items", rec.Counts.Failed, "errors", rec.Counts.Errors)
		return
	}
	if _, err := m.MarkIndexSwept(ctx, rec.Started); err != nil {
		log.Warn("trail index: cannot record the completed sweep", "sweep", rec.ID, "error", err.Error())
	}
}

func (s Summarizer) summarize(ctx context.Context, rec state.SweepRecord, function string) (*Summary, error) {
	log := logger(s.Logger)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	notes, err := s.Sweeps.Notes(ctx, rec.ID)
	if err != nil {
		// The counts are known: summarize without the details.
		log.Error("sweep summary without details", "sweep", rec.ID, "error", err.Error())
	}
	sum := &Summary{Sweep: rec.ID, Items: rec.Items, Failed: rec.Counts.Failed, Trails: rec.Counts.Trails,
		Changed: rec.Counts.Changed, Alert: rec.Counts.Alerting, Errors: rec.Counts.Errors,
		Seconds: now().Sub(rec.Started).Seconds()}
	for _, i := range slices.Sorted(maps.Keys(notes)) {
		var part reconcile.Report
		if err := json.Unmarshal([]byte(notes[i]), &part); err != nil {
			sum.Report.Errors = append(sum.Report.Errors, fmt.Sprintf("work item %d: note cut or unreadable", i))
			continue
		}
		sum.Report.Results = append(sum.Report.Results, part.Results...)
		sum.Report.Alerts = append(sum.Report.Alerts, part.Alerts...)
		sum.Report.Errors = append(sum.Report.Errors, part.Errors...)
	}
	log.Info("sweep finished", "sweep", sum.Sweep, "items", sum.Items, "failed_items", sum.Failed, "trails", sum.Trails,
		"changed", sum.Changed, "alerting", sum.Alert, "errors", sum.Errors, "seconds", sum.Seconds)
	if s.Notifier != nil {
		s.Notifier.NotifySweep(ctx, sum.Report)
	}
	if s.Metrics != nil {
		// Only the function line: findings and fixes were counted by the
		// workers' own invocations already.
		run := metrics.Run{Function: function, Trails: sum.Trails, Failures: sum.Failed + sum.Errors,
			Duration: time.Duration(sum.Seconds * float64(time.Second))}
		if err := metrics.Write(s.Metrics, run, now()); err != nil {
			log.Error("metrics", "error", err.Error())
		}
	}
	return sum, nil
}

// countsOf counts a work item's report, and returns the note the summary
// lists: the trails that changed or need a human, the alerts and errors
// ("" when there are none).
func countsOf(rep reconcile.Report) (state.ItemCounts, string) {
	c := state.ItemCounts{Trails: len(rep.Results), Errors: len(rep.Errors), Alerting: len(rep.Alerts)}
	var sub reconcile.Report
	sub.Alerts, sub.Errors = rep.Alerts, rep.Errors
	for _, res := range rep.Results {
		ch, al := res.Changed(), res.Alerting()
		if ch {
			c.Changed++
		}
		if al {
			c.Alerting++
		}
		if ch || al {
			sub.Results = append(sub.Results, res)
		}
	}
	if len(sub.Results) == 0 && len(sub.Alerts) == 0 && len(sub.Errors) == 0 {
		return c, ""
	}
	b, err := json.Marshal(sub)
	if err == nil && len(b) > state.MaxNoteBytes {
		for i := range sub.Results {
			sub.Results[i].Findings = nil
		}
		b, err = json.Marshal(sub)
	}
	if err != nil || len(b) > state.MaxNoteBytes {
		b, _ = json.Marshal(reconcile.Report{Errors: []string{fmt.Sprintf("%d trail(s) changed, %d alerting: too many to list", c.Changed, c.Alerting)}})
	}
	return c, string(b)
}

// DefaultEnqueueConcurrency is how many SendMessageBatch calls the
// coordinator has in flight: 5,000 accounts x 17 Regions are 8,500 calls.
const DefaultEnqueueConcurrency = 64

// sqsBatchMax is SendMessageBatch's limit of entries per call
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
const sqsBatchMax = 10

// CoordinatorHandler is functions/sweeper when a work queue is configured:
// on schedule it lists the accounts and Regions, writes the sweep record
// and enqueues one work item per account and Region; functions/sweep-worker
// reconciles them.
type CoordinatorHandler struct {
	Reconciler TargetLister
	Queue      QueueAPI
	QueueURL   string
	Summarizer Summarizer
	// Function is the coordinator's function name (in the work items).
	Function string
	Logger   *slog.Logger
	// NewID returns a sweep id (default: the time and random hex).
	NewID func() string
	// Concurrency bounds SendMessageBatch calls in flight (default
	// DefaultEnqueueConcurrency).
	Concurrency int
}

// Enqueued is what the coordinator did.
type Enqueued struct {
	Sweep    string
	Items    int
	Unsent   int
	Summary  *Summary
	Problems []string
}

// Handle starts a fanned-out sweep. The sweep record counts one item per
// account and Region plus one for the coordinator's own problems (accounts
// whose Regions could not be listed), which the coordinator completes
// itself, as it completes items it could not enqueue (as failed): the
// summary then names them. Only errors before anything was enqueued are
// returned (the schedule's invocation is retried); the sweep id comes from
// the schedule event, so a retried delivery finds the record and enqueues
// nothing again.
func (h CoordinatorHandler) Handle(ctx context.Context, raw json.RawMessage) (Enqueued, error) {
	log := logger(h.Logger)
	if reason := notScheduled(raw); reason != "" {
		log.Info("event ignored", "reason", reason)
		return Enqueued{}, nil
	}
	targets, problems, err := h.Reconciler.SweepTargets(ctx)
	if err != nil {
		return Enqueued{}, fmt.Errorf("list sweep targets: %w", err)
	}
	id := func() string { return sweepIDOf(raw) }
	if h.NewID != nil {
		id = h.NewID
	}
	out := Enqueued{Sweep: id(), Items: len(targets), Problems: problems}
	own := len(targets) // the coordinator's own item
	if err := h.Summarizer.Sweeps.Start(ctx, out.Sweep, len(targets)+1); err != nil {
		if errors.Is(err, state.ErrSweepStarted) {
			// Lambda runs an asynchronous invocation again after an error
			// or a timeout, and may deliver the same event more than once
			// even without one
			// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
			// the sweep id comes from the event, so a second delivery
			// finds the first one's record and starts no second sweep.
			log.Warn("sweep already started by an earlier delivery of this schedule event: nothing enqueued", "sweep", out.Sweep)
			return Enqueued{Sweep: out.Sweep}, nil
		}
		return Enqueued{}, err
	}
	log.Info("sweep started", "sweep", out.Sweep, "items", len(targets))

	regionsOf := map[string][]string{}
	for _, t := range targets {
		regionsOf[t.Account] = append(regionsOf[t.Account], t.Region)
	}
	items := make([]WorkItem, len(targets))
	for i, t := range targets {
		items[i] = WorkItem{Sweep: out.Sweep, Index: i, Account: t.Account, Region: t.Region, Regions: regionsOf[t.Account], Coordinator: h.Function}
	}
	unsent := h.enqueue(ctx, items)
	out.Unsent = len(unsent)
	for _, u := range unsent {
		log.Error("sweep work item not enqueued", "sweep", out.Sweep, "index", u.item.Index, "account", u.item.Account, "region", u.item.Region, "error", u.reason)
		note, _ := json.Marshal(reconcile.Report{Errors: []string{fmt.Sprintf("account %s Region %s: not enqueued: %s", u.item.Account, u.item.Region, u.reason)}})
		sum, err := h.Summarizer.complete(ctx, u.item, state.ItemCounts{Failed: 1}, string(note))
		if err != nil {
			// Not returned: the items are enqueued, and an error would
			// have Lambda deliver the schedule event again (which finds
			// the record and does nothing). The sweep then ends without
			// a summary, which this line reports.
			log.Error("sweep record: an item not enqueued is not counted; the sweep will have no summary", "sweep", out.Sweep, "index", u.item.Index, "error", err.Error())
			out.Problems = append(out.Problems, fmt.Sprintf("sweep %s: item %d not counted: %v", out.Sweep, u.item.Index, err))
			continue
		}
		out.Summary = cmp.Or(out.Summary, sum)
	}
	var note []byte
	if len(problems) > 0 {
		note, _ = json.Marshal(reconcile.Report{Errors: problems})
	}
	sum, err := h.Summarizer.complete(ctx, WorkItem{Sweep: out.Sweep, Index: own, Coordinator: h.Function}, state.ItemCounts{Errors: len(problems)}, string(note))
	if err != nil {
		log.Error("sweep record: the coordinator's own item is not counted; the sweep will have no summary", "sweep", out.Sweep, "error", err.Error())
		out.Problems = append(out.Problems, fmt.Sprintf("sweep %s: the coordinator's item not counted: %v", out.Sweep, err))
	}
	out.Summary = cmp.Or(out.Summary, sum)
	log.Info("sweep enqueued", "sweep", out.Sweep, "items", len(targets), "unsent", len(unsent), "problems", len(problems))
	return out, nil
}

// Serve is the coordinator's handler: Handle with the coordinator's
// problems as the report's errors.
func (h CoordinatorHandler) Serve(ctx context.Context, raw json.RawMessage) (Response, error) {
	out, err := h.Handle(ctx, raw)
	var rep reconcile.Report
	rep.Errors = out.Problems
	if out.Unsent > 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%d work item(s) of sweep %s could not be enqueued", out.Unsent, out.Sweep))
	}
	return Response{Report: rep}, err
}

type unsentItem struct {
	item   WorkItem
	reason string
}

// enqueue sends items, 10 per SendMessageBatch call, Concurrency calls at
// a time, and returns those SQS did not take.
func (h CoordinatorHandler) enqueue(ctx context.Context, items []WorkItem) []unsentItem {
	var (
		mu     sync.Mutex
		unsent []unsentItem
		g      errgroup.Group
	)
	g.SetLimit(max(1, cmp.Or(h.Concurrency, DefaultEnqueueConcurrency)))
	fail := func(w WorkItem, reason string) {
		mu.Lock()
		unsent = append(unsent, unsentItem{w, reason})
		mu.Unlock()
	}
	for start := 0; start < len(items); start += sqsBatchMax {
		batch := items[start:min(start+sqsBatchMax, len(items))]
		g.Go(func() error {
			in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(h.QueueURL)}
			byID := map[string]WorkItem{}
			for _, w := range batch {
				body, err := json.Marshal(w)
				if err != nil {
					fail(w, err.Error())
					continue
				}
				eid := strconv.Itoa(w.Index)
				byID[eid] = w
				in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(eid), MessageBody: aws.String(string(body))})
			}
			out, err := h.Queue.SendMessageBatch(ctx, in)
			if err != nil {
				for _, w := range byID {
					fail(w, fmt.Sprintf("send message batch: %v", err))
				}
				return nil
			}
			for _, f := range out.Failed {
				if w, ok := byID[aws.ToString(f.Id)]; ok {
					fail(w, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	slices.SortFunc(unsent, func(a, b unsentItem) int { return a.item.Index - b.item.Index })
	return unsent
}

func newSweepID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// sweepIDOf is the sweep id of schedule event raw: the event's time and
// id, the same for every delivery of the event (a retried asynchronous
// invocation); newSweepID when the event has no valid id or time (an
// empty event from a person's invoke).
func sweepIDOf(raw []byte) string {
	var ev struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(raw, &ev) != nil || ev.Time.IsZero() || !eventIDRE.MatchString(ev.ID) {
		return newSweepID()
	}
	return ev.Time.UTC().Format("20060102T150405Z") + "-" + ev.ID
}

// eventIDRE is an EventBridge event id (a UUID) short enough for a sweep
// id after the 16-character time and a hyphen.
var eventIDRE = lazyregexp.New(`^[A-Za-z0-9-]{1,47}$`)

// WorkerHandler is functions/sweep-worker: it reconciles the work items of
// an SQS batch (one account and Region each), all of them at once, and
// counts each in the sweep record; the worker completing the sweep's last
// item writes the summary.
type WorkerHandler struct {
	Reconciler RegionSweeper
	Summarizer Summarizer
	// MaxReceives is the work queue's maxReceiveCount: an item failing on
	// that delivery is counted as failed (and still reported, so SQS moves
	// it to the dead-letter queue).
	MaxReceives int
	Logger      *slog.Logger
}

// Serve handles an SQS batch of work items. It never returns an error
// (that would fail every message): a message that failed transiently is
// in BatchItemFailures. A message that is not a work item is acknowledged
// with an error in the report and nothing written: it can never succeed.
func (h WorkerHandler) Serve(ctx context.Context, raw json.RawMessage) (Response, error) {
	log := logger(h.Logger)
	batch, ok := sqsBatch(raw)
	if !ok {
		log.Error("event ignored: the sweep worker takes only SQS batches of the sweep work queue")
		return Response{Report: reconcile.Report{Errors: []string{"sweep worker: the event is not an SQS batch"}}}, nil
	}
	out := Response{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, m := range batch.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, failed := h.item(ctx, log.With("messageId", m.MessageId), m)
			mu.Lock()
			defer mu.Unlock()
			out.Results = append(out.Results, rep.Results...)
			out.Alerts = append(out.Alerts, rep.Alerts...)
			out.Errors = append(out.Errors, rep.Errors...)
			if failed {
				out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(out.BatchItemFailures, func(a, b events.SQSBatchItemFailure) int {
		return strings.Compare(a.ItemIdentifier, b.ItemIdentifier)
	})
	log.Info("batch handled", "messages", len(batch.Records), "failed", len(out.BatchItemFailures))
	return out, nil
}

// item handles one message; failed asks SQS to deliver it again.
func (h WorkerHandler) item(ctx context.Context, log *slog.Logger, m events.SQSMessage) (reconcile.Report, bool) {
	w, err := DecodeWorkItem(m.Body)
	if err != nil {
		log.Error("malformed sweep work item: acknowledged, nothing done", "error", err.Error())
		return reconcile.Report{Errors: []string{err.Error()}}, false
	}
	log = log.With("sweep", w.Sweep, "index", w.Index, "account", w.Account, "region", w.Region)
	if err := ctx.Err(); err != nil {
		log.Warn("work item not handled before the deadline, SQS delivers it again", "error", err.Error())
		return reconcile.Report{}, true
	}
	rep, err := h.Reconciler.SweepRegion(ctx, w.Account, w.Region, w.Regions)
	counts, note := countsOf(rep)
	if err != nil {
		receives, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		if receives < max(1, h.MaxReceives) {
			log.Warn("work item failed transiently, SQS delivers it again", "receives", receives, "error", err.Error())
			return rep, true
		}
		// The last delivery: counted as failed, so the sweep still ends;
		// reported, so SQS moves it to the dead-letter queue (alarm).
		log.Error("work item failed on its last delivery: counted as failed, to the dead-letter queue", "receives", receives, "error", err.Error())
		counts.Failed = 1
		rep.Errors = append(rep.Errors, fmt.Sprintf("account %s Region %s: failed on delivery %d of %d: %v", w.Account, w.Region, receives, h.MaxReceives, err))
		_, note = countsOf(rep)
		if _, cerr := h.Summarizer.complete(ctx, w, counts, note); cerr != nil {
			log.Error("sweep record", "error", cerr.Error())
		}
		return rep, true
	}
	if _, err := h.Summarizer.complete(ctx, w, counts, note); err != nil {
		if errors.Is(err, state.ErrSweepNotFound) {
			// No record (expired, or an item beyond the sweep's count):
			// a later delivery cannot be counted either.
			log.Error("sweep work item of no known sweep: reconciled, not counted, acknowledged", "error", err.Error())
			rep.Errors = append(rep.Errors, fmt.Sprintf("sweep %s item %d: %v", w.Sweep, w.Index, err))
			return rep, false
		}
		// The reconcile is done but not counted: deliver it again (a
		// reconcile of compliant trails writes nothing).
		log.Error("sweep record not updated, SQS delivers the item again", "error", err.Error())
		return rep, true
	}
	return rep, false
}
