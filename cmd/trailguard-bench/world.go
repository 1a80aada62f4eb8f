package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
)

// benchRole is the role trailguard assumes in member accounts.
const benchRole = "TrailguardBench"

// world creates resources in moto directly (not through the latency
// proxy), as one account.
type world struct {
	base    aws.Config
	account string
}

func newWorld(srv *motoserver.Server) (*world, error) {
	base, err := srv.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		return nil, err
	}
	return &world{base: base, account: motoserver.AccountID}, nil
}

func (w *world) cfg(region string) aws.Config {
	cfg := w.base.Copy()
	cfg.Region = region
	return cfg
}

// as returns the world of account, reached by AssumeRole into benchRole
// (moto gives the assumed credentials that account).
func (w *world) as(ctx context.Context, account string) (*world, error) {
	out, err := sts.NewFromConfig(w.cfg("us-east-1")).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/%s", account, benchRole)),
		RoleSessionName: aws.String("bench-setup"),
	})
	if err != nil {
		return nil, fmt.Errorf("assume role in %s: %w", account, err)
	}
	c := *out.Credentials
	base := w.base.Copy()
	base.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return &world{base: base, account: account}, nil
}

// createAccounts creates an organization with n member accounts and
// returns their ids.
func (w *world) createAccounts(ctx context.Context, n int) ([]string, error) {
	org := organizations.NewFromConfig(w.cfg("us-east-1"))
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}); err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{
			AccountName: aws.String(fmt.Sprintf("member-%d", i)),
			Email:       aws.String(fmt.Sprintf("member-%d@example.com", i)),
		})
		if err != nil {
			return nil, fmt.Errorf("create account %d: %w", i, err)
		}
		ids = append(ids, aws.ToString(out.CreateAccountStatus.AccountId))
	}
	return ids, nil
}

func (w *world) bucket(ctx context.Context, name, region string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := s3.NewFromConfig(w.cfg(region), motoserver.S3Options).CreateBucket(ctx, in); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// key creates a symmetric key in region with policy ("" for the root-only
// default) and returns its ARN.
func (w *world) key(ctx context.Context, region, policy string) (string, error) {
	in := &kms.CreateKeyInput{Description: aws.String("bench key"), KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt, KeySpec: kmstypes.KeySpecSymmetricDefault}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := kms.NewFromConfig(w.cfg(region)).CreateKey(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create key in %s: %w", region, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

func (w *world) alias(ctx context.Context, region, alias, keyARN string) error {
	_, err := kms.NewFromConfig(w.cfg(region)).CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyARN)})
	if err != nil {
		return fmt.Errorf("create alias %s: %w", alias, err)
	}
	return nil
}

func (w *world) putPolicy(ctx context.Context, keyARN, policy string) error {
	_, err := kms.NewFromConfig(w.cfg(regionOf(keyARN))).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(policy)})
	if err != nil {
		return fmt.Errorf("put key policy %s: %w", keyARN, err)
	}
	return nil
}

// scheduleDeletion schedules the key's deletion (by id: moto 5.2.1
// answers 500 to a key ARN here).
func (w *world) scheduleDeletion(ctx context.Context, keyARN string) error {
	_, err := kms.NewFromConfig(w.cfg(regionOf(keyARN))).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId: aws.String(lastSegment(keyARN, "key/")), PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		return fmt.Errorf("schedule deletion of %s: %w", keyARN, err)
	}
	return nil
}

// trail creates a single-Region trail and returns its ARN.
func (w *world) trail(ctx context.Context, region, name, bucket, keyARN string) (string, error) {
	in := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}
	if keyARN != "" {
		in.KmsKeyId = aws.String(keyARN)
	}
	out, err := cloudtrail.NewFromConfig(w.cfg(region)).CreateTrail(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create trail %s in %s: %w", name, region, err)
	}
	if _, err := cloudtrail.NewFromConfig(w.cfg(region)).StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: in.Name}); err != nil {
		return "", fmt.Errorf("start logging %s in %s: %w", name, region, err)
	}
	return aws.ToString(out.TrailARN), nil
}

// warmUp makes moto create its per-Region backends of the account
// (EC2's takes seconds on first use) before anything is measured: what
// it costs is the emulator's, not trailguard's.
func (w *world) warmUp(ctx context.Context) error {
	out, err := ec2.NewFromConfig(w.cfg("us-east-1")).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return fmt.Errorf("describe regions: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, r := range out.Regions {
		region := aws.ToString(r.RegionName)
		g.Go(func() error {
			_, err := cloudtrail.NewFromConfig(w.cfg(region)).DescribeTrails(gctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
			if err != nil {
				return fmt.Errorf("describe trails in %s: %w", region, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// rootPolicy is KMS's default key policy for account.
func rootPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

// plannedTrail is a trail before it exists: enough to compute the key
// policy it needs.
type plannedTrail struct {
	Account, Region, Name, Bucket string
}

func (t plannedTrail) ARN() string {
	return fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", t.Region, t.Account, t.Name)
}

// compliantPolicy is the root-only policy of account merged with what
// every trail needs (the bucket in the trail's Region): a key that is
// already compliant for them.
func compliantPolicy(account string, trails []plannedTrail) (string, error) {
	p := rootPolicy(account)
	cc := config.Default().Compliance()
	for _, t := range trails {
		st := compliance.State{
			Account: t.Account, Region: t.Region, BucketRegion: t.Region,
			Trail: compliance.Trail{Name: t.Name, ARN: t.ARN(), HomeRegion: t.Region, S3BucketName: t.Bucket},
		}
		merged, _, err := compliance.Merge(p, compliance.Needs(st, cc))
		if err != nil {
			return "", fmt.Errorf("compliant policy for %s: %w", t.ARN(), err)
		}
		p = merged
	}
	return p, nil
}

// regionOf returns the Region field of an ARN.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}
