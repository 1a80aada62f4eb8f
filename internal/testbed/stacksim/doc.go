// Package stacksim runs trailguard's Lambda handlers the way the deployed
// stack (infra/) invokes them, for the reliability tests.
//
// EventBridge rules built from the stack's own patterns (pkg/event) route
// each CloudTrail API-call event to its function. Each function has the
// stack's reserved concurrency (1: one invocation at a time; further events
// wait in Lambda's asynchronous queue and start in no particular order),
// its timeout, and Lambda's asynchronous retries (2), after which the event
// goes to the dead-letter queue. FromCall turns the API calls trailguard
// itself makes, seen by an awsproxy.Proxy, into the events CloudTrail
// records for them, so that self-triggering, re-delivery and loops happen
// as they do in AWS.
//
// The reliability and security tests of issue 7 live in this package's
// tests, each against its own moto server behind an awsproxy.Proxy:
// convergence under 30% faults (fault_test.go), a crash between
// PutKeyPolicy and UpdateTrail (crash_test.go), 20 trails racing onto one
// shared key with concurrent human edits (race_test.go), self-triggering
// and fighting automation (loop_test.go), the hostile event and policy
// corpora through the real handlers (hostile_test.go) and least privilege
// (permissions_test.go). docs/THREAT-MODEL.md says which claim each backs.
//
// What it does not model: EventBridge's own delivery retries and delays
// (an event is delivered at once, exactly once per matching rule), Lambda
// cold starts (a Handler is one warm container for the whole run), and
// the real retry delays (minutes in Lambda, Options.RetryDelay here).
package stacksim
