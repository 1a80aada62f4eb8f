package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// bucketRegion returns the Region of bucket, once per run.
//
// It asks HeadBucket first (manager.GetBucketRegion, unsigned): S3 answers
// it with the bucket's Region in x-amz-bucket-region "regardless of the
// permissions on the bucket" (S3 API reference, HeadBucket,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html), so
// it works for a central log-archive bucket of another account, where
// GetBucketLocation is not authorized ("cross-account access won't be
// authorized", S3 API reference, GetBucketLocation,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html).
// When HeadBucket gives no Region, GetBucketLocation is the fallback (an
// empty constraint is us-east-1, "EU" is eu-west-1).
func (rn *run) bucketRegion(ctx context.Context, c *Clients, bucket string) (string, error) {
	if bucket == "" {
		return "", errors.New("trail has no S3 bucket")
	}
	return rn.buckets.do(ctx, bucket, func() (string, error) {
		region, headErr := manager.GetBucketRegion(ctx, c.S3, bucket)
		if headErr == nil && region != "" {
			return region, nil
		}
		if Transient(headErr) {
			return "", fmt.Errorf("head bucket s3://%s: %w", bucket, headErr)
		}
		out, err := c.S3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
		if err != nil {
			if headErr != nil {
				return "", fmt.Errorf("get bucket location s3://%s: %w (and head bucket: %v)", bucket, err, headErr)
			}
			return "", fmt.Errorf("get bucket location s3://%s: %w", bucket, err)
		}
		switch loc := string(out.LocationConstraint); loc {
		case "":
			return "us-east-1", nil
		case "EU":
			return "eu-west-1", nil
		default:
			return loc, nil
		}
	})
}

// bucketKey reads whether bucket's default encryption uses an S3 Bucket Key
// with clients c (in the trail's Region). Only a transient error is
// returned; a bucket whose encryption cannot be read (another account's
// log-archive bucket, usually) is BucketKeyUnknown.
func (rn *run) bucketKey(ctx context.Context, c *Clients, bucket string) (compliance.BucketKey, error) {
	return rn.bucketKeyIn(ctx, c, "", bucket)
}

// bucketKeyIn is bucketKey, cached per bucket and the Region of c (""
// for the trail's Region).
func (rn *run) bucketKeyIn(ctx context.Context, c *Clients, region, bucket string) (compliance.BucketKey, error) {
	if bucket == "" {
		return compliance.BucketKeyUnknown, nil
	}
	return rn.bucketKeys.do(ctx, region+"|"+bucket, func() (compliance.BucketKey, error) {
		out, err := c.S3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
		switch {
		case err == nil:
		case errorCode(err) == "ServerSideEncryptionConfigurationNotFoundError":
			return compliance.BucketKeyDisabled, nil
		case Transient(err):
			return "", fmt.Errorf("get bucket encryption s3://%s: %w", bucket, err)
		default:
			rn.r.log.Info("cannot read bucket encryption; the S3 Bucket Key setting is unknown", "bucket", bucket, "error", err.Error())
			return compliance.BucketKeyUnknown, nil
		}
		return bucketKeyOf(out.ServerSideEncryptionConfiguration), nil
	})
}

// bucketKeyOf says whether a default-encryption configuration uses an S3
// Bucket Key for SSE-KMS objects. A Bucket Key applies to objects written
// with SSE-KMS, whichever key the writer names (S3 user guide, "Configuring
// an S3 Bucket Key at the bucket level",
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/configuring-bucket-key.html),
// so BucketKeyEnabled counts whatever the default algorithm.
func bucketKeyOf(cfg *s3types.ServerSideEncryptionConfiguration) compliance.BucketKey {
	if cfg == nil {
		return compliance.BucketKeyDisabled
	}
	for _, r := range cfg.Rules {
		if aws.ToBool(r.BucketKeyEnabled) {
			return compliance.BucketKeyEnabled
		}
	}
	return compliance.BucketKeyDisabled
}

// organizationID returns the organization id (o-...) seen from account,
// once per run; "" when it cannot be read (the reader checks then use the
// log path without it, and a log line says so).
func (rn *run) organizationID(ctx context.Context, account, region string) string {
	id, err := rn.orgIDs.do(ctx, account, func() (string, error) {
		c, err := rn.r.clients(ctx, account, region)
		if err != nil {
			return "", err
		}
		out, err := c.Organizations.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if err != nil {
			return "", fmt.Errorf("describe organization: %w", err)
		}
		if out.Organization == nil {
			return "", nil
		}
		return aws.ToString(out.Organization.Id), nil
	})
	if err != nil {
		rn.r.log.Warn("cannot read the organization id of an organization trail's log path", "account", account, "error", err.Error())
		return ""
	}
	return id
}

// trailStatus is what GetTrailStatus said about one trail.
type trailStatus struct {
	logging       bool
	deliveryError string
}

// trailStatus reads the status of trail trailARN with clients c, once per
// run.
func (rn *run) trailStatus(ctx context.Context, c *Clients, trailARN string) (trailStatus, error) {
	return rn.statuses.do(ctx, trailARN, func() (trailStatus, error) {
		out, err := c.CloudTrail.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(trailARN)})
		if err != nil {
			return trailStatus{}, fmt.Errorf("get trail status %s: %w", trailARN, err)
		}
		return trailStatus{logging: aws.ToBool(out.IsLogging), deliveryError: aws.ToString(out.LatestDeliveryError)}, nil
	})
}
