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
// all match. A Deny that matches decides: ExplicitDeny. A Deny whose
// condition cannot be evaluated (an operator the evaluator does not know,
// or a condition key it does not model: see ModelledKey) possibly matches:
// ExplicitDeny with Uncertain set, unless a Deny certainly matches, which
// is the one reported. Otherwise the first Allow that matches decides:
// Allowed; an Allow whose condition cannot be evaluated never matches.
// Otherwise ImplicitDeny (Statement "").
//
// Elements:
//   - Principal "*" and {"AWS": "*"} match every caller, service principals
//     included. {"Service": name} matches Caller.Service case-insensitively.
//     An AWS account id or account root ARN matches only the root caller
//     "arn:PARTITION:iam::ACCOUNT:root" of that account and partition (the
//     key policy's delegation to IAM is not followed). Other AWS principals
//     match a caller ARN exactly, and a role ARN also matches that role's
//     assumed-role session ARNs in the same partition and account.
//     Federated and CanonicalUser principals match nothing. NotPrincipal
//     matches callers it does not list, compared without the role-to-session
//     mapping, so listing a role does not exclude its sessions (as in AWS).
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
	allow, uncertainDeny := -1, -1
	for i := range d.Statements {
		s := &d.Statements[i]
		deny := s.Effect == EffectDeny
		if !deny && s.Effect != EffectAllow {
			continue
		}
		if !deny && allow >= 0 {
			continue // an earlier Allow already matched
		}
		switch s.match(&r, ctx) {
		case triTrue:
			if deny {
				return Decision{Effect: ExplicitDeny, Statement: s.label(i)}
			}
			allow = i
		case triUnknown:
			if deny && uncertainDeny < 0 {
				uncertainDeny = i
			}
		}
	}
	if uncertainDeny >= 0 {
		return Decision{Effect: ExplicitDeny, Statement: d.Statements[uncertainDeny].label(uncertainDeny), Uncertain: true}
	}
	if allow >= 0 {
		return Decision{Effect: Allowed, Statement: d.Statements[allow].label(allow)}
	}
	return Decision{Effect: ImplicitDeny}
}

func (s *Statement) label(i int) string {
	if s.Sid != "" {
		return s.Sid
	}
	return "#" + strconv.Itoa(i)
}

// match decides whether s applies to r. Allow statements with an unknown
// condition are reported unknown too; Evaluate ignores them.
func (s *Statement) match(r *Request, ctx reqContext) tri {
	missing := s.Effect == EffectDeny // how a missing element counts

	switch {
	case s.Principal != nil:
		if !s.Principal.matches(&r.Caller, true) {
			return triFalse
		}
	case s.NotPrincipal != nil:
		if s.NotPrincipal.matches(&r.Caller, false) {
			return triFalse
		}
	default:
		if !missing {
			return triFalse
		}
	}

	switch {
	case s.HasAction || len(s.Action) > 0:
		if !anyWildcard(s.Action, r.Action, true) {
			return triFalse
		}
	case s.HasNotAction || len(s.NotAction) > 0:
		if anyWildcard(s.NotAction, r.Action, true) {
			return triFalse
		}
	default:
		if !missing {
			return triFalse
		}
	}

	switch {
	case s.HasResource || len(s.Resource) > 0:
		if !anyWildcard(s.Resource, r.Resource, false) {
			return triFalse
		}
	case s.HasNotRes || len(s.NotResource) > 0:
		if anyWildcard(s.NotResource, r.Resource, false) {
			return triFalse
		}
	default:
		if !missing {
			return triFalse
		}
	}

	return evalCondition(s.Condition, ctx)
}

func anyWildcard(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

// matches reports whether the principal names the caller. roleSessions
// lets a role ARN match the role's assumed-role sessions (Principal, not
// NotPrincipal).
func (p *Principal) matches(c *Caller, roleSessions bool) bool {
	if p.Wildcard {
		return true
	}
	for typ, vals := range p.Values {
		switch {
		case strings.EqualFold(typ, "AWS"):
			for _, v := range vals {
				if matchAWSPrincipal(v, c.ARN, roleSessions) {
					return true
				}
			}
		case strings.EqualFold(typ, "Service"):
			if c.Service == "" {
				continue
			}
			for _, v := range vals {
				if v == "*" || strings.EqualFold(v, c.Service) {
					return true
				}
			}
		}
	}
	return false
}

// matchAWSPrincipal matches one "AWS" principal value against a caller
// ARN (see Evaluate).
func matchAWSPrincipal(v, caller string, roleSessions bool) bool {
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
	if isAccountID(v) {
		return callerRoot && cAcct == v
	}
	vPart, vSvc, _, vAcct, vRes, vOK := arnParts(v)
	if !vOK {
		return false
	}
	if vSvc == "iam" && vRes == "root" {
		return callerRoot && cPart == vPart && cAcct == vAcct ||
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
