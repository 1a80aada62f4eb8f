package handler

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/trailguard/trailguard/pkg/metrics"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// Measure wraps h so every invocation writes its CloudWatch metrics (EMF
// lines, pkg/metrics) to w: trails reconciled, findings by rule, fixes by
// action, failures and duration. It makes no API call. A failure to write
// is logged to log and does not change h's result.
func Measure(function string, w io.Writer, log *slog.Logger, h HandleFunc) HandleFunc {
	return func(ctx context.Context, raw json.RawMessage) (Response, error) {
		start := time.Now()
		rep, err := h(ctx, raw)
		run := runOf(rep.Report, err)
		// A batch's messages that failed transiently are failures too.
		run.Failures += len(rep.BatchItemFailures)
		run.Function = function
		run.Duration = time.Since(start)
		if werr := metrics.Write(w, run, time.Now()); werr != nil {
			logger(log).Error("metrics", "error", werr.Error())
		}
		return rep, err
	}
}

// runOf counts a report: every result is a trail seen; findings by rule;
// actions that wrote ("updated") by kind; failed actions, terminal errors
// and a transient error as failures.
func runOf(rep reconcile.Report, err error) metrics.Run {
	run := metrics.Run{Trails: len(rep.Results), Failures: len(rep.Errors), Findings: map[string]int{}, Fixes: map[string]int{}}
	if err != nil {
		run.Failures++
	}
	for _, res := range rep.Results {
		if res.Error != "" {
			run.Failures++
		}
		for _, f := range res.Findings {
			run.Findings[string(f.Rule)]++
		}
		for _, a := range res.Actions {
			switch a.Outcome {
			case reconcile.Updated:
				run.Fixes[string(a.Action)]++
			case reconcile.Failed:
				run.Failures++
			}
		}
	}
	return run
}
