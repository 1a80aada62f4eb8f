package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
)

// runAll runs the sections of o and returns the report; a section that
// fails is recorded in Errors and the others still run.
func runAll(ctx context.Context, o options, logf func(string, ...any)) *Report {
	start := time.Now()
	rep := &Report{Generated: start.UTC(), Settings: o, Host: host()}
	fail := func(section string, err error) {
		logf("%s: %v", section, err)
		rep.Errors = append(rep.Errors, section+": "+err.Error())
	}
	has := func(s string) bool { return slices.Contains(o.Sections, s) }

	if has("core") {
		logf("core: go test -bench (count %d, benchtime %s)", o.BenchCount, o.BenchTime)
		sec, err := runCore(ctx, o.BenchCount, o.BenchTime)
		if err != nil {
			fail("core", err)
		}
		rep.Core = sec
	}

	var srv *motoserver.Server
	if has("critical") || has("footprint") || has("sweep") {
		logf("starting moto_server")
		s, err := motoserver.Start(ctx)
		if err != nil {
			fail("moto", err)
		} else {
			srv = s
			defer func() {
				if err := srv.Stop(); err != nil {
					logf("moto: %v", err)
				}
			}()
		}
	}
	if srv != nil && has("critical") {
		sec, err := runCritical(ctx, srv, o.Latency, o.Runs, logf)
		if err != nil {
			fail("critical", err)
		}
		rep.Critical = sec
	}
	if srv != nil && has("footprint") {
		sec, err := runFootprint(ctx, srv, o.ColdRuns, o.ColdBaseline, logf)
		if err != nil {
			fail("footprint", err)
		}
		rep.Footprint = sec
	}
	if srv != nil && has("sweep") {
		sec, err := runSweeps(ctx, srv, o, logf)
		if err != nil {
			fail("sweep", err)
		}
		rep.Sweep = sec
	}
	if has("orgscale") {
		logf("orgscale: simulated organizations of %v accounts x %d Regions (fake AWS)", o.OrgSizes, len(defaultRegions))
		rep.OrgScale = runOrgScale(ctx, o, logf)
	}
	for _, sec := range []interface{ errs() []string }{rep.Critical, rep.Footprint, rep.Sweep, rep.OrgScale} {
		rep.Errors = append(rep.Errors, sec.errs()...)
	}
	rep.Cost = costModel(rep)
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.Targets = targets(rep)
	return rep
}

// Host describes the machine the figures were measured on.
type Host struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	CPU       string `json:"cpu,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	Moto      string `json:"moto,omitempty"`
}

func host() Host {
	h := Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		h.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("python3", "-c", "import moto; print(moto.__version__)").Output(); err == nil {
		h.Moto = "moto " + strings.TrimSpace(string(out))
	}
	return h
}
