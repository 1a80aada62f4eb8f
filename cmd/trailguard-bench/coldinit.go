package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The emulator-free measure of a function's init: the bootstrap is
// started directly against a fake Runtime API in this process, which
// notes when the first request for an event arrives. That is Lambda's
// Init Duration (process start, package initialisation, main up to its
// first GET of the next invocation), without aws-lambda-rie's own start
// and without any invocation.

// nextPath is the Runtime API request for the next event.
const nextPath = "/2018-06-01/runtime/invocation/next"

// pythonReady is pythonCheck followed by a line on stdout once the two
// clients exist: the time to that line is Python's start to ready to
// call, without the interpreter's teardown.
const pythonReady = pythonCheck + "; print('ready', flush=True)"

// pythonPeak, run after pythonReady, prints the interpreter's peak RSS
// (VmHWM of /proc/self/status, kB). Not the exit's ru_maxrss: a child
// started by Go's exec (vfork) inherits, across execve, the high-water
// mark of the bench process's memory, so ru_maxrss would report the
// bench's size rather than Python's.
const pythonPeak = "; print('hwm', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0], flush=True)"

// FunctionInit is the medians of one function's init measured against a
// fake Runtime API (no emulator, no invocation).
type FunctionInit struct {
	Function string `json:"function"`
	Runs     int    `json:"runs"`
	// ExecToNextMS runs from exec of the bootstrap to its first
	// GET /2018-06-01/runtime/invocation/next (median); MinMS and MaxMS
	// are the fastest and slowest run.
	ExecToNextMS float64 `json:"exec_to_next_ms"`
	MinMS        float64 `json:"min_ms"`
	MaxMS        float64 `json:"max_ms"`
}

// PackageInit is one package's initialisation in GODEBUG=inittrace=1
// output (clock ms, heap bytes and allocations).
type PackageInit struct {
	Package string  `json:"package"`
	ClockMS float64 `json:"clock_ms"`
	Bytes   int64   `json:"bytes"`
	Allocs  int64   `json:"allocs"`
}

// InitTrace summarises GODEBUG=inittrace=1 runs of one function: the
// total clock time of package initialisation (median of the runs' sums)
// and the packages that take longest (median per package).
type InitTrace struct {
	Function string        `json:"function"`
	Runs     int           `json:"runs"`
	Packages int           `json:"packages"`
	TotalMS  float64       `json:"total_ms"`
	Bytes    int64         `json:"bytes"`
	Allocs   int64         `json:"allocs"`
	Top      []PackageInit `json:"top"`
}

// initTraceRE matches the runtime's line per initialised package, e.g.
// "init github.com/x/y @1.2 ms, 0.31 ms clock, 2048 bytes, 12 allocs".
var initTraceRE = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock, (\d+) bytes, (\d+) allocs$`)

// parseInitTrace returns the packages of one inittrace output, in order.
func parseInitTrace(out string) []PackageInit {
	var ps []PackageInit
	for _, m := range initTraceRE.FindAllStringSubmatch(out, -1) {
		clock, err1 := strconv.ParseFloat(m[2], 64)
		b, err2 := strconv.ParseInt(m[3], 10, 64)
		n, err3 := strconv.ParseInt(m[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		ps = append(ps, PackageInit{Package: m[1], ClockMS: clock, Bytes: b, Allocs: n})
	}
	return ps
}

// summarizeInitTrace combines the parsed runs of one function: per
// package the median clock time (bytes and allocations of its first
// run, they do not vary), the median of the runs' totals, and the top
// packages by clock time (ties by name). false without any package.
func summarizeInitTrace(fn string, runs [][]PackageInit, top int) (InitTrace, bool) {
	t := InitTrace{Function: fn}
	clocks := map[string][]float64{}
	first := map[string]PackageInit{}
	var totals []float64
	for _, r := range runs {
		if len(r) == 0 {
			continue
		}
		t.Runs++
		var sum float64
		for _, p := range r {
			sum += p.ClockMS
			clocks[p.Package] = append(clocks[p.Package], p.ClockMS)
			if _, ok := first[p.Package]; !ok {
				first[p.Package] = p
			}
		}
		totals = append(totals, sum)
	}
	if t.Runs == 0 {
		return t, false
	}
	t.TotalMS, t.Packages = median(totals), len(first)
	all := make([]PackageInit, 0, len(first))
	for name, p := range first {
		t.Bytes += p.Bytes
		t.Allocs += p.Allocs
		p.ClockMS = median(clocks[name])
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ClockMS != all[j].ClockMS {
			return all[i].ClockMS > all[j].ClockMS
		}
		return all[i].Package < all[j].Package
	})
	t.Top = all[:min(top, len(all))]
	return t, true
}

// summarizeInit returns the median, fastest and slowest of one
// function's exec-to-first-request samples (false without any).
func summarizeInit(fn string, ss []float64) (FunctionInit, bool) {
	if len(ss) == 0 {
		return FunctionInit{}, false
	}
	sorted := append([]float64(nil), ss...)
	sort.Float64s(sorted)
	return FunctionInit{Function: fn, Runs: len(ss), ExecToNextMS: median(ss), MinMS: sorted[0], MaxMS: sorted[len(sorted)-1]}, true
}

// execToNext starts fdir/bootstrap with env and AWS_LAMBDA_RUNTIME_API
// pointing at a fake Runtime API, and returns the time from exec to its
// first request for an event, and its stderr up to then (where
// GODEBUG=inittrace=1 writes). The request is held open unanswered and
// the bootstrap is then killed: no invocation runs.
func execToNext(ctx context.Context, fn, fdir string, env []string) (float64, string, error) {
	first := make(chan time.Time, 1)
	initErr := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == nextPath:
			select {
			case first <- time.Now():
			default:
			}
			<-r.Context().Done() // no event: the bootstrap waits until killed
		case strings.HasSuffix(r.URL.Path, "/init/error"):
			var b bytes.Buffer
			_, _ = b.ReadFrom(r.Body)
			select {
			case initErr <- b.String():
			default:
			}
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer api.Close()
	defer api.CloseClientConnections()

	var stderr, stdout syncBuffer
	cmd := exec.Command(filepath.Join(fdir, "bootstrap"))
	cmd.Dir = fdir
	cmd.Env = append(append([]string(nil), env...),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME="+fn, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited := make(chan struct{})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start %s: %w", fn, err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	select {
	case t := <-first:
		return ms(t.Sub(start)), string(stderr.Bytes()), nil
	case e := <-initErr:
		return 0, "", fmt.Errorf("%s reported an init error: %s", fn, tail([]byte(e), 1000))
	case <-exited:
		return 0, "", fmt.Errorf("%s exited before asking for an event: %s", fn, tail(append(stdout.Bytes(), stderr.Bytes()...), 1000))
	case <-timeout.C:
		return 0, "", fmt.Errorf("%s did not ask for an event within 15 s", fn)
	case <-ctx.Done():
		return 0, "", ctx.Err()
	}
}

// initTrace runs fdir/bootstrap n times with GODEBUG=inittrace=1 (not
// timed: the trace costs time of its own) and summarises its package
// initialisation.
func initTrace(ctx context.Context, fn, fdir string, env []string, n int) (InitTrace, error) {
	var runs [][]PackageInit
	for i := 0; i < n; i++ {
		_, out, err := execToNext(ctx, fn, fdir, append(append([]string(nil), env...), "GODEBUG=inittrace=1"))
		if err != nil {
			return InitTrace{}, err
		}
		runs = append(runs, parseInitTrace(out))
	}
	t, ok := summarizeInitTrace(fn, runs, 5)
	if !ok {
		return t, errors.New("no inittrace lines on the bootstrap's stderr")
	}
	return t, nil
}

// pythonRun runs the boto3 start once (the real interpreter, no wrapper)
// and returns the time from exec to its 'ready' line (import and two
// clients), the whole process's wall time (with the interpreter's
// teardown) and its peak RSS (kB, VmHWM: see pythonPeak).
func pythonRun(ctx context.Context, python string) (readyMS, wallMS float64, rssKB int64, err error) {
	cmd := exec.CommandContext(ctx, python, "-c", pythonReady+pythonPeak)
	cmd.Env = append(cleanEnv(), "AWS_DEFAULT_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, fmt.Errorf("python boto3 start: %w", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if readyMS == 0 && line == "ready" {
			readyMS = ms(time.Since(start))
		}
		if kb, ok := strings.CutPrefix(line, "hwm "); ok {
			rssKB, _ = strconv.ParseInt(kb, 10, 64)
		}
	}
	err = cmd.Wait()
	wallMS = ms(time.Since(start))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("python boto3 start: %v: %s", err, tail(stderr.Bytes(), 500))
	}
	if readyMS == 0 {
		return 0, 0, 0, errors.New("python boto3 start: no 'ready' line on stdout")
	}
	if rssKB == 0 {
		return 0, 0, 0, errors.New("python boto3 start: no peak RSS ('hwm' line) on stdout")
	}
	return readyMS, wallMS, rssKB, nil
}
