package compliance

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trailguard/trailguard/pkg/policy"
)

// Assessment is Evaluate's verdict on one trail together with the decision
// the planner turns into actions, so that a finding is Actionable exactly
// when the plan has an action for it.
type Assessment struct {
	// Findings are the failed rules, as Evaluate returns them (empty, not
	// nil, when there are none).
	Findings []Finding
	// Blocked says why trailguard may change nothing for this trail here:
	// the trail is exempt, a shadow trail outside its home Region, an
	// organization trail outside its management account, or its ARN is
	// not a trail ARN. "" when it may act.
	Blocked string
	// Switch is true when the trail must move to the baseline key: it is
	// not encrypted, or its key is missing, in the wrong Region, unusable,
	// has a policy that explicitly denies CloudTrail, does not parse or
	// would grow too large, or is disabled and Config.DisabledKey is
	// "switch".
	Switch bool
	// SwitchProblem says why the switch is impossible (no usable baseline
	// key, or the trail already uses it); "" when it is possible or not
	// needed. The findings that need the switch then become alerts.
	SwitchProblem string
	// CancelDeletion is true when the trail's current key is pending
	// deletion and trailguard may cancel it: always done first, even when
	// the trail moves to the baseline key, to protect the logs the key
	// encrypted.
	CancelDeletion bool
}

// fix is how one finding can be fixed.
type fix int

const (
	fixAlert   fix = iota // no automatic fix: an alert
	fixInPlace            // an action on the trail's current key
	fixSwitch             // only moving the trail to the baseline key
)

// item is a finding before actionability is decided.
type item struct {
	rule   Rule
	detail string
	fix    fix
	// why there is no fix, for fixAlert items.
	why string
}

// Evaluate returns every failed rule for the observed state, in catalogue
// order; an empty, non-nil slice when the trail is compliant. It is
// Assess(s, c).Findings.
func Evaluate(s State, c Config) []Finding { return Assess(s, c).Findings }

// Assess evaluates the state and decides how the findings are fixed.
//
// The rules:
//   - trail-not-encrypted, trail-key-missing, trail-key-wrong-region and
//     trail-key-unusable are fixed by switching to the baseline key; the
//     key-level rules below are not evaluated on a key the trail must leave
//     for one of these reasons.
//   - key-disabled is fixed by EnableKey, by the switch, or only reported,
//     as Config.DisabledKey says; key-pending-deletion by CancelKeyDeletion
//     (always: it protects the logs already written) and then as
//     key-disabled.
//   - The policy rules are evaluated as in PolicyFindings. A policy that
//     does not parse is reported as key-policy-no-encrypt and fixed by the
//     switch: trailguard never merges into a document it cannot read, and
//     CloudTrail cannot be shown to be allowed. A policy that could not be
//     read at all (Key.Policy == "") is reported under the same rule as an
//     alert, without a switch: trailguard does not move a trail away from
//     a key only because it lacks permission to read the policy.
//   - key-rotation-disabled (only with Config.RequireRotation) is fixed by
//     EnableKeyRotation when the key is, or will be, enabled.
//   - trail-delivery-failing is always an alert.
//
// When a switch is needed and possible, every finding except
// trail-delivery-failing is actionable (the switch leaves them behind).
// A key in another account than the one observed is never changed in
// place. The detail of a finding that is not actionable says why.
func Assess(s State, c Config) Assessment {
	a := Assessment{Findings: []Finding{}}
	a.Blocked = blockReason(s, c)
	items, pendingSwitch := trailItems(s, c)
	a.Switch = pendingSwitch
	for _, it := range items {
		if it.fix == fixSwitch {
			a.Switch = true
		}
		if it.rule == KeyPendingDeletion && it.fix == fixInPlace && a.Blocked == "" {
			a.CancelDeletion = true
		}
	}
	if a.Switch {
		a.SwitchProblem = switchProblem(s, c)
	}
	for _, it := range items {
		f := Finding{Rule: it.rule, Detail: it.detail}
		switch {
		case a.Blocked != "":
			f.Detail += "; not actionable here: " + a.Blocked
		case trailLevel[it.rule] && it.fix != fixInPlace:
			// Moving the trail to another key does not fix these.
			f.Detail += "; no automatic fix: " + it.why
		case a.Switch && a.SwitchProblem == "":
			f.Actionable = true
		case it.fix == fixInPlace:
			f.Actionable = true
		case it.fix == fixSwitch:
			f.Detail += "; no automatic fix: cannot switch to the baseline key: " + a.SwitchProblem
		default:
			f.Detail += "; no automatic fix: " + it.why
		}
		a.Findings = append(a.Findings, f)
	}
	sortFindings(a.Findings)
	return a
}

// sortFindings puts findings in catalogue order (stable).
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int { return ruleOrder[a.Rule] - ruleOrder[b.Rule] })
}

// ruleOrder is each rule's index in the catalogue.
var ruleOrder = func() map[Rule]int {
	m := map[Rule]int{}
	for i, info := range Catalogue() {
		m[info.ID] = i
	}
	return m
}()

// PolicyFindings evaluates key k's policy (k.Policy) for the trail in s:
// key-policy-no-encrypt, -no-describe, -no-reader-decrypt,
// -denies-cloudtrail and -too-large. The requests are those of Needs(s, c)
// against k's ARN in the bucket's Region. A finding is actionable when
// merging Needs into the policy fixes it and trailguard may act on the
// trail; the executor calls it on a freshly read policy right before
// UpdateTrail and must not switch while it returns anything.
func PolicyFindings(k Key, s State, c Config) []Finding {
	blocked := blockReason(s, c)
	var out []Finding
	for _, it := range policyItems(&k, s, c) {
		f := Finding{Rule: it.rule, Detail: it.detail}
		switch {
		case blocked != "":
			f.Detail += "; not actionable here: " + blocked
		case it.fix == fixInPlace:
			f.Actionable = true
		case it.fix == fixSwitch:
			f.Detail += "; no fix on this key"
		default:
			f.Detail += "; no automatic fix: " + it.why
		}
		out = append(out, f)
	}
	sortFindings(out)
	return out
}

// blockReason says why trailguard may change nothing for the trail here.
func blockReason(s State, c Config) string {
	t, ok := parseTrailARN(s.Trail.ARN)
	if !ok {
		return fmt.Sprintf("trail ARN %q is not a CloudTrail trail ARN", s.Trail.ARN)
	}
	tag := c.ExemptTag
	if tag == "" {
		tag = DefaultExemptTag
	}
	if v, ok := s.Trail.Tags[tag]; ok && strings.EqualFold(strings.TrimSpace(v), "true") {
		return fmt.Sprintf("the trail is exempt (tag %s=%s)", tag, v)
	}
	if home := homeRegion(s); s.Region != "" && home != "" && s.Region != home {
		return fmt.Sprintf("this is a shadow of a multi-Region trail whose home Region is %s; it is fixed there", home)
	}
	if s.Trail.IsOrganizationTrail && s.Account != "" && s.Account != t.Account {
		return fmt.Sprintf("organization trail owned by management account %s, observed in account %s; it is fixed in the management account", t.Account, s.Account)
	}
	return ""
}

// homeRegion is the trail's home Region: Trail.HomeRegion, else the Region
// in its ARN.
func homeRegion(s State) string {
	if s.Trail.HomeRegion != "" {
		return s.Trail.HomeRegion
	}
	if t, ok := parseTrailARN(s.Trail.ARN); ok {
		return t.Region
	}
	return ""
}

// foreignKey says why k cannot be changed from the observed account ("" when
// it can).
func foreignKey(k *Key, s State) string {
	if acct := keyAccount(k); acct != "" && s.Account != "" && acct != s.Account {
		return fmt.Sprintf("key %s is in account %s; trailguard changes keys only in the account it observes (%s)", k.ARN, acct, s.Account)
	}
	return ""
}

// trailItems evaluates every rule. pendingSwitch is true when the trail's
// key is pending deletion and Config.DisabledKey is "switch": after the
// cancel the key is disabled, and the switch is wanted.
func trailItems(s State, c Config) (items []item, pendingSwitch bool) {
	k := s.Key
	switch {
	case s.Trail.KMSKeyID == "":
		items = append(items, item{rule: TrailNotEncrypted, fix: fixSwitch,
			detail: fmt.Sprintf("trail %s writes log files to s3://%s without SSE-KMS", s.Trail.ARN, s.Trail.S3BucketName)})
	case k == nil && s.KeyDenied:
		// A denied read is not a missing key: the key may be in another
		// account, or its policy may not delegate to IAM. Never switch on it.
		items = append(items, item{rule: KeyUnverifiable, fix: fixAlert,
			detail: fmt.Sprintf("trail key %s cannot be read: %s", s.Trail.KMSKeyID, cmp.Or(s.KeyError, "access denied")),
			why:    "trailguard never switches a trail or edits a key on the basis of a read it was denied"})
	case k == nil:
		why := s.KeyError
		if why == "" {
			why = "it could not be described"
		}
		items = append(items, item{rule: TrailKeyMissing, fix: fixSwitch,
			detail: fmt.Sprintf("trail key %s: %s", s.Trail.KMSKeyID, why)})
	default:
		var leave bool
		if s.BucketRegion != "" {
			if _, ok := k.ARNIn(s.BucketRegion); !ok {
				leave = true
				items = append(items, item{rule: TrailKeyWrongRegion, fix: fixSwitch,
					detail: fmt.Sprintf("key %s is in Region %s but bucket %s is in %s (and the key has no multi-Region replica there)",
						k.ARN, keyRegion(k), s.Trail.S3BucketName, s.BucketRegion)})
			}
		}
		if p := usabilityProblems(k); len(p) > 0 {
			leave = true
			items = append(items, item{rule: TrailKeyUnusable, fix: fixSwitch,
				detail: fmt.Sprintf("CloudTrail cannot use key %s: %s", k.ARN, strings.Join(p, ", "))})
		}
		if !leave {
			var more []item
			more, pendingSwitch = keyItems(k, s, c)
			items = append(items, more...)
		}
	}
	items = append(items, trailLevelItems(s, c)...)
	if msg := s.LatestDeliveryError; msg != "" && deliveryErrorNamesKMS(msg, s.Trail.KMSKeyID != "") {
		items = append(items, item{rule: TrailDeliveryFailing, fix: fixAlert,
			detail: fmt.Sprintf("latest log delivery failed: %q", msg),
			why:    "trailguard re-evaluates the trail's key on every run and alerts while delivery still fails"})
	}
	return items, pendingSwitch
}

// keyItems evaluates the key-level rules of a key the trail may keep.
func keyItems(k *Key, s State, c Config) (items []item, pendingSwitch bool) {
	foreign := foreignKey(k, s)
	if foreign == "" && k.Policy == "" {
		// A key whose policy could not be read is not edited at all.
		foreign = fmt.Sprintf("the policy of key %s could not be read; trailguard does not change a key it cannot verify", k.ARN)
	}
	inPlace := func(it item) item {
		if foreign != "" {
			it.fix, it.why = fixAlert, foreign
		}
		return it
	}
	willBeEnabled := k.State == KeyStateEnabled
	switch k.State {
	case KeyStateDisabled:
		it := item{rule: KeyDisabled, detail: fmt.Sprintf("key %s is Disabled: CloudTrail cannot deliver log files", k.ARN)}
		switch c.DisabledKey {
		case DisabledKeySwitch:
			it.fix = fixSwitch
		case DisabledKeyReport:
			it.fix, it.why = fixAlert, `Config.DisabledKey is "report"`
		default:
			it.fix = fixInPlace
			it = inPlace(it)
			willBeEnabled = it.fix == fixInPlace
		}
		items = append(items, it)
	case KeyStatePendingDeletion:
		it := inPlace(item{rule: KeyPendingDeletion, fix: fixInPlace,
			detail: fmt.Sprintf("key %s is pending deletion: CloudTrail cannot deliver, and the logs it encrypted become unreadable when it is deleted", k.ARN)})
		items = append(items, it)
		pendingSwitch = c.DisabledKey == DisabledKeySwitch
		willBeEnabled = it.fix == fixInPlace && (c.DisabledKey == "" || c.DisabledKey == DisabledKeyEnable)
	}
	items = append(items, policyItems(k, s, c)...)
	if c.RequireRotation && k.RotationUnknown {
		items = append(items, item{rule: KeyUnverifiable, fix: fixAlert,
			detail: fmt.Sprintf("the rotation status of key %s could not be read", k.ARN),
			why:    "trailguard does not enable rotation on the basis of a read it was denied"})
	} else if c.RequireRotation && !k.RotationEnabled {
		it := inPlace(item{rule: KeyRotationDisabled, fix: fixInPlace,
			detail: fmt.Sprintf("automatic rotation is off for key %s", k.ARN)})
		if it.fix == fixInPlace && !willBeEnabled {
			it.fix, it.why = fixAlert, "the key is not enabled"
		}
		items = append(items, it)
	}
	return items, pendingSwitch
}

// policyItems evaluates k's policy for the trail in s.
func policyItems(k *Key, s State, c Config) []item {
	if k.Policy == "" {
		return []item{{rule: KeyUnverifiable, fix: fixAlert,
			detail: fmt.Sprintf("the key policy of %s could not be read, so CloudTrail's access cannot be checked", k.ARN),
			why:    "trailguard does not change a policy it cannot read"}}
	}
	doc, err := policy.Parse([]byte(k.Policy))
	if err != nil {
		return []item{{rule: KeyPolicyNoEncrypt, fix: fixSwitch,
			detail: fmt.Sprintf("the key policy of %s does not parse, so CloudTrail cannot be shown to be allowed and trailguard never merges into it: %v", k.ARN, err)}}
	}
	g := keyGrant(k, s, c)
	if len(g.TrailARNs) == 0 {
		return []item{{rule: KeyPolicyNoEncrypt, fix: fixAlert,
			detail: fmt.Sprintf("trail ARN %q is not a CloudTrail trail ARN, so the policy of key %s cannot be checked", s.Trail.ARN, k.ARN),
			why:    "the trail ARN is not valid"}}
	}
	var denied []string
	missing, undecided := map[Rule][]string{}, map[Rule][]string{}
	for _, ck := range grantChecks(g) {
		d := doc.Evaluate(ck.req)
		switch d.Effect {
		case policy.ExplicitDeny:
			msg := fmt.Sprintf("statement %s denies %s to %s for trail %s", d.Statement, ck.what, ck.who, ck.trail)
			if d.Uncertain {
				msg += uncertainNote(d.Reason)
			}
			denied = append(denied, msg)
		case policy.ImplicitDeny:
			missing[ck.rule] = append(missing[ck.rule], ck.who)
			if d.Uncertain {
				// An Allow trailguard could not decide is not counted;
				// say which and why, so the finding explains itself.
				undecided[ck.rule] = append(undecided[ck.rule], fmt.Sprintf("statement %s (for %s) was not counted: %s", d.Statement, ck.who, d.Reason))
			}
		}
	}
	var items []item
	if len(denied) > 0 {
		items = append(items, item{rule: KeyPolicyDeniesCloudTrail, fix: fixSwitch,
			detail: fmt.Sprintf("key %s: %s", k.ARN, strings.Join(denied, "; "))})
	}
	var fixes []item
	for _, rule := range []Rule{KeyPolicyNoEncrypt, KeyPolicyNoDescribe, KeyPolicyNoReaderDecrypt, KeyPolicyNoBucketKeyDecrypt} {
		who := missing[rule]
		if len(who) == 0 {
			continue
		}
		var detail string
		switch rule {
		case KeyPolicyNoEncrypt:
			detail = fmt.Sprintf("the policy of key %s does not let %s call kms:GenerateDataKey for trail %s", k.ARN, CloudTrailService, s.Trail.ARN)
		case KeyPolicyNoDescribe:
			detail = fmt.Sprintf("the policy of key %s does not let %s call kms:DescribeKey for trail %s", k.ARN, CloudTrailService, s.Trail.ARN)
		case KeyPolicyNoBucketKeyDecrypt:
			detail = fmt.Sprintf("bucket %s uses an S3 Bucket Key (or its encryption could not be read and the trail is moving to this key), and the policy of key %s does not let %s call kms:Decrypt for trail %s, which CloudTrail needs to create or update the trail with SSE-KMS",
				s.Trail.S3BucketName, k.ARN, CloudTrailService, s.Trail.ARN)
		default:
			detail = fmt.Sprintf("the policy of key %s does not let %s decrypt the log files of trail %s", k.ARN, strings.Join(sortedSet(who), ", "), s.Trail.ARN)
		}
		if u := undecided[rule]; len(u) > 0 {
			detail += "; " + strings.Join(sortedSet(u), "; ")
		}
		fixes = append(fixes, item{rule: rule, detail: detail, fix: fixInPlace})
	}
	if len(fixes) == 0 {
		return items
	}
	why := ""
	switch {
	case len(denied) > 0:
		why = "an explicit Deny in the policy blocks CloudTrail, and trailguard never removes statements"
	case foreignKey(k, s) != "":
		why = foreignKey(k, s)
	default:
		ng, err := normalizeGrant(g)
		if err == nil {
			// doc is not used after this: merge into it.
			_, _, err = mergeDoc(doc, k.Policy, ng, false)
		}
		if errors.Is(err, ErrTooLarge) {
			items = append(items, item{rule: KeyPolicyTooLarge, fix: fixSwitch,
				detail: fmt.Sprintf("adding trailguard's statements to the policy of key %s would exceed %d bytes", k.ARN, policy.MaxSize)})
			why = "the merged policy would be too large"
		} else if errors.Is(err, ErrInvalidPolicy) {
			// A statement under trailguard's Sid that trailguard may not
			// rebuild: leave this key's policy alone and move the trail
			// to the baseline key, as for a Deny.
			for i := range fixes {
				fixes[i].fix = fixSwitch
				fixes[i].detail += "; trailguard cannot add its statements: " + err.Error()
			}
			return append(items, fixes...)
		} else if err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		for i := range fixes {
			fixes[i].fix, fixes[i].why = fixAlert, why
		}
	}
	return append(items, fixes...)
}

// uncertainNote explains an uncertain Deny in a finding or error: the
// Deny is counted although trailguard could not decide it (reason, from
// policy.Decision.Reason).
func uncertainNote(reason string) string {
	if strings.HasPrefix(reason, "condition ") {
		return " (a condition trailguard cannot evaluate may match: " + reason + ")"
	}
	return " (trailguard cannot decide whether it applies, so it counts: " + reason + ")"
}

// keyGrant is Needs(s, c) aimed at key k as it serves the bucket's Region.
func keyGrant(k *Key, s State, c Config) Grant {
	g := Needs(s, c)
	g.KeyARN = k.ARN
	if a, ok := k.ARNIn(s.BucketRegion); ok {
		g.KeyARN = a
	}
	if s.BucketKey == BucketKeyUnknown && len(g.TrailARNs) > 0 && movingTo(k, s) {
		// The bucket's encryption could not be read (a log-archive bucket
		// in another account): before pointing the trail at k, grant
		// CloudTrail the Decrypt it needs if the bucket uses an S3 Bucket
		// Key, so UpdateTrail cannot fail for want of it. A trail that
		// keeps its key already works and is left alone.
		g.BucketKeyTrails = []string{s.Trail.ARN}
	}
	return g
}

// movingTo reports whether the trail in s is about to be pointed at k: k is
// the baseline key and the trail does not use it yet.
func movingTo(k *Key, s State) bool {
	b := s.Baseline
	if b == nil || b.ARN != k.ARN {
		return false
	}
	bARN, _ := b.Where(s.BucketRegion)
	return s.Trail.KMSKeyID != b.ARN && s.Trail.KMSKeyID != bARN
}

// GrantFor is Needs(s, c) with KeyARN set to k's ARN in the bucket's Region
// (its replica's ARN for a multi-Region key): the grant of a PutKeyPolicy
// on k.
func GrantFor(k Key, s State, c Config) Grant { return keyGrant(&k, s, c) }

// switchProblem says why the trail cannot move to the baseline key.
func switchProblem(s State, c Config) string {
	b := s.Baseline
	if b == nil {
		region := s.BucketRegion
		if region == "" {
			region = "(unknown: the bucket's Region could not be read)"
		}
		msg := fmt.Sprintf("no baseline key in Region %s", region)
		if s.BaselineError != "" {
			msg += ": " + s.BaselineError
		}
		return msg
	}
	if bARN, _ := b.Where(s.BucketRegion); s.Trail.KMSKeyID != "" &&
		(s.Trail.KMSKeyID == b.ARN || s.Trail.KMSKeyID == bARN || (s.Key != nil && s.Key.ARN == b.ARN)) {
		return fmt.Sprintf("the trail already uses the baseline key %s", b.ARN)
	}
	var p []string
	if b.State != KeyStateEnabled {
		p = append(p, fmt.Sprintf("its state is %q", b.State))
	}
	for _, u := range usabilityProblems(b) {
		if !strings.HasPrefix(u, "its state") {
			p = append(p, u)
		}
	}
	if _, ok := b.ARNIn(s.BucketRegion); !ok {
		p = append(p, fmt.Sprintf("it is in Region %s, not the bucket's Region %s", keyRegion(b), s.BucketRegion))
	}
	if len(p) > 0 {
		return fmt.Sprintf("baseline key %s is unusable: %s", b.ARN, strings.Join(p, ", "))
	}
	for _, it := range policyItems(b, s, c) {
		if it.fix != fixInPlace {
			return fmt.Sprintf("baseline key %s: %s", b.ARN, it.detail)
		}
	}
	if c.RequireRotation && !b.RotationEnabled {
		if f := foreignKey(b, s); f != "" {
			return "rotation is off for the baseline key and " + f
		}
	}
	return ""
}

// deliveryErrorNamesKMS reports whether a LatestDeliveryError names a KMS
// problem: it mentions KMS (KMS.DisabledException, KMS.NotFoundException,
// KMS.KMSInvalidStateException, ...), or, for an encrypted trail, access
// denied.
func deliveryErrorNamesKMS(msg string, encrypted bool) bool {
	l := strings.ToLower(msg)
	return strings.Contains(l, "kms") || (encrypted && strings.Contains(l, "accessdenied"))
}
