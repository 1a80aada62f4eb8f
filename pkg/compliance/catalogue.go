package compliance

// RuleInfo describes one rule of the catalogue for the README, the CLI and
// notifications.
type RuleInfo struct {
	ID Rule `json:"id"`
	// Summary says what is wrong when the rule fails.
	Summary string `json:"summary"`
	// Fix is the automatic fix trailguard applies.
	Fix string `json:"fix"`
}

// Catalogue returns every rule in catalogue order, with the text of the
// table in KEY-POLICY.md. It returns a new slice on every call.
func Catalogue() []RuleInfo {
	return []RuleInfo{
		{TrailNotEncrypted, "trail has no KmsKeyId", "make the baseline key's policy compliant, then UpdateTrail to it"},
		{TrailKeyMissing, "the key does not exist (KMS answers NotFound; a denied read is key-unverifiable)", "switch to the baseline key"},
		{TrailKeyWrongRegion, "key not in the bucket's Region (and no multi-Region replica there)", "switch to the baseline key of the bucket's Region"},
		{TrailKeyUnusable, "key is AWS managed, asymmetric/HMAC, or not ENCRYPT_DECRYPT", "switch to the baseline key"},
		{KeyDisabled, "the trail's key is Disabled", "EnableKey (configurable: switch, or report only)"},
		{KeyPendingDeletion, "the trail's key is PendingDeletion", "CancelKeyDeletion + EnableKey: protects logs already written"},
		{KeyPolicyNoEncrypt, "CloudTrail may not GenerateDataKey* for this trail", "add the encrypt statement"},
		{KeyPolicyNoDescribe, "CloudTrail may not DescribeKey", "add the describe statement"},
		{KeyPolicyNoReaderDecrypt, "a configured reader (default: the trail's own account) may not decrypt the logs", "add the reader statement"},
		{KeyPolicyDeniesCloudTrail, "an explicit Deny blocks a needed action", "none on that key (statements are never removed); switch to the baseline key if allowed, else alert"},
		{KeyPolicyTooLarge, "the merged policy would exceed 32 KB", "none: alert"},
		{KeyRotationDisabled, "automatic rotation off (opt-in rule)", "EnableKeyRotation"},
		{TrailDeliveryFailing, "LatestDeliveryError names a KMS problem", "re-evaluate; alert if still failing"},
		{TrailNotLogging, "the trail's IsLogging is false (trailguard goes blind where no trail logs)", "alert; opt-in StartLogging (TRAILGUARD_START_LOGGING=true)"},
		{KeyPolicyNoBucketKeyDecrypt, "the bucket uses an S3 Bucket Key and the key policy lacks the kms:Decrypt CloudTrail documents for it", "add the statement"},
		{KeyUnverifiable, "a read of the key (DescribeKey, GetKeyPolicy) was denied: it cannot be checked", "none: report and alert; never switch or edit on a denied read"},
		{TrailUnverifiable, "a read of the trail's status or its bucket's Region was denied or failed: those rules cannot be checked", "none: report and alert"},
	}
}

// Info returns the catalogue entry of r and whether r is in the catalogue.
func (r Rule) Info() (RuleInfo, bool) {
	for _, info := range Catalogue() {
		if info.ID == r {
			return info, true
		}
	}
	return RuleInfo{}, false
}
