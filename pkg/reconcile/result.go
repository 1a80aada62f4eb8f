package reconcile

import (
	"encoding/json"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
)

// Outcome is what happened to one planned action.
type Outcome string

// The outcomes (CONTRACTS.md).
const (
	// Updated: the write was made.
	Updated Outcome = "updated"
	// Unchanged: a fresh re-read showed the write was not needed.
	Unchanged Outcome = "unchanged"
	// Planned: report mode; nothing was written.
	Planned Outcome = "planned"
	// Failed: the action could not be carried out (see Message).
	Failed Outcome = "failed"
	// Skipped: not attempted because an action it depends on failed, or
	// the loop guard stopped it.
	Skipped Outcome = "skipped"
)

// ActionResult is the outcome of one action of a plan.
type ActionResult struct {
	// Action is the API operation (plan.Kind).
	Action plan.Kind `json:"action"`
	// Target is the key ARN of a key action or the trail ARN of
	// UpdateTrail.
	Target  string  `json:"target"`
	Outcome Outcome `json:"outcome"`
	// Region is where the call is made.
	Region string `json:"region,omitempty"`
	// KMSKeyID is the key an UpdateTrail points the trail at.
	KMSKeyID string `json:"kms_key_id,omitempty"`
	// Message says why an action failed or was skipped.
	Message string `json:"message,omitempty"`
}

// Result is the outcome of reconciling one trail.
type Result struct {
	// Trail is the trail ARN (the name or ARN asked for when the trail
	// could not be read).
	Trail string `json:"trail"`
	// Account and Region are where the trail was observed (its home
	// Region).
	Account  string               `json:"account"`
	Region   string               `json:"region"`
	Findings []compliance.Finding `json:"findings"`
	Actions  []ActionResult       `json:"actions"`
	// Alerts are problems no action fixes, for a human: an explicit
	// Deny, a policy that would be too large, no baseline key, the loop
	// guard tripping.
	Alerts []string `json:"alerts,omitempty"`
	// Message is informational, e.g. that the trail no longer exists.
	Message string `json:"message,omitempty"`
	// Error is a terminal error for this trail (logged, not retried), or
	// a transient one in a sweep that went on with other trails.
	Error string `json:"error,omitempty"`
	// KMSKeyARN is the key the trail uses after the run, for the Security
	// Hub finding's AwsKmsKey resource (not part of the JSON result).
	KMSKeyARN string `json:"-"`
}

// Report is the handler's result: one Result per trail.
type Report struct {
	Results []Result `json:"results"`
	// Errors are terminal errors not tied to one trail (a key that cannot
	// be described, Regions or accounts that cannot be listed).
	Errors []string `json:"errors,omitempty"`
	// Alerts are problems not tied to one trail: an account and Region
	// where no trail is logging, so trailguard receives no events there.
	Alerts []string `json:"alerts,omitempty"`
}

// MarshalJSON writes nil lists as [] so the shape is always the same.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	p := plain(r)
	if p.Findings == nil {
		p.Findings = []compliance.Finding{}
	}
	if p.Actions == nil {
		p.Actions = []ActionResult{}
	}
	return json.Marshal(p)
}

// MarshalJSON writes a nil Results as [].
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(r)
	if p.Results == nil {
		p.Results = []Result{}
	}
	return json.Marshal(p)
}

// Changed reports whether any action of the result wrote something.
func (r Result) Changed() bool {
	for _, a := range r.Actions {
		if a.Outcome == Updated {
			return true
		}
	}
	return false
}

// Alerting reports whether the result needs a human: an alert, a terminal
// error or a failed action.
func (r Result) Alerting() bool {
	if len(r.Alerts) > 0 || r.Error != "" {
		return true
	}
	for _, a := range r.Actions {
		if a.Outcome == Failed {
			return true
		}
	}
	return false
}

// Changed reports whether any result wrote something.
func (r Report) Changed() bool {
	for _, res := range r.Results {
		if res.Changed() {
			return true
		}
	}
	return false
}

// Alerting reports whether any result needs a human, or the run had an
// error not tied to a trail.
func (r Report) Alerting() bool {
	if len(r.Errors) > 0 || len(r.Alerts) > 0 {
		return true
	}
	for _, res := range r.Results {
		if res.Alerting() {
			return true
		}
	}
	return false
}
