// Package changelog renders trailguard's change log (the records of
// pkg/state) for people and scripts: the table and JSON that `trailguard
// history` prints (and the demo shows), and one change in detail, with a
// key policy's before and after as a unified diff.
package changelog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/trailguard/trailguard/pkg/state"
)

// TimeFormat is how a change's time is shown.
const TimeFormat = "2006-01-02 15:04:05Z"

// Namer shortens an ARN for a table (the CLI shows key ids and trail
// names, the demo its own labels). nil shows ARNs as they are.
type Namer func(arn string) string

func (n Namer) name(arn string) string {
	if n == nil || arn == "" {
		return arn
	}
	return n(arn)
}

// WriteTable writes changes (newest first, as History returns them) as a
// table: id, time, writer, source, action, resource, trails, rules and
// status, then a count line. No changes is one line saying so.
func WriteTable(w io.Writer, cs []state.Change, n Namer) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no changes recorded")
		return err
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	t.Header("ID", "Time", "Writer", "Source", "Action", "Resource", "Trails", "Rules", "Status")
	for _, c := range cs {
		trails := make([]string, 0, len(c.Trails))
		for _, tr := range c.Trails {
			trails = append(trails, n.name(tr))
		}
		status := c.Status
		if c.UndoOf != "" {
			status += " (undo of " + c.UndoOf + ")"
		}
		if err := t.Append(c.ID, c.Time.UTC().Format(TimeFormat), c.Writer, c.Source, c.Action, n.name(c.Resource),
			dash(strings.Join(trails, "\n")), dash(strings.Join(c.Rules, "\n")), status); err != nil {
			return fmt.Errorf("write history table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("write history table: %w", err)
	}
	word := "changes"
	if len(cs) == 1 {
		word = "change"
	}
	_, err := fmt.Fprintf(w, "%d %s, newest first; `trailguard history ID` shows one with its before and after\n", len(cs), word)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSON writes the records as a JSON array (their state.Change JSON
// form), indented.
func WriteJSON(w io.Writer, cs []state.Change) error {
	if cs == nil {
		cs = []state.Change{}
	}
	return writeIndented(w, cs)
}

// WriteChangeJSON writes one record as a JSON object, indented.
func WriteChangeJSON(w io.Writer, c state.Change) error { return writeIndented(w, c) }

func writeIndented(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write history JSON: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// WriteDetail writes one change: its fields, then its before and after
// (a unified diff of the two key policies for PutKeyPolicy, the trail's
// KmsKeyId for UpdateTrail).
func WriteDetail(w io.Writer, c state.Change) error {
	var b strings.Builder
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-9s %s\n", name+":", value)
		}
	}
	field("change", c.ID)
	field("time", c.Time.UTC().Format(TimeFormat))
	field("writer", c.Writer)
	field("source", c.Source)
	field("account", c.Account)
	field("region", c.Region)
	field("action", c.Action)
	field("resource", c.Resource)
	field("trails", strings.Join(c.Trails, ", "))
	field("rules", strings.Join(c.Rules, ", "))
	field("status", c.Status)
	field("undo of", c.UndoOf)
	field("detail", c.Detail)
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return WriteChange(w, c)
}

// WriteChange writes what change c replaced and with what: for a key
// policy a unified diff (both sides indented alike, so only real changes
// show), for a trail its KmsKeyId before and after.
func WriteChange(w io.Writer, c state.Change) error {
	switch c.Action {
	case "PutKeyPolicy":
		if IndentJSON(c.Before) == IndentJSON(c.After) {
			_, err := fmt.Fprintf(w, "key policy of %s: the same before and after (but for white space)\n", c.Resource)
			return err
		}
		return PolicyDiff(w, c.Before, c.After,
			"key policy of "+c.Resource+" before "+c.ID,
			"key policy of "+c.Resource+" after "+c.ID)
	case "UpdateTrail":
		_, err := fmt.Fprintf(w, "KmsKeyId of %s: %s -> %s\n", c.Resource, orNone(c.Before), orNone(c.After))
		return err
	}
	_, err := fmt.Fprintf(w, "%s of %s: %s -> %s\n", c.Action, c.Resource, orNone(c.Before), orNone(c.After))
	return err
}

// WriteUndo writes what `trailguard undo ID` restored: undo is the undo's
// own change (Reconciler.Undo), whose After is the value restored.
func WriteUndo(w io.Writer, id string, undo state.Change) error {
	what := "the value"
	switch undo.Action {
	case "PutKeyPolicy":
		what = "the key policy"
	case "UpdateTrail":
		what = "the KmsKeyId"
	}
	if _, err := fmt.Fprintf(w, "undid change %s: %s of %s restored to its value before it (recorded as change %s)\n",
		id, what, undo.Resource, undo.ID); err != nil {
		return err
	}
	return WriteChange(w, undo)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// PolicyDiff writes the unified diff (3 lines of context) of two key
// policies, both re-indented the same way.
func PolicyDiff(w io.Writer, from, to, fromName, toName string) error {
	return difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{
		A:        difflib.SplitLines(IndentJSON(from)),
		B:        difflib.SplitLines(IndentJSON(to)),
		FromFile: fromName,
		ToFile:   toName,
		Context:  3,
	})
}

// IndentJSON re-indents a JSON document (two spaces, a final newline);
// text that is not JSON is returned as is.
func IndentJSON(s string) string {
	var c, out bytes.Buffer
	if err := json.Compact(&c, []byte(s)); err != nil {
		return s
	}
	if err := json.Indent(&out, c.Bytes(), "", "  "); err != nil {
		return s
	}
	out.WriteByte('\n')
	return out.String()
}
