// Command trailguard-bench runs trailguard's performance benchmarks on
// this machine and writes one report, report.md and report.json, into the
// -out directory (what `make bench` runs):
//
//  1. core: the go test benchmarks of policy parse+evaluate, parse+
//     evaluate+merge (5, 50, 200 statements) and evaluate+plan, with the
//     growth ratios between sizes;
//  2. critical path: the real handlers against moto through a loopback
//     proxy adding a fixed latency per AWS call, per scenario: calls,
//     sequential round trips and calls whose answer was already known;
//  3. footprint: each function's bootstrap built as deployed (arm64 and
//     the host architecture), binary and zip size, its init (exec to the
//     first event request, against a fake Runtime API; coldinit.go) and
//     package initialisation, start to first result under aws-lambda-rie
//     and peak RSS, side by side with Python's boto3 start (to ready and
//     whole process);
//  4. sweep scaling: 10, 100 and 1,000 trails over Regions and accounts
//     with the injected latency, and with injected throttling; the cost
//     model derived from it;
//  5. organization scale (orgscale): the fanned-out sweep (the real
//     coordinator and 50 simulated worker containers) over organizations
//     of 500 and 5,000 accounts x 17 Regions, answered by a fast fake of
//     the AWS APIs (fakeaws.go) behind the real SDK clients.
//
// Nothing here asserts on time: the figures are reported against their
// targets.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the command-line settings.
type options struct {
	Out          string        `json:"-"`
	Latency      time.Duration `json:"-"`
	LatencyMS    float64       `json:"latency_ms"`
	Concurrency  int           `json:"sweep_concurrency"`
	Sizes        []int         `json:"sweep_sizes"`
	ThrottleRate float64       `json:"throttle_rate"`
	Runs         int           `json:"critical_runs"`
	ColdRuns     int           `json:"cold_start_runs"`
	// ColdBaseline is a git revision whose functions are cold-started
	// interleaved with this tree's ("" none).
	ColdBaseline string   `json:"cold_baseline,omitempty"`
	BenchCount   int      `json:"bench_count"`
	BenchTime    string   `json:"bench_time"`
	Sections     []string `json:"sections"`
	// OrgSizes are the account counts of the organization-scale runs.
	OrgSizes []int `json:"orgscale_accounts"`
}

var allSections = []string{"core", "critical", "footprint", "sweep", "orgscale"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("trailguard-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var sizes, sections, orgSizes string
	fs.StringVar(&o.Out, "out", "bench/results", "directory for report.md and report.json")
	fs.DurationVar(&o.Latency, "latency", 20*time.Millisecond, "latency the proxy adds to every AWS call")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "TRAILGUARD_CONCURRENCY of the sweeps (1..64)")
	fs.StringVar(&sizes, "sizes", "10,100,1000", "trail counts of the sweep scaling runs")
	fs.Float64Var(&o.ThrottleRate, "throttle", 0.05, "share of calls the proxy throttles in the throttled sweep (0: no such run)")
	fs.IntVar(&o.Runs, "runs", 3, "runs of each critical-path scenario (the median is reported)")
	fs.IntVar(&o.ColdRuns, "cold-runs", 5, "cold starts and inits per function, and Python runs (the median is reported)")
	fs.StringVar(&o.ColdBaseline, "cold-baseline", "", "git revision whose functions are also cold-started, interleaved with this tree's, for a before/after comparison in one run")
	fs.IntVar(&o.BenchCount, "bench-count", 5, "go test -count of the core benchmarks (the median is reported)")
	fs.StringVar(&o.BenchTime, "bench-time", "300ms", "go test -benchtime of the core benchmarks")
	fs.StringVar(&orgSizes, "orgscale-accounts", "500,5000", "account counts of the organization-scale runs (17 Regions each); the growth ratio compares the first and the last")
	fs.StringVar(&sections, "sections", strings.Join(allSections, ","), "sections to run: "+strings.Join(allSections, ","))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.LatencyMS = ms(o.Latency)
	if o.Latency <= 0 {
		return o, errors.New("-latency must be positive (round trips are wall time divided by it)")
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return o, fmt.Errorf("-concurrency %d: want 1 to 64", o.Concurrency)
	}
	if o.ThrottleRate < 0 || o.ThrottleRate >= 1 {
		return o, fmt.Errorf("-throttle %v: want 0 to below 1", o.ThrottleRate)
	}
	if o.Runs < 1 || o.ColdRuns < 1 || o.BenchCount < 1 {
		return o, errors.New("-runs, -cold-runs and -bench-count must be at least 1")
	}
	for _, s := range strings.Split(sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 5000 {
			return o, fmt.Errorf("-sizes: %q is not a trail count from 1 to 5000", s)
		}
		o.Sizes = append(o.Sizes, n)
	}
	for _, s := range strings.Split(orgSizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 20000 {
			return o, fmt.Errorf("-orgscale-accounts: %q is not an account count from 1 to 20000", s)
		}
		o.OrgSizes = append(o.OrgSizes, n)
	}
	for _, s := range strings.Split(sections, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allSections, s) {
			return o, fmt.Errorf("-sections: unknown section %q (want some of %s)", s, strings.Join(allSections, ","))
		}
		o.Sections = append(o.Sections, s)
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "trailguard-bench:", err)
		return 2
	}
	if prof := os.Getenv("TRAILGUARD_BENCH_CPUPROFILE"); prof != "" {
		if f, err := os.Create(prof); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	rep := runAll(ctx, o, logf)
	paths, err := writeReport(o.Out, rep)
	if err != nil {
		fmt.Fprintln(stderr, "trailguard-bench:", err)
		return 1
	}
	logf("report written: %s", strings.Join(paths, ", "))
	if len(rep.Errors) > 0 {
		for _, e := range rep.Errors {
			fmt.Fprintln(stderr, "trailguard-bench: error:", e)
		}
		return 1
	}
	return 0
}
