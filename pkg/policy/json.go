package policy

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small one-pass JSON reader. Parse needs what
// encoding/json does not give in one pass: the members of an object in
// order, the exact text of every statement, and number literals as
// written. It accepts exactly the JSON encoding/json accepts (the tests
// and FuzzJSON check this against encoding/json) and decodes strings the
// same way: invalid UTF-8 and unpaired surrogates become U+FFFD.

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a decoded JSON value with its place in the source text.
type jsonValue struct {
	kind jsonKind
	// text is the decoded string, the number literal, or "true"/"false".
	text string
	// elems are an array's elements.
	elems []jsonValue
	// members are an object's members in source order. A repeated name
	// keeps the position of its first occurrence and the value of its
	// last, so reading them gives encoding/json's "last one wins".
	members []jsonMember
	// start and end delimit the value's text in the source.
	start, end int
}

type jsonMember struct {
	name  string
	value jsonValue
}

// kindName names the JSON type for error messages.
func (v *jsonValue) kindName() string {
	switch v.kind {
	case jsonNull:
		return "null"
	case jsonBool:
		return "a boolean"
	case jsonNumber:
		return "a number"
	case jsonString:
		return "a string"
	case jsonArray:
		return "a list"
	}
	return "an object"
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonReader reads one JSON text.
type jsonReader struct {
	data  []byte
	pos   int
	depth int
}

// parseJSON reads data as exactly one JSON value (surrounded by optional
// whitespace).
func parseJSON(data []byte) (jsonValue, error) {
	r := jsonReader{data: data}
	r.skipSpace()
	v, err := r.value()
	if err != nil {
		return jsonValue{}, err
	}
	r.skipSpace()
	if r.pos < len(r.data) {
		return jsonValue{}, r.errorf("invalid character %q after top-level value", r.data[r.pos])
	}
	return v, nil
}

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), r.pos)
}

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *jsonReader) value() (jsonValue, error) {
	if r.pos >= len(r.data) {
		return jsonValue{}, r.errorf("unexpected end of JSON input")
	}
	start := r.pos
	switch c := r.data[r.pos]; {
	case c == '{':
		return r.object()
	case c == '[':
		return r.array()
	case c == '"':
		s, err := r.str()
		return jsonValue{kind: jsonString, text: s, start: start, end: r.pos}, err
	case c == '-' || '0' <= c && c <= '9':
		if err := r.number(); err != nil {
			return jsonValue{}, err
		}
		return jsonValue{kind: jsonNumber, text: string(r.data[start:r.pos]), start: start, end: r.pos}, nil
	case c == 't':
		return r.literal("true", jsonBool)
	case c == 'f':
		return r.literal("false", jsonBool)
	case c == 'n':
		return r.literal("null", jsonNull)
	default:
		return jsonValue{}, r.errorf("invalid character %q looking for beginning of value", c)
	}
}

func (r *jsonReader) literal(lit string, kind jsonKind) (jsonValue, error) {
	start := r.pos
	for i := 0; i < len(lit); i++ {
		if r.pos >= len(r.data) {
			return jsonValue{}, r.errorf("unexpected end of JSON input")
		}
		if r.data[r.pos] != lit[i] {
			return jsonValue{}, r.errorf("invalid character %q in literal %s", r.data[r.pos], lit)
		}
		r.pos++
	}
	return jsonValue{kind: kind, text: lit, start: start, end: r.pos}, nil
}

func (r *jsonReader) enter() error {
	r.depth++
	if r.depth > maxJSONDepth {
		return r.errorf("exceeded max depth")
	}
	return nil
}

func (r *jsonReader) object() (jsonValue, error) {
	v := jsonValue{kind: jsonObject, start: r.pos}
	if err := r.enter(); err != nil {
		return v, err
	}
	r.pos++ // '{'
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		r.depth--
		v.end = r.pos
		return v, nil
	}
	for {
		if r.pos >= len(r.data) {
			return v, r.errorf("unexpected end of JSON input")
		}
		if r.data[r.pos] != '"' {
			return v, r.errorf("invalid character %q looking for beginning of object key string", r.data[r.pos])
		}
		name, err := r.str()
		if err != nil {
			return v, err
		}
		r.skipSpace()
		if r.pos >= len(r.data) {
			return v, r.errorf("unexpected end of JSON input")
		}
		if r.data[r.pos] != ':' {
			return v, r.errorf("invalid character %q after object key", r.data[r.pos])
		}
		r.pos++
		r.skipSpace()
		val, err := r.value()
		if err != nil {
			return v, err
		}
		v.members = addMember(v.members, name, val)
		r.skipSpace()
		if r.pos >= len(r.data) {
			return v, r.errorf("unexpected end of JSON input")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			r.skipSpace()
		case '}':
			r.pos++
			r.depth--
			v.end = r.pos
			return v, nil
		default:
			return v, r.errorf("invalid character %q after object key:value pair", r.data[r.pos])
		}
	}
}

// addMember appends a member, or overwrites the value of an earlier one
// with the same name in place.
func addMember(members []jsonMember, name string, val jsonValue) []jsonMember {
	for i := range members {
		if members[i].name == name {
			members[i].value = val
			return members
		}
	}
	return append(members, jsonMember{name: name, value: val})
}

func (r *jsonReader) array() (jsonValue, error) {
	v := jsonValue{kind: jsonArray, start: r.pos}
	if err := r.enter(); err != nil {
		return v, err
	}
	r.pos++ // '['
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		r.depth--
		v.end = r.pos
		v.elems = []jsonValue{}
		return v, nil
	}
	for {
		elem, err := r.value()
		if err != nil {
			return v, err
		}
		v.elems = append(v.elems, elem)
		r.skipSpace()
		if r.pos >= len(r.data) {
			return v, r.errorf("unexpected end of JSON input")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			r.skipSpace()
		case ']':
			r.pos++
			r.depth--
			v.end = r.pos
			return v, nil
		default:
			return v, r.errorf("invalid character %q after array element", r.data[r.pos])
		}
	}
}

func (r *jsonReader) number() error {
	d := r.data
	if d[r.pos] == '-' {
		r.pos++
	}
	digits := func() int {
		n := 0
		for r.pos < len(d) && '0' <= d[r.pos] && d[r.pos] <= '9' {
			r.pos++
			n++
		}
		return n
	}
	switch {
	case r.pos >= len(d):
		return r.errorf("unexpected end of JSON input")
	case d[r.pos] == '0':
		r.pos++
	case '1' <= d[r.pos] && d[r.pos] <= '9':
		digits()
	default:
		return r.errorf("invalid character %q in numeric literal", d[r.pos])
	}
	if r.pos < len(d) && d[r.pos] == '.' {
		r.pos++
		if digits() == 0 {
			if r.pos >= len(d) {
				return r.errorf("unexpected end of JSON input")
			}
			return r.errorf("invalid character %q after decimal point in numeric literal", d[r.pos])
		}
	}
	if r.pos < len(d) && (d[r.pos] == 'e' || d[r.pos] == 'E') {
		r.pos++
		if r.pos < len(d) && (d[r.pos] == '+' || d[r.pos] == '-') {
			r.pos++
		}
		if digits() == 0 {
			if r.pos >= len(d) {
				return r.errorf("unexpected end of JSON input")
			}
			return r.errorf("invalid character %q in exponent of numeric literal", d[r.pos])
		}
	}
	return nil
}

// str reads a string starting at the opening quote and returns it
// decoded.
func (r *jsonReader) str() (string, error) {
	d := r.data
	r.pos++ // opening quote
	start := r.pos
	// Fast path: no escapes and valid UTF-8.
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			s := string(d[start:r.pos])
			r.pos++
			return s, nil
		case c == '\\':
			return r.strSlow(start)
		case c < 0x20:
			return "", r.errorf("invalid character %q in string literal", c)
		case c < utf8.RuneSelf:
			r.pos++
		default:
			rr, size := utf8.DecodeRune(d[r.pos:])
			if rr == utf8.RuneError && size == 1 {
				return r.strSlow(start)
			}
			r.pos += size
		}
	}
	return "", r.errorf("unexpected end of JSON input")
}

// strSlow decodes a string with escapes or invalid UTF-8 the way
// encoding/json does.
func (r *jsonReader) strSlow(start int) (string, error) {
	d := r.data
	buf := make([]byte, 0, r.pos-start+16)
	buf = append(buf, d[start:r.pos]...)
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			r.pos++
			return string(buf), nil
		case c < 0x20:
			return "", r.errorf("invalid character %q in string literal", c)
		case c == '\\':
			r.pos++
			if r.pos >= len(d) {
				return "", r.errorf("unexpected end of JSON input")
			}
			e := d[r.pos]
			r.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				rr, err := r.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(rr) {
					// Pair it with a following \uXXXX low surrogate if
					// there is one; otherwise U+FFFD.
					if r.pos+6 <= len(d) && d[r.pos] == '\\' && d[r.pos+1] == 'u' {
						save := r.pos
						r.pos += 2
						rr1, err := r.hex4()
						if err == nil {
							if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
								buf = utf8.AppendRune(buf, dec)
								continue
							}
						}
						r.pos = save
					}
					rr = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, rr)
			default:
				r.pos--
				return "", r.errorf("invalid character %q in string escape code", e)
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			r.pos++
		default:
			rr, size := utf8.DecodeRune(d[r.pos:])
			if rr == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, d[r.pos:r.pos+size]...)
			}
			r.pos += size
		}
	}
	return "", r.errorf("unexpected end of JSON input")
}

// hex4 reads the four hex digits of a \u escape.
func (r *jsonReader) hex4() (rune, error) {
	var v rune
	for i := 0; i < 4; i++ {
		if r.pos >= len(r.data) {
			return 0, r.errorf("unexpected end of JSON input")
		}
		c := r.data[r.pos]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, r.errorf("invalid character %q in \\u hexadecimal character escape", c)
		}
		v = v*16 + rune(c)
		r.pos++
	}
	return v, nil
}
