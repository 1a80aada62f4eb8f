package policydiff

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/trailguard/trailguard/pkg/policy"
)

// The accounts, key and trail the generated cases use. The key belongs to
// KeyAccount; OtherAccount is a second, unrelated account.
const (
	KeyAccount   = "111122223333"
	OtherAccount = "444455556666"
	KeyARN       = "arn:aws:kms:us-east-1:" + KeyAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	TrailARN     = "arn:aws:cloudtrail:us-east-1:" + KeyAccount + ":trail/main"
	OtherTrail   = "arn:aws:cloudtrail:us-east-1:" + OtherAccount + ":trail/main"
	OrgID        = "o-a1b2c3d4e5"
	CloudTrail   = "cloudtrail.amazonaws.com"
)

// Case is one generated key policy and request.
type Case struct {
	ID int
	// Policy is the key policy document as JSON.
	Policy json.RawMessage
	// Request is what trailguard evaluates.
	Request policy.Request
	// Principal is the request's principal as the simulator takes it: the
	// caller ARN or the service principal name.
	Principal string
	// Features names the forms the case uses ("principal:account-root",
	// "set:ForAnyValue", "caller:session", ...), sorted. A disagreement's
	// class is matched against them (see AllowEntry).
	Features []string
}

// Profile is a generator distribution. The default profile is the one the
// test runs in `make test`; Alt is a second, independent distribution
// (more statements, more negations and conditions) used to check the
// agreement on cases the evaluator was not tuned on.
type Profile struct {
	Name string
	// MaxStatements is the largest number of statements in a policy.
	MaxStatements int
	// PDeny, PNotPrincipal, PNotAction, PNotResource, PCondition are
	// probabilities (0..1) of each form per statement.
	PDeny, PNotPrincipal, PNotAction, PNotResource, PCondition float64
	// MaxConditionKeys bounds the keys in one condition block.
	MaxConditionKeys int
	// PCaseVariant is the probability that a name is written in another
	// case (actions, condition keys, service principals, ARN prefixes).
	PCaseVariant float64
}

// Profiles are the generator distributions by name.
var Profiles = map[string]Profile{
	"default": {Name: "default", MaxStatements: 3, PDeny: 0.35, PNotPrincipal: 0.12, PNotAction: 0.15, PNotResource: 0.1, PCondition: 0.6, MaxConditionKeys: 2, PCaseVariant: 0.1},
	"alt":     {Name: "alt", MaxStatements: 5, PDeny: 0.5, PNotPrincipal: 0.25, PNotAction: 0.25, PNotResource: 0.2, PCondition: 0.8, MaxConditionKeys: 3, PCaseVariant: 0.2},
}

// Generate returns n cases drawn from profile p with the given seed.
func Generate(seed uint64, n int, p Profile) []Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), p: p}
	out := make([]Case, n)
	for i := range out {
		out[i] = g.oneCase(i)
	}
	return out
}

type gen struct {
	r     *rand.Rand
	p     Profile
	feats map[string]bool
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

func (g *gen) feat(f string) { g.feats[f] = true }

// caller is a request principal and what it implies for the context.
type caller struct {
	kind    string // feature name
	arn     string // IAM ARN ("" for a service)
	service string
	account string
}

var callers = []caller{
	{kind: "root", arn: "arn:aws:iam::" + KeyAccount + ":root", account: KeyAccount},
	{kind: "user", arn: "arn:aws:iam::" + KeyAccount + ":user/bob", account: KeyAccount},
	{kind: "session", arn: "arn:aws:sts::" + KeyAccount + ":assumed-role/LogReader/s1", account: KeyAccount},
	{kind: "session", arn: "arn:aws:sts::" + KeyAccount + ":assumed-role/Admin/alice", account: KeyAccount},
	{kind: "other-root", arn: "arn:aws:iam::" + OtherAccount + ":root", account: OtherAccount},
	{kind: "other-user", arn: "arn:aws:iam::" + OtherAccount + ":user/eve", account: OtherAccount},
	{kind: "other-session", arn: "arn:aws:sts::" + OtherAccount + ":assumed-role/LogReader/s2", account: OtherAccount},
	{kind: "service", service: CloudTrail},
	{kind: "other-service", service: "s3.amazonaws.com"},
}

var actions = []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:PutKeyPolicy", "kms:ReEncryptFrom"}

const logObject = "arn:aws:s3:::trail-logs/AWSLogs/" + KeyAccount + "/CloudTrail/us-east-1/2026/01/15/f.json.gz"

func (g *gen) oneCase(id int) Case {
	g.feats = map[string]bool{}
	c := pick(g, callers)
	action := pick(g, actions)
	g.feat("caller:" + c.kind)
	ctx := g.context(c, action)
	req := policy.Request{Caller: policy.Caller{ARN: c.arn, Service: c.service}, Action: action, Resource: KeyARN, Context: ctx}

	n := 1 + g.r.IntN(g.p.MaxStatements)
	stmts := make([]map[string]any, n)
	for i := range stmts {
		stmts[i] = g.statement(i, c, action)
	}
	doc := map[string]any{"Version": "2012-10-17", "Statement": stmts}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("policydiff: marshal generated policy: %v", err)) // maps of strings always marshal
	}
	principal := c.arn
	if c.service != "" {
		principal = c.service
	}
	feats := make([]string, 0, len(g.feats))
	for f := range g.feats {
		feats = append(feats, f)
	}
	slices.Sort(feats)
	return Case{ID: id, Policy: b, Request: req, Principal: principal, Features: feats}
}

// context builds the request's condition keys the way KMS would send them
// for this caller and action (each present key sometimes dropped, so the
// absent case is covered too).
func (g *gen) context(c caller, action string) map[string][]string {
	ctx := map[string][]string{}
	put := func(p float64, k string, v ...string) {
		if g.chance(p) {
			ctx[k] = v
		}
	}
	if c.service != "" {
		trail := TrailARN
		if g.chance(0.25) {
			trail = OtherTrail
		}
		acct := KeyAccount
		if strings.Contains(trail, OtherAccount) {
			acct = OtherAccount
		}
		put(0.85, "aws:SourceArn", trail)
		put(0.5, "aws:PrincipalServiceName", c.service)
		put(0.5, "aws:PrincipalIsAWSService", "true")
		put(0.85, "aws:SourceAccount", acct)
		if strings.HasPrefix(action, "kms:GenerateDataKey") || action == "kms:Decrypt" {
			put(0.85, "kms:EncryptionContext:aws:cloudtrail:arn", trail)
			put(0.6, "kms:EncryptionContext:aws:s3:arn", logObject)
			put(0.6, "kms:EncryptionContextKeys", "aws:cloudtrail:arn", "aws:s3:arn")
		}
		return ctx
	}
	put(0.9, "kms:CallerAccount", c.account)
	put(0.8, "aws:PrincipalArn", principalARN(c.arn))
	put(0.8, "aws:PrincipalAccount", c.account)
	put(0.4, "aws:PrincipalIsAWSService", "false")
	switch {
	case strings.HasSuffix(c.arn, ":root"):
		put(0.4, "aws:PrincipalType", "Account")
	case strings.Contains(c.arn, ":assumed-role/"):
		put(0.4, "aws:PrincipalType", "AssumedRole")
	default:
		put(0.4, "aws:PrincipalType", "User")
	}
	if c.account == KeyAccount {
		put(0.6, "aws:PrincipalOrgID", OrgID)
	} else {
		put(0.6, "aws:PrincipalOrgID", "o-zzzzzzzzzz")
	}
	if action == "kms:Decrypt" || action == "kms:ReEncryptFrom" || strings.HasPrefix(action, "kms:GenerateDataKey") || action == "kms:Encrypt" {
		put(0.5, "kms:ViaService", pick(g, []string{"s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"}))
		if g.chance(0.6) {
			trail := pick(g, []string{TrailARN, OtherTrail})
			ctx["kms:EncryptionContext:aws:cloudtrail:arn"] = []string{trail}
			put(0.5, "kms:EncryptionContext:aws:s3:arn", logObject)
			keys := []string{"aws:cloudtrail:arn"}
			if g.chance(0.5) {
				keys = append(keys, "aws:s3:arn")
			}
			put(0.7, "kms:EncryptionContextKeys", keys...)
		}
	}
	put(0.3, "aws:SecureTransport", pick(g, []string{"true", "false"}))
	put(0.3, "aws:SourceIp", pick(g, []string{"203.0.113.7", "198.51.100.20"}))
	put(0.3, "aws:CurrentTime", pick(g, []string{"2026-01-15T12:00:00Z", "2024-03-01T00:00:00Z"}))
	put(0.2, "aws:MultiFactorAuthAge", pick(g, []string{"30", "7200"}))
	return ctx
}

// principalARN is what aws:PrincipalArn holds: for a role session, the
// role's ARN.
func principalARN(arn string) string {
	const marker = ":assumed-role/"
	i := strings.Index(arn, marker)
	if i < 0 {
		return arn
	}
	role := arn[i+len(marker):]
	if j := strings.IndexByte(role, '/'); j >= 0 {
		role = role[:j]
	}
	return strings.Replace(arn[:i], ":sts:", ":iam:", 1) + ":role/" + role
}

func (g *gen) statement(i int, c caller, action string) map[string]any {
	s := map[string]any{"Sid": fmt.Sprintf("S%d", i)}
	effect := "Allow"
	if g.chance(g.p.PDeny) {
		effect = "Deny"
	}
	s["Effect"] = effect
	// Half the statements are aimed at the request (a principal naming the
	// caller, an action pattern covering it), so Allowed and ExplicitDeny
	// are as common as ImplicitDeny; conditions still decide.
	aimed := g.chance(0.5)
	switch {
	case aimed:
		s["Principal"] = g.aimedPrincipal(effect, c)
	case g.chance(g.p.PNotPrincipal):
		s["NotPrincipal"] = g.principal(effect, "notprincipal")
	default:
		s["Principal"] = g.principal(effect, "principal")
	}
	acts := g.actionPatterns()
	if aimed {
		acts = pick(g, []any{action, "kms:*", "*", []string{"kms:Get*", action}, strings.ToUpper(action)})
	}
	if g.chance(g.p.PNotAction) {
		s["NotAction"] = acts
		g.feat("notaction")
	} else {
		s["Action"] = acts
	}
	res := g.resourcePatterns()
	if g.chance(g.p.PNotResource) {
		s["NotResource"] = res
		g.feat("notresource")
	} else {
		s["Resource"] = res
	}
	if g.chance(g.p.PCondition) {
		s["Condition"] = g.condition()
	}
	return s
}

func (g *gen) principal(effect, elem string) any {
	type form struct {
		name string
		val  func() any
	}
	forms := []form{
		{"star", func() any { return "*" }},
		{"aws-star", func() any { return map[string]any{"AWS": "*"} }},
		{"account-id", func() any { return map[string]any{"AWS": pick(g, []string{KeyAccount, OtherAccount})} }},
		{"account-root", func() any {
			return map[string]any{"AWS": "arn:aws:iam::" + pick(g, []string{KeyAccount, OtherAccount}) + ":root"}
		}},
		{"user", func() any {
			return map[string]any{"AWS": pick(g, []string{"arn:aws:iam::" + KeyAccount + ":user/bob", "arn:aws:iam::" + OtherAccount + ":user/eve"})}
		}},
		{"role", func() any {
			return map[string]any{"AWS": pick(g, []string{"arn:aws:iam::" + KeyAccount + ":role/LogReader", "arn:aws:iam::" + OtherAccount + ":role/LogReader"})}
		}},
		{"session", func() any {
			return map[string]any{"AWS": "arn:aws:sts::" + KeyAccount + ":assumed-role/LogReader/s1"}
		}},
		{"service", func() any {
			svc := pick(g, []string{CloudTrail, "s3.amazonaws.com"})
			if g.chance(g.p.PCaseVariant) {
				g.feat(elem + ":service-case")
				svc = "CloudTrail.amazonaws.com"
			}
			return map[string]any{"Service": svc}
		}},
		{"list", func() any {
			return map[string]any{
				"AWS":     []string{"arn:aws:iam::" + KeyAccount + ":user/bob", "arn:aws:iam::" + OtherAccount + ":root"},
				"Service": []string{CloudTrail},
			}
		}},
	}
	f := pick(g, forms)
	g.feat(elem + ":" + f.name)
	g.feat(strings.ToLower(effect) + "-" + elem + ":" + f.name)
	return f.val()
}

// aimedPrincipal is a principal that names the caller (directly, by its
// account, its role, or "*").
func (g *gen) aimedPrincipal(effect string, c caller) any {
	g.feat("aimed")
	if c.service != "" {
		g.feat("principal:service")
		g.feat(strings.ToLower(effect) + "-principal:service")
		return pick(g, []any{"*", map[string]any{"Service": c.service}, map[string]any{"Service": []string{"s3.amazonaws.com", c.service}}})
	}
	forms := map[string]any{"star": "*", "aws-star": map[string]any{"AWS": "*"}, "account-id": map[string]any{"AWS": c.account},
		"account-root": map[string]any{"AWS": "arn:aws:iam::" + c.account + ":root"}, "exact": map[string]any{"AWS": c.arn}}
	if p := principalARN(c.arn); p != c.arn {
		forms["role"] = map[string]any{"AWS": p}
	}
	names := make([]string, 0, len(forms))
	for n := range forms {
		names = append(names, n)
	}
	slices.Sort(names)
	n := pick(g, names)
	g.feat("principal:" + n)
	g.feat(strings.ToLower(effect) + "-principal:" + n)
	return forms[n]
}

func (g *gen) actionPatterns() any {
	pool := []string{"kms:*", "*", "kms:Decrypt", "kms:GenerateDataKey*", "kms:Describe*", "kms:Encrypt", "kms:?ncrypt", "kms:PutKeyPolicy", "kms:Get*", "kms:ReEncrypt*"}
	n := 1 + g.r.IntN(2)
	out := make([]string, n)
	for i := range out {
		a := pick(g, pool)
		if g.chance(g.p.PCaseVariant) {
			g.feat("action:case")
			a = strings.ToUpper(a[:1]) + strings.ToLower(a[1:])
		}
		out[i] = a
	}
	if n == 1 && g.chance(0.5) {
		return out[0]
	}
	return out
}

func (g *gen) resourcePatterns() any {
	pool := []string{"*", KeyARN, "arn:aws:kms:*:" + KeyAccount + ":key/*", "arn:aws:kms:us-east-1:" + OtherAccount + ":key/*",
		"arn:aws:kms:us-east-1:" + KeyAccount + ":key/????????-*", "arn:aws:kms:us-east-1:" + KeyAccount + ":alias/*"}
	r := pick(g, pool)
	if r != "*" && g.chance(g.p.PCaseVariant) {
		g.feat("resource:arn-case")
		r = "ARN:AWS:KMS" + r[len("arn:aws:kms"):]
	}
	return r
}

// condKey is a condition key with the values a policy may compare it to.
type condKey struct {
	name   string
	family string // operator family that fits the key
	values []string
}

var condKeys = []condKey{
	{"kms:EncryptionContext:aws:cloudtrail:arn", "string", []string{TrailARN, OtherTrail, "arn:aws:cloudtrail:*:" + KeyAccount + ":trail/*", "*"}},
	{"aws:SourceArn", "arn", []string{TrailARN, OtherTrail, "arn:aws:cloudtrail:*:" + KeyAccount + ":trail/*", "arn:aws:cloudtrail:us-east-1:*:trail/main", "*"}},
	{"aws:SourceAccount", "string", []string{KeyAccount, OtherAccount}},
	{"kms:CallerAccount", "string", []string{KeyAccount, OtherAccount}},
	{"kms:ViaService", "string", []string{"s3.us-east-1.amazonaws.com", "s3.*.amazonaws.com", "ec2.us-east-1.amazonaws.com"}},
	{"aws:PrincipalOrgID", "string", []string{OrgID, "o-zzzzzzzzzz"}},
	{"aws:PrincipalArn", "arn", []string{"arn:aws:iam::" + KeyAccount + ":role/LogReader", "arn:aws:iam::" + KeyAccount + ":*", "arn:aws:iam::" + OtherAccount + ":user/eve"}},
	{"aws:PrincipalAccount", "string", []string{KeyAccount, OtherAccount}},
	{"kms:EncryptionContextKeys", "multi", []string{"aws:cloudtrail:arn", "aws:s3:arn", "aws:*"}},
	{"kms:EncryptionContext:aws:s3:arn", "string", []string{"arn:aws:s3:::trail-logs/AWSLogs/" + KeyAccount + "/*", "arn:aws:s3:::other/*"}},
	{"aws:PrincipalServiceName", "string", []string{CloudTrail, "s3.amazonaws.com"}},
	{"aws:PrincipalIsAWSService", "bool", []string{"true", "false"}},
	{"aws:PrincipalType", "string", []string{"User", "AssumedRole", "Account"}},
	{"aws:SecureTransport", "bool", []string{"true", "false"}},
	{"aws:SourceIp", "ip", []string{"203.0.113.0/24", "10.0.0.0/8"}},
	{"aws:CurrentTime", "date", []string{"2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
	{"aws:MultiFactorAuthAge", "numeric", []string{"3600", "60"}},
}

var operatorsByFamily = map[string][]string{
	"string":  {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"},
	"arn":     {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "StringLike", "StringEquals"},
	"multi":   {"StringEquals", "StringLike", "StringNotLike", "StringNotEquals"},
	"bool":    {"Bool"},
	"ip":      {"IpAddress", "NotIpAddress"},
	"date":    {"DateLessThan", "DateGreaterThan", "DateLessThanEquals", "DateGreaterThanEquals", "DateEquals", "DateNotEquals"},
	"numeric": {"NumericLessThan", "NumericGreaterThan", "NumericEquals", "NumericNotEquals", "NumericLessThanEquals", "NumericGreaterThanEquals"},
}

func (g *gen) condition() map[string]map[string]any {
	c := map[string]map[string]any{}
	n := 1 + g.r.IntN(g.p.MaxConditionKeys)
	for range n {
		k := pick(g, condKeys)
		key := k.name
		if g.chance(g.p.PCaseVariant) {
			g.feat("cond:key-case")
			key = strings.ToUpper(key[:1]) + key[1:]
		}
		if g.chance(0.12) {
			g.feat("cond:Null")
			block := c["Null"]
			if block == nil {
				block = map[string]any{}
				c["Null"] = block
			}
			block[key] = pick(g, []string{"true", "false"})
			continue
		}
		op := pick(g, operatorsByFamily[k.family])
		set := ""
		switch {
		case k.family == "multi" && g.chance(0.75):
			set = pick(g, []string{"ForAnyValue:", "ForAllValues:"})
		case k.family != "multi" && g.chance(0.08):
			set = pick(g, []string{"ForAnyValue:", "ForAllValues:"})
		}
		if k.family == "multi" && set == "" {
			g.feat("cond:multivalued-plain")
		}
		if set != "" {
			g.feat("set:" + strings.TrimSuffix(set, ":"))
		}
		ifExists := ""
		if g.chance(0.2) {
			ifExists = "IfExists"
			g.feat("cond:IfExists")
			if set == "ForAnyValue:" {
				g.feat("cond:ForAnyValue-IfExists")
			}
		}
		full := set + op + ifExists
		g.feat("op:" + op)
		var val any
		nv := 1 + g.r.IntN(2)
		vals := make([]string, nv)
		for i := range vals {
			vals[i] = pick(g, k.values)
			if vals[i] == "*" && (strings.HasPrefix(op, "Arn")) {
				g.feat("cond:arn-star")
			}
		}
		if nv == 1 {
			val = vals[0]
		} else {
			val = vals
		}
		block := c[full]
		if block == nil {
			block = map[string]any{}
			c[full] = block
		}
		block[key] = val
	}
	return c
}
