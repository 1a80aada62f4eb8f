package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is the whole benchmark report (report.json; report.md renders
// it).
type Report struct {
	Generated       time.Time         `json:"generated"`
	DurationSeconds float64           `json:"duration_seconds"`
	Host            Host              `json:"host"`
	Settings        options           `json:"settings"`
	Core            *CoreSection      `json:"core,omitempty"`
	Critical        *CriticalSection  `json:"critical_path,omitempty"`
	Footprint       *FootprintSection `json:"footprint,omitempty"`
	Sweep           *SweepSection     `json:"sweep,omitempty"`
	OrgScale        *OrgScaleSection  `json:"orgscale,omitempty"`
	Cost            *CostModel        `json:"cost_model,omitempty"`
	Targets         []Target          `json:"targets"`
	Errors          []string          `json:"errors,omitempty"`
}

// Target is one figure against its target. Ratio is Value/Target for an
// upper bound ("at most"), so a ratio at or below 1 meets it.
type Target struct {
	Figure string  `json:"figure"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Unit   string  `json:"unit"`
	Ratio  float64 `json:"ratio"`
	Met    bool    `json:"met"`
	Note   string  `json:"note,omitempty"`
}

func (s *CriticalSection) errs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, sc := range s.Scenarios {
		if sc.Error != "" {
			out = append(out, "critical path "+sc.Name+": "+sc.Error)
		}
	}
	return out
}

func (s *FootprintSection) errs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Errors {
		out = append(out, "footprint: "+e)
	}
	return out
}

func (s *SweepSection) errs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, r := range append(s.Runs[:len(s.Runs):len(s.Runs)], s.Throttled...) {
		if r.Error != "" {
			out = append(out, fmt.Sprintf("sweep %d trails (throttle %.0f%%, %s retry): %s", r.Trails, r.ThrottleRate*100, r.Retry, r.Error))
		}
	}
	return out
}

// linearBound is the largest growth ratio (time growth / size growth)
// still called linear: 1 is exactly linear; the 25% allow for timing noise
// on a shared 2-CPU host (allocations, which are exact, are in the note).
const linearBound = 1.25

// targets lists every figure with a target from the issue.
func targets(r *Report) []Target {
	var ts []Target
	atMost := func(figure string, value, target float64, unit, note string) {
		t := Target{Figure: figure, Value: value, Target: target, Unit: unit, Note: note}
		if target > 0 {
			t.Ratio = value / target
		}
		t.Met = value <= target
		ts = append(ts, t)
	}
	if c := r.Critical; c != nil {
		for _, s := range c.Scenarios {
			if s.Error != "" {
				continue
			}
			if s.TargetRounds > 0 {
				atMost(s.Name+": sequential round trips to the fix", float64(s.ChainRoundsToFix), float64(s.TargetRounds), "round trips",
					fmt.Sprintf("call chain (%d with the SNS notice); wall / latency %.1f, net of the emulator's time %.1f", s.ChainRounds, s.RoundTrips, s.RoundTripsNet))
			}
			atMost(s.Name+": calls whose answer was already known", float64(s.KnownAnswers), 0, "calls", "")
		}
	}
	if c := r.Core; c != nil {
		for _, g := range c.Growth {
			atMost(fmt.Sprintf("%s: time growth %d to %d statements / size growth", g.Name, g.From, g.To), round2(g.Linearity), linearBound, "(1 = linear)",
				fmt.Sprintf("time x%.2f, allocations x%.2f for size x%.0f", g.NsRatio, g.AllocsRatio, g.SizeRatio))
		}
	}
	if s := r.Sweep; s != nil {
		for _, sc := range s.Scaling {
			atMost(fmt.Sprintf("sweep %d to %d trails: wall growth / size growth", sc.From, sc.To), round2(sc.WallRatio/sc.SizeRatio), linearBound, "(1 = linear)",
				fmt.Sprintf("wall x%.2f, calls x%.2f for trails x%.0f", sc.WallRatio, sc.CallsRatio, sc.SizeRatio))
		}
		for _, t := range s.Throttled {
			if t.Error != "" {
				continue
			}
			atMost(fmt.Sprintf("throttled sweep (%.0f%% of calls throttled, %s retry): trails failed", t.ThrottleRate*100, t.Retry), float64(t.Failed), 0, "trails",
				fmt.Sprintf("%d throttles absorbed; wall %.1f s", t.Throttled, t.WallSeconds))
		}
	}
	if f := r.Footprint; f != nil && f.Python != nil && f.Python.NotMeasured == "" && f.Python.ReadyMS > 0 {
		if slow, ok := slowest(f.Inits, func(i FunctionInit) float64 { return i.ExecToNextMS }); ok {
			note := fmt.Sprintf("%s, median of %d; boto3 start to ready %.0f ms in the same run (whole process %.0f ms), %.1f times as long",
				slow.Function, slow.Runs, f.Python.ReadyMS, f.Python.WallMS, f.Python.ReadyMS/slow.ExecToNextMS)
			if c, ok := slowest(f.ColdStarts, func(c ColdStart) float64 { return c.StartToResultMS }); ok {
				note += fmt.Sprintf("; not this figure: start to first result under aws-lambda-rie, %s %.0f ms, adds the emulator's start and a whole reconcile against moto", c.Function, c.StartToResultMS)
			}
			atMost(coldStartFigure, round1(slow.ExecToNextMS), round1(f.Python.ReadyMS/10), "ms", note)
		}
	}
	orgScaleTargets(r.OrgScale, atMost)
	atMost("make bench wall time", round1(r.DurationSeconds/60), 10, "minutes", "")
	return ts
}

// coldStartFigure is the cold-start target: like for like, each
// side's start up to ready to call.
const coldStartFigure = "cold start: slowest function's init (exec to first event request, Lambda's Init Duration) vs boto3 start to ready (import + 2 clients), target a tenth of it"

// slowest returns the element of xs with the largest v (the first of
// equals; false if xs is empty).
func slowest[T any](xs []T, v func(T) float64) (T, bool) {
	var s T
	if len(xs) == 0 {
		return s, false
	}
	s = xs[0]
	for _, x := range xs[1:] {
		if v(x) > v(s) {
			s = x
		}
	}
	return s, true
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// writeReport writes report.json and report.md into dir.
func writeReport(dir string, r *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	jp := filepath.Join(dir, "report.json")
	if err := os.WriteFile(jp, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	mp := filepath.Join(dir, "report.md")
	if err := os.WriteFile(mp, []byte(markdown(r)), 0o644); err != nil {
		return nil, err
	}
	return []string{mp, jp}, nil
}
