package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// memSweeps is state.Sweeps in memory, with the same guarantees: a marker
// per item (a second completion is a duplicate and counts nothing), the
// sums, and a claim that succeeds once, only when every item is done.
type memSweeps struct {
	mu      sync.Mutex
	recs    map[string]*state.SweepRecord
	markers map[string]map[int]string
	writes  int
	// failComplete makes Complete fail for these indexes.
	failComplete map[int]bool
	// indexMarks are the sweep starts the trail index was marked with.
	indexMarks []time.Time
}

func (m *memSweeps) MarkIndexSwept(_ context.Context, started time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.indexMarks = append(m.indexMarks, started)
	return true, nil
}

func newMemSweeps() *memSweeps {
	return &memSweeps{recs: map[string]*state.SweepRecord{}, markers: map[string]map[int]string{}}
}

func (m *memSweeps) Start(_ context.Context, id string, items int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[id]; ok {
		return fmt.Errorf("start sweep %s: %w", id, state.ErrSweepStarted)
	}
	m.writes++
	m.recs[id] = &state.SweepRecord{ID: id, Items: items, Started: time.Unix(0, 0)}
	m.markers[id] = map[int]string{}
	return nil
}

func (m *memSweeps) Complete(_ context.Context, id string, index int, c state.ItemCounts, note string) (state.SweepRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failComplete[index] {
		return state.SweepRecord{}, false, errors.New("dynamodb: throttled")
	}
	rec, ok := m.recs[id]
	if !ok {
		return state.SweepRecord{}, false, state.ErrSweepNotFound
	}
	if _, done := m.markers[id][index]; done {
		return *rec, true, nil
	}
	m.writes++
	m.markers[id][index] = note
	rec.Done++
	rec.Counts.Trails += c.Trails
	rec.Counts.Changed += c.Changed
	rec.Counts.Alerting += c.Alerting
	rec.Counts.Errors += c.Errors
	rec.Counts.Failed += c.Failed
	return *rec, false, nil
}

func (m *memSweeps) Claim(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.recs[id]
	if rec == nil || rec.Claimed || !rec.Complete() {
		return false, nil
	}
	m.writes++
	rec.Claimed = true
	return true, nil
}

func (m *memSweeps) Notes(_ context.Context, id string) (map[int]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]string{}
	for i, n := range m.markers[id] {
		if n != "" {
			out[i] = n
		}
	}
	return out, nil
}

// fakeRegions answers SweepRegion with one trail per item (changed for
// the Regions in changed) and fails the Regions in failing transiently;
// it counts the notices.
type fakeRegions struct {
	mu       sync.Mutex
	calls    []string
	failing  map[string]bool
	changed  map[string]bool
	notices  []reconcile.Report
	targets  []reconcile.Target
	problems []string
}

func (f *fakeRegions) SweepTargets(context.Context) ([]reconcile.Target, []string, error) {
	return f.targets, f.problems, nil
}

func (f *fakeRegions) SweepRegion(_ context.Context, account, region string, _ []string) (reconcile.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, account+"/"+region)
	if f.failing[region] {
		return reconcile.Report{}, fmt.Errorf("describe trails of account %s in %s: %w", account, region, errors.New("ThrottlingException"))
	}
	res := reconcile.Result{Trail: "arn:aws:cloudtrail:" + region + ":" + account + ":trail/t", Account: account, Region: region}
	if f.changed[region] {
		res.Actions = []reconcile.ActionResult{{Action: "update-trail", Target: res.Trail, Outcome: reconcile.Updated}}
	}
	return reconcile.Report{Results: []reconcile.Result{res}}, nil
}

func (f *fakeRegions) NotifySweep(_ context.Context, rep reconcile.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, rep)
}

// fakeQueue keeps what the coordinator sends; failIDs are entries it
// refuses (by entry id), failCalls whole calls it fails.
type fakeQueue struct {
	mu        sync.Mutex
	calls     int
	bodies    []string
	failIDs   map[string]bool
	failCalls bool
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("TooManyEntriesInBatchRequest: %d", len(in.Entries))
	}
	if q.failCalls {
		return nil, errors.New("sqs: service unavailable")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if q.failIDs[aws.ToString(e.Id)] {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
			continue
		}
		q.bodies = append(q.bodies, aws.ToString(e.MessageBody))
	}
	return out, nil
}

func targetsOf(accounts int, regions ...string) []reconcile.Target {
	var out []reconcile.Target
	for a := range accounts {
		for _, r := range regions {
			out = append(out, reconcile.Target{Account: fmt.Sprintf("1111222233%02d", a), Region: r})
		}
	}
	return out
}

func message(id, body string, receives int) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: body, EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receives)}}
}

func batchOf(t *testing.T, msgs ...events.SQSMessage) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeWorkItem(t *testing.T) {
	good := `{"sweep":"20261204T000000Z-ab12","index":3,"account":"111122223333","region":"eu-west-1","regions":["eu-west-1","us-east-1"]}`
	tests := []struct {
		name, body, wantErr string
	}{
		{"valid", good, ""},
		{"no regions list", `{"sweep":"s1","index":0,"account":"111122223333","region":"us-east-1"}`, ""},
		{"not JSON", `account 111122223333`, "not a work item object"},
		{"an array", `[1,2]`, "not a work item object"},
		{"unknown member", `{"sweep":"s1","index":0,"account":"111122223333","region":"us-east-1","trail":"x"}`, "unknown field"},
		{"trailing data", `{"sweep":"s1","index":0,"account":"111122223333","region":"us-east-1"} {}`, "data after the object"},
		{"short account", `{"sweep":"s1","index":0,"account":"1111","region":"us-east-1"}`, `account "1111" is not a 12-digit account id`},
		{"bad region", `{"sweep":"s1","index":0,"account":"111122223333","region":"Mars"}`, `region "Mars" is not a Region name`},
		{"region outside the list", `{"sweep":"s1","index":0,"account":"111122223333","region":"us-east-2","regions":["us-east-1"]}`, "not among regions"},
		{"negative index", `{"sweep":"s1","index":-1,"account":"111122223333","region":"us-east-1"}`, "index -1 is negative"},
		{"no sweep id", `{"index":0,"account":"111122223333","region":"us-east-1"}`, `sweep "" is not a sweep id`},
		{"oversized", `{"sweep":"` + strings.Repeat("a", 20000) + `"}`, "more than"},
		{"index not a number", `{"sweep":"s1","index":"0","account":"111122223333","region":"us-east-1"}`, "not a work item object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := DecodeWorkItem(tt.body)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeWorkItem: %v", err)
				}
				if w.Account != "111122223333" {
					t.Errorf("account %q", w.Account)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if w.Sweep != "" || w.Account != "" {
				t.Errorf("a rejected item was returned: %+v", w)
			}
		})
	}
}

func TestWorkerMalformedItemWritesNothing(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", "hello"},
		{"an EventBridge event", `{"detail-type":"AWS API Call via CloudTrail","detail":{}}`},
		{"bad account", `{"sweep":"s1","index":0,"account":"x","region":"us-east-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, regs := newMemSweeps(), &fakeRegions{}
			h := WorkerHandler{Reconciler: regs, Summarizer: Summarizer{Sweeps: recs, Notifier: regs, Logger: discardLogger()}, MaxReceives: 3, Logger: discardLogger()}
			out, err := h.Serve(context.Background(), batchOf(t, message("m1", tt.body, 1)))
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if len(out.Errors) != 1 || !strings.Contains(out.Errors[0], "sweep work item") {
				t.Errorf("errors %q, want one naming the sweep work item", out.Errors)
			}
			if len(out.BatchItemFailures) != 0 {
				t.Errorf("a malformed item is retried: %v (it can never succeed)", out.BatchItemFailures)
			}
			if recs.writes != 0 || len(regs.calls) != 0 {
				t.Errorf("writes %d, reconciles %v: want none", recs.writes, regs.calls)
			}
		})
	}
}

func TestWorkerRejectsNonBatch(t *testing.T) {
	recs, regs := newMemSweeps(), &fakeRegions{}
	h := WorkerHandler{Reconciler: regs, Summarizer: Summarizer{Sweeps: recs, Logger: discardLogger()}, Logger: discardLogger()}
	out, err := h.Serve(context.Background(), json.RawMessage(`{"detail-type":"Scheduled Event"}`))
	if err != nil || len(out.Errors) != 1 || recs.writes != 0 || len(regs.calls) != 0 {
		t.Fatalf("Serve: %v, errors %q, writes %d, calls %v", err, out.Errors, recs.writes, regs.calls)
	}
}

// sweepRun is a coordinator and a worker over the same fakes.
type sweepRun struct {
	recs    *memSweeps
	regs    *fakeRegions
	queue   *fakeQueue
	metrics *syncBuffer
	coord   CoordinatorHandler
	worker  WorkerHandler
}

func newSweepRun(targets []reconcile.Target) *sweepRun {
	s := &sweepRun{recs: newMemSweeps(), regs: &fakeRegions{targets: targets, failing: map[string]bool{}, changed: map[string]bool{}},
		queue: &fakeQueue{failIDs: map[string]bool{}}, metrics: &syncBuffer{}}
	sum := Summarizer{Sweeps: s.recs, Notifier: s.regs, Metrics: s.metrics, Logger: discardLogger(), Now: func() time.Time { return time.Unix(90, 0) }}
	s.coord = CoordinatorHandler{Reconciler: s.regs, Queue: s.queue, QueueURL: "https://sqs.us-east-1.amazonaws.com/111122223333/q",
		Summarizer: sum, Function: "trailguard-sweeper", Logger: discardLogger(), NewID: func() string { return "sweep-1" }}
	s.worker = WorkerHandler{Reconciler: s.regs, Summarizer: sum, MaxReceives: 3, Logger: discardLogger()}
	return s
}

// summaries counts the summary's EMF function lines.
func (s *sweepRun) summaries() int {
	return strings.Count(s.metrics.String(), `"Function":"trailguard-sweeper"`)
}

// TestSweepSummaryExactlyOnce delivers the items of a sweep in several
// orders, with an item failing transiently (retried, then succeeding) or
// on every delivery (counted as failed on its last), twice-delivered
// items, and whole batches at once: every order ends in exactly one
// summary with the sums of every item.
func TestSweepSummaryExactlyOnce(t *testing.T) {
	regions := []string{"eu-west-1", "us-east-1", "us-west-2"}
	tests := []struct {
		name string
		// order of item indexes; an index repeated is delivered again
		order []int
		// failing Region fails every delivery; flaky fails only the first
		failing, flaky string
		batch          bool // deliver everything as one batch
		wantFailed     int
		wantTrails     int
	}{
		{name: "in order", order: []int{0, 1, 2, 3, 4, 5}, wantTrails: 6},
		{name: "reversed", order: []int{5, 4, 3, 2, 1, 0}, wantTrails: 6},
		{name: "interleaved with duplicates", order: []int{3, 0, 3, 5, 1, 0, 4, 2, 5}, wantTrails: 6},
		{name: "one batch", order: []int{0, 1, 2, 3, 4, 5}, batch: true, wantTrails: 6},
		{name: "one batch with duplicates", order: []int{0, 1, 2, 2, 3, 4, 5, 0}, batch: true, wantTrails: 6},
		{name: "item fails on every delivery, last", order: []int{0, 1, 2, 3, 4, 5}, failing: "us-west-2", wantFailed: 2, wantTrails: 4},
		{name: "item fails on every delivery, first", order: []int{2, 5, 0, 1, 3, 4}, failing: "us-west-2", wantFailed: 2, wantTrails: 4},
		{name: "item fails once then succeeds", order: []int{1, 0, 2, 3, 4, 5}, flaky: "eu-west-1", wantTrails: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSweepRun(targetsOf(2, regions...))
			s.regs.changed["us-east-1"] = true
			ctx := context.Background()
			enq, err := s.coord.Handle(ctx, nil)
			if err != nil || enq.Items != 6 || enq.Unsent != 0 {
				t.Fatalf("coordinator: %+v, %v", enq, err)
			}
			if s.queue.calls != 1 || len(s.queue.bodies) != 6 {
				t.Fatalf("SendMessageBatch calls %d, messages %d", s.queue.calls, len(s.queue.bodies))
			}
			byIndex := map[int]string{}
			for _, b := range s.queue.bodies {
				w, err := DecodeWorkItem(b)
				if err != nil {
					t.Fatal(err)
				}
				byIndex[w.Index] = b
			}
			region := func(i int) string { return regions[i%len(regions)] }
			deliver := func(msgs ...events.SQSMessage) Response {
				out, err := s.worker.Serve(ctx, batchOf(t, msgs...))
				if err != nil {
					t.Fatalf("worker: %v", err)
				}
				return out
			}
			// every item is delivered until it succeeds or its last
			// delivery (3) failed, as SQS does
			receives := map[int]int{}
			pending := append([]int(nil), tt.order...)
			for len(pending) > 0 {
				var msgs []events.SQSMessage
				take := 1
				if tt.batch {
					take = len(pending)
				}
				for _, i := range pending[:take] {
					receives[i]++
					s.regs.failing[region(i)] = tt.failing == region(i) || (tt.flaky == region(i) && receives[i] == 1)
					msgs = append(msgs, message(fmt.Sprintf("m%d-%d", i, receives[i]), byIndex[i], receives[i]))
				}
				pending = pending[take:]
				out := deliver(msgs...)
				for _, f := range out.BatchItemFailures {
					var i, n int
					if _, err := fmt.Sscanf(f.ItemIdentifier, "m%d-%d", &i, &n); err != nil {
						t.Fatal(err)
					}
					if receives[i] < 3 {
						pending = append(pending, i)
					}
				}
			}
			if got := s.summaries(); got != 1 {
				t.Fatalf("%d summaries, want exactly 1\n%s", got, s.metrics.String())
			}
			if len(s.regs.notices) != 1 {
				t.Fatalf("%d notices, want 1", len(s.regs.notices))
			}
			rec := s.recs.recs["sweep-1"]
			if rec.Done != 7 || rec.Counts.Failed != tt.wantFailed || rec.Counts.Trails != tt.wantTrails {
				t.Errorf("record %+v, want done 7 (6 items + the coordinator's), failed %d, trails %d", *rec, tt.wantFailed, tt.wantTrails)
			}
			// The trail index is marked swept once, as of the sweep's
			// start, only when no item failed for good.
			wantMarks := 1
			if tt.wantFailed > 0 {
				wantMarks = 0
			}
			if len(s.recs.indexMarks) != wantMarks || (wantMarks == 1 && !s.recs.indexMarks[0].Equal(rec.Started)) {
				t.Errorf("trail index marked %v, want %d mark(s) as of %v", s.recs.indexMarks, wantMarks, rec.Started)
			}
			notice := s.regs.notices[0]
			changed := 0
			for _, r := range notice.Results {
				if r.Changed() {
					changed++
				}
			}
			if changed != 2 {
				t.Errorf("notice lists %d changed trails, want the 2 of us-east-1: %+v", changed, notice.Results)
			}
			if tt.wantFailed > 0 && !strings.Contains(strings.Join(notice.Errors, "\n"), "failed on delivery 3 of 3") {
				t.Errorf("notice errors %q do not name the failed items", notice.Errors)
			}
		})
	}
}

func TestSweepSummaryConcurrentWorkers(t *testing.T) {
	// Every item delivered twice, by many workers at once: whatever the
	// interleaving, one summary.
	s := newSweepRun(targetsOf(10, "us-east-1", "eu-west-1", "ap-south-1"))
	ctx := context.Background()
	if _, err := s.coord.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for round := range 2 {
		for i, b := range s.queue.bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = s.worker.Serve(ctx, batchOf(t, message(fmt.Sprintf("m%d-%d", i, round), b, 1)))
			}()
		}
	}
	wg.Wait()
	if got := s.summaries(); got != 1 || len(s.regs.notices) > 1 {
		t.Fatalf("%d summaries, %d notices: want 1 summary", got, len(s.regs.notices))
	}
	if rec := s.recs.recs["sweep-1"]; rec.Done != 31 || rec.Counts.Trails != 30 {
		t.Errorf("record %+v, want 31 done, 30 trails", *rec)
	}
}

func TestCoordinatorEnqueue(t *testing.T) {
	tests := []struct {
		name       string
		targets    int // accounts of 5 Regions
		failIDs    []string
		failCalls  bool
		problems   []string
		wantCalls  int
		wantUnsent int
		// the coordinator itself summarizes when nothing reached the queue
		wantSummary bool
	}{
		{name: "23 items: 3 calls", targets: 23, wantCalls: 3},
		{name: "exactly 10", targets: 10, wantCalls: 1},
		{name: "two entries refused", targets: 12, failIDs: []string{"3", "11"}, wantCalls: 2, wantUnsent: 2},
		{name: "queue down", targets: 4, failCalls: true, wantCalls: 1, wantUnsent: 4, wantSummary: true},
		{name: "no accounts, a problem", targets: 0, problems: []string{"list organization accounts: AccessDenied"}, wantSummary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var targets []reconcile.Target
			for i := range tt.targets {
				targets = append(targets, reconcile.Target{Account: fmt.Sprintf("%012d", 100000+i/5), Region: []string{"ap-south-1", "eu-west-1", "eu-west-2", "us-east-1", "us-west-2"}[i%5]})
			}
			s := newSweepRun(targets)
			s.regs.problems = tt.problems
			s.queue.failCalls = tt.failCalls
			for _, id := range tt.failIDs {
				s.queue.failIDs[id] = true
			}
			out, err := s.coord.Serve(context.Background(), json.RawMessage(`{"detail-type":"Scheduled Event","source":"aws.events"}`))
			if err != nil {
				t.Fatal(err)
			}
			if s.queue.calls != tt.wantCalls {
				t.Errorf("SendMessageBatch calls %d, want %d", s.queue.calls, tt.wantCalls)
			}
			if got := len(s.queue.bodies); got != tt.targets-tt.wantUnsent {
				t.Errorf("%d messages sent, want %d", got, tt.targets-tt.wantUnsent)
			}
			rec := s.recs.recs["sweep-1"]
			if rec.Items != tt.targets+1 || rec.Done != tt.wantUnsent+1 || rec.Counts.Failed != tt.wantUnsent {
				t.Errorf("record %+v: want %d items, %d done, %d failed", *rec, tt.targets+1, tt.wantUnsent+1, tt.wantUnsent)
			}
			if got := s.summaries(); (got == 1) != tt.wantSummary || got > 1 {
				t.Errorf("%d summaries by the coordinator, want summary %v", got, tt.wantSummary)
			}
			wantErrs := len(tt.problems)
			if tt.wantUnsent > 0 {
				wantErrs++
			}
			if len(out.Errors) != wantErrs {
				t.Errorf("report errors %q, want %d", out.Errors, wantErrs)
			}
			for _, b := range s.queue.bodies {
				w, err := DecodeWorkItem(b)
				if err != nil || w.Sweep != "sweep-1" || w.Coordinator != "trailguard-sweeper" || len(w.Regions) == 0 {
					t.Errorf("message %s: %+v, %v", b, w, err)
				}
			}
		})
	}
}

func TestCoordinatorIgnoresOtherEvents(t *testing.T) {
	s := newSweepRun(targetsOf(1, "us-east-1"))
	out, err := s.coord.Handle(context.Background(), json.RawMessage(`{"detail-type":"AWS API Call via CloudTrail"}`))
	if err != nil || out.Sweep != "" || s.recs.writes != 0 || s.queue.calls != 0 {
		t.Fatalf("Handle: %+v, %v; writes %d, calls %d", out, err, s.recs.writes, s.queue.calls)
	}
}

func TestWorkerRecordFailureRedelivers(t *testing.T) {
	s := newSweepRun(targetsOf(1, "us-east-1", "eu-west-1"))
	ctx := context.Background()
	if _, err := s.coord.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.recs.failComplete = map[int]bool{0: true}
	out, err := s.worker.Serve(ctx, batchOf(t, message("a", s.queue.bodies[0], 1), message("b", s.queue.bodies[1], 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.BatchItemFailures) != 1 || out.BatchItemFailures[0].ItemIdentifier != "a" {
		t.Fatalf("failures %v, want only a (its count was not written)", out.BatchItemFailures)
	}
	s.recs.failComplete = nil
	if _, err := s.worker.Serve(ctx, batchOf(t, message("a2", s.queue.bodies[0], 2))); err != nil {
		t.Fatal(err)
	}
	if got := s.summaries(); got != 1 {
		t.Fatalf("%d summaries after the redelivery, want 1", got)
	}
}

func TestCountsOf(t *testing.T) {
	big := reconcile.Report{}
	for i := range 400 {
		big.Results = append(big.Results, reconcile.Result{Trail: fmt.Sprintf("arn:aws:cloudtrail:us-east-1:111122223333:trail/t%03d", i),
			Alerts: []string{strings.Repeat("x", 100)}})
	}
	tests := []struct {
		name     string
		rep      reconcile.Report
		want     state.ItemCounts
		wantNote string
	}{
		{"compliant", reconcile.Report{Results: []reconcile.Result{{Trail: "t"}}}, state.ItemCounts{Trails: 1}, ""},
		{"changed", reconcile.Report{Results: []reconcile.Result{{Trail: "t", Actions: []reconcile.ActionResult{{Outcome: reconcile.Updated}}}}},
			state.ItemCounts{Trails: 1, Changed: 1}, `"trail":"t"`},
		{"region alert", reconcile.Report{Alerts: []string{"no trail is logging"}}, state.ItemCounts{Alerting: 1}, "no trail is logging"},
		{"error", reconcile.Report{Errors: []string{"denied"}}, state.ItemCounts{Errors: 1}, "denied"},
		{"too big to list", big, state.ItemCounts{Trails: 400, Alerting: 400}, "too many to list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, note := countsOf(tt.rep)
			if c != tt.want {
				t.Errorf("counts %+v, want %+v", c, tt.want)
			}
			if len(note) > state.MaxNoteBytes {
				t.Errorf("note of %d bytes", len(note))
			}
			if (tt.wantNote == "") != (note == "") || !strings.Contains(note, tt.wantNote) {
				t.Errorf("note %.200q, want one containing %q", note, tt.wantNote)
			}
		})
	}
}

// TestIndexMarkedOnlyAfterACompleteSweep: the trail index is marked swept
// only by a sweep in which no item failed and none had errors (an account
// or Region whose trails could not be listed was not confirmed).
func TestIndexMarkedOnlyAfterACompleteSweep(t *testing.T) {
	started := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		name   string
		counts state.ItemCounts
		marks  int
	}{
		{"complete", state.ItemCounts{Trails: 4}, 1},
		{"an item failed", state.ItemCounts{Trails: 4, Failed: 1}, 0},
		{"an account's Regions not listed", state.ItemCounts{Trails: 4, Errors: 1}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemSweeps()
			Summarizer{Sweeps: m}.markIndexSwept(context.Background(), state.SweepRecord{ID: "s", Started: started, Counts: tt.counts})
			if len(m.indexMarks) != tt.marks || (tt.marks == 1 && !m.indexMarks[0].Equal(started)) {
				t.Errorf("marks %v, want %d as of %v", m.indexMarks, tt.marks, started)
			}
		})
	}
}

// TestCoordinatorRetriedEventStartsNoSecondSweep: Lambda delivers an
// asynchronous invocation again after an error or a timeout; the sweep id
// comes from the schedule event, so the second delivery enqueues nothing.
// An event without an id gets a fresh sweep each time.
func TestCoordinatorRetriedEventStartsNoSecondSweep(t *testing.T) {
	ev := json.RawMessage(`{"id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","time":"2026-12-04T06:00:00Z"}`)
	s := newSweepRun(targetsOf(2, "us-east-1", "eu-west-1"))
	s.coord.NewID = nil
	first, err := s.coord.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if want := "20261204T060000Z-53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"; first.Sweep != want || len(s.queue.bodies) != 4 {
		t.Fatalf("first delivery: sweep %q, %d messages; want %q and 4", first.Sweep, len(s.queue.bodies), want)
	}
	again, err := s.coord.Handle(context.Background(), ev)
	if err != nil || again.Sweep != first.Sweep || again.Items != 0 {
		t.Fatalf("second delivery: %+v, %v; want the same sweep, nothing enqueued, no error", again, err)
	}
	if len(s.queue.bodies) != 4 || len(s.recs.recs) != 1 {
		t.Errorf("after the second delivery: %d messages, %d sweep records; want 4 and 1", len(s.queue.bodies), len(s.recs.recs))
	}
	a, err := s.coord.Handle(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.coord.Handle(context.Background(), json.RawMessage(`{}`))
	if err != nil || a.Sweep == b.Sweep || !sweepIDRE.MatchString(a.Sweep) {
		t.Errorf("events without an id: sweeps %q and %q (%v), want two valid, different ids", a.Sweep, b.Sweep, err)
	}
}

// TestCoordinatorKeepsGoingWhenItsItemIsNotCounted: once the items are
// enqueued, a sweep record that cannot be updated is reported, not
// returned (an error would have Lambda deliver the event again).
func TestCoordinatorKeepsGoingWhenItsItemIsNotCounted(t *testing.T) {
	s := newSweepRun(targetsOf(1, "us-east-1", "eu-west-1"))
	s.recs.failComplete = map[int]bool{2: true} // the coordinator's own item
	out, err := s.coord.Serve(context.Background(), json.RawMessage(`{"detail-type":"Scheduled Event","source":"aws.events"}`))
	if err != nil {
		t.Fatalf("Serve returned %v after enqueueing", err)
	}
	if len(s.queue.bodies) != 2 {
		t.Errorf("%d messages, want 2", len(s.queue.bodies))
	}
	found := false
	for _, e := range out.Errors {
		found = found || strings.Contains(e, "not counted")
	}
	if !found {
		t.Errorf("report errors %q, want the uncounted item named", out.Errors)
	}
}

// TestWorkerAcknowledgesItemOfNoSweep: an item whose sweep has no record
// (expired, or beyond the count) can never be counted: it is reconciled
// once, reported and acknowledged, not delivered again until the
// dead-letter queue.
func TestWorkerAcknowledgesItemOfNoSweep(t *testing.T) {
	s := newSweepRun(targetsOf(1, "us-east-1"))
	body := `{"sweep":"expired-1","index":0,"account":"111122223300","region":"us-east-1","regions":["us-east-1"]}`
	out, err := s.worker.Serve(context.Background(), batchOf(t, message("m", body, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.BatchItemFailures) != 0 {
		t.Errorf("failures %v, want the item acknowledged", out.BatchItemFailures)
	}
	if len(out.Errors) == 0 || !strings.Contains(strings.Join(out.Errors, " "), "expired-1") {
		t.Errorf("errors %q, want the item's sweep named", out.Errors)
	}
}
