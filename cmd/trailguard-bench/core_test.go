package main

import (
	"math"
	"testing"
)

const sampleBench = `goos: linux
goarch: amd64
pkg: github.com/trailguard/trailguard/pkg/policy
cpu: AMD EPYC
BenchmarkParseEvaluate/statements=5-2         	   32508	     30000 ns/op	  29.95 MB/s	   20000 B/op	     100 allocs/op
BenchmarkParseEvaluate/statements=5-2         	   26764	     10000 ns/op	  25.18 MB/s	   20000 B/op	     100 allocs/op
BenchmarkParseEvaluate/statements=5-2         	   26258	     20000 ns/op	  23.66 MB/s	   20000 B/op	     100 allocs/op
BenchmarkParseEvaluate/statements=50-2        	    3463	    200000 ns/op	  23.46 MB/s	  200000 B/op	    1000 allocs/op
BenchmarkParseEvaluate/statements=200-2       	     840	    800000 ns/op	  23.35 MB/s	  800000 B/op	    4000 allocs/op
PASS
ok  	github.com/trailguard/trailguard/pkg/policy	5.1s
pkg: github.com/trailguard/trailguard/pkg/plan
BenchmarkPlan-2   	    5000	    250000 ns/op	  119282 B/op	     794 allocs/op
PASS
`

func TestParseBenchOutput(t *testing.T) {
	got, err := parseBenchOutput(sampleBench)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d benchmarks, want 4: %+v", len(got), got)
	}
	first := got[0]
	if first.Name != "ParseEvaluate/statements=5" || first.Statements != 5 || first.Samples != 3 ||
		first.NsPerOp != 20000 || first.BytesPerOp != 20000 || first.AllocsPerOp != 100 {
		t.Errorf("first = %+v, want the median of three samples (20000 ns/op)", first)
	}
	if first.Package != "github.com/trailguard/trailguard/pkg/policy" {
		t.Errorf("package = %q", first.Package)
	}
	plan := got[3]
	if plan.Name != "Plan" || plan.Statements != 0 || plan.Package != "github.com/trailguard/trailguard/pkg/plan" || plan.NsPerOp != 250000 {
		t.Errorf("plan = %+v", plan)
	}

	g := growth(got)
	if len(g) != 2 {
		t.Fatalf("growth = %+v, want 5->50 and 50->200", g)
	}
	if g[0].From != 5 || g[0].To != 50 || g[0].SizeRatio != 10 || g[0].NsRatio != 10 || g[0].Linearity != 1 {
		t.Errorf("5->50 = %+v, want linear", g[0])
	}
	if g[1].From != 50 || g[1].To != 200 || g[1].SizeRatio != 4 || g[1].AllocsRatio != 4 || math.Abs(g[1].Linearity-1) > 1e-9 {
		t.Errorf("50->200 = %+v, want linear", g[1])
	}
}

func TestParseBenchOutputRejectsMalformedLines(t *testing.T) {
	for _, out := range []string{
		"BenchmarkX-2 100 12 ns/op 5\n",
		"BenchmarkX-2 100 abc ns/op\n",
		"BenchmarkX-2 100 5 B/op\n",
	} {
		if _, err := parseBenchOutput(out); err == nil {
			t.Errorf("parseBenchOutput(%q): no error", out)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
