// Package policydiff generates key policies and KMS requests for a
// differential test of trailguard's key-policy evaluator (pkg/policy)
// against an independent IAM simulator, @cloud-copilot/iam-simulate
// (run by diff_test.go through Node; see testdata/iamsim).
//
// The generator is seeded and bounded: Generate(seed, n, profile) always
// yields the same n cases. A case carries the policy as JSON, the request
// as trailguard sees it (policy.Request) and as the simulator sees it
// (principal string, context map), and the features it uses, from which a
// disagreement's class is read (see Allowlist).
package policydiff
