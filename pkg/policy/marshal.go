package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Marshal writes the document as JSON indented with two spaces. Top-level
// members keep their input order, unknown ones included; Version and Id
// carry the current field values (added at the front when they were absent
// and are set). Parsed statements are written from their Raw JSON, so
// their meaning, their unknown members and their order are kept; statements
// built in code (Raw == nil) are written from their fields in the order
// Sid, Effect, Principal/NotPrincipal, Action/NotAction,
// Resource/NotResource, Condition. "Statement" stays a single object when
// it was one and there is still exactly one statement; otherwise it is a
// list.
//
// Marshal does not enforce MaxSize: see MarshalFit.
func (d *Document) Marshal() ([]byte, error) {
	c, err := d.MarshalCompact()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(c) + len(c)/2)
	if err := json.Indent(&buf, c, "", "  "); err != nil {
		return nil, fmt.Errorf("marshal key policy: %w", err)
	}
	return buf.Bytes(), nil
}

// MarshalCompact is Marshal without insignificant whitespace.
func (d *Document) MarshalCompact() ([]byte, error) {
	if d == nil {
		return nil, errors.New("marshal key policy: nil document")
	}
	b := make([]byte, 0, 256+128*len(d.Statements))
	b = append(b, '{')
	n := 0
	member := func(name string) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, name)
		b = append(b, ':')
	}
	has := func(name string) bool {
		for _, f := range d.fields {
			if f.name == name {
				return true
			}
		}
		return false
	}
	if d.Version != "" && !has("Version") {
		member("Version")
		b = appendString(b, d.Version)
	}
	if d.ID != "" && !has("Id") {
		member("Id")
		b = appendString(b, d.ID)
	}
	var err error
	wroteStatement := false
	for _, f := range d.fields {
		member(f.name)
		switch f.name {
		case "Version":
			b = appendString(b, d.Version)
		case "Id":
			b = appendString(b, d.ID)
		case "Statement":
			wroteStatement = true
			if b, err = d.appendStatements(b); err != nil {
				return nil, err
			}
		default:
			if b, err = appendCompact(b, f.raw); err != nil {
				return nil, fmt.Errorf("marshal key policy: member %q: %w", f.name, err)
			}
		}
	}
	if !wroteStatement && (!d.noStatement || len(d.Statements) > 0) {
		member("Statement")
		if b, err = d.appendStatements(b); err != nil {
			return nil, err
		}
	}
	b = append(b, '}')
	return b, nil
}

// MarshalFit returns the indented document if it fits in MaxSize bytes,
// else the compact one if that fits, else an error wrapping ErrTooLarge.
func (d *Document) MarshalFit() ([]byte, error) {
	c, err := d.MarshalCompact()
	if err != nil {
		return nil, err
	}
	if len(c) > MaxSize {
		return nil, fmt.Errorf("marshal key policy: %d bytes compact: %w", len(c), ErrTooLarge)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, c, "", "  "); err != nil {
		return nil, fmt.Errorf("marshal key policy: %w", err)
	}
	if buf.Len() <= MaxSize {
		return buf.Bytes(), nil
	}
	return c, nil
}

func (d *Document) appendStatements(b []byte) ([]byte, error) {
	list := !(d.single && len(d.Statements) == 1)
	if list {
		b = append(b, '[')
	}
	for i := range d.Statements {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = d.Statements[i].appendJSON(b); err != nil {
			return nil, fmt.Errorf("marshal key policy: statement %d: %w", i, err)
		}
	}
	if list {
		b = append(b, ']')
	}
	return b, nil
}

// Marshal writes the statement as compact JSON: its Raw JSON when it was
// parsed, else its fields in the order Sid, Effect, Principal/NotPrincipal,
// Action/NotAction, Resource/NotResource, Condition (a one-element list is
// written as a string; condition operators and keys are sorted). A
// statement built in code must pass Validate.
func (s Statement) Marshal() ([]byte, error) {
	return s.appendJSON(nil)
}

func (s Statement) appendJSON(b []byte) ([]byte, error) {
	if s.Raw != nil {
		trimmed := bytes.TrimLeft(s.Raw, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return nil, errors.New("statement Raw is not a JSON object")
		}
		return appendCompact(b, s.Raw)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b = append(b, '{')
	n := 0
	member := func(name string) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, name)
		b = append(b, ':')
	}
	if s.Sid != "" {
		member("Sid")
		b = appendString(b, s.Sid)
	}
	member("Effect")
	b = appendString(b, s.Effect)
	if s.Principal != nil {
		member("Principal")
		b = appendPrincipal(b, s.Principal)
	}
	if s.NotPrincipal != nil {
		member("NotPrincipal")
		b = appendPrincipal(b, s.NotPrincipal)
	}
	if s.hasAction() {
		member("Action")
		b = appendList(b, s.Action)
	}
	if s.hasNotAction() {
		member("NotAction")
		b = appendList(b, s.NotAction)
	}
	if s.hasResource() {
		member("Resource")
		b = appendList(b, s.Resource)
	}
	if s.hasNotResource() {
		member("NotResource")
		b = appendList(b, s.NotResource)
	}
	if len(s.Condition) > 0 {
		member("Condition")
		b = appendCondition(b, s.Condition)
	}
	return append(b, '}'), nil
}

// principalTypeOrder is the order principal types are written in.
var principalTypeOrder = map[string]int{"AWS": 1, "Service": 2, "Federated": 3, "CanonicalUser": 4}

func appendPrincipal(b []byte, p *Principal) []byte {
	if p.Wildcard {
		return appendString(b, "*")
	}
	types := make([]string, 0, len(p.Values))
	for t := range p.Values {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		oi, oj := principalTypeOrder[types[i]], principalTypeOrder[types[j]]
		if oi == 0 {
			oi = len(principalTypeOrder) + 1
		}
		if oj == 0 {
			oj = len(principalTypeOrder) + 1
		}
		if oi != oj {
			return oi < oj
		}
		return types[i] < types[j]
	})
	b = append(b, '{')
	for i, t := range types {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t)
		b = append(b, ':')
		b = appendList(b, p.Values[t])
	}
	return append(b, '}')
}

func appendCondition(b []byte, c Condition) []byte {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	b = append(b, '{')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, op)
		b = append(b, ':', '{')
		keys := make([]string, 0, len(c[op]))
		for k := range c[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for j, k := range keys {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendList(b, c[op][k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendList writes one value as a string and anything else as a list.
func appendList(b []byte, vals []string) []byte {
	if len(vals) == 1 {
		return appendString(b, vals[0])
	}
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

func appendCompact(b []byte, raw []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Unlike encoding/json it does not
// escape <, > and &, so ARNs and text read naturally; control characters,
// U+2028, U+2029 and invalid UTF-8 (as U+FFFD) are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
