package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DefaultVersion is the current policy language version.
const DefaultVersion = "2012-10-17"

// NewDocument returns an empty policy with Version "2012-10-17". It
// marshals as {"Version": "2012-10-17", "Statement": []} until statements
// are appended.
func NewDocument() *Document {
	return &Document{Version: DefaultVersion}
}

// Find returns the index of the first statement whose Sid is sid (compared
// exactly) and true, or -1 and false when there is none. Sids are not
// unique in general; see DuplicateSids.
func (d *Document) Find(sid string) (int, bool) {
	if d == nil {
		return -1, false
	}
	for i := range d.Statements {
		if d.Statements[i].Sid == sid {
			return i, true
		}
	}
	return -1, false
}

// Append adds s after the last statement (d must not be nil). s is stored
// as a statement built in code: its Raw is cleared, so Marshal writes it
// from its fields. Once the document has more than one statement,
// "Statement" is written as a list.
func (d *Document) Append(s Statement) {
	s.Raw = nil
	d.Statements = append(d.Statements, s)
}

// Replace puts s at index i in place of the statement there, keeping its
// position. Like Append, it clears s.Raw so s is written from its fields.
// It returns an error when i is out of range.
func (d *Document) Replace(i int, s Statement) error {
	if d == nil || i < 0 || i >= len(d.Statements) {
		return fmt.Errorf("replace statement %d: index out of range", i)
	}
	s.Raw = nil
	d.Statements[i] = s
	return nil
}

// Remove deletes the statement at index i, keeping the order of the
// others. trailguard must only remove statements it owns. It returns an
// error when i is out of range.
func (d *Document) Remove(i int) error {
	if d == nil || i < 0 || i >= len(d.Statements) {
		return fmt.Errorf("remove statement %d: index out of range", i)
	}
	d.Statements = append(d.Statements[:i], d.Statements[i+1:]...)
	return nil
}

// DuplicateSids returns the non-empty Sids used by more than one
// statement, in order of first use; nil when every Sid is unique.
func (d *Document) DuplicateSids() []string {
	if d == nil {
		return nil
	}
	seen := make(map[string]int, len(d.Statements))
	var dups []string
	for _, s := range d.Statements {
		if s.Sid == "" {
			continue
		}
		seen[s.Sid]++
		if seen[s.Sid] == 2 {
			dups = append(dups, s.Sid)
		}
	}
	return dups
}

// Equal reports whether d and o mean the same policy: the same Version and
// Id, the same unknown top-level members (compared as compact JSON, in
// order) and statements that are Equal, in order. How "Statement" is
// shaped (object or list) and whitespace do not matter.
func (d *Document) Equal(o *Document) bool {
	if d == nil || o == nil {
		return d == o
	}
	if d.Version != o.Version || d.ID != o.ID || len(d.Statements) != len(o.Statements) {
		return false
	}
	for i := range d.Statements {
		if !d.Statements[i].Equal(o.Statements[i]) {
			return false
		}
	}
	du, ou := d.unknownFields(), o.unknownFields()
	if len(du) != len(ou) {
		return false
	}
	for i := range du {
		if du[i].name != ou[i].name || !jsonEqual(du[i].raw, ou[i].raw) {
			return false
		}
	}
	return true
}

// unknownFields returns the top-level members other than Version, Id and
// Statement.
func (d *Document) unknownFields() []field {
	var out []field
	for _, f := range d.fields {
		switch f.name {
		case "Version", "Id", "Statement":
		default:
			out = append(out, f)
		}
	}
	return out
}

// jsonEqual compares two JSON texts after compacting them.
func jsonEqual(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// Validate checks what AWS requires of a statement and Parse enforces:
// Effect is "Allow" or "Deny", and Action/NotAction, Resource/NotResource
// and Principal/NotPrincipal are not both present. Errors wrap ErrInvalid.
// Marshal validates statements built in code.
func (s Statement) Validate() error {
	if s.Effect != EffectAllow && s.Effect != EffectDeny {
		return invalidf("Effect must be \"Allow\" or \"Deny\", got %q", s.Effect)
	}
	if s.hasAction() && s.hasNotAction() {
		return invalidf("both Action and NotAction")
	}
	if s.hasResource() && s.hasNotResource() {
		return invalidf("both Resource and NotResource")
	}
	if s.Principal != nil && s.NotPrincipal != nil {
		return invalidf("both Principal and NotPrincipal")
	}
	return nil
}

// An element is present when its Has flag is set (parsed statements) or
// it has values (statements built in code may leave the flag unset).
func (s Statement) hasAction() bool      { return s.HasAction || len(s.Action) > 0 }
func (s Statement) hasNotAction() bool   { return s.HasNotAction || len(s.NotAction) > 0 }
func (s Statement) hasResource() bool    { return s.HasResource || len(s.Resource) > 0 }
func (s Statement) hasNotResource() bool { return s.HasNotRes || len(s.NotResource) > 0 }

// Equal reports whether s and o mean the same statement: equal Sid,
// Effect, principals, action and resource lists (in order; an element is
// present when its Has flag is set or it has values) and conditions. Raw
// and unknown members are not compared.
func (s Statement) Equal(o Statement) bool {
	return s.Sid == o.Sid && s.Effect == o.Effect &&
		principalEqual(s.Principal, o.Principal) &&
		principalEqual(s.NotPrincipal, o.NotPrincipal) &&
		s.hasAction() == o.hasAction() && listEqual(s.Action, o.Action) &&
		s.hasNotAction() == o.hasNotAction() && listEqual(s.NotAction, o.NotAction) &&
		s.hasResource() == o.hasResource() && listEqual(s.Resource, o.Resource) &&
		s.hasNotResource() == o.hasNotResource() && listEqual(s.NotResource, o.NotResource) &&
		conditionEqual(s.Condition, o.Condition)
}

func principalEqual(a, b *Principal) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Wildcard || b.Wildcard {
		return a.Wildcard == b.Wildcard
	}
	if len(a.Values) != len(b.Values) {
		return false
	}
	for k, av := range a.Values {
		bv, ok := b.Values[k]
		if !ok || !listEqual(av, bv) {
			return false
		}
	}
	return true
}

func listEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func conditionEqual(a, b Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for op, ak := range a {
		bk, ok := b[op]
		if !ok || len(ak) != len(bk) {
			return false
		}
		for key, av := range ak {
			bv, ok := bk[key]
			if !ok || !listEqual(av, bv) {
				return false
			}
		}
	}
	return true
}

// AnyPrincipal returns the principal "*" (everyone).
func AnyPrincipal() *Principal { return &Principal{Wildcard: true} }

// AWSPrincipal returns {"AWS": arns}: account ids, account root ARNs, or
// IAM user and role ARNs.
func AWSPrincipal(arns ...string) *Principal {
	return &Principal{Values: map[string][]string{"AWS": arns}}
}

// ServicePrincipal returns {"Service": names}, e.g.
// ServicePrincipal("cloudtrail.amazonaws.com").
func ServicePrincipal(names ...string) *Principal {
	return &Principal{Values: map[string][]string{"Service": names}}
}
