package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/config"
)

// functions are the deployed Lambda functions (functions/<name>).
var functions = []string{"trail-remediator", "key-remediator", "sweeper"}

const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// pythonCheck is what a Python Lambda using boto3 (Cloud Custodian's
// runtime) pays before its first call.
const pythonCheck = "import boto3; boto3.client('cloudtrail'); boto3.client('kms')"

// Binary is one built bootstrap.
type Binary struct {
	Function string `json:"function"`
	Arch     string `json:"arch"`
	Bytes    int64  `json:"bytes"`
	ZipBytes int64  `json:"zip_bytes"`
}

// ColdStart is the medians of one function's cold starts under
// aws-lambda-rie (host architecture).
type ColdStart struct {
	Function string `json:"function"`
	Runs     int    `json:"runs"`
	// StartToResultMS runs from starting aws-lambda-rie to the first
	// invocation's answer: emulator start, bootstrap start and init, the
	// invocation (against moto, no added latency).
	StartToResultMS float64 `json:"start_to_result_ms"`
	// ColdInvokeMS is the first invocation (the bootstrap starts with
	// it), WarmInvokeMS the second, same event; InitMS is their
	// difference: process start, init, SDK clients and connections.
	ColdInvokeMS float64 `json:"cold_invoke_ms"`
	WarmInvokeMS float64 `json:"warm_invoke_ms"`
	InitMS       float64 `json:"init_ms"`
	// EmulatorStartMS is aws-lambda-rie's own start (until it listens),
	// part of StartToResultMS that is not the function's.
	EmulatorStartMS float64 `json:"emulator_start_ms"`
	// RuntimeInitMS is the emulator's INIT REPORT duration: bootstrap
	// process start, package initialisation and main up to its first
	// request for an event (Lambda's Init Duration).
	RuntimeInitMS float64 `json:"runtime_init_ms"`
	// PeakRSSKB is the bootstrap's maximum resident set size
	// (/usr/bin/time -v), the largest of the runs.
	PeakRSSKB int64  `json:"peak_rss_kb"`
	Result    string `json:"result"`
}

// PythonStart is the Python boto3 start measured side by side: the
// interpreter, import boto3 and two clients, no call.
type PythonStart struct {
	Command      string `json:"command"`
	Executable   string `json:"executable,omitempty"`
	Boto3Version string `json:"boto3_version,omitempty"`
	Runs         int    `json:"runs"`
	// ReadyMS runs from exec to the 'ready' line the command prints once
	// both clients exist (median): Python's start to ready to call, the
	// counterpart of a function's init.
	ReadyMS float64 `json:"ready_ms"`
	// WallMS is the whole process (median), the interpreter's teardown
	// included.
	WallMS      float64 `json:"wall_ms"`
	PeakRSSKB   int64   `json:"peak_rss_kb"`
	NotMeasured string  `json:"not_measured,omitempty"`
}

// PackageSize is the code bytes one package (group) adds to a binary.
type PackageSize struct {
	Package string `json:"package"`
	Bytes   int64  `json:"bytes"`
}

// FootprintSection is part 3 of the report.
type FootprintSection struct {
	BuildFlags   string             `json:"build_flags"`
	BuildSeconds map[string]float64 `json:"build_seconds"`
	Binaries     []Binary           `json:"binaries"`
	ColdStarts   []ColdStart        `json:"cold_starts"`
	// Baseline is the -cold-baseline revision; BaselineColdStarts are its
	// functions' cold starts, run interleaved with ColdStarts.
	Baseline           string      `json:"baseline,omitempty"`
	BaselineColdStarts []ColdStart `json:"baseline_cold_starts,omitempty"`
	// Inits are each function's init against a fake Runtime API (no
	// emulator, no invocation): exec to the first request for an event,
	// Lambda's Init Duration. BaselineInits are the -cold-baseline's.
	Inits         []FunctionInit `json:"inits"`
	BaselineInits []FunctionInit `json:"baseline_inits,omitempty"`
	// InitTrace is GODEBUG=inittrace=1 of the slowest function's init:
	// what its package initialisation spends.
	InitTrace    *InitTrace    `json:"init_trace,omitempty"`
	Python       *PythonStart  `json:"python"`
	PackageSizes []PackageSize `json:"package_sizes"`
	CodeBytes    int64         `json:"code_bytes"`
	Notes        []string      `json:"notes,omitempty"`
	Errors       []string      `json:"errors,omitempty"`
}

func runFootprint(ctx context.Context, srv *motoserver.Server, runs int, baseline string, logf func(string, ...any)) (*FootprintSection, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trailguard-bench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sec := &FootprintSection{BuildFlags: "GOOS=linux CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w'", BuildSeconds: map[string]float64{}}

	archs := []string{"arm64"}
	if runtime.GOARCH != "arm64" {
		archs = append(archs, runtime.GOARCH)
	}
	for _, arch := range archs {
		logf("footprint: building the functions for linux/%s", arch)
		t := time.Now()
		bins, err := buildFunctions(ctx, root, filepath.Join(dir, arch), arch)
		if err != nil {
			return sec, err
		}
		sec.BuildSeconds[arch] = time.Since(t).Seconds()
		sec.Binaries = append(sec.Binaries, bins...)
	}
	if runtime.GOARCH != "arm64" {
		sec.Notes = append(sec.Notes, fmt.Sprintf("cold starts run the linux/%s build: this host cannot execute arm64 binaries (no emulation); the deployed arm64 build's sizes are listed", runtime.GOARCH))
	}
	if sizes, total, err := packageSizes(ctx, root, dir); err != nil {
		sec.Errors = append(sec.Errors, "package sizes: "+err.Error())
	} else {
		sec.PackageSizes, sec.CodeBytes = sizes, total
	}

	baseDir := ""
	if baseline != "" {
		logf("footprint: building the functions of %s for linux/%s", baseline, runtime.GOARCH)
		rev, err := buildRevision(ctx, root, dir, baseline)
		if err != nil {
			return sec, err
		}
		sec.Baseline, baseDir = rev, filepath.Join(dir, "baseline", runtime.GOARCH)
	}

	logf("footprint: building aws-lambda-rie")
	rie := filepath.Join(dir, "aws-lambda-rie")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", rie, rieModule)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return sec, fmt.Errorf("build aws-lambda-rie: %v\n%s", err, tail(out, 2000))
	}
	// GNU time, not the shell keyword: it reports the peak RSS.
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		return sec, fmt.Errorf("%s not found (GNU time, Debian package 'time'): it measures peak RSS: %w", timeBin, err)
	}

	events, env, err := coldStartWorld(ctx, srv)
	if err != nil {
		return sec, err
	}
	py := pythonSetup(ctx)
	samples, baseSamples := map[string][]coldSample{}, map[string][]coldSample{}
	inits, baseInits := map[string][]float64{}, map[string][]float64{}
	var pyReady, pyWall []float64
	for i := 0; i < runs; i++ {
		for _, fn := range functions {
			s, err := coldStart(ctx, rie, timeBin, filepath.Join(dir, runtime.GOARCH, fn), env, events[fn])
			if err != nil {
				sec.Errors = append(sec.Errors, fmt.Sprintf("cold start %s: %v", fn, err))
				continue
			}
			samples[fn] = append(samples[fn], s)
			if baseDir == "" {
				continue
			}
			s, err = coldStart(ctx, rie, timeBin, filepath.Join(baseDir, fn), env, events[fn])
			if err != nil {
				sec.Errors = append(sec.Errors, fmt.Sprintf("cold start %s of %s: %v", fn, sec.Baseline, err))
				continue
			}
			baseSamples[fn] = append(baseSamples[fn], s)
		}
		// The init alone, against a fake Runtime API, interleaved with
		// the Python runs.
		for _, fn := range functions {
			if d, _, err := execToNext(ctx, fn, filepath.Join(dir, runtime.GOARCH, fn), env); err != nil {
				sec.Errors = append(sec.Errors, fmt.Sprintf("init %s: %v", fn, err))
			} else {
				inits[fn] = append(inits[fn], d)
			}
			if baseDir == "" {
				continue
			}
			if d, _, err := execToNext(ctx, fn, filepath.Join(baseDir, fn), env); err != nil {
				sec.Errors = append(sec.Errors, fmt.Sprintf("init %s of %s: %v", fn, sec.Baseline, err))
			} else {
				baseInits[fn] = append(baseInits[fn], d)
			}
		}
		if py.NotMeasured == "" {
			ready, wall, rss, err := pythonRun(ctx, py.Executable)
			if err != nil {
				py.NotMeasured = err.Error()
				continue
			}
			pyReady, pyWall = append(pyReady, ready), append(pyWall, wall)
			py.PeakRSSKB = max(py.PeakRSSKB, rss)
		}
	}
	for _, fn := range functions {
		if c, ok := summarizeCold(fn, samples[fn]); ok {
			logColdStart(logf, "", c)
			sec.ColdStarts = append(sec.ColdStarts, c)
		}
		if c, ok := summarizeCold(fn, baseSamples[fn]); ok {
			logColdStart(logf, " ("+sec.Baseline+")", c)
			sec.BaselineColdStarts = append(sec.BaselineColdStarts, c)
		}
	}
	for _, fn := range functions {
		if i, ok := summarizeInit(fn, inits[fn]); ok {
			logf("footprint: %-16s init (exec to first event request) %5.1f ms (%.1f to %.1f, %d runs)", fn, i.ExecToNextMS, i.MinMS, i.MaxMS, i.Runs)
			sec.Inits = append(sec.Inits, i)
		}
		if i, ok := summarizeInit(fn, baseInits[fn]); ok {
			logf("footprint: %-16s init (exec to first event request) %5.1f ms (%s)", fn, i.ExecToNextMS, sec.Baseline)
			sec.BaselineInits = append(sec.BaselineInits, i)
		}
	}
	if slow, ok := slowest(sec.Inits, func(i FunctionInit) float64 { return i.ExecToNextMS }); ok {
		if t, err := initTrace(ctx, slow.Function, filepath.Join(dir, runtime.GOARCH, slow.Function), env, 3); err != nil {
			sec.Errors = append(sec.Errors, "inittrace: "+err.Error())
		} else {
			sec.InitTrace = &t
			logf("footprint: %s package init %.1f ms over %d packages (GODEBUG=inittrace=1)", t.Function, t.TotalMS, t.Packages)
		}
	}
	if len(pyWall) > 0 {
		py.Runs, py.ReadyMS, py.WallMS = len(pyWall), median(pyReady), median(pyWall)
		logf("footprint: python boto3 start to ready %5.0f ms, whole process %5.0f ms, peak RSS %d kB", py.ReadyMS, py.WallMS, py.PeakRSSKB)
	}
	sec.Python = &py
	return sec, nil
}

// summarizeCold returns the medians of one function's cold-start samples
// (false without any).
func summarizeCold(fn string, ss []coldSample) (ColdStart, bool) {
	if len(ss) == 0 {
		return ColdStart{}, false
	}
	c := ColdStart{Function: fn, Runs: len(ss), Result: ss[0].result}
	var start, cold, warm, init, emu, rinit []float64
	for _, s := range ss {
		start, cold, warm = append(start, s.startToResult), append(cold, s.coldMS), append(warm, s.warmMS)
		init = append(init, s.coldMS-s.warmMS)
		emu, rinit = append(emu, s.emulatorMS), append(rinit, s.runtimeInitMS)
		c.PeakRSSKB = max(c.PeakRSSKB, s.rssKB)
	}
	c.StartToResultMS, c.ColdInvokeMS, c.WarmInvokeMS, c.InitMS = median(start), median(cold), median(warm), median(init)
	c.EmulatorStartMS, c.RuntimeInitMS = median(emu), median(rinit)
	return c, true
}

func logColdStart(logf func(string, ...any), suffix string, c ColdStart) {
	logf("footprint: %-16s start to result %5.0f ms (emulator start %4.1f ms, runtime init %5.1f ms, cold invoke %5.1f ms, warm %5.1f ms, init %5.1f ms), peak RSS %d kB%s",
		c.Function, c.StartToResultMS, c.EmulatorStartMS, c.RuntimeInitMS, c.ColdInvokeMS, c.WarmInvokeMS, c.InitMS, c.PeakRSSKB, suffix)
}

// buildRevision extracts revision rev of the repository at root (git
// archive) under dir and builds its functions for the host into
// dir/baseline/<arch>; it returns the revision's short commit id.
func buildRevision(ctx context.Context, root, dir, rev string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("-cold-baseline %q: not a commit: %w", rev, err)
	}
	short := strings.TrimSpace(string(out))
	src := filepath.Join(dir, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", short)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		return "", err
	}
	if err := untar.Start(); err != nil {
		return "", fmt.Errorf("extract %s: %w", short, err)
	}
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %v\n%s", short, err, tail(stderr.Bytes(), 2000))
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("extract %s: %w", short, err)
	}
	if _, err := buildFunctions(ctx, src, filepath.Join(dir, "baseline", runtime.GOARCH), runtime.GOARCH); err != nil {
		return "", fmt.Errorf("%s: %w", short, err)
	}
	return short, nil
}

// buildFunctions builds every function's bootstrap for linux/arch as
// deployed and zips it as the Lambda asset.
func buildFunctions(ctx context.Context, root, dir, arch string) ([]Binary, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator), "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build functions for %s: %v\n%s", arch, err, tail(out, 2000))
	}
	var bins []Binary
	for _, fn := range functions {
		fdir := filepath.Join(dir, fn)
		bin := filepath.Join(dir, fn+".bin")
		// go build -o dir/ writes dir/<function>; Lambda wants bootstrap.
		if err := os.Rename(filepath.Join(dir, fn), bin); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(fdir, 0o755); err != nil {
			return nil, err
		}
		boot := filepath.Join(fdir, "bootstrap")
		if err := os.Rename(bin, boot); err != nil {
			return nil, err
		}
		fi, err := os.Stat(boot)
		if err != nil {
			return nil, err
		}
		z, err := zipSize(boot)
		if err != nil {
			return nil, err
		}
		bins = append(bins, Binary{Function: fn, Arch: arch, Bytes: fi.Size(), ZipBytes: z})
	}
	return bins, nil
}

// zipSize returns the size of the Lambda deployment zip of bootstrap
// (deflate, one executable entry named bootstrap).
func zipSize(bootstrap string) (int64, error) {
	f, err := os.Open(bootstrap)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(w, f); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

// packageSizes builds trail-remediator for the host with its symbol table
// and sums symbol sizes per package group (an AWS service with its
// subpackages counts as one).
func packageSizes(ctx context.Context, root, dir string) ([]PackageSize, int64, error) {
	bin := filepath.Join(dir, "trail-remediator.syms")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "./functions/trail-remediator")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("build: %v\n%s", err, tail(out, 2000))
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "nm", "-size", bin).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go tool nm: %v", err)
	}
	sizes, total := groupSymbols(string(out))
	return sizes, total, nil
}

// groupSymbols sums the code (text) symbol sizes of `go tool nm -size`
// output per package group, largest first.
func groupSymbols(nm string) ([]PackageSize, int64) {
	by := map[string]int64{}
	var total int64
	sc := bufio.NewScanner(strings.NewReader(nm))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		// Code only: data symbols include section-sized containers and
		// BSS (a 32 MiB FIPS DRBG buffer) that take no file space.
		if f[2] != "T" && f[2] != "t" {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size == 0 {
			continue
		}
		total += size
		by[packageGroup(strings.Join(f[3:], " "))] += size
	}
	out := make([]PackageSize, 0, len(by))
	for p, n := range by {
		out = append(out, PackageSize{Package: p, Bytes: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Package < out[j].Package
	})
	return out, total
}

var serviceRE = regexp.MustCompile(`^(github\.com/aws/aws-sdk-go-v2/service/[^/.]+)`)

// packageGroup returns the package of a symbol name, with an AWS SDK
// service's subpackages folded into the service and the Go runtime and
// standard library grouped.
func packageGroup(sym string) string {
	for _, p := range []string{"type:", "go:", ".eq.", "*"} {
		sym = strings.TrimPrefix(sym, p)
	}
	if m := serviceRE.FindStringSubmatch(sym); m != nil {
		return strings.TrimPrefix(m[1], "github.com/aws/aws-sdk-go-v2/")
	}
	// The package is up to the first '.' after the last '/'.
	slash := strings.LastIndex(sym, "/")
	rest := sym[slash+1:]
	pkg := sym
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		pkg = sym[:slash+1+i]
	}
	switch {
	case strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2"):
		return "aws-sdk-go-v2 (core)"
	case strings.HasPrefix(pkg, "github.com/aws/smithy-go"):
		return "smithy-go"
	case strings.HasPrefix(pkg, "github.com/trailguard/trailguard"):
		return "trailguard"
	case strings.HasPrefix(pkg, "github.com/aws/aws-lambda-go"):
		return "aws-lambda-go"
	case !strings.Contains(pkg, "."):
		return "Go runtime and standard library"
	}
	return pkg
}

// coldStartWorld creates a compliant trail in moto and returns each
// function's event and the functions' environment.
func coldStartWorld(ctx context.Context, srv *motoserver.Server) (map[string][]byte, []string, error) {
	if err := srv.Reset(ctx); err != nil {
		return nil, nil, err
	}
	w, err := newWorld(srv)
	if err != nil {
		return nil, nil, err
	}
	acct := motoserver.AccountID
	t := plannedTrail{Account: acct, Region: home, Name: "cold-start", Bucket: "cold-start-logs"}
	p, err := compliantPolicy(acct, []plannedTrail{t})
	if err != nil {
		return nil, nil, err
	}
	k, err := w.key(ctx, home, p)
	if err != nil {
		return nil, nil, err
	}
	if err := w.alias(ctx, home, baselineName, k); err != nil {
		return nil, nil, err
	}
	if err := w.bucket(ctx, t.Bucket, home); err != nil {
		return nil, nil, err
	}
	arn, err := w.trail(ctx, home, t.Name, t.Bucket, k)
	if err != nil {
		return nil, nil, err
	}
	topic, err := sns.NewFromConfig(w.cfg(home)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("trailguard-notices")})
	if err != nil {
		return nil, nil, fmt.Errorf("create topic: %w", err)
	}
	events := map[string][]byte{}
	if events["trail-remediator"], err = trailEvent(acct, home, "CreateTrail", t.Name, arn, t.Bucket); err != nil {
		return nil, nil, err
	}
	if events["key-remediator"], err = keyEvent(acct, home, "PutKeyPolicy", k); err != nil {
		return nil, nil, err
	}
	if events["sweeper"], err = scheduledEvent(acct, home); err != nil {
		return nil, nil, err
	}
	env := cleanEnv()
	env = append(env, srv.Env()...)
	env = append(env, config.EnvRegions+"="+home, config.EnvTopicARN+"="+aws.ToString(topic.TopicArn),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256")
	return events, env, nil
}

// cleanEnv is this process's environment without AWS_* and TRAILGUARD_*
// variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		u := strings.ToUpper(kv)
		if !strings.HasPrefix(u, "AWS_") && !strings.HasPrefix(u, "TRAILGUARD_") {
			env = append(env, kv)
		}
	}
	return env
}

type coldSample struct {
	startToResult, coldMS, warmMS float64
	emulatorMS, runtimeInitMS     float64
	rssKB                         int64
	result                        string
}

var (
	rssRE = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)
	// initReportRE is the emulator's log line at the end of the init
	// phase, e.g. "INIT REPORT(durationMs: 93.702000)".
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
)

// coldStart starts aws-lambda-rie with fdir/bootstrap (under
// /usr/bin/time -v), invokes it once with event and stops it.
func coldStart(ctx context.Context, rie, timeBin, fdir string, env []string, event []byte) (coldSample, error) {
	var s coldSample
	port, err := freePort()
	if err != nil {
		return s, err
	}
	apiPort, err := freePort()
	if err != nil {
		return s, err
	}
	timeOut := filepath.Join(fdir, "time.txt")
	_ = os.Remove(timeOut)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logs syncBuffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		timeBin, "-v", "-o", timeOut, filepath.Join(fdir, "bootstrap"))
	cmd.Dir = fdir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer stopGroup(cmd.Process.Pid, done)

	if err := waitListening(ctx, addr, 15*time.Second); err != nil {
		return s, fmt.Errorf("%v\n%s", err, tail(logs.Bytes(), 2000))
	}
	s.emulatorMS = ms(time.Since(start))
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	invokeStart := time.Now()
	n, err := invoke(ctx, url, event)
	if err != nil {
		return s, fmt.Errorf("%v\n%s", err, tail(logs.Bytes(), 2000))
	}
	s.startToResult, s.coldMS = ms(time.Since(start)), ms(time.Since(invokeStart))
	s.result = fmt.Sprintf("%d result(s)", n)
	if m := initReportRE.FindSubmatch(logs.Bytes()); m != nil {
		s.runtimeInitMS, _ = strconv.ParseFloat(string(m[1]), 64)
	} else {
		return s, fmt.Errorf("no INIT REPORT line in the emulator's log\n%s", tail(logs.Bytes(), 2000))
	}
	invokeStart = time.Now()
	if _, err := invoke(ctx, url, event); err != nil {
		return s, fmt.Errorf("second invocation: %v\n%s", err, tail(logs.Bytes(), 2000))
	}
	s.warmMS = ms(time.Since(invokeStart))

	// End the bootstrap (child of time, child of the emulator) so that
	// time writes its report.
	boot := 0
	for _, c := range children(cmd.Process.Pid) {
		if kids := children(c); len(kids) > 0 {
			boot = kids[0]
		}
	}
	if boot == 0 {
		return s, errors.New("cannot find the bootstrap process under aws-lambda-rie")
	}
	_ = syscall.Kill(boot, syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(timeOut); err == nil && rssRE.Match(b) {
			m := rssRE.FindSubmatch(b)
			s.rssKB, _ = strconv.ParseInt(string(m[1]), 10, 64)
			return s, nil
		}
	}
	return s, fmt.Errorf("no /usr/bin/time report in %s", timeOut)
}

// invoke posts event to the emulator and returns the number of results
// of the function's answer; an error result is an error.
func invoke(ctx context.Context, url string, event []byte) (int, error) {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("invoke: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep struct {
		Results []struct {
			Trail string `json:"trail"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rep) != nil || len(rep.Results) == 0 {
		return 0, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, tail(body, 1000))
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			return 0, fmt.Errorf("result error for %s: %s", r.Trail, r.Error)
		}
	}
	return len(rep.Results), nil
}

// stopGroup ends the process group of pid: SIGTERM, then SIGKILL.
func stopGroup(pid int, done <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}

// children returns the pids whose parent is pid (from /proc).
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == pid {
				out = append(out, n)
			}
		}
	}
	sort.Ints(out)
	return out
}

func waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("aws-lambda-rie not listening on %s: %v", addr, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pythonSetup finds the real python3 executable (not a pyenv shim, which
// adds its own start-up) and checks that boto3 imports.
func pythonSetup(ctx context.Context) PythonStart {
	p := PythonStart{Command: `python3 -c "` + pythonReady + pythonPeak + `"`}
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		p.NotMeasured = "python3 is not available: " + err.Error()
		return p
	}
	p.Executable = strings.TrimSpace(string(out))
	out, err = exec.CommandContext(ctx, p.Executable, "-c", "import boto3; print(boto3.__version__)").CombinedOutput()
	if err != nil {
		p.NotMeasured = "boto3 is not installed for " + p.Executable + ": " + tail(out, 300)
		return p
	}
	p.Boto3Version = strings.TrimSpace(string(out))
	return p
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}
