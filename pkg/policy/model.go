package policy

import "encoding/json"

// MaxSize is the largest key policy KMS accepts, in bytes.
const MaxSize = 32768

// Document is a parsed key policy. Statements keep their original JSON so
// statements trailguard does not own are written back unchanged.
type Document struct {
	// Version is the policy language version ("2012-10-17"), may be empty.
	Version string
	// ID is the optional top-level "Id".
	ID string
	// Statements in document order.
	Statements []Statement

	// implementation-private fields (raw top-level members in order,
	// whether Statement was a single object, ...) live here.
	fields []field
	// single is true when "Statement" was a single object; Marshal keeps
	// that shape while there is exactly one statement.
	single bool
	// noStatement is true when the parsed input had no "Statement"
	// member; Marshal then adds one only if statements were added.
	noStatement bool
}

// The two statement effects, spelled as AWS requires.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// field is one top-level member of the document, kept in input order.
type field struct {
	name string
	raw  json.RawMessage
}

// Statement is one policy statement. Value lists are normalised (a JSON
// string becomes a one-element slice); the Has* flags tell an absent
// element from an empty one.
type Statement struct {
	Sid          string
	Effect       string // "Allow" or "Deny" exactly as written
	Principal    *Principal
	NotPrincipal *Principal
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	HasAction    bool
	HasNotAction bool
	HasResource  bool
	HasNotRes    bool
	// Condition maps operator (as written, e.g. "ForAnyValue:StringLike")
	// to condition key (as written) to values (each rendered as a string:
	// JSON booleans and numbers become their literal text).
	Condition Condition

	// Raw is the statement exactly as read (nil for statements built in
	// code). Marshal writes Raw back, compacted, whenever it is set, so a
	// parsed statement keeps its unknown members; changing the fields of a
	// parsed statement therefore has no effect on the output unless Raw
	// is cleared (Append and Replace clear it).
	Raw json.RawMessage
}

// Condition is a statement's condition block: operator -> key -> values.
type Condition map[string]map[string][]string

// Principal is a policy principal. Wildcard is true for "Principal": "*".
// Otherwise the map is keyed by principal type ("AWS", "Service",
// "Federated", "CanonicalUser") with values normalised to slices.
type Principal struct {
	Wildcard bool
	Values   map[string][]string
}
