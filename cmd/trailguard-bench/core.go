package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// coreBenchmarks are the go test benchmarks of part 1, per package.
var coreBenchmarks = []struct{ pkg, bench, what string }{
	{"./pkg/policy", "BenchmarkParseEvaluate", "policy parse + evaluate (CloudTrail encrypt request)"},
	{"./pkg/compliance", "BenchmarkEvaluateMerge", "parse + evaluate + merge of trailguard's grant"},
	{"./pkg/plan", "BenchmarkPlan", "evaluate + plan of a whole trail state"},
}

// Bench is one benchmark's median figures.
type Bench struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	What        string  `json:"what"`
	Statements  int     `json:"statements,omitempty"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	Samples     int     `json:"samples"`
}

// Growth compares one benchmark at two policy sizes. Linearity is the
// time ratio divided by the size ratio: 1 is linear, below 1 is better
// than linear (a fixed cost dominates), above 1 worse.
type Growth struct {
	Name        string  `json:"name"`
	From        int     `json:"from_statements"`
	To          int     `json:"to_statements"`
	SizeRatio   float64 `json:"size_ratio"`
	NsRatio     float64 `json:"ns_ratio"`
	BytesRatio  float64 `json:"bytes_ratio"`
	AllocsRatio float64 `json:"allocs_ratio"`
	Linearity   float64 `json:"linearity"`
}

// CoreSection is part 1 of the report.
type CoreSection struct {
	Command string   `json:"command"`
	Benches []Bench  `json:"benchmarks"`
	Growth  []Growth `json:"growth"`
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root (go env GOMOD = %q): run from inside the trailguard module: %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

func runCore(ctx context.Context, count int, benchtime string) (*CoreSection, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	var names, pkgs []string
	what := map[string]string{}
	for _, b := range coreBenchmarks {
		names = append(names, b.bench)
		pkgs = append(pkgs, b.pkg)
		what[b.bench] = b.what
	}
	args := append([]string{"test", "-run", "^$", "-bench", "^(" + strings.Join(names, "|") + ")$", "-benchmem",
		"-count", strconv.Itoa(count), "-benchtime", benchtime}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, tail(out, 3000))
	}
	benches, err := parseBenchOutput(string(out))
	if err != nil {
		return nil, err
	}
	for i := range benches {
		benches[i].What = what["Benchmark"+strings.SplitN(benches[i].Name, "/", 2)[0]]
	}
	sec := &CoreSection{Command: "go " + strings.Join(args, " "), Benches: benches, Growth: growth(benches)}
	if len(benches) == 0 {
		return sec, fmt.Errorf("go test printed no benchmark results:\n%s", tail(out, 3000))
	}
	return sec, nil
}

// benchLine is a result line of go test -bench: name-procs, iterations,
// then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

var statementsRE = regexp.MustCompile(`statements=(\d+)`)

// parseBenchOutput reads go test -bench -benchmem output and returns the
// median figures of each benchmark, in the order first seen.
func parseBenchOutput(out string) ([]Bench, error) {
	type samples struct {
		b            Bench
		ns, by, allo []float64
	}
	var (
		order []string
		all   = map[string]*samples{}
		pkg   string
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("benchmark line %q: odd number of value/unit fields", line)
		}
		key := pkg + " " + m[1]
		s, ok := all[key]
		if !ok {
			s = &samples{b: Bench{Package: pkg, Name: strings.TrimPrefix(m[1], "Benchmark")}}
			if sm := statementsRE.FindStringSubmatch(m[1]); sm != nil {
				s.b.Statements, _ = strconv.Atoi(sm[1])
			}
			all[key] = s
			order = append(order, key)
		}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %v", line, err)
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.by = append(s.by, v)
			case "allocs/op":
				s.allo = append(s.allo, v)
			}
		}
	}
	var out2 []Bench
	for _, k := range order {
		s := all[k]
		if len(s.ns) == 0 {
			return nil, fmt.Errorf("benchmark %s has no ns/op", s.b.Name)
		}
		s.b.NsPerOp, s.b.BytesPerOp, s.b.AllocsPerOp = median(s.ns), median(s.by), median(s.allo)
		s.b.Samples = len(s.ns)
		out2 = append(out2, s.b)
	}
	return out2, nil
}

// growth compares consecutive sizes of every sized benchmark.
func growth(benches []Bench) []Growth {
	by := map[string][]Bench{}
	var order []string
	for _, b := range benches {
		if b.Statements == 0 {
			continue
		}
		fam := b.Package + " " + strings.SplitN(b.Name, "/", 2)[0]
		if _, ok := by[fam]; !ok {
			order = append(order, fam)
		}
		by[fam] = append(by[fam], b)
	}
	var out []Growth
	for _, fam := range order {
		bs := by[fam]
		sort.Slice(bs, func(i, j int) bool { return bs[i].Statements < bs[j].Statements })
		for i := 1; i < len(bs); i++ {
			a, b := bs[i-1], bs[i]
			g := Growth{Name: strings.SplitN(b.Name, "/", 2)[0], From: a.Statements, To: b.Statements,
				SizeRatio: float64(b.Statements) / float64(a.Statements),
				NsRatio:   ratio(b.NsPerOp, a.NsPerOp), BytesRatio: ratio(b.BytesPerOp, a.BytesPerOp), AllocsRatio: ratio(b.AllocsPerOp, a.AllocsPerOp)}
			g.Linearity = g.NsRatio / g.SizeRatio
			out = append(out, g)
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// median of vs (0 for none); vs is sorted in place.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
