// Package plan turns an observed trail state and the baseline into an
// ordered list of typed remediation actions. Key fixes always come before
// the UpdateTrail that depends on them. Each action kind declares the IAM
// permissions it needs, from which the infrastructure builds the functions'
// least-privilege policy.
//
// It is pure: it imports no AWS SDK service client and does no I/O.
package plan
