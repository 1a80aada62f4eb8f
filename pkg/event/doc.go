// Package event decodes the EventBridge "AWS API Call via CloudTrail"
// events trailguard reacts to into reconcile requests, and defines the
// EventBridge patterns that route them, once, for the handlers, the
// infrastructure and the demo. The event body is never trusted as state.
package event
