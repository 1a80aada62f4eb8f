package policy

import (
	"strconv"
	"strings"
)

// tri is a three-valued truth: a statement or condition matches, does not,
// or cannot be decided from what the evaluator knows.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

// String names the effect: "ImplicitDeny", "Allowed" or "ExplicitDeny".
func (e Effect) String() string {
	switch e {
	case ImplicitDeny:
		return "ImplicitDeny"
	case Allowed:
		return "Allowed"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// Account returns the account id of the caller's ARN ("" for a service
// principal or an ARN without an account).
func (c Caller) Account() string {
	if isAccountID(c.ARN) {
		return c.ARN
	}
	_, _, _, account, _, ok := arnParts(c.ARN)
	if !ok {
		return ""
	}
	return account
}

// Evaluate decides r against the document the way AWS evaluates a key
// policy alone (no IAM policies, grants, SCPs or VPC endpoint policies).
//
// A statement matches r when its principal, action, resource and condition
// all match. A Deny that matches decides: ExplicitDeny. A Deny that cannot
// be decided (see below) possibly matches: ExplicitDeny with Uncertain set,
// unless a Deny certainly matches, which is the one reported. Otherwise the
// first Allow that matches decides: Allowed. An Allow that cannot be
// decided never matches; when no Allow matches, the first such Allow is
// reported as an ImplicitDeny with Uncertain set. Otherwise ImplicitDeny
// (Statement ""). Decision.Reason says what could not be decided.
//
// A statement cannot be decided when it uses an operator the evaluator does
// not know, a condition key it does not model (see ModelledKey), or one of
// the forms the AWS documentation does not settle (each cited where it is
// handled): a service principal that matches only when case is ignored, a
// Resource ARN whose partition/service/region/account differ only in case,
// ForAnyValue with IfExists on an absent key, an operator without a set
// prefix on a multivalued key such as kms:EncryptionContextKeys, ArnLike or
// ArnEquals with a pattern of only "*", and an Allow with NotPrincipal.
//
// Elements:
//   - Principal "*" and {"AWS": "*"} match every caller, service principals
//     included. {"Service": name} matches Caller.Service exactly (see
//     above for case).
//   - An AWS account id or account root ARN in an Allow matches only the
//     root caller "arn:PARTITION:iam::ACCOUNT:root" of that account and
//     partition: the key policy delegates to IAM, which Evaluate does not
//     follow. In a Deny it matches every IAM and STS principal of that
//     account (the root, users, roles, role sessions, federated users):
//     "Using the account ARN in the Principal element does not limit
//     permissions to only the root user of the account"
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts).
//   - Other AWS principals match a caller ARN exactly, and a role ARN also
//     matches that role's assumed-role session ARNs in the same partition
//     and account. Federated and CanonicalUser principals match nothing.
//   - NotPrincipal matches callers it does not list. When it lists the
//     caller's account (id or root ARN) or, for a role session, the role,
//     but not the caller itself, the statement is undecided: the page says
//     only that one "must also specify the account ARN of the not-denied
//     principal. Otherwise, the policy might deny access to the entire
//     account", and that AWS "verifies the account, then the role, then the
//     assumed-role user", not whether the account or role alone excludes
//     the caller. "NotPrincipal must be used
//     with "Effect":"Deny". Using it with "Effect":"Allow" is not
//     supported"
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html):
//     an Allow with NotPrincipal is at most uncertain, never granting.
//   - Action and NotAction patterns use "*" and "?" and ignore case.
//   - Resource and NotResource patterns use "*" and "?" and respect case.
//   - A statement missing Principal/NotPrincipal, Action/NotAction or
//     Resource/NotResource (invalid in a key policy) never matches as an
//     Allow and always matches as a Deny, to be conservative.
//
// Decision.Statement is the Sid of the deciding statement, or "#i" (i its
// index in Statements) when it has no Sid. Evaluate never panics, does not
// modify d and is safe for concurrent use.
func (d *Document) Evaluate(r Request) Decision {
	if d == nil {
		return Decision{Effect: ImplicitDeny}
	}
	var buf [16]ctxEntry
	ctx := newReqContext(buf[:0], r.Context)
	allow, uncertainDeny, uncertainAllow := -1, -1, -1
	var denyWhy, allowWhy string
	for i := range d.Statements {
		s := &d.Statements[i]
		deny := s.Effect == EffectDeny
		if !deny && s.Effect != EffectAllow {
			continue
		}
		if !deny && allow >= 0 {
			continue // an earlier Allow already matched
		}
		m, why := s.match(&r, ctx)
		switch m {
		case triTrue:
			if deny {
				return Decision{Effect: ExplicitDeny, Statement: s.label(i)}
			}
			allow = i
		case triUnknown:
			switch {
			case deny && uncertainDeny < 0:
				uncertainDeny, denyWhy = i, why
			case !deny && uncertainAllow < 0:
				uncertainAllow, allowWhy = i, why
			}
		}
	}
	if uncertainDeny >= 0 {
		return Decision{Effect: ExplicitDeny, Statement: d.Statements[uncertainDeny].label(uncertainDeny), Uncertain: true, Reason: denyWhy}
	}
	if allow >= 0 {
		return Decision{Effect: Allowed, Statement: d.Statements[allow].label(allow)}
	}
	if uncertainAllow >= 0 {
		return Decision{Effect: ImplicitDeny, Statement: d.Statements[uncertainAllow].label(uncertainAllow), Uncertain: true, Reason: allowWhy}
	}
	return Decision{Effect: ImplicitDeny}
}

func (s *Statement) label(i int) string {
	if s.Sid != "" {
		return s.Sid
	}
	return "#" + strconv.Itoa(i)
}

// Reasons for an undecided statement element (conditions have their own,
// built in condition.go).
const (
	whyAllowNotPrincipal  = "Allow with NotPrincipal is not supported by AWS, so it is never counted as granting"
	whyServiceCase        = "the service principal matches only when case is ignored, which the AWS documentation does not settle"
	whyNotPrincipalParent = "NotPrincipal lists the caller's account or role but not the caller, and the AWS documentation does not settle whether that excludes the caller"
	whyResourceARNCase    = "the resource ARN matches only when the case of its partition, service, region or account is ignored, which the AWS documentation does not settle"
)

// match decides whether s applies to r; why says what could not be decided
// when the result is triUnknown. Evaluate ignores unknown Allows.
func (s *Statement) match(r *Request, ctx reqContext) (tri, string) {
	deny := s.Effect == EffectDeny
	missing := deny // how a missing element counts
	res, why := triTrue, ""
	unknown := func(w string) {
		if res == triTrue {
			res, why = triUnknown, w
		}
	}

	switch {
	case s.Principal != nil:
		switch m := s.Principal.match(&r.Caller, deny, true); m {
		case triFalse:
			return triFalse, ""
		case triUnknown:
			unknown(whyServiceCase)
		}
	case s.NotPrincipal != nil:
		m := s.NotPrincipal.match(&r.Caller, false, false)
		if m == triFalse && s.NotPrincipal.match(&r.Caller, true, true) == triTrue {
			// The caller's account or role is listed, not the caller.
			unknown(whyNotPrincipalParent)
		}
		switch m {
		case triTrue:
			return triFalse, ""
		case triUnknown:
			unknown(whyServiceCase)
		}
		if !deny {
			// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
			res, why = triUnknown, whyAllowNotPrincipal
		}
	default:
		if !missing {
			return triFalse, ""
		}
	}

	switch {
	case s.HasAction || len(s.Action) > 0:
		if !anyWildcard(s.Action, r.Action, true) {
			return triFalse, ""
		}
	case s.HasNotAction || len(s.NotAction) > 0:
		if anyWildcard(s.NotAction, r.Action, true) {
			return triFalse, ""
		}
	default:
		if !missing {
			return triFalse, ""
		}
	}

	switch {
	case s.HasResource || len(s.Resource) > 0:
		switch resourceMatch(s.Resource, r.Resource) {
		case triFalse:
			return triFalse, ""
		case triUnknown:
			unknown(whyResourceARNCase)
		}
	case s.HasNotRes || len(s.NotResource) > 0:
		switch resourceMatch(s.NotResource, r.Resource) {
		case triTrue:
			return triFalse, ""
		case triUnknown:
			unknown(whyResourceARNCase)
		}
	default:
		if !missing {
			return triFalse, ""
		}
	}

	c, cwhy := evalCondition(s.Condition, ctx)
	switch c {
	case triFalse:
		return triFalse, ""
	case triUnknown:
		unknown(cwhy)
	}
	return res, why
}

func anyWildcard(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

// resourceMatch matches a resource ARN against Resource patterns, case
// sensitively ("In the Resource element, the IAM user name is case
// sensitive",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
// The documentation says nothing about the case of the partition, service,
// region and account segments ("ARN:AWS:KMS:..."), so a pattern that
// matches only when their case is ignored gives triUnknown.
func resourceMatch(patterns []string, s string) tri {
	res := triFalse
	for _, p := range patterns {
		if wildcardMatch(p, s, false) {
			return triTrue
		}
		if res == triFalse {
			lp, ls := lowerARNPrefix(p), lowerARNPrefix(s)
			if (lp != p || ls != s) && wildcardMatch(lp, ls, false) {
				res = triUnknown
			}
		}
	}
	return res
}

// lowerARNPrefix lower-cases the ASCII letters of s up to its fifth colon
// (the "arn", partition, service, region and account segments), leaving
// the resource segment as it is.
func lowerARNPrefix(s string) string {
	end, colons := len(s), 0
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			if colons++; colons == 5 {
				end = i
				break
			}
		}
	}
	for i := 0; i < end; i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s[:end]) + s[end:]
		}
	}
	return s // no upper-case letter: nothing to allocate
}

// match reports whether the principal names the caller. wholeAccount lets
// an account principal match every principal of the account (a Deny's
// Principal); roleSessions lets a role ARN match the role's assumed-role
// sessions (Principal, not NotPrincipal). The result is triUnknown when
// only a service principal differing in case names the caller.
func (p *Principal) match(c *Caller, wholeAccount, roleSessions bool) tri {
	if p.Wildcard {
		return triTrue
	}
	res := triFalse
	for typ, vals := range p.Values {
		switch {
		case strings.EqualFold(typ, "AWS"):
			for _, v := range vals {
				if matchAWSPrincipal(v, c.ARN, wholeAccount, roleSessions) {
					return triTrue
				}
			}
		case strings.EqualFold(typ, "Service"):
			if c.Service == "" {
				continue
			}
			for _, v := range vals {
				switch {
				case v == "*" || v == c.Service:
					return triTrue
				case strings.EqualFold(v, c.Service):
					// The Principal page names service principals in
					// lower case but does not say whether case matters.
					res = triUnknown
				}
			}
		}
	}
	return res
}

// matchAWSPrincipal matches one "AWS" principal value against a caller
// ARN (see Evaluate).
func matchAWSPrincipal(v, caller string, wholeAccount, roleSessions bool) bool {
	if v == "*" {
		return true
	}
	if caller == "" {
		return false
	}
	if v == caller {
		return true
	}
	cPart, cSvc, _, cAcct, cRes, cOK := arnParts(caller)
	callerRoot := cOK && cSvc == "iam" && cRes == "root"
	// inAccount: the caller is an IAM or STS principal of the account.
	inAccount := wholeAccount && cOK && (cSvc == "iam" || cSvc == "sts")
	if isAccountID(v) {
		return (callerRoot || inAccount) && cAcct == v
	}
	vPart, vSvc, _, vAcct, vRes, vOK := arnParts(v)
	if !vOK {
		return false
	}
	if vSvc == "iam" && vRes == "root" {
		return (callerRoot || inAccount) && cPart == vPart && cAcct == vAcct ||
			isAccountID(caller) && caller == vAcct
	}
	if roleSessions && cOK && vSvc == "iam" && cSvc == "sts" &&
		cPart == vPart && cAcct == vAcct &&
		strings.HasPrefix(vRes, "role/") && strings.HasPrefix(cRes, "assumed-role/") {
		role := vRes[strings.LastIndexByte(vRes, '/')+1:]
		session := cRes[len("assumed-role/"):]
		j := strings.IndexByte(session, '/')
		return j > 0 && session[:j] == role
	}
	return false
}
