package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// encodeOptions write JSON without insignificant whitespace and copy raw
// values (the statements and members trailguard does not own) through
// jsontext without changing them: their strings keep their escapes
// (PreserveRawStrings), numbers their literal text (jsontext never
// canonicalizes raw numbers unless asked), objects their member order and
// repeated names (AllowDuplicateNames), and invalid UTF-8 inside them is
// copied, not rejected (AllowInvalidUTF8). A string written from a field
// is quoted by jsontext: <, > and & are not escaped, so ARNs and text read
// naturally; invalid UTF-8 becomes U+FFFD.
var encodeOptions = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
	jsontext.PreserveRawStrings(true),
}

// indentOptions are encodeOptions with every member and element on its own
// line, indented by two spaces (the layout of json.Indent with "  ").
var indentOptions = append(slices.Clip(encodeOptions), jsontext.WithIndent("  "))

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
	return d.encode(indentOptions)
}

// MarshalCompact is Marshal without insignificant whitespace.
func (d *Document) MarshalCompact() ([]byte, error) {
	return d.encode(encodeOptions)
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
	indented := jsontext.Value(bytes.Clone(c))
	if err := indented.Indent(jsontext.WithIndent("  ")); err != nil {
		return nil, fmt.Errorf("marshal key policy: %w", err)
	}
	if len(indented) <= MaxSize {
		return indented, nil
	}
	return c, nil
}

// encoder writes one JSON value with jsontext. The first error sticks:
// later writes do nothing and finish returns it.
type encoder struct {
	buf bytes.Buffer
	enc *jsontext.Encoder
	err error
}

func newEncoder(opts []jsontext.Options, size int) *encoder {
	e := &encoder{}
	e.buf.Grow(size)
	e.enc = jsontext.NewEncoder(&e.buf, opts...)
	return e
}

func (e *encoder) token(t jsontext.Token) {
	if e.err == nil {
		e.err = e.enc.WriteToken(t)
	}
}

func (e *encoder) str(s string) { e.token(jsontext.String(s)) }

// raw writes a value read from the input; an error is returned (and kept).
func (e *encoder) raw(v []byte) error {
	if e.err == nil {
		e.err = e.enc.WriteValue(v)
	}
	return e.err
}

// finish returns the text written, without the newline jsontext ends a
// top-level value with.
func (e *encoder) finish() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'}), nil
}

func (d *Document) encode(opts []jsontext.Options) ([]byte, error) {
	if d == nil {
		return nil, errors.New("marshal key policy: nil document")
	}
	e := newEncoder(opts, 256+160*len(d.Statements))
	has := func(name string) bool {
		for _, f := range d.fields {
			if f.name == name {
				return true
			}
		}
		return false
	}
	e.token(jsontext.BeginObject)
	if d.Version != "" && !has("Version") {
		e.str("Version")
		e.str(d.Version)
	}
	if d.ID != "" && !has("Id") {
		e.str("Id")
		e.str(d.ID)
	}
	wroteStatement := false
	for _, f := range d.fields {
		e.str(f.name)
		switch f.name {
		case "Version":
			e.str(d.Version)
		case "Id":
			e.str(d.ID)
		case "Statement":
			wroteStatement = true
			if err := d.encodeStatements(e); err != nil {
				return nil, err
			}
		default:
			if err := e.raw(f.raw); err != nil {
				return nil, fmt.Errorf("marshal key policy: member %q: %w", f.name, err)
			}
		}
	}
	if !wroteStatement && (!d.noStatement || len(d.Statements) > 0) {
		e.str("Statement")
		if err := d.encodeStatements(e); err != nil {
			return nil, err
		}
	}
	e.token(jsontext.EndObject)
	out, err := e.finish()
	if err != nil {
		return nil, fmt.Errorf("marshal key policy: %w", err)
	}
	return out, nil
}

func (d *Document) encodeStatements(e *encoder) error {
	list := !(d.single && len(d.Statements) == 1)
	if list {
		e.token(jsontext.BeginArray)
	}
	for i := range d.Statements {
		if err := d.Statements[i].encode(e); err != nil {
			return fmt.Errorf("marshal key policy: statement %d: %w", i, err)
		}
	}
	if list {
		e.token(jsontext.EndArray)
	}
	return nil
}

// Marshal writes the statement as compact JSON: its Raw JSON when it was
// parsed, else its fields in the order Sid, Effect, Principal/NotPrincipal,
// Action/NotAction, Resource/NotResource, Condition (a one-element list is
// written as a string; condition operators and keys are sorted). A
// statement built in code must pass Validate.
func (s Statement) Marshal() ([]byte, error) {
	e := newEncoder(encodeOptions, 256)
	if err := s.encode(e); err != nil {
		return nil, err
	}
	return e.finish()
}

func (s Statement) encode(e *encoder) error {
	if s.Raw != nil {
		if jsontext.Value(s.Raw).Kind() != jsontext.KindBeginObject {
			return errors.New("statement Raw is not a JSON object")
		}
		return e.raw(s.Raw)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	e.token(jsontext.BeginObject)
	if s.Sid != "" {
		e.str("Sid")
		e.str(s.Sid)
	}
	e.str("Effect")
	e.str(s.Effect)
	if s.Principal != nil {
		e.str("Principal")
		encodePrincipal(e, s.Principal)
	}
	if s.NotPrincipal != nil {
		e.str("NotPrincipal")
		encodePrincipal(e, s.NotPrincipal)
	}
	if s.hasAction() {
		e.str("Action")
		encodeList(e, s.Action)
	}
	if s.hasNotAction() {
		e.str("NotAction")
		encodeList(e, s.NotAction)
	}
	if s.hasResource() {
		e.str("Resource")
		encodeList(e, s.Resource)
	}
	if s.hasNotResource() {
		e.str("NotResource")
		encodeList(e, s.NotResource)
	}
	if len(s.Condition) > 0 {
		e.str("Condition")
		encodeCondition(e, s.Condition)
	}
	e.token(jsontext.EndObject)
	return e.err
}

// principalTypeOrder is the order principal types are written in; other
// types follow, sorted.
var principalTypeOrder = map[string]int{"AWS": 1, "Service": 2, "Federated": 3, "CanonicalUser": 4}

func principalRank(t string) int {
	if r, ok := principalTypeOrder[t]; ok {
		return r
	}
	return len(principalTypeOrder) + 1
}

func encodePrincipal(e *encoder, p *Principal) {
	if p.Wildcard {
		e.str("*")
		return
	}
	types := make([]string, 0, len(p.Values))
	for t := range p.Values {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		if ra, rb := principalRank(a), principalRank(b); ra != rb {
			return ra - rb
		}
		return cmp.Compare(a, b)
	})
	e.token(jsontext.BeginObject)
	for _, t := range types {
		e.str(t)
		encodeList(e, p.Values[t])
	}
	e.token(jsontext.EndObject)
}

func encodeCondition(e *encoder, c Condition) {
	e.token(jsontext.BeginObject)
	for _, op := range sortedKeys(c) {
		e.str(op)
		e.token(jsontext.BeginObject)
		for _, k := range sortedKeys(c[op]) {
			e.str(k)
			encodeList(e, c[op][k])
		}
		e.token(jsontext.EndObject)
	}
	e.token(jsontext.EndObject)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// encodeList writes one value as a string and anything else as a list.
func encodeList(e *encoder, vals []string) {
	if len(vals) == 1 {
		e.str(vals[0])
		return
	}
	e.token(jsontext.BeginArray)
	for _, v := range vals {
		e.str(v)
	}
	e.token(jsontext.EndArray)
}
