package compliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trailguard/trailguard/pkg/policy"
)

// The Sids of the statements trailguard owns in a key policy. Merge finds
// its statements by these Sids and never edits any other statement.
const (
	// SidCloudTrailEncrypt lets CloudTrail GenerateDataKey* for the
	// granted trails.
	SidCloudTrailEncrypt = "TrailguardCloudTrailEncrypt"
	// SidCloudTrailDescribe lets CloudTrail DescribeKey for the granted
	// trails.
	SidCloudTrailDescribe = "TrailguardCloudTrailDescribe"
	// SidLogDecryptAccounts lets the principals of the reader accounts
	// decrypt the granted accounts' log files.
	SidLogDecryptAccounts = "TrailguardLogDecryptAccounts"
	// SidLogDecryptReaders lets explicit reader ARNs decrypt log files.
	SidLogDecryptReaders = "TrailguardLogDecryptReaders"
	// SidCloudTrailBucketKeyDecrypt lets CloudTrail kms:Decrypt for the
	// granted trails whose bucket uses an S3 Bucket Key.
	SidCloudTrailBucketKeyDecrypt = "TrailguardCloudTrailBucketKeyDecrypt"
)

// OwnSids lists trailguard's statement Sids in the order Merge appends
// them.
func OwnSids() []string {
	return []string{SidCloudTrailEncrypt, SidCloudTrailDescribe, SidLogDecryptAccounts, SidLogDecryptReaders, SidCloudTrailBucketKeyDecrypt}
}

// IsOwnSid reports whether sid is one of trailguard's statement Sids.
func IsOwnSid(sid string) bool { return slices.Contains(OwnSids(), sid) }

// ErrTooLarge is returned (wrapped) by Merge when the merged policy would
// exceed policy.MaxSize bytes even written compactly (finding
// key-policy-too-large).
var ErrTooLarge = errors.New("merged key policy exceeds 32768 bytes")

// ErrDenied is returned (wrapped) by Merge when an explicit Deny in the
// policy blocks an action CloudTrail or a reader needs (finding
// key-policy-denies-cloudtrail): adding statements cannot fix it.
var ErrDenied = errors.New("an explicit Deny in the key policy blocks CloudTrail")

// ErrInvalidPolicy is returned (wrapped, with the parser's error) by Merge
// when the policy document does not parse: trailguard never merges into a
// document it cannot read.
var ErrInvalidPolicy = errors.New("key policy is not a valid policy document")

// ErrInvalidGrant is returned (wrapped) by Merge for a grant it refuses to
// write: a trail that is not a CloudTrail trail ARN, an account that is not
// a 12-digit id or owns none of the trails, a reader that is not an IAM
// principal ARN, a wildcard anywhere, or mixed partitions. It keeps Merge
// from ever granting more than the trails' accounts and trails.
var ErrInvalidGrant = errors.New("invalid key policy grant")

// Merge adds g to the key policy document policyJSON under trailguard's own
// Sids and returns the new document and whether it changed.
//
// Only the statements g needs are written: the encrypt and describe
// statements when g has trails, the account decrypt statement when it has
// reader accounts, the reader decrypt statement when it has readers. An
// existing trailguard statement is rebuilt with the sorted, de-duplicated
// union of the values it had and the values g needs (it never shrinks);
// missing ones are appended in OwnSids order. A statement with one of
// trailguard's Sids that is not an Allow is refused (ErrInvalidPolicy):
// trailguard never turns someone's Deny into an Allow. Every other
// statement is kept as read, in its place. When nothing changes, policyJSON is returned as is,
// so Merge(Merge(p, g), g) == Merge(p, g).
//
// The result is written indented, or compact when the indented form would
// exceed policy.MaxSize; ErrTooLarge when even the compact form does.
// After merging, the document is parsed again and the requests of the
// grant (see Needs) are evaluated: ErrDenied when an explicit Deny
// (certain or uncertain) blocks one. Errors wrap ErrInvalidPolicy,
// ErrInvalidGrant, ErrTooLarge or ErrDenied.
func Merge(policyJSON string, g Grant) (merged string, changed bool, err error) {
	g, err = normalizeGrant(g)
	if err != nil {
		return "", false, fmt.Errorf("merge key policy: %w", err)
	}
	doc, err := policy.Parse([]byte(policyJSON))
	if err != nil {
		return "", false, fmt.Errorf("merge key policy: %w: %w", ErrInvalidPolicy, err)
	}
	return mergeDoc(doc, policyJSON, g, true)
}

// mergeDoc is Merge on doc, parsed from policyJSON, with a normalized
// grant. It modifies doc. Without verify it skips re-parsing the result
// and the Deny check (for callers that only need the size and have
// evaluated the policy already).
func mergeDoc(doc *policy.Document, policyJSON string, g Grant, verify bool) (merged string, changed bool, err error) {
	for _, want := range wantedStatements(g) {
		idx, found := doc.Find(want.Sid)
		if !found {
			doc.Append(want.build(nil))
			changed = true
			continue
		}
		if doc.Statements[idx].Effect != policy.EffectAllow {
			return "", false, fmt.Errorf("merge key policy: %w: statement %s carries trailguard's Sid but is a %q, not an Allow; trailguard does not edit it",
				ErrInvalidPolicy, want.Sid, doc.Statements[idx].Effect)
		}
		if why := notOwnShaped(doc.Statements[idx], want.principalType); why != "" {
			return "", false, fmt.Errorf("merge key policy: %w: statement %s carries trailguard's Sid but %s; trailguard does not edit it, since rebuilding it could take that access away",
				ErrInvalidPolicy, want.Sid, why)
		}
		built := want.build(&doc.Statements[idx])
		if !sameStatement(doc.Statements[idx], built) {
			if err := doc.Replace(idx, built); err != nil {
				return "", false, fmt.Errorf("merge key policy: %w", err)
			}
			changed = true
		}
	}
	merged = policyJSON
	if changed {
		out, err := doc.MarshalFit()
		if errors.Is(err, policy.ErrTooLarge) {
			return "", false, fmt.Errorf("merge key policy: %w: %w", ErrTooLarge, err)
		}
		if err != nil {
			return "", false, fmt.Errorf("merge key policy: write: %w", err)
		}
		merged = string(out)
		if !verify {
			return merged, changed, nil
		}
		if doc, err = policy.Parse(out); err != nil {
			// Never expected: Marshal writes what Parse reads.
			return "", false, fmt.Errorf("merge key policy: %w: the merged document does not parse: %w", ErrInvalidPolicy, err)
		}
	}
	if denies := deniedChecks(doc, grantChecks(g)); len(denies) > 0 {
		return "", false, fmt.Errorf("merge key policy: %w: %s", ErrDenied, strings.Join(denies, "; "))
	}
	return merged, changed, nil
}

// deniedChecks evaluates the checks and describes every explicit Deny.
func deniedChecks(doc *policy.Document, checks []check) []string {
	var out []string
	for _, c := range checks {
		d := doc.Evaluate(c.req)
		if d.Effect != policy.ExplicitDeny {
			continue
		}
		msg := fmt.Sprintf("statement %s denies %s to %s for trail %s", d.Statement, c.what, c.who, c.trail)
		if d.Uncertain {
			msg += uncertainNote(d.Reason)
		}
		out = append(out, msg)
	}
	return out
}

// normalizeGrant validates g, fills an empty Partition from the trails and
// returns a copy with sorted, de-duplicated lists.
func normalizeGrant(g Grant) (Grant, error) {
	bad := func(format string, args ...any) (Grant, error) {
		return Grant{}, fmt.Errorf("%w: %s", ErrInvalidGrant, fmt.Sprintf(format, args...))
	}
	g.TrailARNs = sortedSet(g.TrailARNs)
	g.Accounts = sortedSet(g.Accounts)
	g.ReaderAccounts = sortedSet(g.ReaderAccounts)
	g.Readers = sortedSet(g.Readers)
	g.BucketKeyTrails = sortedSet(g.BucketKeyTrails)
	for _, t := range g.BucketKeyTrails {
		if !slices.Contains(g.TrailARNs, t) {
			return bad("bucket-key trail %q is not one of the trails", t)
		}
	}
	if g.Partition != "" && !validPartition(g.Partition) {
		return bad("partition %q", g.Partition)
	}
	trailAccounts := map[string]bool{}
	for _, t := range g.TrailARNs {
		a, ok := parseTrailARN(t)
		if !ok {
			return bad("%q is not a CloudTrail trail ARN", t)
		}
		if g.Partition == "" {
			g.Partition = a.Partition
		}
		if a.Partition != g.Partition {
			return bad("trail %s is not in partition %s", t, g.Partition)
		}
		trailAccounts[a.Account] = true
	}
	for _, a := range g.Accounts {
		if !trailAccounts[a] {
			return bad("account %q owns none of the trails", a)
		}
	}
	g.Accounts = sortedSet(keys(trailAccounts))
	for _, a := range g.ReaderAccounts {
		if !validAccount(a) {
			return bad("reader account %q is not a 12-digit account id", a)
		}
	}
	for _, r := range g.Readers {
		a, ok := parsePrincipalARN(r)
		if !ok {
			return bad("reader %q is not an IAM principal ARN", r)
		}
		if g.Partition == "" {
			g.Partition = a.Partition
		}
		if a.Partition != g.Partition {
			return bad("reader %s is not in partition %s", r, g.Partition)
		}
	}
	if len(g.TrailARNs) == 0 && (len(g.ReaderAccounts) > 0 || len(g.Readers) > 0) {
		return bad("readers without trails")
	}
	return g, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// wanted is one trailguard statement a grant needs; build returns it with
// the union of the values of the existing statement (nil when absent).
type wanted struct {
	Sid           string
	principalType string // "Service" or "AWS"
	build         func(existing *policy.Statement) policy.Statement
}

// decryptActions are the only actions trailguard's statements grant to
// AWS principals.
var decryptActions = []string{"kms:decrypt", "kms:reencryptfrom"}

// notOwnShaped says why an existing statement that carries one of
// trailguard's Sids is not in the shape trailguard writes (empty when it
// is), so that rebuilding it could remove access someone relies on: a
// NotPrincipal, NotAction or NotResource; a principal of another type (or
// a service other than CloudTrail); for AWS principals, any action beyond
// kms:Decrypt and kms:ReEncryptFrom; a resource other than "*". Such a
// statement is never edited: Merge refuses, and the finding becomes an
// alert. (Someone who puts an admin grant under trailguard's Sid must not
// be locked out by the next merge.)
func notOwnShaped(st policy.Statement, principalType string) string {
	switch {
	case st.NotPrincipal != nil || st.HasNotAction || st.HasNotRes:
		return "uses NotPrincipal, NotAction or NotResource"
	case st.Principal == nil || st.Principal.Wildcard && principalType != "AWS":
		return "has a principal trailguard does not write there"
	}
	for typ, vals := range st.Principal.Values {
		if !strings.EqualFold(typ, principalType) {
			return fmt.Sprintf("names %s principals", typ)
		}
		if principalType == "Service" {
			for _, v := range vals {
				if !strings.EqualFold(v, CloudTrailService) {
					return fmt.Sprintf("names the service principal %s", v)
				}
			}
		}
	}
	if principalType == "AWS" {
		for _, a := range st.Action {
			if !slices.Contains(decryptActions, strings.ToLower(a)) {
				return fmt.Sprintf("grants %s to AWS principals", a)
			}
		}
	}
	for _, r := range st.Resource {
		if r != "*" {
			return fmt.Sprintf("names the resource %s", r)
		}
	}
	return ""
}

func wantedStatements(g Grant) []wanted {
	var out []wanted
	patterns := make([]string, 0, len(g.Accounts))
	for _, a := range g.Accounts {
		patterns = append(patterns, trailPattern(g.Partition, a))
	}
	if len(g.TrailARNs) > 0 {
		out = append(out,
			wanted{SidCloudTrailEncrypt, "Service", func(ex *policy.Statement) policy.Statement {
				cond := policy.Condition{"StringLike": {ctxTrailARN: sortedSet(condValues(ex, "StringLike", ctxTrailARN), patterns)}}
				op, arns := sourceARNs(ex, g.TrailARNs)
				if cond[op] == nil {
					cond[op] = map[string][]string{}
				}
				cond[op][ctxSourceARN] = arns
				return ownStatement(SidCloudTrailEncrypt, "Service", []string{CloudTrailService}, []string{"kms:GenerateDataKey*"}, cond)
			}},
			wanted{SidCloudTrailDescribe, "Service", func(ex *policy.Statement) policy.Statement {
				op, arns := sourceARNs(ex, g.TrailARNs)
				return ownStatement(SidCloudTrailDescribe, "Service", []string{CloudTrailService}, []string{"kms:DescribeKey"}, policy.Condition{
					op: {ctxSourceARN: arns},
				})
			}},
		)
	}
	if len(g.ReaderAccounts) > 0 {
		out = append(out, wanted{SidLogDecryptAccounts, "AWS", func(ex *policy.Statement) policy.Statement {
			return ownStatement(SidLogDecryptAccounts, "AWS", []string{"*"}, []string{"kms:Decrypt", "kms:ReEncryptFrom"}, policy.Condition{
				"StringEquals": {ctxCallerAcct: sortedSet(condValues(ex, "StringEquals", ctxCallerAcct), g.ReaderAccounts)},
				"StringLike":   {ctxTrailARN: sortedSet(condValues(ex, "StringLike", ctxTrailARN), patterns)},
			})
		}})
	}
	if len(g.Readers) > 0 {
		out = append(out, wanted{SidLogDecryptReaders, "AWS", func(ex *policy.Statement) policy.Statement {
			return ownStatement(SidLogDecryptReaders, "AWS", sortedSet(principalValues(ex, "AWS"), g.Readers), []string{"kms:Decrypt"}, policy.Condition{
				"Null": {ctxTrailARN: {"false"}},
			})
		}})
	}
	if len(g.BucketKeyTrails) > 0 {
		// Scoped like the describe statement, by aws:SourceArn. CloudTrail
		// documents that it needs kms:Decrypt here, not the request's
		// encryption context, so no encryption-context condition is set.
		out = append(out, wanted{SidCloudTrailBucketKeyDecrypt, "Service", func(ex *policy.Statement) policy.Statement {
			op, arns := sourceARNs(ex, g.BucketKeyTrails)
			return ownStatement(SidCloudTrailBucketKeyDecrypt, "Service", []string{CloudTrailService}, []string{"kms:Decrypt"}, policy.Condition{
				op: {ctxSourceARN: arns},
			})
		}})
	}
	return out
}

// sourceARNs returns the aws:SourceArn values trailguard's statement must
// carry: every value the existing statement ex has under StringEquals,
// StringLike, ArnEquals or ArnLike, plus the trails of the grant that no
// existing pattern already matches; and the operator to write them under:
// StringLike when any value is a pattern (a literal ARN under StringLike
// matches exactly itself, so moving values there never narrows the grant),
// else StringEquals. A statement deployed with an account-wide pattern
// (arn:aws:cloudtrail:*:111111111111:trail/*) thus keeps covering every
// trail of the account.
func sourceARNs(ex *policy.Statement, trails []string) (op string, vals []string) {
	var have []string
	for _, o := range []string{"StringEquals", "StringLike", "ArnEquals", "ArnLike"} {
		have = append(have, condValues(ex, o, ctxSourceARN)...)
	}
	vals = append(vals, have...)
	for _, t := range trails {
		covered := false
		for _, h := range have {
			if policy.Like(h, t) {
				covered = true
				break
			}
		}
		if !covered {
			vals = append(vals, t)
		}
	}
	op = "StringEquals"
	for _, v := range vals {
		if strings.ContainsAny(v, "*?") {
			op = "StringLike"
			break
		}
	}
	return op, sortedSet(vals)
}

// ownStatement builds one of trailguard's Allow statements in code (Raw is
// nil, so Marshal writes it from its fields).
func ownStatement(sid, principalType string, principals, actions []string, cond policy.Condition) policy.Statement {
	return policy.Statement{
		Sid:         sid,
		Effect:      "Allow",
		Principal:   &policy.Principal{Values: map[string][]string{principalType: principals}},
		Action:      actions,
		HasAction:   true,
		Resource:    []string{"*"},
		HasResource: true,
		Condition:   cond,
	}
}

// condValues returns the values of condition key under operator op in st
// (names matched case-insensitively, as AWS does); nil when st is nil.
func condValues(st *policy.Statement, op, key string) []string {
	if st == nil {
		return nil
	}
	var out []string
	for o, byKey := range st.Condition {
		if !strings.EqualFold(o, op) {
			continue
		}
		for k, vals := range byKey {
			if strings.EqualFold(k, key) {
				out = append(out, vals...)
			}
		}
	}
	return out
}

// principalValues returns st's Principal values of the given type.
func principalValues(st *policy.Statement, typ string) []string {
	if st == nil || st.Principal == nil {
		return nil
	}
	var out []string
	for t, vals := range st.Principal.Values {
		if strings.EqualFold(t, typ) {
			out = append(out, vals...)
		}
	}
	return out
}

// sameStatement reports whether a and b mean the same: equal Sid, Effect,
// principals, actions, resources and conditions, each list compared as a
// set. Raw is ignored.
func sameStatement(a, b policy.Statement) bool {
	return canonical(a) == canonical(b)
}

// canonical renders the meaning of a statement as a string with every list
// sorted and de-duplicated.
func canonical(st policy.Statement) string {
	type principal struct {
		Wildcard bool
		Values   map[string][]string
	}
	conv := func(p *policy.Principal) *principal {
		if p == nil {
			return nil
		}
		out := &principal{Wildcard: p.Wildcard, Values: map[string][]string{}}
		for k, v := range p.Values {
			out.Values[k] = sortedSet(v)
		}
		return out
	}
	cond := map[string]map[string][]string{}
	for op, byKey := range st.Condition {
		cond[op] = map[string][]string{}
		for k, v := range byKey {
			cond[op][k] = sortedSet(v)
		}
	}
	b, _ := json.Marshal(struct {
		Sid, Effect                                  string
		Principal, NotPrincipal                      *principal
		Action, NotAction, Resource, NotResource     []string
		HasAction, HasNotAction, HasResource, HasNot bool
		Condition                                    map[string]map[string][]string
	}{
		st.Sid, st.Effect, conv(st.Principal), conv(st.NotPrincipal),
		sortedSet(st.Action), sortedSet(st.NotAction), sortedSet(st.Resource), sortedSet(st.NotResource),
		st.HasAction, st.HasNotAction, st.HasResource, st.HasNotRes,
		cond,
	})
	return string(b)
}
