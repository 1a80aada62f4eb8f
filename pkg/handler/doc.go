// Package handler holds the Lambda handlers of trailguard's three
// functions: TrailHandler (trail-remediator), KeyHandler (key-remediator)
// and SweepHandler (sweeper). Each decodes its event only into a request,
// runs the reconciler and returns its report, the JSON result of
// CONTRACTS.md. Events that are not theirs are acknowledged with a log line
// and an empty result; only transient errors are returned, so that Lambda
// retries them.
//
// trail-remediator and key-remediator read their events from an SQS queue:
// their Serve also accepts the queue's batch, handles each message's event
// in turn and reports the messages that failed transiently in
// "batchItemFailures" (the rest of the batch is acknowledged), next to the
// merged "results". A bare EventBridge event (a direct invocation) keeps
// working unchanged.
package handler
