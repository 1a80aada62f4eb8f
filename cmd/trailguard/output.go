package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// checkOutput validates an --output value.
func checkOutput(v string) error {
	switch v {
	case outputTable, outputJSON:
		return nil
	}
	return usagef("invalid --output %q: want table or json", v)
}

// result is one result of a report as the handlers write it (the
// "results" items of CONTRACTS.md), with its JSON kept as written.
type result struct {
	Trail    string    `json:"trail"`
	Account  string    `json:"account"`
	Region   string    `json:"region"`
	Findings []finding `json:"findings"`
	Actions  []action  `json:"actions"`
	Alerts   []string  `json:"alerts"`
	Error    string    `json:"error"`

	raw json.RawMessage
}

type finding struct {
	Rule       string `json:"rule"`
	Detail     string `json:"detail"`
	Actionable bool   `json:"actionable"`
}

type action struct {
	Action  string `json:"action"`
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
}

// Action outcomes (CONTRACTS.md).
const (
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
	outcomePlanned   = "planned"
	outcomeFailed    = "failed"
	outcomeSkipped   = "skipped"
)

// decodeResults reads the results of a report through its JSON form,
// the contract every consumer of a report relies on, and sorts them by
// account, Region and trail.
func decodeResults(report any) ([]result, error) {
	b, err := json.Marshal(report)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	var env struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	out := make([]result, 0, len(env.Results))
	for _, raw := range env.Results {
		var r result
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("decode report result: %w", err)
		}
		r.raw = raw
		out = append(out, r)
	}
	sortResults(out)
	return out, nil
}

// sortResults orders results by account, Region and trail (then by their
// JSON, so that the order is total).
func sortResults(rs []result) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		if a.Trail != b.Trail {
			return a.Trail < b.Trail
		}
		return bytes.Compare(a.raw, b.raw) < 0
	})
}

// writeJSON writes {"results": [...]} with each result as the library
// wrote it, indented, and the report's errors not tied to a trail under
// "errors" when there are any: the handlers' output shape.
func writeJSON(w io.Writer, rs []result, errs []string) error {
	var b bytes.Buffer
	b.WriteString(`{"results":[`)
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.raw)
	}
	b.WriteString("]")
	if len(errs) > 0 {
		e, err := json.Marshal(errs)
		if err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		b.WriteString(`,"errors":`)
		b.Write(e)
	}
	b.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// view is what a table shows: a scan, a fix plan or an applied fix.
type view int

const (
	viewScan view = iota
	viewPlan
	viewApply
)

// status is the one-word state of a result.
func (r result) status(v view) string {
	var failed, planned, updated bool
	for _, a := range r.Actions {
		switch a.Outcome {
		case outcomeFailed:
			failed = true
		case outcomePlanned:
			planned = true
		case outcomeUpdated:
			updated = true
		}
	}
	switch {
	case r.Error != "" && len(r.Findings) == 0:
		return "ERROR"
	case failed:
		return "FAILED"
	case len(r.Findings) == 0:
		return "compliant"
	case v == viewApply && updated && r.allFixed():
		return "fixed"
	case v == viewPlan && planned:
		return "fix planned"
	}
	return "NON-COMPLIANT"
}

// allFixed reports whether every finding was actionable and every action
// succeeded.
func (r result) allFixed() bool {
	if r.Error != "" {
		return false
	}
	for _, f := range r.Findings {
		if !f.Actionable {
			return false
		}
	}
	for _, a := range r.Actions {
		if a.Outcome != outcomeUpdated && a.Outcome != outcomeUnchanged {
			return false
		}
	}
	return true
}

// style colours text with ANSI codes when enabled.
type style struct{ enabled bool }

func (s style) paint(code, text string) string {
	if !s.enabled || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) status(text string) string {
	switch text {
	case "compliant", "fixed":
		return s.paint("32", text) // green
	case "fix planned":
		return s.paint("33", text) // yellow
	}
	return s.paint("1;31", text) // bold red: NON-COMPLIANT, FAILED, ERROR
}

func (s style) outcome(text string) string {
	switch text {
	case outcomeUpdated:
		return s.paint("32", text)
	case outcomePlanned:
		return s.paint("33", text)
	case outcomeFailed:
		return s.paint("1;31", text)
	}
	return text
}

// writeTable writes results as a table: trail, Region, status, findings
// (and the actions of a fix), then a summary line.
func writeTable(w io.Writer, rs []result, v view, st style) error {
	withActions := v != viewScan
	accounts := map[string]bool{}
	for _, r := range rs {
		accounts[r.Account] = true
	}
	multiAccount := len(accounts) > 1
	header := []any{}
	if multiAccount {
		header = append(header, "Account")
	}
	header = append(header, "Trail", "Region", "Status", "Findings")
	if withActions {
		header = append(header, "Actions")
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	t.Header(header...)
	for _, r := range rs {
		row := []any{}
		if multiAccount {
			row = append(row, r.Account)
		}
		var fs []string
		for _, f := range r.Findings {
			rule := f.Rule
			if !f.Actionable {
				rule += " (alert)"
			}
			fs = append(fs, rule)
		}
		if len(fs) == 0 {
			fs = []string{"-"}
		}
		row = append(row, trailName(r.Trail), r.Region, st.status(r.status(v)), strings.Join(fs, "\n"))
		if withActions {
			var as []string
			for _, a := range r.Actions {
				as = append(as, fmt.Sprintf("%s %s: %s", a.Action, shortARN(a.Target), st.outcome(a.Outcome)))
			}
			if len(as) == 0 {
				as = []string{"-"}
			}
			row = append(row, strings.Join(as, "\n"))
		}
		if err := t.Append(row...); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	if len(rs) > 0 {
		if err := t.Render(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	_, err := fmt.Fprintln(w, summary(rs, v))
	return err
}

// summary is the line under the table, e.g. "3 trails: 1 compliant, 2
// with findings (4 findings)".
func summary(rs []result, v view) string {
	if len(rs) == 0 {
		return "no trails found"
	}
	var compliant, nonCompliant, findings, planned, updated, failed int
	for _, r := range rs {
		if len(r.Findings) == 0 {
			compliant++
		} else {
			nonCompliant++
		}
		findings += len(r.Findings)
		for _, a := range r.Actions {
			switch a.Outcome {
			case outcomePlanned:
				planned++
			case outcomeUpdated:
				updated++
			case outcomeFailed:
				failed++
			}
		}
	}
	if v == viewApply {
		var fixed int
		for _, r := range rs {
			if len(r.Findings) > 0 && r.allFixed() {
				fixed++
			}
		}
		s := fmt.Sprintf("%d %s: %d already compliant, %d fixed, %d still with findings; %d %s applied",
			len(rs), plural(len(rs), "trail", "trails"), compliant, fixed, nonCompliant-fixed, updated, plural(updated, "action", "actions"))
		if failed > 0 {
			s += fmt.Sprintf(", %d failed", failed)
		}
		return s
	}
	s := fmt.Sprintf("%d %s: %d compliant, %d with findings (%d %s)",
		len(rs), plural(len(rs), "trail", "trails"), compliant, nonCompliant, findings, plural(findings, "finding", "findings"))
	switch {
	case v == viewScan && planned > 0:
		s += "; run `trailguard fix` to see the plan"
	case v == viewPlan && planned > 0:
		s += fmt.Sprintf("; %d %s planned: run `trailguard fix --apply` to apply", planned, plural(planned, "action", "actions"))
	}
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// trailName returns the name part of a trail ARN.
func trailName(arn string) string {
	if i := strings.LastIndex(arn, ":trail/"); i >= 0 {
		return arn[i+len(":trail/"):]
	}
	return arn
}

// shortARN shortens an ARN for a table: "key/1234…" or the trail name.
func shortARN(arn string) string {
	if strings.Contains(arn, ":trail/") {
		return trailName(arn)
	}
	if i := strings.LastIndex(arn, ":"); i >= 0 && strings.HasPrefix(arn, "arn:") {
		return arn[i+1:]
	}
	return arn
}
