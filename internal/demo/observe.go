package demo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// observe reads the state of one trail the way the demo checks it,
// independently of the reconciler: the trail, its bucket's Region, its key
// (state and policy) and the baseline key of the bucket's Region.
func (w *world) observe(ctx context.Context, region, trail, baselineAlias string) (compliance.State, error) {
	c := w.in(region)
	out, err := c.CloudTrail.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trail)})
	if err != nil {
		return compliance.State{}, fmt.Errorf("get trail %s: %w", trail, err)
	}
	t := out.Trail
	s := compliance.State{
		Account: Account,
		Region:  region,
		Trail: compliance.Trail{
			Name:                aws.ToString(t.Name),
			ARN:                 aws.ToString(t.TrailARN),
			HomeRegion:          aws.ToString(t.HomeRegion),
			IsMultiRegion:       aws.ToBool(t.IsMultiRegionTrail),
			IsOrganizationTrail: aws.ToBool(t.IsOrganizationTrail),
			S3BucketName:        aws.ToString(t.S3BucketName),
			S3KeyPrefix:         aws.ToString(t.S3KeyPrefix),
			KMSKeyID:            aws.ToString(t.KmsKeyId),
			SNSTopicARN:         aws.ToString(t.SnsTopicARN),
		},
	}
	if s.Trail.HomeRegion == "" {
		s.Trail.HomeRegion = region
	}
	loc, err := c.S3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: t.S3BucketName})
	if err != nil {
		return compliance.State{}, fmt.Errorf("get location of bucket %s: %w", s.Trail.S3BucketName, err)
	}
	s.BucketRegion = string(loc.LocationConstraint)
	if s.BucketRegion == "" {
		s.BucketRegion = "us-east-1"
	}
	st, err := c.CloudTrail.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(s.Trail.ARN)})
	if err != nil {
		return compliance.State{}, fmt.Errorf("get status of trail %s: %w", s.Trail.ARN, err)
	}
	s.LatestDeliveryError = aws.ToString(st.LatestDeliveryError)
	if s.Trail.KMSKeyID != "" {
		keyRegion := arnRegion(s.Trail.KMSKeyID)
		if keyRegion == "" {
			keyRegion = region
		}
		k, err := w.key(ctx, keyRegion, s.Trail.KMSKeyID)
		if err != nil {
			s.KeyError = err.Error()
		} else {
			s.Key = &k
		}
	}
	b, err := w.key(ctx, s.BucketRegion, baselineAlias)
	if err != nil {
		s.BaselineError = err.Error()
	} else {
		s.Baseline = &b
	}
	return s, nil
}

// key reads a key: DescribeKey, its default policy and rotation status.
func (w *world) key(ctx context.Context, region, keyRef string) (compliance.Key, error) {
	c := w.in(region)
	d, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyRef)})
	if err != nil {
		return compliance.Key{}, fmt.Errorf("describe key %s in %s: %w", keyRef, region, err)
	}
	md := d.KeyMetadata
	k := compliance.Key{
		ARN:         aws.ToString(md.Arn),
		ID:          aws.ToString(md.KeyId),
		Account:     aws.ToString(md.AWSAccountId),
		Region:      region,
		State:       string(md.KeyState),
		Manager:     string(md.KeyManager),
		Spec:        string(md.KeySpec),
		Usage:       string(md.KeyUsage),
		MultiRegion: aws.ToBool(md.MultiRegion),
	}
	if r := arnRegion(k.ARN); r != "" {
		k.Region = r
	}
	if mr := md.MultiRegionConfiguration; mr != nil {
		if mr.PrimaryKey != nil {
			k.ReplicaRegions = append(k.ReplicaRegions, aws.ToString(mr.PrimaryKey.Region))
		}
		for _, r := range mr.ReplicaKeys {
			k.ReplicaRegions = append(k.ReplicaRegions, aws.ToString(r.Region))
		}
	}
	p, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(k.ARN), PolicyName: aws.String("default")})
	if err != nil {
		return compliance.Key{}, fmt.Errorf("get policy of key %s: %w", k.ARN, err)
	}
	k.Policy = aws.ToString(p.Policy)
	// Rotation status is only defined for an enabled key; moto answers
	// for any state, AWS refuses for a key pending deletion.
	if r, err := c.KMS.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(k.ARN)}); err == nil {
		k.RotationEnabled = r.KeyRotationEnabled
	}
	return k, nil
}
