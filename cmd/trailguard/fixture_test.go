package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
)

const account = motoserver.AccountID

// defaultPolicy is KMS's default key policy: the root-only statement.
const defaultPolicy = `{"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + account + `:root"}, "Action": "kms:*", "Resource": "*"}]}`

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// with returns a copy of e with the given name=value pairs set.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// isolated is an environment that reads no shared AWS files and no
// instance metadata: only what a test sets counts.
func isolated(t *testing.T) env {
	dir := t.TempDir()
	return env{
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// cli runs trailguard in-process and returns its exit code and output.
func cli(t *testing.T, e env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb, e.get)
	return code, out.String(), errb.String()
}

// fixture is a moto server and SDK clients to build trails with.
type fixture struct {
	t   *testing.T
	srv *motoserver.Server
	env env
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := motoserver.ForTest(t)
	return &fixture{t: t, srv: srv, env: isolated(t).with(
		"AWS_ENDPOINT_URL", srv.Endpoint,
		"AWS_ACCESS_KEY_ID", motoserver.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY", motoserver.SecretAccessKey,
		"AWS_REGION", "us-east-1",
	)}
}

func (f *fixture) cfg(region string) aws.Config {
	f.t.Helper()
	cfg, err := f.srv.AWSConfig(context.Background(), region)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

func (f *fixture) kms(region string) *kms.Client { return kms.NewFromConfig(f.cfg(region)) }
func (f *fixture) cloudtrail(region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(f.cfg(region))
}
func (f *fixture) s3(region string) *s3.Client {
	return s3.NewFromConfig(f.cfg(region), motoserver.S3Options)
}

// key creates a symmetric key with the given policy ("" for KMS's
// default, root-only policy) and returns its ARN.
func (f *fixture) key(region, policyJSON string) string {
	f.t.Helper()
	in := &kms.CreateKeyInput{KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt, KeySpec: kmstypes.KeySpecSymmetricDefault}
	if policyJSON != "" {
		in.Policy = aws.String(policyJSON)
	}
	out, err := f.kms(region).CreateKey(context.Background(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// baseline creates the baseline key (default policy) and its alias.
func (f *fixture) baseline(region string) string {
	f.t.Helper()
	arn := f.key(region, "")
	if _, err := f.kms(region).CreateAlias(context.Background(), &kms.CreateAliasInput{
		AliasName: aws.String(config.DefaultKeyAlias), TargetKeyId: aws.String(arn),
	}); err != nil {
		f.t.Fatal(err)
	}
	return arn
}

// trail creates a bucket in bucketRegion and a trail in region writing to
// it, encrypted with keyARN unless it is "", and returns the trail ARN.
func (f *fixture) trail(region, name, bucketRegion, keyARN string) string {
	f.t.Helper()
	ctx := context.Background()
	bucket := name + "-logs"
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if bucketRegion != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(bucketRegion)}
	}
	if _, err := f.s3(bucketRegion).CreateBucket(ctx, in); err != nil {
		f.t.Fatal(err)
	}
	tin := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}
	if keyARN != "" {
		tin.KmsKeyId = aws.String(keyARN)
	}
	out, err := f.cloudtrail(region).CreateTrail(ctx, tin)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.cloudtrail(region).StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: tin.Name}); err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.TrailARN)
}

// compliantTrail creates a trail in us-east-1 with its own key whose
// policy already grants what it needs; it returns the trail and key ARNs.
func (f *fixture) compliantTrail(name string) (trailARN, keyARN string) {
	f.t.Helper()
	arn := "arn:aws:cloudtrail:us-east-1:" + account + ":trail/" + name
	st := compliance.State{
		Trail:        compliance.Trail{Name: name, ARN: arn, HomeRegion: "us-east-1", S3BucketName: name + "-logs"},
		BucketRegion: "us-east-1",
	}
	pol, _, err := compliance.Merge(defaultPolicy, compliance.Needs(st, compliance.Config{}))
	if err != nil {
		f.t.Fatal(err)
	}
	keyARN = f.key("us-east-1", pol)
	return f.trail("us-east-1", name, "us-east-1", keyARN), keyARN
}

// trailKey returns the KmsKeyId of a trail.
func (f *fixture) trailKey(trailARN string) string {
	f.t.Helper()
	region := strings.Split(trailARN, ":")[3]
	out, err := f.cloudtrail(region).GetTrail(context.Background(), &cloudtrail.GetTrailInput{Name: aws.String(trailARN)})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.Trail.KmsKeyId)
}

// policy returns a key's policy.
func (f *fixture) policy(region, keyARN string) string {
	f.t.Helper()
	out, err := f.kms(region).GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.Policy)
}
