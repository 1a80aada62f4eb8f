// Package reconcile is trailguard's effectful shell: it observes a trail and
// its keys through narrow AWS SDK interfaces, evaluates and plans with the
// pure packages (compliance, plan), executes the plan idempotently, and
// reports the outcome.
//
// The same Reconciler serves the event handlers (ReconcileTrail,
// ReconcileKey), the scheduled sweep (Sweep) and the command-line tool.
//
// Errors come in two classes. Terminal errors (access denied, validation, a
// trail trailguard may not change, a missing baseline key) are logged and
// recorded in the Result; they are not returned. Transient errors
// (throttling, 5xx, timeouts, the Lambda deadline) are returned, so that
// Lambda retries the event and its dead-letter queue applies.
package reconcile
