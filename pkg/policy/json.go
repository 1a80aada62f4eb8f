package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// This file reads a JSON text into a small tree with jsontext, the token
// layer of github.com/go-json-experiment/json (the basis of encoding/json
// v2). Parse needs what encoding/json does not give in one pass: the
// members of an object in order, the exact text of every statement, and
// number literals as written. The decoder is set to accept exactly the JSON
// encoding/json accepts (the tests and FuzzJSON check this against
// encoding/json) and strings decode the same way: invalid UTF-8 and
// unpaired surrogates become U+FFFD; a repeated member name is allowed and
// the last value wins.

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

// decodeOptions make jsontext accept what encoding/json accepts: duplicate
// member names and invalid UTF-8 in strings (decoded as U+FFFD). The
// nesting limit, 10000, is the same in both.
var decodeOptions = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
}

// parseJSON reads data as exactly one JSON value (surrounded by optional
// whitespace).
func parseJSON(data []byte) (jsonValue, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), decodeOptions...)
	v, err := readValue(dec)
	if err != nil {
		return jsonValue{}, syntaxError(err)
	}
	// jsontext reads a stream of values; a key policy is exactly one.
	switch _, err := dec.ReadToken(); {
	case err == nil:
		return jsonValue{}, fmt.Errorf("data after top-level value at offset %d", v.end)
	case !errors.Is(err, io.EOF):
		return jsonValue{}, err
	}
	return v, nil
}

// syntaxError says "unexpected end of JSON input" (encoding/json's words,
// which callers and tests look for) where jsontext says "unexpected EOF".
func syntaxError(err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	var serr *jsontext.SyntacticError
	if errors.As(err, &serr) && serr.JSONPointer != "" {
		return fmt.Errorf("unexpected end of JSON input within %q after offset %d", serr.JSONPointer, serr.ByteOffset)
	}
	return errors.New("unexpected end of JSON input")
}

// readValue reads the next value from dec.
func readValue(dec *jsontext.Decoder) (jsonValue, error) {
	switch dec.PeekKind() {
	case jsontext.KindBeginObject:
		return readObject(dec)
	case jsontext.KindBeginArray:
		return readArray(dec)
	}
	// A scalar (or an error, which ReadValue returns): its raw text gives
	// both its span and its number literal as written.
	raw, err := dec.ReadValue()
	if err != nil {
		return jsonValue{}, err
	}
	end := int(dec.InputOffset())
	v := jsonValue{start: end - len(raw), end: end}
	switch raw.Kind() {
	case jsontext.KindNull:
		v.kind = jsonNull
	case jsontext.KindTrue, jsontext.KindFalse:
		v.kind, v.text = jsonBool, string(raw)
	case jsontext.KindNumber:
		v.kind, v.text = jsonNumber, string(raw)
	default: // jsontext.KindString
		// The decoder has checked the string's syntax, so AppendUnquote
		// can only report invalid UTF-8, which it has already replaced
		// with U+FFFD, as encoding/json does.
		s, _ := jsontext.AppendUnquote(nil, raw)
		v.kind, v.text = jsonString, string(s)
	}
	return v, nil
}

func readObject(dec *jsontext.Decoder) (jsonValue, error) {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return jsonValue{}, err
	}
	v := jsonValue{kind: jsonObject, start: int(dec.InputOffset()) - 1}
	for dec.PeekKind() != jsontext.KindEndObject {
		tok, err := dec.ReadToken()
		if err != nil {
			return jsonValue{}, err
		}
		name := tok.String() // before the next read voids tok
		val, err := readValue(dec)
		if err != nil {
			return jsonValue{}, err
		}
		v.members = addMember(v.members, name, val)
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return jsonValue{}, err
	}
	v.end = int(dec.InputOffset())
	return v, nil
}

func readArray(dec *jsontext.Decoder) (jsonValue, error) {
	if _, err := dec.ReadToken(); err != nil { // '['
		return jsonValue{}, err
	}
	v := jsonValue{kind: jsonArray, start: int(dec.InputOffset()) - 1, elems: []jsonValue{}}
	for dec.PeekKind() != jsontext.KindEndArray {
		elem, err := readValue(dec)
		if err != nil {
			return jsonValue{}, err
		}
		v.elems = append(v.elems, elem)
	}
	if _, err := dec.ReadToken(); err != nil { // ']'
		return jsonValue{}, err
	}
	v.end = int(dec.InputOffset())
	return v, nil
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
