package main

import (
	"slices"
	"testing"
)

const sampleInitTrace = `init internal/bytealg @0 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.39 ms, 0.003 ms clock, 0 bytes, 0 allocs
{"level":"INFO","msg":"not an init line"}
init github.com/aws/smithy-go/document @1.2 ms, 0.50 ms clock, 4096 bytes, 20 allocs
init github.com/aws/aws-sdk-go-v2/service/kms @2 ms, 1.5 ms clock, 8192 bytes, 40 allocs
init broken @x ms, 1 ms clock, 1 bytes, 1 allocs
`

func TestParseInitTrace(t *testing.T) {
	got := parseInitTrace(sampleInitTrace)
	want := []PackageInit{
		{Package: "internal/bytealg"},
		{Package: "runtime", ClockMS: 0.003},
		{Package: "github.com/aws/smithy-go/document", ClockMS: 0.5, Bytes: 4096, Allocs: 20},
		{Package: "github.com/aws/aws-sdk-go-v2/service/kms", ClockMS: 1.5, Bytes: 8192, Allocs: 40},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseInitTrace = %+v, want %+v", got, want)
	}
	if len(parseInitTrace("no trace\n")) != 0 {
		t.Error("lines without a trace parsed")
	}
}

func TestSummarizeInitTrace(t *testing.T) {
	run := func(a, b, c float64) []PackageInit {
		return []PackageInit{{Package: "a", ClockMS: a, Bytes: 100, Allocs: 1}, {Package: "b", ClockMS: b, Bytes: 10, Allocs: 2}, {Package: "c", ClockMS: c}}
	}
	tests := []struct {
		name    string
		runs    [][]PackageInit
		top     int
		ok      bool
		total   float64
		runsN   int
		topPkgs []string
		topMS   []float64
	}{
		{"none", nil, 5, false, 0, 0, nil, nil},
		{"empty runs do not count", [][]PackageInit{nil, {}}, 5, false, 0, 0, nil, nil},
		{"one run, top cut", [][]PackageInit{run(1, 3, 2)}, 2, true, 6, 1, []string{"b", "c"}, []float64{3, 2}},
		// Medians: a 2, b 1, c 2 (a tie: by name); totals 6, 5, 9 → 6.
		{"median per package and of the totals", [][]PackageInit{run(2, 1, 3), run(1, 3, 1), run(4, 1, 2)}, 5, true, 6, 3, []string{"a", "c", "b"}, []float64{2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := summarizeInitTrace("fn", tt.runs, tt.top)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			var pkgs []string
			var clocks []float64
			for _, p := range got.Top {
				pkgs, clocks = append(pkgs, p.Package), append(clocks, p.ClockMS)
			}
			if got.TotalMS != tt.total || got.Runs != tt.runsN || got.Packages != 3 || got.Bytes != 110 || got.Allocs != 3 ||
				!slices.Equal(pkgs, tt.topPkgs) || !slices.Equal(clocks, tt.topMS) {
				t.Errorf("got %+v; want total %v, %d runs, top %v %v", got, tt.total, tt.runsN, tt.topPkgs, tt.topMS)
			}
		})
	}
}

func TestSummarizeInit(t *testing.T) {
	if _, ok := summarizeInit("fn", nil); ok {
		t.Error("an init summary without samples")
	}
	got, ok := summarizeInit("fn", []float64{16, 12, 90, 13, 14})
	if want := (FunctionInit{Function: "fn", Runs: 5, ExecToNextMS: 14, MinMS: 12, MaxMS: 90}); !ok || got != want {
		t.Errorf("summarizeInit = %+v, want %+v", got, want)
	}
}

func TestSlowest(t *testing.T) {
	is := []FunctionInit{{Function: "a", ExecToNextMS: 12}, {Function: "b", ExecToNextMS: 15}, {Function: "c", ExecToNextMS: 15}}
	if s, ok := slowest(is, func(i FunctionInit) float64 { return i.ExecToNextMS }); !ok || s.Function != "b" {
		t.Errorf("slowest = %+v %v, want b (the first of equals)", s, ok)
	}
	if _, ok := slowest([]ColdStart(nil), func(c ColdStart) float64 { return c.StartToResultMS }); ok {
		t.Error("slowest of none")
	}
}
