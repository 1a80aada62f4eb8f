package demo

import (
	"context"
	"fmt"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// Regions the demo uses: trails live in HomeRegion; log buckets in
// HomeRegion and OtherRegion.
const (
	HomeRegion  = "us-east-1"
	OtherRegion = "eu-west-1"
)

// Trail names of the scenarios.
const (
	TrailUnencrypted     = "demo-unencrypted"
	TrailPolicyGap       = "demo-policy-gap"
	TrailCrossRegion     = "demo-cross-region"
	TrailPendingDeletion = "demo-pending-deletion"
	TrailCompliant       = "demo-compliant"
)

// scenario is one trail of the demo and the drift it shows.
type scenario struct {
	// Trail is the trail name; it is created in HomeRegion.
	Trail string
	// Drift says what is wrong, for the output.
	Drift string
	// Expect says what trailguard should do, for the output.
	Expect string
	// BucketRegion is where its log bucket is.
	BucketRegion string
	// TrailARN and KeyARN (the key it was created with, "" for none) are
	// set when it is created.
	TrailARN string
	KeyARN   string
}

// scenarios returns the demo's trails in the order they are created.
func scenarios() []*scenario {
	return []*scenario{
		{Trail: TrailCompliant, BucketRegion: HomeRegion,
			Drift:  "compliant: its own key, whose policy already lets CloudTrail encrypt and the account decrypt",
			Expect: "left untouched"},
		{Trail: TrailPendingDeletion, BucketRegion: HomeRegion,
			Drift:  "its key (compliant policy) is then scheduled for deletion",
			Expect: "CancelKeyDeletion + EnableKey, so the logs it encrypted stay readable"},
		{Trail: TrailUnencrypted, BucketRegion: HomeRegion,
			Drift:  "no KmsKeyId: log files are not encrypted with SSE-KMS",
			Expect: "CloudTrail statements on the baseline key, then UpdateTrail to it"},
		{Trail: TrailPolicyGap, BucketRegion: HomeRegion,
			Drift:  "its key has KMS's default root-only policy: CloudTrail may not use it",
			Expect: "PutKeyPolicy adding trailguard's CloudTrail statements (nothing else changed)"},
		{Trail: TrailCrossRegion, BucketRegion: OtherRegion,
			Drift:  "trail in " + HomeRegion + ", bucket in " + OtherRegion + ", key in " + HomeRegion + ": the key must be in the bucket's Region",
			Expect: "switch to the baseline key of " + OtherRegion},
	}
}

// bucketName is the log bucket of a scenario trail.
func bucketName(trail string) string { return trail + "-logs-" + Account }

// trailARN is the ARN CloudTrail gives a trail created in HomeRegion.
func trailARN(name string) string {
	return "arn:aws:cloudtrail:" + HomeRegion + ":" + Account + ":trail/" + name
}

// defaultKeyPolicy is KMS's default key policy for the account: the
// root-only statement (moto writes the same when no policy is given).
func defaultKeyPolicy() string {
	return `{"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + Account + `:root"}, "Action": "kms:*", "Resource": "*"}]}`
}

// compliantPolicy returns KMS's default policy with everything the trail
// in s needs under trailguard's statements: what a compliant key looks
// like after trailguard (or a careful administrator) set it up.
func compliantPolicy(s *scenario, c compliance.Config) (string, error) {
	st := compliance.State{
		Account:      Account,
		Region:       HomeRegion,
		Trail:        compliance.Trail{Name: s.Trail, ARN: trailARN(s.Trail), HomeRegion: HomeRegion, S3BucketName: bucketName(s.Trail)},
		BucketRegion: s.BucketRegion,
	}
	merged, _, err := compliance.Merge(defaultKeyPolicy(), compliance.Needs(st, c))
	if err != nil {
		return "", fmt.Errorf("build compliant key policy for %s: %w", s.Trail, err)
	}
	return merged, nil
}

// createBaseline creates the baseline key and its alias in each Region.
func (w *world) createBaseline(ctx context.Context, alias string, regions ...string) (map[string]string, error) {
	keys := map[string]string{}
	for _, r := range regions {
		arn, err := w.createKey(ctx, r, "trailguard baseline key for CloudTrail SSE-KMS", "")
		if err != nil {
			return nil, err
		}
		if err := w.createAlias(ctx, r, alias, arn); err != nil {
			return nil, err
		}
		keys[r] = arn
	}
	return keys, nil
}

// createScenarioTrail creates the scenario's bucket and trail (with its own key
// when policyJSON is not empty: "-" means KMS's default policy).
func (w *world) createScenarioTrail(ctx context.Context, s *scenario, keyRegion, policyJSON string) error {
	if err := w.createBucket(ctx, s.BucketRegion, bucketName(s.Trail)); err != nil {
		return err
	}
	if policyJSON != "" {
		p := policyJSON
		if p == "-" {
			p = ""
		}
		arn, err := w.createKey(ctx, keyRegion, "key of trail "+s.Trail, p)
		if err != nil {
			return err
		}
		s.KeyARN = arn
	}
	arn, err := w.createTrail(ctx, HomeRegion, s.Trail, bucketName(s.Trail), s.KeyARN)
	if err != nil {
		return err
	}
	s.TrailARN = arn
	return nil
}
