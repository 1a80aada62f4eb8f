// Package compliance holds trailguard's rule catalogue and decides, for one
// CloudTrail trail and its SSE-KMS key, which rules fail. It also builds the
// key-policy statements CloudTrail and the log readers need and merges them
// into an existing policy without touching anyone else's statements.
//
// It is pure: it imports no AWS SDK service client and does no I/O.
package compliance
