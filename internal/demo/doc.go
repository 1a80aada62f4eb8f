// Package demo runs trailguard's end-to-end demonstration against a local
// moto server: it creates real drift with SDK calls (an unencrypted trail,
// a trail whose key policy lacks CloudTrail's statements, a trail whose
// bucket is in another Region than its key, a key scheduled for deletion,
// and a compliant trail that must be left alone), turns every call into the
// CloudTrail event AWS would deliver, routes the events through EventBridge
// rules built from the stack's own patterns, drives the real handlers with
// what the rules deliver, and prints the state before and after.
package demo
