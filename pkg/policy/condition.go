package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// modelledKeys are the condition keys (lower case) whose presence the
// evaluator knows for a KMS request even when Request.Context does not list
// them: a modelled key missing from the context is certainly absent from
// the request. Any other key missing from the context is unknown, and a
// condition on it cannot be decided. Every key starting with
// modelledKeyPrefix is modelled as well (the encryption context is fully
// known to the caller of Evaluate).
//
// This is the only place the list lives; keep ModelledKey's doc in step.
var modelledKeys = []string{
	"kms:encryptioncontextkeys",
	"kms:callaccount",
	"kms:calleraccount",
	"kms:viaservice",
	"kms:grantisforawsresource",
	"aws:sourcearn",
	"aws:sourceaccount",
	"aws:sourceorgid",
	"aws:principalarn",
	"aws:principalaccount",
	"aws:principalservicename",
	"aws:principaltype",
	"aws:principalisawsservice",
}

// modelledKeyPrefix starts the per-key encryption context condition keys.
const modelledKeyPrefix = "kms:encryptioncontext:"

// ModelledKey reports whether the evaluator knows whether key (compared
// case-insensitively) is present in a KMS request, even when the request's
// Context leaves it out: every "kms:EncryptionContext:<name>" key,
// kms:EncryptionContextKeys, kms:CallerAccount (and the misspelling
// kms:CallAccount), kms:ViaService, kms:GrantIsForAWSResource,
// aws:SourceArn, aws:SourceAccount, aws:SourceOrgID, aws:PrincipalArn,
// aws:PrincipalAccount, aws:PrincipalServiceName, aws:PrincipalType and
// aws:PrincipalIsAWSService. Such a key missing from Request.Context is
// certainly absent; any other missing key is unknown, and a condition on it
// makes an Allow not match and a Deny possibly match.
func ModelledKey(key string) bool {
	if len(key) >= len(modelledKeyPrefix) && strings.EqualFold(key[:len(modelledKeyPrefix)], modelledKeyPrefix) {
		return true
	}
	for _, k := range modelledKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// ctxEntry is one request condition key and its values.
type ctxEntry struct {
	key  string
	vals []string
}

// reqContext is a request's condition keys as a slice: a few keys are
// scanned faster than a map is ranged for a case-insensitive lookup.
type reqContext []ctxEntry

func newReqContext(buf []ctxEntry, m map[string][]string) reqContext {
	for k, v := range m {
		buf = append(buf, ctxEntry{key: k, vals: v})
	}
	return buf
}

// lookup finds key case-insensitively, preferring an exact match.
func (c reqContext) lookup(key string) ([]string, bool) {
	for i := range c {
		if c[i].key == key {
			return c[i].vals, true
		}
	}
	for i := range c {
		if strings.EqualFold(c[i].key, key) {
			return c[i].vals, true
		}
	}
	return nil, false
}

// opKind is the family of a condition operator.
type opKind uint8

const (
	opUnknown opKind = iota
	opString
	opStringIgnoreCase
	opStringLike
	opARN
	opNumeric
	opDate
	opBool
	opBinary
	opIP
	opNull
)

// cmpKind is the comparison of a numeric or date operator.
type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

// baseOp is a condition operator without set prefix or IfExists suffix.
type baseOp struct {
	kind    opKind
	cmp     cmpKind
	negated bool // the request value must match none of the policy values
}

var baseOps = map[string]baseOp{
	"StringEquals":              {kind: opString},
	"StringNotEquals":           {kind: opString, negated: true},
	"StringEqualsIgnoreCase":    {kind: opStringIgnoreCase},
	"StringNotEqualsIgnoreCase": {kind: opStringIgnoreCase, negated: true},
	"StringLike":                {kind: opStringLike},
	"StringNotLike":             {kind: opStringLike, negated: true},
	"ArnEquals":                 {kind: opARN},
	"ArnLike":                   {kind: opARN},
	"ArnNotEquals":              {kind: opARN, negated: true},
	"ArnNotLike":                {kind: opARN, negated: true},
	"NumericEquals":             {kind: opNumeric},
	"NumericNotEquals":          {kind: opNumeric, negated: true},
	"NumericLessThan":           {kind: opNumeric, cmp: cmpLT},
	"NumericLessThanEquals":     {kind: opNumeric, cmp: cmpLE},
	"NumericGreaterThan":        {kind: opNumeric, cmp: cmpGT},
	"NumericGreaterThanEquals":  {kind: opNumeric, cmp: cmpGE},
	"DateEquals":                {kind: opDate},
	"DateNotEquals":             {kind: opDate, negated: true},
	"DateLessThan":              {kind: opDate, cmp: cmpLT},
	"DateLessThanEquals":        {kind: opDate, cmp: cmpLE},
	"DateGreaterThan":           {kind: opDate, cmp: cmpGT},
	"DateGreaterThanEquals":     {kind: opDate, cmp: cmpGE},
	"Bool":                      {kind: opBool},
	"BinaryEquals":              {kind: opBinary},
	"IpAddress":                 {kind: opIP},
	"NotIpAddress":              {kind: opIP, negated: true},
	"Null":                      {kind: opNull},
}

// setKind is a condition operator's set prefix.
type setKind uint8

const (
	setNone setKind = iota
	setAnyValue
	setAllValues
)

// operator is a parsed condition operator such as
// "ForAnyValue:StringLikeIfExists".
type operator struct {
	baseOp
	set      setKind
	ifExists bool
}

// parseOperator parses an operator name, ignoring case; kind is opUnknown
// for an operator the evaluator does not know.
func parseOperator(op string) operator {
	var o operator
	switch {
	case hasPrefixFold(op, "ForAnyValue:"):
		o.set, op = setAnyValue, op[len("ForAnyValue:"):]
	case hasPrefixFold(op, "ForAllValues:"):
		o.set, op = setAllValues, op[len("ForAllValues:"):]
	}
	if n := len(op) - len("IfExists"); n > 0 && strings.EqualFold(op[n:], "IfExists") {
		o.ifExists, op = true, op[:n]
	}
	b, ok := baseOps[op]
	if !ok {
		for name, bo := range baseOps {
			if strings.EqualFold(name, op) {
				b, ok = bo, true
				break
			}
		}
	}
	if !ok || b.kind == opNull && (o.set != setNone || o.ifExists) {
		return operator{}
	}
	o.baseOp = b
	return o
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// multivaluedKeys are the condition keys (lower case) the AWS
// documentation lists as multivalued among those a key policy meets:
// kms:EncryptionContextKeys (ArrayOfString,
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html),
// aws:PrincipalOrgPaths, aws:PrincipalServiceNamesList and aws:TagKeys
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
var multivaluedKeys = []string{
	"kms:encryptioncontextkeys",
	"aws:principalorgpaths",
	"aws:principalservicenameslist",
	"aws:tagkeys",
}

func multivaluedKey(key string) bool {
	for _, k := range multivaluedKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// evalCondition evaluates a statement's condition block: every operator
// and every key under it must hold. why says what could not be decided
// when the result is triUnknown; when several pairs are undecided it names
// the first in (operator, key) order, so the reason does not depend on Go's
// random map order (the fuzz round trip compares whole results).
func evalCondition(c Condition, ctx reqContext) (tri, string) {
	res, why := triTrue, ""
	var whyOp, whyKey string
	undecided := func(op, key, w string) {
		if res == triTrue || op < whyOp || (op == whyOp && key < whyKey) {
			res, whyOp, whyKey = triUnknown, op, key
			if w == "" {
				why = "condition operator " + strconv.Quote(op) + " is not one trailguard knows"
			} else {
				why = "condition " + op + " on " + key + ": " + w
			}
		}
	}
	for op, keys := range c {
		o := parseOperator(op)
		if o.kind == opUnknown {
			undecided(op, "", "")
			continue
		}
		for key, vals := range keys {
			t, w := o.eval(key, vals, ctx)
			switch t {
			case triFalse:
				return triFalse, ""
			case triUnknown:
				undecided(op, key, w)
			}
		}
	}
	return res, why
}

// eval evaluates one condition key against its policy values pv; why says
// what could not be decided when the result is triUnknown.
//
// The operators follow
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// and, for the set prefixes,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html:
// ForAllValues on an absent key is true, ForAnyValue on an absent key is
// false, "...IfExists" on an absent key is true. Two forms stay undecided:
//   - ForAnyValue with IfExists on an absent key: the two rules disagree and
//     the documentation does not say which wins.
//   - An operator without a set prefix (other than Null) on a multivalued
//     key that is present: "Multivalued context keys require a condition
//     set operator", and the documentation does not say how a single-valued
//     operator compares a set.
func (o operator) eval(key string, pv []string, ctx reqContext) (tri, string) {
	rv, present := ctx.lookup(key)
	if !present {
		if !ModelledKey(key) {
			return triUnknown, "the key is not one trailguard models for a KMS request"
		}
		switch {
		case o.kind == opNull:
			return boolTri(nullMatches(pv, true)), ""
		case o.ifExists && o.set == setAnyValue:
			return triUnknown, "ForAnyValue with IfExists on an absent key (the documentation gives false for ForAnyValue and true for IfExists)"
		case o.ifExists:
			return triTrue, ""
		case o.set == setAnyValue:
			return triFalse, ""
		case o.set == setAllValues:
			return triTrue, ""
		}
		return boolTri(o.negated), ""
	}
	if o.kind == opNull {
		return boolTri(nullMatches(pv, false)), ""
	}
	if o.set == setNone && multivaluedKey(key) {
		return triUnknown, "an operator without ForAnyValue/ForAllValues on a multivalued key, which the documentation does not define"
	}
	var res tri
	switch o.set {
	case setAnyValue:
		res = triFalse
		for _, v := range rv {
			if res = or(res, o.valueHolds(v, pv)); res == triTrue {
				break
			}
		}
	case setAllValues:
		res = triTrue
		for _, v := range rv {
			if res = and(res, o.valueHolds(v, pv)); res == triFalse {
				break
			}
		}
	default:
		// A plain operator: a positive one holds when some request value
		// matches some policy value, a negated one when none does.
		res = triFalse
		for _, v := range rv {
			if res = or(res, o.matchAny(v, pv)); res == triTrue {
				break
			}
		}
		if o.negated {
			res = res.not()
		}
	}
	if res == triUnknown {
		return res, o.unknownValueReason(pv)
	}
	return res, ""
}

// unknownValueReason describes why a policy value could not be compared.
func (o operator) unknownValueReason(pv []string) string {
	if o.kind == opARN {
		for _, p := range pv {
			if strings.Trim(p, "*") == "" {
				return "an ARN pattern of only \"*\", which the documentation does not define"
			}
		}
	}
	return "a policy value trailguard cannot interpret (a policy variable, or a malformed number, date, address or ARN pattern)"
}

// valueHolds reports whether one request value satisfies the operator:
// it matches some policy value, or for a negated operator none.
func (o operator) valueHolds(v string, pv []string) tri {
	r := o.matchAny(v, pv)
	if o.negated {
		return r.not()
	}
	return r
}

func (o operator) matchAny(v string, pv []string) tri {
	res := triFalse
	for _, p := range pv {
		if res = or(res, o.matchValue(v, p)); res == triTrue {
			break
		}
	}
	return res
}

// matchValue compares one request value with one policy value, ignoring
// negation. A policy value the evaluator cannot interpret (a policy
// variable such as ${aws:username}, a malformed number, date or CIDR, an
// ARN pattern of fewer than six parts) gives triUnknown; a malformed request value gives triFalse.
func (o operator) matchValue(v, p string) tri {
	switch o.kind {
	case opString, opStringIgnoreCase, opStringLike, opARN:
		if strings.Contains(p, "${") {
			return triUnknown
		}
	}
	switch o.kind {
	case opString:
		return boolTri(v == p)
	case opStringIgnoreCase:
		return boolTri(strings.EqualFold(v, p))
	case opStringLike:
		return boolTri(wildcardMatch(p, v, false))
	case opARN:
		return arnLike(p, v)
	case opBinary:
		return boolTri(v == p)
	case opNumeric:
		pf, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return triUnknown
		}
		vf, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return triFalse
		}
		c := 0
		if vf < pf {
			c = -1
		} else if vf > pf {
			c = 1
		}
		return boolTri(o.cmp.holds(c))
	case opDate:
		pt, ok := parseDate(p)
		if !ok {
			return triUnknown
		}
		vt, ok := parseDate(v)
		if !ok {
			return triFalse
		}
		return boolTri(o.cmp.holds(vt.Compare(pt)))
	case opBool:
		pb, ok := parseBool(p)
		if !ok {
			return triUnknown
		}
		vb, ok := parseBool(v)
		return boolTri(ok && vb == pb)
	case opIP:
		prefix, ok := parsePrefix(p)
		if !ok {
			return triUnknown
		}
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return triFalse
		}
		return boolTri(prefix.Contains(addr.Unmap()))
	}
	return triUnknown
}

func (c cmpKind) holds(cmp int) bool {
	switch c {
	case cmpLT:
		return cmp < 0
	case cmpLE:
		return cmp <= 0
	case cmpGT:
		return cmp > 0
	case cmpGE:
		return cmp >= 0
	}
	return cmp == 0
}

// nullMatches evaluates the Null operator: "true" holds when the key is
// absent, "false" when it is present.
func nullMatches(pv []string, absent bool) bool {
	for _, p := range pv {
		if b, ok := parseBool(p); ok && b == absent {
			return true
		}
	}
	return false
}

func parseBool(s string) (value, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// dateLayouts are the ISO 8601 forms accepted by the Date operators (epoch
// seconds are accepted too).
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func or(a, b tri) tri {
	switch {
	case a == triTrue || b == triTrue:
		return triTrue
	case a == triUnknown || b == triUnknown:
		return triUnknown
	}
	return triFalse
}

func and(a, b tri) tri {
	switch {
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triUnknown || b == triUnknown:
		return triUnknown
	}
	return triTrue
}
