package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// orgScale defaults: the organization sizes and worker
// concurrency (the stack's sweepConcurrency default).
var orgScaleSizes = []int{500, 5000}

const (
	orgScaleContainers = 50
	orgScaleTable      = "trailguard-state"
	orgScaleCoordName  = "trailguard-sweeper"
	// Targets of issue 15.
	targetInvocationSeconds = 60
	targetSweepSeconds      = 15 * 60
	targetGrowth            = 1.1
)

// OrgScaleRun is one simulated organization swept by the fan-out.
type OrgScaleRun struct {
	Accounts   int `json:"accounts"`
	Regions    int `json:"regions"`
	Items      int `json:"work_items"`
	Trails     int `json:"trails"`
	Containers int `json:"worker_containers"`
	// CoordinatorSeconds is the coordinator's one invocation; the
	// worker figures are over every worker invocation (one SQS batch).
	CoordinatorSeconds float64 `json:"coordinator_seconds"`
	WorkerInvocations  int     `json:"worker_invocations"`
	WorkerMaxSeconds   float64 `json:"worker_max_seconds"`
	WorkerMeanSeconds  float64 `json:"worker_mean_seconds"`
	WorkerGBSeconds    float64 `json:"worker_billed_gb_seconds"`
	// SweepSeconds runs from the coordinator's start to the summary.
	SweepSeconds float64        `json:"sweep_seconds"`
	MsPerAccount float64        `json:"ms_per_account"`
	Calls        int            `json:"calls"`
	ByOperation  map[string]int `json:"by_operation"`
	Summaries    int            `json:"summaries"`
	TrailsSeen   int            `json:"trails_in_summary"`
	Changed      int            `json:"changed"`
	Alerting     int            `json:"alerting"`
	FailedItems  int            `json:"failed_items"`
	Errors       int            `json:"errors"`
	CPUSeconds   float64        `json:"bench_cpu_seconds"`
	HeapMiB      float64        `json:"heap_mib_after"`
	// USDPerAccountMonth is the Lambda cost of the sweeps per account and
	// month (cost.go's prices, memory and schedule).
	USDPerAccountMonth float64 `json:"usd_per_account_month"`
	Error              string  `json:"error,omitempty"`
}

// OrgScaleSection is part 5 of the report.
type OrgScaleSection struct {
	LatencyMS float64       `json:"latency_ms"`
	Config    string        `json:"config"`
	Fake      string        `json:"fake"`
	Runs      []OrgScaleRun `json:"runs"`
	// Growth is the per-account sweep time of the largest run over the
	// smallest's.
	Growth     float64 `json:"growth_ratio"`
	GrowthFrom int     `json:"growth_from_accounts"`
	GrowthTo   int     `json:"growth_to_accounts"`
}

func (s *OrgScaleSection) errs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, r := range s.Runs {
		if r.Error != "" {
			out = append(out, fmt.Sprintf("orgscale %d accounts: %s", r.Accounts, r.Error))
		}
	}
	return out
}

func runOrgScale(ctx context.Context, o options, logf func(string, ...any)) *OrgScaleSection {
	sec := &OrgScaleSection{LatencyMS: ms(o.Latency),
		Config: fmt.Sprintf("organization mode, every enabled Region (DescribeRegions per account: the %d default Regions), TRAILGUARD_CONCURRENCY=%d; the real coordinator (handler.CoordinatorHandler) once, alone (its CPU is its own in Lambda), then %d simulated worker containers, each its own reconcile.Reconciler and handler.WorkerHandler, draining the work queue in batches of 10 (ReceiveMessage, the handler, DeleteMessageBatch) as the event source mapping at MaximumConcurrency %d would (its ReceiveMessage and DeleteMessageBatch calls are counted; Lambda's poller makes them, unbilled to the function); the sweep time runs from the coordinator's start to the summary, the coordinator's time plus the drain's; the sweep record is state.Sweeps; every account holds a multi-Region trail and a trail of one Region, both compliant (steady state); Security Hub off",
			len(defaultRegions), o.Concurrency, orgScaleContainers, orgScaleContainers),
		Fake: "answered by an in-process fake AWS (cmd/trailguard-bench/fakeaws.go) behind the real SDK clients, with the injected latency per call: moto (one Python process) would spend more CPU per call than trailguard at 5,000 accounts x 17 Regions, so its time, not trailguard's, would be measured. Wall times include this machine's CPU for the SDK, the signing and the fake (bench CPU column): AWS serves the calls in parallel."}
	for _, n := range o.OrgSizes {
		r := runOrgScaleOnce(ctx, o, n, logf)
		sec.Runs = append(sec.Runs, r)
	}
	var first, last *OrgScaleRun
	for i := range sec.Runs {
		if sec.Runs[i].Error != "" {
			continue
		}
		if first == nil {
			first = &sec.Runs[i]
		}
		last = &sec.Runs[i]
	}
	if first != nil && last != first && first.MsPerAccount > 0 {
		sec.Growth, sec.GrowthFrom, sec.GrowthTo = last.MsPerAccount/first.MsPerAccount, first.Accounts, last.Accounts
	}
	return sec
}

// countingWriter counts the summary's EMF lines (the coordinator's
// function line).
type countingWriter struct {
	mu    sync.Mutex
	lines int
	at    time.Time
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"Function":"`+orgScaleCoordName+`"`)) {
		c.mu.Lock()
		c.lines++
		c.at = time.Now()
		c.mu.Unlock()
	}
	return len(p), nil
}

func (c *countingWriter) get() (int, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines, c.at
}

// summaryNotifier keeps the summary's report.
type summaryNotifier struct {
	mu  sync.Mutex
	rep []reconcile.Report
}

func (s *summaryNotifier) NotifySweep(_ context.Context, rep reconcile.Report) {
	s.mu.Lock()
	s.rep = append(s.rep, rep)
	s.mu.Unlock()
}

func runOrgScaleOnce(ctx context.Context, o options, accounts int, logf func(string, ...any)) OrgScaleRun {
	r := OrgScaleRun{Accounts: accounts, Regions: len(defaultRegions), Items: accounts * len(defaultRegions), Trails: 2 * accounts, Containers: orgScaleContainers}
	fake, err := startFakeAWS(accounts, defaultRegions, o.Latency)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer fake.Close()

	env := map[string]string{config.EnvRoleName: benchRole, config.EnvConcurrency: strconv.Itoa(o.Concurrency),
		config.EnvTable: orgScaleTable, config.EnvSecurityHub: "off",
		config.EnvSweepQueue: fake.URL + "/" + fakeMgmt + "/trailguard-sweep"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		r.Error = err.Error()
		return r
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 4096, 4096
	})
	base := aws.Config{Region: home, Credentials: credentials.NewStaticCredentialsProvider("BENCH"+fakeMgmt, "secret", ""),
		BaseEndpoint: aws.String(fake.URL), HTTPClient: hc}
	log := slog.New(slog.DiscardHandler)
	notices := &summaryNotifier{}
	emf := &countingWriter{}
	summarizer := func() handler.Summarizer {
		return handler.Summarizer{Sweeps: state.NewSweeps(dynamodb.NewFromConfig(base), orgScaleTable, nil), Notifier: notices, Metrics: emf, Logger: log}
	}
	queue := sqs.NewFromConfig(base)
	coord := handler.CoordinatorHandler{Reconciler: reconcile.New(base, cfg, reconcile.WithLogger(log)), Queue: queue,
		QueueURL: cfg.SweepQueue, Summarizer: summarizer(), Function: orgScaleCoordName, Logger: log}
	raw, err := scheduledEvent(fakeMgmt, home)
	if err != nil {
		r.Error = err.Error()
		return r
	}

	sctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cpu0 := cpuSeconds()
	start := time.Now()
	var (
		coordDone atomic.Bool
		mu        sync.Mutex
		durations []time.Duration
		workErrs  []string
		wg        sync.WaitGroup
	)
	// The coordinator runs alone first: on this machine the workers would
	// take its CPU, which in Lambda is its own. The sweep time is then the
	// coordinator's plus the drain's, an upper bound of Lambda's, where
	// the workers start on the first items.
	c0 := time.Now()
	enq, err := coord.Handle(sctx, raw)
	r.CoordinatorSeconds = time.Since(c0).Seconds()
	coordDone.Store(true)
	if err != nil {
		r.Error = "coordinator: " + err.Error()
		cancel()
	}
	for c := range orgScaleContainers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// As handler.Main builds it with TRAILGUARD_TABLE: the store
			// (leases and records for writes, which a steady-state sweep
			// makes none of; the trail index, noted for every trail).
			rc := reconcile.New(base, cfg, reconcile.WithLogger(log), reconcile.WithStore(state.New(dynamodb.NewFromConfig(base), orgScaleTable)))
			w := handler.WorkerHandler{Reconciler: rc, Summarizer: summarizer(), MaxReceives: cfg.SweepReceives, Logger: log}
			for sctx.Err() == nil {
				if n, _ := emf.get(); n > 0 {
					return
				}
				out, err := queue.ReceiveMessage(sctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(cfg.SweepQueue), MaxNumberOfMessages: 10,
					MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
				if err != nil {
					mu.Lock()
					workErrs = append(workErrs, fmt.Sprintf("container %d: receive: %v", c, err))
					mu.Unlock()
					return
				}
				if len(out.Messages) == 0 {
					if coordDone.Load() && fake.q.pending() == 0 {
						return
					}
					time.Sleep(o.Latency)
					continue
				}
				var batch events.SQSEvent
				for _, m := range out.Messages {
					batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), EventSource: "aws:sqs", Attributes: m.Attributes})
				}
				b, _ := json.Marshal(batch)
				t0 := time.Now()
				resp, err := w.Serve(sctx, b)
				d := time.Since(t0)
				failed := map[string]bool{}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					if !failed[aws.ToString(m.MessageId)] {
						del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
					}
				}
				mu.Lock()
				durations = append(durations, d)
				if err != nil {
					workErrs = append(workErrs, err.Error())
				}
				mu.Unlock()
				if len(del) > 0 {
					if _, err := queue.DeleteMessageBatch(sctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(cfg.SweepQueue), Entries: del}); err != nil {
						mu.Lock()
						workErrs = append(workErrs, fmt.Sprintf("container %d: delete: %v", c, err))
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	r.CPUSeconds = cpuSeconds() - cpu0
	n, at := emf.get()
	r.Summaries = n
	if n > 0 {
		r.SweepSeconds = at.Sub(start).Seconds()
	}
	r.MsPerAccount = r.SweepSeconds * 1000 / float64(accounts)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapMiB = float64(ms.HeapAlloc) / (1 << 20)

	r.ByOperation = fake.Counts()
	for _, v := range r.ByOperation {
		r.Calls += v
	}
	r.WorkerInvocations = len(durations)
	var total time.Duration
	var billed float64
	for _, d := range durations {
		total += d
		r.WorkerMaxSeconds = max(r.WorkerMaxSeconds, d.Seconds())
		billed += float64(d.Milliseconds()+1) / 1000 * memoryGB
	}
	if len(durations) > 0 {
		r.WorkerMeanSeconds = total.Seconds() / float64(len(durations))
	}
	r.WorkerGBSeconds = billed
	coordGBs := float64(int64(r.CoordinatorSeconds*1000)+1) / 1000 * memoryGB
	requests := float64(r.WorkerInvocations + 1)
	perSweep := (billed+coordGBs)*pricePerGBSecond + requests/1e6*pricePerMillionRequest
	r.USDPerAccountMonth = perSweep * sweepsPerDay * daysPerMonth / float64(accounts)

	rec, gerr := state.NewSweeps(dynamodb.NewFromConfig(base), orgScaleTable, nil).Get(ctx, enq.Sweep)
	if gerr == nil {
		r.TrailsSeen, r.Changed, r.Alerting, r.FailedItems, r.Errors = rec.Counts.Trails, rec.Counts.Changed, rec.Counts.Alerting, rec.Counts.Failed, rec.Counts.Errors
	}
	switch {
	case r.Error != "":
	case len(workErrs) > 0:
		r.Error = fmt.Sprintf("%d worker errors, first: %s", len(workErrs), workErrs[0])
	case gerr != nil:
		r.Error = "sweep record: " + gerr.Error()
	case r.Summaries != 1:
		r.Error = fmt.Sprintf("%d summaries, want 1", r.Summaries)
	case enq.Items != r.Items || rec.Done != r.Items+1:
		r.Error = fmt.Sprintf("%d items enqueued, %d done; want %d", enq.Items, rec.Done, r.Items)
	case r.TrailsSeen != r.Trails || r.Changed != 0 || r.Alerting != 0 || r.FailedItems != 0 || r.Errors != 0:
		r.Error = fmt.Sprintf("summary: %d trails (want %d), %d changed, %d alerting, %d failed items, %d errors (want a compliant organization)%s",
			r.TrailsSeen, r.Trails, r.Changed, r.Alerting, r.FailedItems, r.Errors, firstProblem(notices))
	}
	logf("orgscale %5d accounts x %d Regions: coordinator %.1f s, %d worker invocations (max %.2f s, mean %.3f s), sweep %.1f s (%.1f ms/account), %d calls, %.0f s CPU, %d summary %s",
		accounts, r.Regions, r.CoordinatorSeconds, r.WorkerInvocations, r.WorkerMaxSeconds, r.WorkerMeanSeconds, r.SweepSeconds, r.MsPerAccount, r.Calls, r.CPUSeconds, r.Summaries, r.Error)
	return r
}

// orgScaleTargets are the section's figures against the targets.
func orgScaleTargets(s *OrgScaleSection, atMost func(figure string, value, target float64, unit, note string)) {
	if s == nil {
		return
	}
	for _, r := range s.Runs {
		if r.Error != "" || r.Accounts != slices.Max(orgSizesOf(s)) {
			continue
		}
		atMost(fmt.Sprintf("orgscale %d accounts x %d Regions: longest single invocation", r.Accounts, r.Regions), round1(max(r.CoordinatorSeconds, r.WorkerMaxSeconds)), targetInvocationSeconds, "seconds",
			fmt.Sprintf("coordinator %.1f s, worker max %.2f s over %d invocations", r.CoordinatorSeconds, r.WorkerMaxSeconds, r.WorkerInvocations))
		atMost(fmt.Sprintf("orgscale %d accounts: whole sweep at worker concurrency %d", r.Accounts, r.Containers), round1(r.SweepSeconds/60), targetSweepSeconds/60, "minutes",
			fmt.Sprintf("%d calls, bench CPU %.0f s", r.Calls, r.CPUSeconds))
	}
	if s.Growth > 0 {
		atMost(fmt.Sprintf("orgscale %d to %d accounts: per-account sweep time growth", s.GrowthFrom, s.GrowthTo), round2(s.Growth), targetGrowth, "(1 = linear)", "")
	}
}

func orgSizesOf(s *OrgScaleSection) []int {
	var out []int
	for _, r := range s.Runs {
		out = append(out, r.Accounts)
	}
	return out
}

// writeOrgScale renders the section in report.md.
func writeOrgScale(w io.Writer, s *OrgScaleSection, tblf func(head []string, rows func(row func(...any)))) {
	fmt.Fprintf(w, "## 5. Organization scale: the sweep fanned out, %g ms added per AWS call\n\n", s.LatencyMS)
	fmt.Fprintf(w, "%s.\n\n**Emulator:** %s\n\n", s.Config, s.Fake)
	tblf([]string{"accounts", "work items", "trails", "coordinator s", "worker invocations", "worker max s", "worker mean s", "sweep s", "ms / account", "calls", "bench CPU s", "summaries", "USD / account / month (Lambda)"}, func(row func(...any)) {
		for _, r := range s.Runs {
			if r.Error != "" {
				row(r.Accounts, r.Items, r.Trails, "error: "+oneLine(r.Error), "", "", "", "", "", "", "", "", "")
				continue
			}
			row(r.Accounts, r.Items, r.Trails, fmt.Sprintf("%.1f", r.CoordinatorSeconds), r.WorkerInvocations, fmt.Sprintf("%.2f", r.WorkerMaxSeconds),
				fmt.Sprintf("%.3f", r.WorkerMeanSeconds), fmt.Sprintf("%.1f", r.SweepSeconds), fmt.Sprintf("%.1f", r.MsPerAccount), r.Calls,
				fmt.Sprintf("%.0f", r.CPUSeconds), r.Summaries, fmt.Sprintf("%.6f", r.USDPerAccountMonth))
		}
	})
	fmt.Fprintln(w)
	for _, r := range s.Runs {
		if r.Error == "" {
			fmt.Fprintf(w, "Calls of the %d-account sweep, by operation: %s.\n\n", r.Accounts, countList(r.ByOperation))
		}
	}
	if s.Growth > 0 {
		fmt.Fprintf(w, "Growth %d to %d accounts (per-account sweep time ratio): %.2f.\n\n", s.GrowthFrom, s.GrowthTo, s.Growth)
	}
}

// firstProblem names the first error or alert of the summary's notice.
func firstProblem(n *summaryNotifier) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, rep := range n.rep {
		for _, e := range rep.Errors {
			return "; first error: " + e
		}
		for _, a := range rep.Alerts {
			return "; first alert: " + a
		}
		for _, res := range rep.Results {
			return fmt.Sprintf("; first trail: %s %s %v %v", res.Trail, res.Error, res.Alerts, res.Findings)
		}
	}
	return ""
}
