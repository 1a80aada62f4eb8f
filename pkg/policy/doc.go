// Package policy models an AWS KMS key policy document and evaluates it the
// way AWS does for a single request. It is pure: no I/O and no AWS SDK
// clients.
//
// Parse accepts every valid shape of a key policy (a single statement object
// or a list, strings or lists for Action/Resource/Principal values,
// "Principal": "*", NotPrincipal/NotAction/NotResource, any condition
// operator, unknown fields) and Marshal writes it back keeping every
// statement and unknown field in meaning and order. Statements built in
// code (trailguard's own) are added with Append or Replace, found with Find,
// and written from their fields in a stable order.
//
// Evaluate decides one Request (caller, action, key ARN, condition keys)
// against the policy alone, with three-valued conditions: a condition the
// evaluator cannot decide (unknown operator, a condition key it does not
// model, see ModelledKey) never satisfies an Allow and makes a Deny count
// as possibly matching (Decision.Uncertain).
package policy
