package plan

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// Make evaluates the state against the config and returns the ordered plan.
//
// Findings are compliance.Evaluate's. Nothing is planned for a trail
// trailguard may not change here (exempt, a shadow trail, an organization
// trail outside its management account). Otherwise:
//   - A pending deletion is cancelled first (the key's old logs stay
//     readable), also when the trail then moves to the baseline key.
//   - When the trail's key can be kept, it is fixed in place: EnableKey
//     (after the cancel, which leaves the key Disabled; unless
//     Config.DisabledKey says report or switch), PutKeyPolicy with
//     Grant = the trail's needs and Policy = the planned merge, and
//     EnableKeyRotation. No UpdateTrail.
//   - When the trail must switch (see compliance.Assessment.Switch) and the
//     baseline key is usable: PutKeyPolicy on the baseline key if its
//     policy lacks the grant, EnableKeyRotation on it if required, then
//     UpdateTrail in the trail's home Region.
//   - StartLogging last, when trail-not-logging is actionable (opt-in).
//
// Every finding that is not actionable becomes an alert, "rule: detail".
// Findings and Actions are empty, not nil, when there are none.
func Make(s compliance.State, c compliance.Config) Plan {
	a := compliance.Assess(s, c)
	p := Plan{Findings: a.Findings, Actions: []Action{}}
	if a.Blocked != "" {
		return p
	}
	actionable := map[compliance.Rule]bool{}
	for _, f := range a.Findings {
		if f.Actionable {
			actionable[f.Rule] = true
		} else {
			p.Alerts = append(p.Alerts, fmt.Sprintf("%s: %s", f.Rule, f.Detail))
		}
	}

	if a.CancelDeletion && s.Key != nil {
		target, region := s.Key.Where(s.BucketRegion)
		p.Actions = append(p.Actions, Action{Kind: CancelKeyDeletion, Target: target, Region: region,
			Rules: []compliance.Rule{compliance.KeyPendingDeletion}})
	}

	switch {
	case a.Switch && a.SwitchProblem == "" && s.Baseline != nil:
		p.switchTo(*s.Baseline, s, c, a.Findings)
	case s.Key != nil:
		p.fixInPlace(*s.Key, s, c, actionable)
	}
	if actionable[compliance.TrailNotLogging] {
		// By name: StartLogging takes a name or an ARN, and moto only a
		// name; the call is made in the trail's home Region and account.
		p.Actions = append(p.Actions, Action{Kind: StartLogging, Target: s.Trail.ARN, Region: homeRegion(s),
			Rules: []compliance.Rule{compliance.TrailNotLogging}, TrailName: cmp.Or(s.Trail.Name, trailName(s))})
	}
	return p
}

// homeRegion is where trail calls are made: the trail's home Region.
func homeRegion(s compliance.State) string {
	if s.Trail.HomeRegion != "" {
		return s.Trail.HomeRegion
	}
	return s.Region
}

// trailName is the name to call the trail by: its ARN, else its name.
func trailName(s compliance.State) string {
	if s.Trail.ARN != "" {
		return s.Trail.ARN
	}
	return s.Trail.Name
}

// fixInPlace plans the fixes of the trail's current key k.
func (p *Plan) fixInPlace(k compliance.Key, s compliance.State, c compliance.Config, actionable map[compliance.Rule]bool) {
	target, region := k.Where(s.BucketRegion)
	enable := c.DisabledKey == "" || c.DisabledKey == compliance.DisabledKeyEnable
	switch {
	case actionable[compliance.KeyPendingDeletion] && enable:
		p.Actions = append(p.Actions, Action{Kind: EnableKey, Target: target, Region: region,
			Rules: []compliance.Rule{compliance.KeyPendingDeletion}})
	case actionable[compliance.KeyDisabled]:
		p.Actions = append(p.Actions, Action{Kind: EnableKey, Target: target, Region: region,
			Rules: []compliance.Rule{compliance.KeyDisabled}})
	}
	var policyRules []compliance.Rule
	for _, r := range []compliance.Rule{compliance.KeyPolicyNoEncrypt, compliance.KeyPolicyNoDescribe, compliance.KeyPolicyNoReaderDecrypt, compliance.KeyPolicyNoBucketKeyDecrypt} {
		if actionable[r] {
			policyRules = append(policyRules, r)
		}
	}
	if len(policyRules) > 0 {
		p.putKeyPolicy(k, s, c, target, region, policyRules)
	}
	if actionable[compliance.KeyRotationDisabled] {
		p.Actions = append(p.Actions, Action{Kind: EnableKeyRotation, Target: target, Region: region,
			Rules: []compliance.Rule{compliance.KeyRotationDisabled}})
	}
}

// switchTo plans the move of the trail to the baseline key b.
func (p *Plan) switchTo(b compliance.Key, s compliance.State, c compliance.Config, findings []compliance.Finding) {
	target, region := b.Where(s.BucketRegion)
	if pf := compliance.PolicyFindings(b, s, c); len(pf) > 0 {
		var rules []compliance.Rule
		for _, f := range pf {
			rules = append(rules, f.Rule)
		}
		if !p.putKeyPolicy(b, s, c, target, region, rules) {
			return
		}
	}
	if c.RequireRotation && !b.RotationEnabled {
		p.Actions = append(p.Actions, Action{Kind: EnableKeyRotation, Target: target, Region: region,
			Rules: []compliance.Rule{compliance.KeyRotationDisabled}})
	}
	var rules []compliance.Rule
	for _, f := range findings {
		if f.Actionable && f.Rule != compliance.TrailNotLogging && !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
	}
	p.Actions = append(p.Actions, Action{Kind: UpdateTrail, Target: s.Trail.ARN, Region: homeRegion(s), Rules: rules,
		TrailName: trailName(s), KMSKeyID: target})
}

// putKeyPolicy plans the merge of the trail's grant into k's policy. It
// reports false (and adds an alert) in the unexpected case that the merge
// fails, so nothing depending on it is planned.
func (p *Plan) putKeyPolicy(k compliance.Key, s compliance.State, c compliance.Config, target, region string, rules []compliance.Rule) bool {
	g := compliance.GrantFor(k, s, c)
	merged, _, err := compliance.Merge(k.Policy, g)
	if err != nil {
		p.Alerts = append(p.Alerts, fmt.Sprintf("cannot plan the key policy of %s: %v", target, err))
		return false
	}
	p.Actions = append(p.Actions, Action{Kind: PutKeyPolicy, Target: target, Region: region, Rules: rules,
		Grant: &g, Policy: merged})
	return true
}
