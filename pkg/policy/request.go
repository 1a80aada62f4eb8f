package policy

// Caller is who makes a request.
type Caller struct {
	// Service is a service principal such as "cloudtrail.amazonaws.com";
	// empty for an AWS (IAM) principal.
	Service string
	// ARN is the IAM principal ARN (user, role, assumed role) or an
	// account root "arn:aws:iam::111122223333:root" standing for the
	// account's principals whose access the key policy delegates to IAM.
	ARN string
}

// Request is one KMS API request as the key policy sees it.
type Request struct {
	Caller Caller
	// Action like "kms:GenerateDataKey".
	Action string
	// Resource is the key ARN.
	Resource string
	// Context holds the request's condition keys (lower-cased keys are
	// not required: lookups are case-insensitive) and their values.
	// Keys listed here are present; modelled keys not listed are known
	// to be absent; any other key is unknown to the evaluator.
	Context map[string][]string
}

// Effect is the outcome of evaluating a request.
type Effect int

const (
	// ImplicitDeny: no Allow statement matched (and no Deny did).
	ImplicitDeny Effect = iota
	// Allowed: some Allow statement matched and no Deny could.
	Allowed
	// ExplicitDeny: a Deny statement matches, or may match because one of
	// its conditions could not be evaluated.
	ExplicitDeny
)

// Decision is the result of Evaluate.
type Decision struct {
	Effect Effect
	// Statement is the Sid (or "#index" when it has none) of the statement
	// that decided: the matching Deny, or the first matching Allow; for an
	// uncertain ImplicitDeny, the first Allow that could not be decided.
	Statement string
	// Uncertain is true when the verdict rests on a statement trailguard
	// could not decide. With ExplicitDeny: a Deny that may match was
	// counted as matching. With ImplicitDeny: an Allow that may match was
	// not counted (an uncertain Allow never grants). Never set with Allowed.
	Uncertain bool
	// Reason says why the statement could not be decided (empty unless
	// Uncertain), e.g. "Allow with NotPrincipal is not supported by AWS".
	Reason string
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Effect == Allowed }
