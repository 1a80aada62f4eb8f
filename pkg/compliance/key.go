package compliance

import (
	"fmt"
	"slices"
)

// DefaultExemptTag is the exempt tag key used when Config.ExemptTag is
// empty.
const DefaultExemptTag = "trailguard:exempt"

// Key states and properties CloudTrail requires.
const (
	KeyStateEnabled         = "Enabled"
	KeyStateDisabled        = "Disabled"
	KeyStatePendingDeletion = "PendingDeletion"
	KeyManagerAWS           = "AWS"
	KeySpecSymmetric        = "SYMMETRIC_DEFAULT"
	KeyUsageEncryptDecrypt  = "ENCRYPT_DECRYPT"
)

// ARNIn returns the ARN under which k serves a trail whose bucket is in
// region: k.ARN when k is in region, the ARN of its replica there when k is
// a multi-Region key with a replica in region (same key id, the Region in
// the ARN replaced). ok is false when k cannot serve region.
func (k Key) ARNIn(region string) (keyARN string, ok bool) {
	if region == "" {
		return "", false
	}
	if keyRegion(&k) == region {
		return k.ARN, true
	}
	if !k.MultiRegion || !slices.Contains(k.ReplicaRegions, region) {
		return "", false
	}
	a, ok := parseARN(k.ARN)
	if !ok {
		return "", false
	}
	a.Region = region
	return a.String(), true
}

// usabilityProblems lists why CloudTrail can never use k, whatever its
// policy: AWS managed, not a symmetric encryption key, or in a state other
// than Enabled, Disabled or PendingDeletion (which have their own rules).
func usabilityProblems(k *Key) []string {
	var out []string
	if k.Manager == KeyManagerAWS {
		out = append(out, "it is an AWS managed key")
	}
	if k.Spec != KeySpecSymmetric {
		out = append(out, fmt.Sprintf("its KeySpec is %q, not %s", k.Spec, KeySpecSymmetric))
	}
	if k.Usage != KeyUsageEncryptDecrypt {
		out = append(out, fmt.Sprintf("its KeyUsage is %q, not %s", k.Usage, KeyUsageEncryptDecrypt))
	}
	switch k.State {
	case KeyStateEnabled, KeyStateDisabled, KeyStatePendingDeletion:
	default:
		out = append(out, fmt.Sprintf("its state is %q", k.State))
	}
	return out
}

// Where returns the ARN and Region under which k serves a bucket in
// region (see ARNIn); when it cannot, k's own ARN and Region.
func (k Key) Where(region string) (keyARN, keyRegionName string) {
	if a, ok := k.ARNIn(region); ok {
		return a, region
	}
	return k.ARN, keyRegion(&k)
}
