package demo

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// printer writes the demo's output and keeps the first write error.
type printer struct {
	w       io.Writer
	err     error
	section int
}

// printf writes a formatted line (a newline is added).
func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
}

// heading starts a numbered section.
func (p *printer) heading(title string) {
	p.section++
	p.printf("")
	p.printf("== %d. %s %s", p.section, title, strings.Repeat("=", max(3, 66-len(title))))
}

// table writes rows under a header as a bordered table, indented.
func (p *printer) table(header []string, rows [][]string) {
	if p.err != nil {
		return
	}
	var b strings.Builder
	t := tablewriter.NewTable(&b,
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	t.Header(toAny(header)...)
	for _, r := range rows {
		if err := t.Append(toAny(r)...); err != nil {
			p.err = fmt.Errorf("render table: %w", err)
			return
		}
	}
	if err := t.Render(); err != nil {
		p.err = fmt.Errorf("render table: %w", err)
		return
	}
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		p.printf("  %s", line)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
