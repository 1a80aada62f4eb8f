// Package securityhub reports trailguard's findings to AWS Security Hub as
// AWS Security Finding Format (ASFF) findings, where security teams triage
// CloudTrail encryption (control CloudTrail.2, CIS 3.7).
//
// One finding per trail and rule, with a stable Id, is imported with
// BatchImportFindings under the account's default product ARN: FAILED
// while the rule fails, and PASSED with Workflow RESOLVED once the trail
// is compliant again. The package depends on the pure core (rule ids) and
// on the narrow API interface below, never on a concrete client.
package securityhub
