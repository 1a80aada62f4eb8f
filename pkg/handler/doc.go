// Package handler holds the Lambda handlers of trailguard's three
// functions: TrailHandler (trail-remediator), KeyHandler (key-remediator)
// and SweepHandler (sweeper). Each decodes its event only into a request,
// runs the reconciler and returns its report, the JSON result of
// CONTRACTS.md. Events that are not theirs are acknowledged with a log line
// and an empty result; only transient errors are returned, so that Lambda
// retries them.
package handler
