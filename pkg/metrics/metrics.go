// Package metrics writes trailguard's CloudWatch metrics as Embedded Metric
// Format (EMF) lines in the functions' logs: CloudWatch Logs extracts them
// into metrics, so recording a metric costs no API call
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Namespace is the CloudWatch namespace of every trailguard metric.
const Namespace = "trailguard"

// The metric names (the dashboard in infra/ charts them).
const (
	Findings = "Findings" // by Rule: failing rules seen in a run
	Fixes    = "Fixes"    // by Action: writes made (outcome "updated")
	Failures = "Failures" // by Function: failed actions, terminal and transient errors
	Duration = "Duration" // by Function: milliseconds of one invocation
	Trails   = "Trails"   // by Function: trails reconciled in one invocation
)

// The dimension names.
const (
	DimFunction = "Function"
	DimRule     = "Rule"
	DimAction   = "Action"
)

// Run is what one invocation measured.
type Run struct {
	// Function is the function's name (AWS_LAMBDA_FUNCTION_NAME).
	Function string
	Duration time.Duration
	Trails   int
	Failures int
	// Findings counts failing rules by rule id; Fixes counts writes by
	// action kind.
	Findings map[string]int
	Fixes    map[string]int
}

// Write writes r as EMF JSON lines to w: one line with the function's
// Trails, Failures and Duration, one per rule with Findings and one per
// action with Fixes (each dimension value needs its own line, since EMF
// takes dimension values from the line's top-level members). Rules and
// actions come in sorted order.
func Write(w io.Writer, r Run, now time.Time) error {
	ts := now.UnixMilli()
	lines := []map[string]any{
		line(ts, []string{DimFunction}, []metric{{Trails, "Count"}, {Failures, "Count"}, {Duration, "Milliseconds"}}, map[string]any{
			DimFunction: r.Function,
			Trails:      r.Trails,
			Failures:    r.Failures,
			Duration:    float64(r.Duration.Microseconds()) / 1000,
		}),
	}
	for _, rule := range slices.Sorted(maps.Keys(r.Findings)) {
		lines = append(lines, line(ts, []string{DimRule}, []metric{{Findings, "Count"}}, map[string]any{DimRule: rule, Findings: r.Findings[rule]}))
	}
	for _, act := range slices.Sorted(maps.Keys(r.Fixes)) {
		lines = append(lines, line(ts, []string{DimAction}, []metric{{Fixes, "Count"}}, map[string]any{DimAction: act, Fixes: r.Fixes[act]}))
	}
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
		// One Write per line, so the line is not interleaved with a log
		// line written at the same time.
		if _, err := w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

type metric struct{ Name, Unit string }

// line is one EMF object: the _aws metadata naming the metrics and their
// dimension set, and the values as top-level members.
func line(ts int64, dims []string, ms []metric, values map[string]any) map[string]any {
	defs := make([]map[string]string, len(ms))
	for i, m := range ms {
		defs[i] = map[string]string{"Name": m.Name, "Unit": m.Unit}
	}
	values["_aws"] = map[string]any{
		"Timestamp": ts,
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  Namespace,
			"Dimensions": [][]string{dims},
			"Metrics":    defs,
		}},
	}
	return values
}
