package compliance

// Rule is a stable rule id from the catalogue in KEY-POLICY.md. Ids are
// append-only: they appear in logs, results, metrics and docs.
type Rule string

// The rule catalogue.
const (
	TrailNotEncrypted           Rule = "trail-not-encrypted"
	TrailKeyMissing             Rule = "trail-key-missing"
	TrailKeyWrongRegion         Rule = "trail-key-wrong-region"
	TrailKeyUnusable            Rule = "trail-key-unusable"
	KeyDisabled                 Rule = "key-disabled"
	KeyPendingDeletion          Rule = "key-pending-deletion"
	KeyPolicyNoEncrypt          Rule = "key-policy-no-encrypt"
	KeyPolicyNoDescribe         Rule = "key-policy-no-describe"
	KeyPolicyNoReaderDecrypt    Rule = "key-policy-no-reader-decrypt"
	KeyPolicyDeniesCloudTrail   Rule = "key-policy-denies-cloudtrail"
	KeyPolicyTooLarge           Rule = "key-policy-too-large"
	KeyRotationDisabled         Rule = "key-rotation-disabled"
	TrailDeliveryFailing        Rule = "trail-delivery-failing"
	TrailNotLogging             Rule = "trail-not-logging"
	KeyPolicyNoBucketKeyDecrypt Rule = "key-policy-no-bucket-key-decrypt"
	KeyUnverifiable             Rule = "key-unverifiable"
	TrailUnverifiable           Rule = "trail-unverifiable"
)

// Finding is one failed rule for one trail.
type Finding struct {
	Rule   Rule   `json:"rule"`
	Detail string `json:"detail"`
	// Actionable is false when trailguard may not act on it here: an
	// exempt trail, a shadow trail outside its home Region, an
	// organization trail outside its management account, or a finding
	// with no automatic fix (it becomes an alert).
	Actionable bool `json:"actionable"`
}
