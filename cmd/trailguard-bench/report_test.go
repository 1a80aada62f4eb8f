package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailguard/trailguard/pkg/event"
)

func TestSweepLayout(t *testing.T) {
	for _, n := range []int{1, 10, 100, 1000} {
		accounts, perPair := sweepLayout(n)
		if len(perPair) != accounts*len(sweepRegions) {
			t.Fatalf("n=%d: %d pairs for %d accounts", n, len(perPair), accounts)
		}
		seen := map[int]bool{}
		for _, trails := range perPair {
			if len(trails) > trailsPerAccountRegion {
				t.Errorf("n=%d: %d trails in one account and Region, over the quota of %d", n, len(trails), trailsPerAccountRegion)
			}
			for _, i := range trails {
				if seen[i] {
					t.Errorf("n=%d: trail %d placed twice", n, i)
				}
				seen[i] = true
			}
		}
		if len(seen) != n {
			t.Errorf("n=%d: %d trails placed", n, len(seen))
		}
		if accounts < 2 {
			t.Errorf("n=%d: %d accounts, want at least 2 (organization mode)", n, accounts)
		}
	}
}

func TestEventsDecodeAsTheHandlersExpect(t *testing.T) {
	trail, err := trailEvent("123456789012", "us-east-1", "CreateTrail", "r1-plain", "arn:aws:cloudtrail:us-east-1:123456789012:trail/r1-plain", "r1-logs")
	if err != nil {
		t.Fatal(err)
	}
	req, err := event.Decode(trail)
	if err != nil || req.Kind != event.KindTrail || req.Account != "123456789012" || !strings.HasSuffix(req.Trail, "r1-plain") {
		t.Errorf("trail event: %+v, %v", req, err)
	}
	key := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, name := range []string{"PutKeyPolicy", "ScheduleKeyDeletion"} {
		raw, err := keyEvent("123456789012", "us-east-1", name, key)
		if err != nil {
			t.Fatal(err)
		}
		req, err := event.Decode(raw)
		if err != nil || req.Kind != event.KindKey || req.Key != key || req.EventName != name {
			t.Errorf("%s event: %+v, %v", name, req, err)
		}
	}
	sched, err := scheduledEvent("123456789012", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(sched, &env); err != nil || env["detail-type"] != "Scheduled Event" {
		t.Errorf("scheduled event: %s (%v)", sched, err)
	}
}

func TestGroupSymbols(t *testing.T) {
	nm := `  401000       1000 T runtime.main
  402000        500 T github.com/aws/aws-sdk-go-v2/service/s3.(*Client).GetBucketLocation
  403000        300 T github.com/aws/aws-sdk-go-v2/service/s3/internal/endpoints.init
  404000        200 T github.com/aws/aws-sdk-go-v2/aws/retry.NewStandard
  405000        100 T github.com/trailguard/trailguard/pkg/reconcile.New
  406000   33554432 D crypto/internal/fips140/drbg.memory
  407000        700 T github.com/aws/smithy-go/middleware.(*Stack).HandleMiddleware
  408000         50 t type:.eq.github.com/aws/aws-sdk-go-v2/service/kms/types.KeyMetadata
  409000          0 T zero.size
`
	got, total := groupSymbols(nm)
	want := map[string]int64{
		"Go runtime and standard library": 1000,
		"service/s3":                      800,
		"aws-sdk-go-v2 (core)":            200,
		"trailguard":                      100,
		"smithy-go":                       700,
		"service/kms":                     50,
	}
	if total != 2850 {
		t.Errorf("total = %d, want 2850 (code only, no data)", total)
	}
	if len(got) != len(want) {
		t.Fatalf("groups = %+v, want %v", got, want)
	}
	for _, g := range got {
		if want[g.Package] != g.Bytes {
			t.Errorf("%s = %d, want %d", g.Package, g.Bytes, want[g.Package])
		}
	}
	if got[0].Package != "Go runtime and standard library" || got[1].Package != "service/s3" {
		t.Errorf("not sorted largest first: %+v", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-latency", "30ms", "-sizes", "10, 50", "-sections", "core,sweep", "-concurrency", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Latency != 30*time.Millisecond || o.LatencyMS != 30 || len(o.Sizes) != 2 || o.Sizes[1] != 50 || o.Concurrency != 4 || len(o.Sections) != 2 {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{
		{"-latency", "0s"},
		{"-concurrency", "65"},
		{"-sizes", "10,x"},
		{"-sizes", "0"},
		{"-sections", "core,nope"},
		{"-throttle", "1"},
		{"-runs", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v): no error", bad)
		}
	}
}

// sampleReport is a report with every section, as runAll builds it.
func sampleReport() *Report {
	r := &Report{
		Generated: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), DurationSeconds: 120,
		Core: &CoreSection{Command: "go test", Benches: []Bench{{Name: "ParseEvaluate/statements=5", Statements: 5, NsPerOp: 10}},
			Growth: []Growth{{Name: "ParseEvaluate", From: 5, To: 50, SizeRatio: 10, NsRatio: 8, Linearity: 0.8}, {Name: "ParseEvaluate", From: 50, To: 200, SizeRatio: 4, NsRatio: 6, Linearity: 1.5}}},
		Critical: &CriticalSection{LatencyMS: 20, Scenarios: []Scenario{
			{Name: "compliant", WallMS: 100, RoundTrips: 5, RoundTripsNet: 2, ChainRounds: 2, ChainRoundsToFix: 2, TargetRounds: 2, Runs: 3},
			{Name: "fix", WallMS: 300, ChainRounds: 6, ChainRoundsToFix: 5, TargetRounds: 3, KnownAnswers: 3, Repeated: []string{"GetKeyPolicy key:k", "GetKeyPolicy key:k", "DescribeKey key:k"},
				ReReadBeforeWrite: []string{"DescribeKey key:k"}},
			{Name: "broken", Error: "boom"},
		}},
		Footprint: &FootprintSection{Binaries: []Binary{{Function: "sweeper", Arch: "arm64", Bytes: 12 << 20, ZipBytes: 4 << 20}},
			ColdStarts: []ColdStart{{Function: "sweeper", StartToResultMS: 100, InitMS: 40, RuntimeInitMS: 30, PeakRSSKB: 20000}},
			Inits:      []FunctionInit{{Function: "sweeper", Runs: 3, ExecToNextMS: 14, MinMS: 12, MaxMS: 20}},
			InitTrace:  &InitTrace{Function: "sweeper", Runs: 3, Packages: 150, TotalMS: 6.5, Top: []PackageInit{{Package: "github.com/aws/smithy-go", ClockMS: 1.25}}},
			Python:     &PythonStart{Command: "python3", ReadyMS: 650, WallMS: 700, Runs: 3, PeakRSSKB: 47000}},
		Sweep: &SweepSection{LatencyMS: 20,
			Runs:      []SweepRun{{Trails: 100, Accounts: 5, WallSeconds: 2, DiscoverySeconds: 0.5, ReconcileSeconds: 1.5, Calls: 400, Concurrency: 16, Retry: "adaptive"}},
			Throttled: []SweepRun{{Trails: 100, Accounts: 5, ThrottleRate: 0.05, WallSeconds: 10, Calls: 420, Throttled: 20, Retry: "adaptive", Failed: 0}},
			Scaling:   []Scaling{{From: 10, To: 100, SizeRatio: 10, WallRatio: 4, CallsRatio: 4}}},
	}
	r.Errors = append(r.Errors, r.Critical.errs()...)
	r.Cost = costModel(r)
	r.Targets = targets(r)
	return r
}

func TestTargets(t *testing.T) {
	r := sampleReport()
	byFigure := map[string]Target{}
	for _, tg := range r.Targets {
		byFigure[tg.Figure] = tg
	}
	tests := []struct {
		figure string
		value  float64
		met    bool
	}{
		{"compliant: sequential round trips to the fix", 2, true},
		{"fix: sequential round trips to the fix", 5, false},
		{"fix: calls whose answer was already known", 3, false},
		{"compliant: calls whose answer was already known", 0, true},
		{"ParseEvaluate: time growth 5 to 50 statements / size growth", 0.8, true},
		{"ParseEvaluate: time growth 50 to 200 statements / size growth", 1.5, false},
		{"sweep 10 to 100 trails: wall growth / size growth", 0.4, true},
		{"throttled sweep (5% of calls throttled, adaptive retry): trails failed", 0, true},
		{"make bench wall time", 2, true},
		{coldStartFigure, 14, true},
	}
	for _, tt := range tests {
		got, ok := byFigure[tt.figure]
		if !ok {
			t.Errorf("no target %q (have %v)", tt.figure, r.Targets)
			continue
		}
		if got.Value != tt.value || got.Met != tt.met {
			t.Errorf("%s: value %v met %v, want %v %v", tt.figure, got.Value, got.Met, tt.value, tt.met)
		}
	}
	if _, ok := byFigure["broken: calls whose answer was already known"]; ok {
		t.Error("a scenario that failed has targets")
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "boom") {
		t.Errorf("errors = %v", r.Errors)
	}
}

func TestCostModel(t *testing.T) {
	r := sampleReport()
	m := r.Cost
	if m == nil {
		t.Fatal("no cost model")
	}
	// Mean of the scenarios that ran (100 and 300 ms) plus the init.
	if m.EventMS != 240 {
		t.Errorf("event ms = %v, want 200 + 40", m.EventMS)
	}
	if m.SweepMSPerAccount != 100 || m.SweepMSPerTrail != 15 {
		t.Errorf("per account %v ms, per trail %v ms; want 500/5 and 1500/100", m.SweepMSPerAccount, m.SweepMSPerTrail)
	}
	if len(m.Orgs) != 2 || m.Orgs[0].Accounts != 100 || m.Orgs[1].Accounts != 1000 {
		t.Fatalf("organizations = %+v", m.Orgs)
	}
	for _, o := range m.Orgs {
		if o.Trails != o.Accounts*trailsPerAccount {
			t.Errorf("%d accounts: %d trails", o.Accounts, o.Trails)
		}
		wantSweep := (float64(o.Accounts)*m.SweepMSPerAccount + float64(o.Trails)*m.SweepMSPerTrail) / 1000
		if math.Abs(o.SweepSeconds-wantSweep) > 1e-9 {
			t.Errorf("%d accounts: sweep %v s, want %v", o.Accounts, o.SweepSeconds, wantSweep)
		}
		if math.Abs(o.GBSeconds-(o.EventGBSeconds+o.SweepGBSeconds)) > 1e-9 || o.Requests != o.EventInvocations+o.SweepInvocations {
			t.Errorf("%d accounts: totals do not add up: %+v", o.Accounts, o)
		}
		if math.Abs(o.EventGBSeconds-o.EventInvocations*0.240*memoryGB) > 1e-6 {
			t.Errorf("%d accounts: event GB-s %v", o.Accounts, o.EventGBSeconds)
		}
		wantUSD := o.GBSeconds*pricePerGBSecond + o.Requests/1e6*pricePerMillionRequest
		if math.Abs(o.USD-wantUSD) > 1e-9 || o.USD <= 0 {
			t.Errorf("%d accounts: USD %v, want %v", o.Accounts, o.USD, wantUSD)
		}
	}
	if m.Orgs[1].EventInvocations != 10*m.Orgs[0].EventInvocations {
		t.Errorf("events do not scale with accounts: %v vs %v", m.Orgs[0].EventInvocations, m.Orgs[1].EventInvocations)
	}
	if costModel(&Report{}) != nil {
		t.Error("a cost model without measurements")
	}
}

func TestWriteReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	paths, err := writeReport(dir, sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("paths = %v", paths)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json does not decode: %v", err)
	}
	if back.Critical == nil || len(back.Critical.Scenarios) != 3 || back.Cost == nil || len(back.Targets) == 0 {
		t.Errorf("report.json lost sections: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Figures against their targets", "## 1. Core", "## 2. Critical path", "## 3. Cold start", "## 4. Sweep scaling", "## Cost model", "## Errors",
		"| compliant | ", "asked again: DescribeKey ×1, GetKeyPolicy ×2", "re-reads right before a write (not known answers): re-read: DescribeKey ×1", "error: boom", "| 7.0 |", "**no**",
		"| sweeper | 14.0 | 12.0 to 20.0 | 3 | 30.0 | 46.4 |", "6.5 ms over 150 packages", "`github.com/aws/smithy-go` 1.25 ms", "650 ms from exec to the 'ready' line",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestColdStartTarget(t *testing.T) {
	tests := []struct {
		name    string
		readyMS float64
		inits   []float64
		notMeas string
		want    bool // a target row exists
		value   float64
		met     bool
	}{
		{"met", 300, []float64{12, 14.04}, "", true, 14, true},
		{"slowest decides", 300, []float64{12, 30.5}, "", true, 30.5, false},
		{"boto3 not measured", 0, []float64{12}, "no python3", false, 0, false},
		{"no init measured", 300, nil, "", false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport()
			r.Footprint.Inits = nil
			for i, ms := range tt.inits {
				r.Footprint.Inits = append(r.Footprint.Inits, FunctionInit{Function: "f" + strconv.Itoa(i), ExecToNextMS: ms})
			}
			// The start to first result under the emulator is not the
			// target's figure, however large.
			r.Footprint.ColdStarts = []ColdStart{{Function: "f0", StartToResultMS: 250}}
			r.Footprint.Python = &PythonStart{ReadyMS: tt.readyMS, WallMS: tt.readyMS + 40, NotMeasured: tt.notMeas}
			var got *Target
			for _, tg := range targets(r) {
				if tg.Figure == coldStartFigure {
					got = &tg
				}
			}
			if (got != nil) != tt.want {
				t.Fatalf("target row present %v, want %v", got != nil, tt.want)
			}
			if got != nil && (got.Value != tt.value || got.Met != tt.met || got.Target != tt.readyMS/10) {
				t.Errorf("value %v target %v met %v; want %v %v %v", got.Value, got.Target, got.Met, tt.value, tt.readyMS/10, tt.met)
			}
			if got != nil && !strings.Contains(got.Note, "aws-lambda-rie, f0 250 ms") {
				t.Errorf("note %q does not give the start to first result under the emulator", got.Note)
			}
		})
	}
}
