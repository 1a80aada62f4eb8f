package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// sweepRegions are the Regions the sweep worlds spread trails over.
var sweepRegions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}

// defaultRegions are the 17 Regions enabled by default in an AWS account:
// what DescribeRegions returns to an account with no opt-in Region. The
// sweeps name them in TRAILGUARD_REGIONS: moto's DescribeRegions lists 38,
// the China and GovCloud partitions included, and its EC2 backend takes
// seconds to start in every account.
var defaultRegions = []string{
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
	"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// trailsPerAccountRegion is how many trails a world puts in one account
// and Region at most: the CloudTrail quota is 5 trails per Region.
const trailsPerAccountRegion = 5

// SweepRun is one measured sweep.
type SweepRun struct {
	Trails      int `json:"trails"`
	Accounts    int `json:"accounts"`
	Regions     int `json:"regions_with_trails"`
	Concurrency int `json:"concurrency"`
	// ThrottleRate is the share of calls the proxy throttled.
	ThrottleRate float64 `json:"throttle_rate,omitempty"`
	// Retry is the SDK retry mode: "adaptive" (trailguard's default) or
	// "standard" (for comparison).
	Retry        string  `json:"retry"`
	SetupSeconds float64 `json:"setup_seconds"`
	WallSeconds  float64 `json:"wall_seconds"`
	// DiscoverySeconds is the time until the last account and Region
	// was listed (AssumeRole, DescribeRegions, DescribeTrails);
	// ReconcileSeconds the rest.
	DiscoverySeconds float64        `json:"discovery_seconds"`
	ReconcileSeconds float64        `json:"reconcile_seconds"`
	Calls            int            `json:"calls"`
	ByOperation      map[string]int `json:"by_operation"`
	PeakInFlight     int            `json:"peak_in_flight"`
	Throttled        int            `json:"throttled,omitempty"`
	Results          int            `json:"results"`
	Compliant        int            `json:"compliant"`
	Failed           int            `json:"failed"`
	// Repeated counts the reads asked again whose answer the sweep
	// already had (analysis.Repeated: a re-read right before a write to
	// the resource is not one).
	Repeated int `json:"repeated_reads"`
	// CPUSeconds is this process's CPU time during the sweep: trailguard,
	// the proxy and the recorder (the emulator runs in its own process).
	CPUSeconds float64 `json:"bench_cpu_seconds"`
	// EmulatorCPUSeconds is moto's CPU time during the sweep: near the
	// wall time, the emulator (one Python process) was the bottleneck.
	EmulatorCPUSeconds float64 `json:"emulator_cpu_seconds"`
	// MsPerTrail and CallsPerTrail are the wall time and calls of the
	// sweep divided by its trails.
	MsPerTrail    float64 `json:"ms_per_trail"`
	CallsPerTrail float64 `json:"calls_per_trail"`
	Error         string  `json:"error,omitempty"`
}

// Scaling compares two sweep sizes.
type Scaling struct {
	From       int     `json:"from_trails"`
	To         int     `json:"to_trails"`
	SizeRatio  float64 `json:"size_ratio"`
	WallRatio  float64 `json:"wall_ratio"`
	CallsRatio float64 `json:"calls_ratio"`
}

// SweepSection is part 4 of the report.
type SweepSection struct {
	LatencyMS float64    `json:"latency_ms"`
	Config    string     `json:"config"`
	Runs      []SweepRun `json:"runs"`
	Scaling   []Scaling  `json:"scaling"`
	// Throttled are the sweeps with injected throttling: trailguard's
	// adaptive retry, and the SDK's standard retry for comparison.
	Throttled []SweepRun `json:"throttled,omitempty"`
}

func runSweeps(ctx context.Context, srv *motoserver.Server, o options, logf func(string, ...any)) (*SweepSection, error) {
	proxy, err := awsproxy.Start(srv.Endpoint, awsproxy.Options{Latency: o.Latency, Seed: 1})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	sec := &SweepSection{LatencyMS: ms(o.Latency),
		Config: fmt.Sprintf("organization mode (TRAILGUARD_ROLE_NAME), TRAILGUARD_REGIONS = the %d Regions enabled by default, TRAILGUARD_CONCURRENCY=%d; every trail compliant (steady state), trails in %d of the Regions, at most %d per account and Region",
			len(defaultRegions), o.Concurrency, len(sweepRegions), trailsPerAccountRegion)}
	for _, n := range o.Sizes {
		r := runSweep(ctx, srv, proxy, o, n, 0, "adaptive", logf)
		sec.Runs = append(sec.Runs, r)
	}
	for i := 1; i < len(sec.Runs); i++ {
		a, b := sec.Runs[i-1], sec.Runs[i]
		if a.Error != "" || b.Error != "" {
			continue
		}
		sec.Scaling = append(sec.Scaling, Scaling{From: a.Trails, To: b.Trails, SizeRatio: float64(b.Trails) / float64(a.Trails),
			WallRatio: b.WallSeconds / a.WallSeconds, CallsRatio: float64(b.Calls) / float64(a.Calls)})
	}
	if o.ThrottleRate > 0 && len(o.Sizes) > 0 {
		n := 100
		if !slices.Contains(o.Sizes, n) {
			n = o.Sizes[0]
		}
		for _, mode := range []string{"adaptive", "standard"} {
			sec.Throttled = append(sec.Throttled, runSweep(ctx, srv, proxy, o, n, o.ThrottleRate, mode, logf))
		}
	}
	return sec, nil
}

// sweepWorld is the layout of n trails: accounts (the first is moto's
// default, the management account) and, per account and Region, the
// trails there.
func sweepLayout(n int) (accounts int, perPair [][]int) {
	pairs := (n + trailsPerAccountRegion - 1) / trailsPerAccountRegion
	accounts = max(2, (pairs+len(sweepRegions)-1)/len(sweepRegions))
	perPair = make([][]int, accounts*len(sweepRegions))
	for i := 0; i < n; i++ {
		p := i % len(perPair)
		perPair[p] = append(perPair[p], i)
	}
	return accounts, perPair
}

// buildSweepWorld creates the organization, its accounts and n compliant
// trails.
func buildSweepWorld(ctx context.Context, srv *motoserver.Server, n int) (accounts []string, regions int, err error) {
	if err := srv.Reset(ctx); err != nil {
		return nil, 0, err
	}
	mgmt, err := newWorld(srv)
	if err != nil {
		return nil, 0, err
	}
	nAccounts, perPair := sweepLayout(n)
	members, err := mgmt.createAccounts(ctx, nAccounts-1)
	if err != nil {
		return nil, 0, err
	}
	accounts = append([]string{mgmt.account}, members...)
	worlds := make([]*world, len(accounts))
	worlds[0] = mgmt
	for i, a := range members {
		if worlds[i+1], err = mgmt.as(ctx, a); err != nil {
			return nil, 0, err
		}
	}
	used := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for p, trails := range perPair {
		if len(trails) == 0 {
			continue
		}
		w := worlds[p/len(sweepRegions)]
		region := sweepRegions[p%len(sweepRegions)]
		used[region] = true
		g.Go(func() error {
			bucket := fmt.Sprintf("tgb-%s-%s", w.account, region)
			var planned []plannedTrail
			for _, i := range trails {
				planned = append(planned, plannedTrail{Account: w.account, Region: region, Name: "trail-" + strconv.Itoa(i), Bucket: bucket})
			}
			policy, err := compliantPolicy(w.account, planned)
			if err != nil {
				return err
			}
			if err := w.bucket(gctx, bucket, region); err != nil {
				return err
			}
			k, err := w.key(gctx, region, policy)
			if err != nil {
				return err
			}
			if err := w.alias(gctx, region, baselineName, k); err != nil {
				return err
			}
			for _, t := range planned {
				if _, err := w.trail(gctx, region, t.Name, bucket, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return accounts, len(used), nil
}

// runSweep builds a world of n trails and sweeps it once with the real
// sweeper handler through the proxy (throttling rate of its calls).
func runSweep(ctx context.Context, srv *motoserver.Server, proxy *awsproxy.Proxy, o options, n int, rate float64, retryMode string, logf func(string, ...any)) SweepRun {
	r := SweepRun{Trails: n, Concurrency: o.Concurrency, ThrottleRate: rate, Retry: retryMode}
	setup := time.Now()
	accounts, regions, err := buildSweepWorld(ctx, srv, n)
	r.SetupSeconds = time.Since(setup).Seconds()
	r.Accounts, r.Regions = len(accounts), regions
	if err != nil {
		r.Error = "set up: " + err.Error()
		logf("sweep %d trails: %s", n, r.Error)
		return r
	}
	env := map[string]string{config.EnvRoleName: benchRole, config.EnvConcurrency: strconv.Itoa(o.Concurrency),
		config.EnvRegions: strings.Join(defaultRegions, ",")}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		r.Error = err.Error()
		return r
	}
	rec := newRecorder(awshttp.NewBuildableClient())
	base, err := srv.AWSConfig(ctx, home)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	base.BaseEndpoint = aws.String(proxy.URL)
	base.HTTPClient = rec
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	opts := []reconcile.Option{reconcile.WithLogger(log)}
	if retryMode == "standard" {
		opts = append(opts, reconcile.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = reconcile.DefaultRetryMaxAttempts
				so.MaxBackoff = reconcile.DefaultRetryMaxBackoff
			})
		}))
	}
	rc := reconcile.New(base, cfg, opts...)
	h := lambda.NewHandler(handler.SweepHandler{Reconciler: rc, Logger: log}.Handle)
	raw, err := scheduledEvent(motoserver.AccountID, home)
	if err != nil {
		r.Error = err.Error()
		return r
	}

	proxy.Reset()
	if rate > 0 {
		proxy.SetRules([]awsproxy.Rule{{Rate: rate, Faults: []awsproxy.Fault{awsproxy.Throttle}}})
		defer proxy.SetRules(nil)
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cpu0, moto0 := cpuSeconds(), emulatorCPUSeconds()
	start := time.Now()
	out, invokeErr := h.Invoke(ictx, raw)
	wall := time.Since(start)
	r.CPUSeconds, r.EmulatorCPUSeconds = cpuSeconds()-cpu0, emulatorCPUSeconds()-moto0
	calls := rec.take()

	r.WallSeconds = wall.Seconds()
	r.Calls, r.ByOperation, r.PeakInFlight = proxy.Total(), proxy.Calls(), proxy.Peak()
	for _, v := range proxy.Faults() {
		r.Throttled += v
	}
	var discoveryEnd time.Time
	for _, c := range calls {
		switch c.Op {
		case "AssumeRole", "DescribeRegions", "DescribeTrails", "ListAccounts", "GetCallerIdentity":
			if c.End.After(discoveryEnd) {
				discoveryEnd = c.End
			}
		}
	}
	if !discoveryEnd.IsZero() {
		r.DiscoverySeconds = discoveryEnd.Sub(start).Seconds()
		r.ReconcileSeconds = r.WallSeconds - r.DiscoverySeconds
	}
	r.Repeated = len(analyse(calls).Repeated)
	r.MsPerTrail = ms(wall) / float64(n)
	r.CallsPerTrail = float64(r.Calls) / float64(n)

	var rep reconcile.Report
	if len(out) > 0 {
		if err := json.Unmarshal(out, &rep); err != nil {
			r.Error = "decode result: " + err.Error()
		}
	}
	r.Results = len(rep.Results)
	for _, res := range rep.Results {
		switch {
		case res.Error != "" || res.Alerting():
			r.Failed++
		case !res.Changed() && !hasActionable(res):
			r.Compliant++
		}
	}
	switch {
	case invokeErr != nil:
		r.Error = "sweep returned an error: " + invokeErr.Error()
	case r.Results != n:
		r.Error = fmt.Sprintf("the sweep reported %d trails, the world has %d", r.Results, n)
	case len(rep.Errors) > 0:
		r.Error = fmt.Sprintf("sweep errors: %v", rep.Errors)
	}
	logf("sweep %4d trails, %2d accounts (throttle %.0f%%, %s retry): %6.2f s (discovery %.2f s), %5d calls, peak %d in flight, %d compliant, %d failed, %d throttled %s",
		n, r.Accounts, rate*100, retryMode, r.WallSeconds, r.DiscoverySeconds, r.Calls, r.PeakInFlight, r.Compliant, r.Failed, r.Throttled, r.Error)
	return r
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// emulatorCPUSeconds is the CPU time so far of this process's children
// running moto_server (from /proc; Linux's USER_HZ is 100).
func emulatorCPUSeconds() float64 {
	var total float64
	for _, pid := range children(os.Getpid()) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), "moto") {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		// Fields after the command: state is [0], utime [11], stime [12].
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (u + st) / 100
	}
	return total
}

// hasActionable reports whether res has a finding trailguard acts on.
func hasActionable(res reconcile.Result) bool {
	for _, f := range res.Findings {
		if f.Actionable {
			return true
		}
	}
	return false
}
