package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrTooLarge is wrapped by the error Parse returns for a document larger
// than MaxSize bytes, and by MarshalFit when no rendering of the document
// fits.
var ErrTooLarge = errors.New("key policy exceeds 32768 bytes")

// ErrInvalid is wrapped by every error Parse and Statement.Validate return
// for a document or statement that is not a valid key policy (not JSON, not
// an object, a wrong type, a missing or bad Effect, conflicting elements).
// Test for it with errors.Is.
var ErrInvalid = errors.New("invalid key policy")

// invalidError is a message about an invalid policy that matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// The policy element names. AWS treats them case-sensitively; Parse rejects
// a member that differs from one of them only in case rather than silently
// ignoring it.
var (
	documentElements  = []string{"Version", "Id", "Statement"}
	statementElements = []string{
		"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
		"Resource", "NotResource", "Condition",
	}
)

// Parse parses a key policy document. It accepts every valid shape of a
// key policy: "Statement" as a single object or a list; a string or a list
// of strings for Action, NotAction, Resource, NotResource and principal
// values; "Principal": "*"; NotPrincipal; any condition operator with
// string, boolean or number values (or lists of them); and unknown members
// at the top level and in statements, which Marshal keeps.
//
// Parse returns an error wrapping ErrTooLarge for input over MaxSize bytes
// and an error wrapping ErrInvalid for anything else that is not a key
// policy: not JSON, not an object, a wrong type, a statement that is not an
// object, a missing Effect or one other than "Allow"/"Deny", both Action
// and NotAction (or both Resource and NotResource, or both Principal and
// NotPrincipal), a document without a "Statement" member ("not a key
// policy: no Statement"; "Statement": [] is accepted). It never panics.
//
// Duplicate Sids are kept (see DuplicateSids). For duplicate JSON member
// names the last one wins, as in encoding/json.
//
// A statement without Action/NotAction, Resource/NotResource or
// Principal/NotPrincipal is accepted (AWS rejects such a key policy, so it
// should not occur); Evaluate treats the missing element conservatively.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("parse key policy: %d bytes: %w", len(data), ErrTooLarge)
	}
	d, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("parse key policy: %w", err)
	}
	return d, nil
}

func parseDocument(data []byte) (*Document, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, invalidf("not valid JSON: %v", err)
	}
	if root.kind != jsonObject {
		return nil, invalidf("not a JSON object (got %s)", root.kindName())
	}
	// One copy of the input backs every kept raw text; each slice is
	// capped so appending to one cannot overwrite the next.
	src := bytes.Clone(data)
	raw := func(v *jsonValue) json.RawMessage { return src[v.start:v.end:v.end] }

	d := &Document{noStatement: true, fields: make([]field, 0, len(root.members))}
	for i := range root.members {
		m := &root.members[i]
		if err := checkElementName(m.name, documentElements); err != nil {
			return nil, err
		}
		d.fields = append(d.fields, field{name: m.name, raw: raw(&m.value)})
		switch m.name {
		case "Version":
			if m.value.kind != jsonString {
				return nil, invalidf("Version must be a string, got %s", m.value.kindName())
			}
			d.Version = m.value.text
		case "Id":
			if m.value.kind != jsonString {
				return nil, invalidf("Id must be a string, got %s", m.value.kindName())
			}
			d.ID = m.value.text
		case "Statement":
			d.noStatement = false
			if err := d.parseStatements(&m.value, raw); err != nil {
				return nil, err
			}
		}
	}
	if d.noStatement {
		// A bare statement, a CloudFormation resource or "{}" would
		// otherwise read as a policy that allows nothing.
		return nil, invalidf("not a key policy: no Statement")
	}
	return d, nil
}

// checkElementName rejects a member that matches a known element name only
// when case is ignored: AWS would not read it as that element, and
// ignoring it could make a statement look broader or narrower than it is.
func checkElementName(name string, known []string) error {
	for _, k := range known {
		if len(name) == len(k) && name != k && strings.EqualFold(name, k) {
			return invalidf("member %q: element names are case-sensitive, want %q", name, k)
		}
	}
	return nil
}

func (d *Document) parseStatements(v *jsonValue, raw func(*jsonValue) json.RawMessage) error {
	var list []jsonValue
	switch v.kind {
	case jsonObject:
		d.single = true
		list = []jsonValue{*v}
	case jsonArray:
		d.single = false
		list = v.elems
	default:
		return invalidf("Statement must be an object or a list of objects, got %s", v.kindName())
	}
	d.Statements = make([]Statement, len(list))
	for i := range list {
		s := &d.Statements[i]
		if err := parseStatement(&list[i], s); err != nil {
			if s.Sid != "" {
				return fmt.Errorf("statement %d (Sid %q): %w", i, s.Sid, err)
			}
			return fmt.Errorf("statement %d: %w", i, err)
		}
		s.Raw = raw(&list[i])
	}
	return nil
}

// parseStatement fills s from one statement. On error s carries at least
// the Sid when it could be read, for the message.
func parseStatement(v *jsonValue, s *Statement) error {
	if v.kind != jsonObject {
		return invalidf("statement must be an object, got %s", v.kindName())
	}
	for i := range v.members {
		if m := &v.members[i]; m.name == "Sid" {
			if m.value.kind != jsonString {
				return invalidf("Sid must be a string, got %s", m.value.kindName())
			}
			s.Sid = m.value.text
		}
	}
	hasEffect := false
	var err error
	for i := range v.members {
		m := &v.members[i]
		if err := checkElementName(m.name, statementElements); err != nil {
			return err
		}
		val := &m.value
		switch m.name {
		case "Effect":
			if val.kind != jsonString {
				return invalidf("Effect must be a string, got %s", val.kindName())
			}
			s.Effect, hasEffect = val.text, true
		case "Principal":
			s.Principal, err = parsePrincipal(m.name, val)
		case "NotPrincipal":
			s.NotPrincipal, err = parsePrincipal(m.name, val)
		case "Action":
			s.HasAction = true
			s.Action, err = stringList(m.name, val)
		case "NotAction":
			s.HasNotAction = true
			s.NotAction, err = stringList(m.name, val)
		case "Resource":
			s.HasResource = true
			s.Resource, err = stringList(m.name, val)
		case "NotResource":
			s.HasNotRes = true
			s.NotResource, err = stringList(m.name, val)
		case "Condition":
			s.Condition, err = parseCondition(val)
		}
		if err != nil {
			return err
		}
	}
	if !hasEffect {
		return invalidf("missing Effect")
	}
	return s.Validate()
}

func parsePrincipal(name string, v *jsonValue) (*Principal, error) {
	switch v.kind {
	case jsonString:
		if v.text != "*" {
			return nil, invalidf("%s: a string principal must be \"*\", got %q", name, v.text)
		}
		return &Principal{Wildcard: true}, nil
	case jsonObject:
		p := &Principal{Values: make(map[string][]string, len(v.members))}
		for i := range v.members {
			m := &v.members[i]
			list, err := stringList(name+"."+m.name, &m.value)
			if err != nil {
				return nil, err
			}
			p.Values[m.name] = list
		}
		return p, nil
	}
	return nil, invalidf("%s must be \"*\" or an object, got %s", name, v.kindName())
}

// stringList reads a string or a list of strings.
func stringList(name string, v *jsonValue) ([]string, error) {
	switch v.kind {
	case jsonString:
		return []string{v.text}, nil
	case jsonArray:
		out := make([]string, len(v.elems))
		for i := range v.elems {
			e := &v.elems[i]
			if e.kind != jsonString {
				return nil, invalidf("%s[%d] must be a string, got %s", name, i, e.kindName())
			}
			out[i] = e.text
		}
		return out, nil
	}
	return nil, invalidf("%s must be a string or a list of strings, got %s", name, v.kindName())
}

func parseCondition(v *jsonValue) (Condition, error) {
	if v.kind != jsonObject {
		return nil, invalidf("Condition must be an object, got %s", v.kindName())
	}
	c := make(Condition, len(v.members))
	for i := range v.members {
		op := &v.members[i]
		if op.value.kind != jsonObject {
			return nil, invalidf("Condition.%s must be an object, got %s", op.name, op.value.kindName())
		}
		block := make(map[string][]string, len(op.value.members))
		for j := range op.value.members {
			key := &op.value.members[j]
			vals, err := conditionValues(&key.value)
			if err != nil {
				return nil, invalidf("Condition.%s.%s: %v", op.name, key.name, err)
			}
			block[key.name] = vals
		}
		c[op.name] = block
	}
	return c, nil
}

// conditionValues reads a condition value: a string, boolean or number, or
// a list of them, each rendered as a string (a number keeps its literal
// text).
func conditionValues(v *jsonValue) ([]string, error) {
	if v.kind == jsonArray {
		out := make([]string, len(v.elems))
		for i := range v.elems {
			e := &v.elems[i]
			if !isScalar(e) {
				return nil, fmt.Errorf("value %d must be a string, boolean or number, got %s", i, e.kindName())
			}
			out[i] = e.text
		}
		return out, nil
	}
	if !isScalar(v) {
		return nil, fmt.Errorf("value must be a string, boolean or number (or a list of them), got %s", v.kindName())
	}
	return []string{v.text}, nil
}

func isScalar(v *jsonValue) bool {
	return v.kind == jsonString || v.kind == jsonBool || v.kind == jsonNumber
}
