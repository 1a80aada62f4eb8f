package plan

import "github.com/trailguard/trailguard/pkg/compliance"

// Kind is the type of a remediation action. Its string is the AWS API
// operation the executor calls and the "action" field of a result.
type Kind string

// The action kinds, in the order they may appear in a plan.
const (
	CancelKeyDeletion Kind = "CancelKeyDeletion"
	EnableKey         Kind = "EnableKey"
	PutKeyPolicy      Kind = "PutKeyPolicy"
	EnableKeyRotation Kind = "EnableKeyRotation"
	UpdateTrail       Kind = "UpdateTrail"
	// StartLogging restarts a trail that stopped logging (opt-in:
	// compliance.Config.StartLogging). It comes last and does not depend
	// on the key fixes before it.
	StartLogging Kind = "StartLogging"
)

// Action is one typed remediation step. It is a value, not a closure, so a
// plan can be printed, diffed, dry-run and permission-checked.
type Action struct {
	Kind Kind `json:"action"`
	// Target is the key ARN for key actions and the trail ARN for
	// UpdateTrail and StartLogging.
	Target string `json:"target"`
	// Region is where the call must be made (the key's Region, or the
	// trail's home Region).
	Region string `json:"region"`
	// Rules are the findings this action fixes.
	Rules []compliance.Rule `json:"rules,omitempty"`

	// Grant (PutKeyPolicy) is what the key policy must grant; the
	// executor re-reads the policy and merges Grant again right before
	// writing, so a concurrent edit is never lost.
	Grant *compliance.Grant `json:"grant,omitempty"`
	// Policy (PutKeyPolicy) is the merged policy as planned from the
	// observed document, for display and dry run.
	Policy string `json:"-"`

	// TrailName (UpdateTrail) is the trail's name or ARN; KMSKeyID is
	// the key ARN to point it at.
	TrailName string `json:"-"`
	KMSKeyID  string `json:"kms_key_id,omitempty"`
}

// Plan is the outcome of planning for one trail.
type Plan struct {
	Findings []compliance.Finding `json:"findings"`
	Actions  []Action             `json:"actions"`
	// Alerts are findings no action fixes (an explicit Deny, a policy
	// that would be too large, no baseline key in the bucket's Region);
	// the reconciler notifies about them.
	Alerts []string `json:"alerts,omitempty"`
}
