package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// CloudTrailAPI is the part of the CloudTrail client the demo uses.
type CloudTrailAPI interface {
	CreateTrail(ctx context.Context, in *cloudtrail.CreateTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.CreateTrailOutput, error)
	GetTrail(ctx context.Context, in *cloudtrail.GetTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
	UpdateTrail(ctx context.Context, in *cloudtrail.UpdateTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.UpdateTrailOutput, error)
	StartLogging(ctx context.Context, in *cloudtrail.StartLoggingInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.StartLoggingOutput, error)
}

// KMSAPI is the part of the KMS client the demo uses.
type KMSAPI interface {
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, opts ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	CreateAlias(ctx context.Context, in *kms.CreateAliasInput, opts ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetKeyPolicy(ctx context.Context, in *kms.GetKeyPolicyInput, opts ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
	GetKeyRotationStatus(ctx context.Context, in *kms.GetKeyRotationStatusInput, opts ...func(*kms.Options)) (*kms.GetKeyRotationStatusOutput, error)
	PutKeyPolicy(ctx context.Context, in *kms.PutKeyPolicyInput, opts ...func(*kms.Options)) (*kms.PutKeyPolicyOutput, error)
	ScheduleKeyDeletion(ctx context.Context, in *kms.ScheduleKeyDeletionInput, opts ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
}

// S3API is the part of the S3 client the demo uses.
type S3API interface {
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput, opts ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	GetBucketLocation(ctx context.Context, in *s3.GetBucketLocationInput, opts ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error)
}

var (
	_ CloudTrailAPI = (*cloudtrail.Client)(nil)
	_ KMSAPI        = (*kms.Client)(nil)
	_ S3API         = (*s3.Client)(nil)
)

// clients are the SDK clients of one Region.
type clients struct {
	CloudTrail  CloudTrailAPI
	KMS         KMSAPI
	S3          S3API
	EventBridge EventBridgeAPI
	SQS         SQSAPI
}

// world is the emulated AWS account: SDK clients per Region, and the
// record of every mutating call the demo made, which CloudTrail would
// turn into events.
type world struct {
	// config returns the SDK configuration of a Region.
	config func(region string) aws.Config
	// s3Options adjusts S3 clients (path-style addressing for moto).
	s3Options func(*s3.Options)

	mu      sync.Mutex
	regions map[string]*clients
	calls   []call
}

// in returns the clients of region.
func (w *world) in(region string) *clients {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.regions[region]; ok {
		return c
	}
	cfg := w.config(region)
	var s3opts []func(*s3.Options)
	if w.s3Options != nil {
		s3opts = append(s3opts, w.s3Options)
	}
	c := &clients{
		CloudTrail:  cloudtrail.NewFromConfig(cfg),
		KMS:         kms.NewFromConfig(cfg),
		S3:          s3.NewFromConfig(cfg, s3opts...),
		EventBridge: eventbridge.NewFromConfig(cfg),
		SQS:         sqs.NewFromConfig(cfg),
	}
	if w.regions == nil {
		w.regions = map[string]*clients{}
	}
	w.regions[region] = c
	return c
}

// record notes a call the demo made.
func (w *world) record(c call) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, c)
}

// takeCalls returns the calls recorded since the last take.
func (w *world) takeCalls() []call {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.calls
	w.calls = nil
	return out
}

// createBucket creates a log bucket in region.
func (w *world) createBucket(ctx context.Context, region, name string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	req := map[string]any{"bucketName": name, "Host": name + ".s3.amazonaws.com"}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
		req["CreateBucketConfiguration"] = map[string]any{"LocationConstraint": region}
	}
	if _, err := w.in(region).S3.CreateBucket(ctx, in); err != nil {
		return fmt.Errorf("create bucket %s in %s: %w", name, region, err)
	}
	w.record(call{Source: sourceS3, EventName: "CreateBucket", Region: region, Request: req})
	return nil
}

// createKey creates a symmetric customer managed key in region with the
// given policy ("" for KMS's default policy) and returns its ARN.
func (w *world) createKey(ctx context.Context, region, description, policyJSON string) (string, error) {
	// KeyUsage and KeySpec are the defaults, given explicitly: moto 5.2.1
	// leaves KeyUsage out of DescribeKey when CreateKey did not name it.
	in := &kms.CreateKeyInput{
		Description: aws.String(description),
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
	}
	req := map[string]any{
		"description": description, "keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT",
		"origin": "AWS_KMS", "bypassPolicyLockoutSafetyCheck": false, "multiRegion": false,
	}
	if policyJSON != "" {
		in.Policy = aws.String(policyJSON)
		req["policy"] = policyJSON
	}
	out, err := w.in(region).KMS.CreateKey(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create key %q in %s: %w", description, region, err)
	}
	md := out.KeyMetadata
	arn := aws.ToString(md.Arn)
	w.record(call{Source: sourceKMS, EventName: "CreateKey", Region: region, Request: req, KeyARN: arn,
		Response: map[string]any{"keyMetadata": map[string]any{
			"aWSAccountId": aws.ToString(md.AWSAccountId), "keyId": aws.ToString(md.KeyId), "arn": arn,
			"creationDate": aws.ToTime(md.CreationDate).UTC().Format(time.RFC3339), "enabled": md.Enabled,
			"description": description, "keyUsage": string(md.KeyUsage), "keyState": string(md.KeyState),
			"origin": string(md.Origin), "keyManager": string(md.KeyManager), "keySpec": string(md.KeySpec),
		}}})
	return arn, nil
}

// createAlias points alias at the key keyARN.
func (w *world) createAlias(ctx context.Context, region, alias, keyARN string) error {
	if _, err := w.in(region).KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyARN)}); err != nil {
		return fmt.Errorf("create alias %s in %s: %w", alias, region, err)
	}
	w.record(call{Source: sourceKMS, EventName: "CreateAlias", Region: region, KeyARN: keyARN,
		Request: map[string]any{"aliasName": alias, "targetKeyId": keyARN}})
	return nil
}

// putKeyPolicy writes the key's default policy.
func (w *world) putKeyPolicy(ctx context.Context, keyARN, policyJSON string) error {
	region := arnRegion(keyARN)
	if _, err := w.in(region).KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(policyJSON),
	}); err != nil {
		return fmt.Errorf("put key policy of %s: %w", keyARN, err)
	}
	w.record(call{Source: sourceKMS, EventName: "PutKeyPolicy", Region: region, KeyARN: keyARN,
		Request: map[string]any{"keyId": keyARN, "policyName": "default", "policy": policyJSON, "bypassPolicyLockoutSafetyCheck": false}})
	return nil
}

// scheduleKeyDeletion schedules the key's deletion in days days.
func (w *world) scheduleKeyDeletion(ctx context.Context, keyARN string, days int32) error {
	region := arnRegion(keyARN)
	// The key id, not the ARN: moto 5.2.1 answers HTTP 500 to
	// ScheduleKeyDeletion (and DisableKey, EnableKey, CancelKeyDeletion)
	// given a key ARN; AWS accepts both.
	keyID := arnResource(keyARN)
	out, err := w.in(region).KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(days)})
	if err != nil {
		return fmt.Errorf("schedule deletion of %s: %w", keyARN, err)
	}
	w.record(call{Source: sourceKMS, EventName: "ScheduleKeyDeletion", Region: region, KeyARN: keyARN,
		Request: map[string]any{"keyId": keyID, "pendingWindowInDays": days},
		Response: map[string]any{"keyId": keyARN, "deletionDate": aws.ToTime(out.DeletionDate).UTC().Format(time.RFC3339),
			"keyState": string(out.KeyState), "pendingWindowInDays": days}})
	return nil
}

// createTrail creates a single-Region trail in region writing to bucket,
// encrypted with keyARN unless it is "", and returns its ARN.
func (w *world) createTrail(ctx context.Context, region, name, bucket, keyARN string) (string, error) {
	in := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}
	req := map[string]any{"name": name, "s3BucketName": bucket}
	if keyARN != "" {
		in.KmsKeyId = aws.String(keyARN)
		req["kmsKeyId"] = keyARN
	}
	out, err := w.in(region).CloudTrail.CreateTrail(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create trail %s in %s: %w", name, region, err)
	}
	arn := aws.ToString(out.TrailARN)
	// A trail logs only once started (CreateTrail does not start it).
	if _, err := w.in(region).CloudTrail.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: in.Name}); err != nil {
		return "", fmt.Errorf("start logging %s in %s: %w", name, region, err)
	}
	resp := map[string]any{
		"name": name, "s3BucketName": bucket, "trailARN": arn, "includeGlobalServiceEvents": true,
		"isMultiRegionTrail": false, "logFileValidationEnabled": false, "isOrganizationTrail": false,
	}
	if keyARN != "" {
		resp["kmsKeyId"] = keyARN
	}
	w.record(call{Source: sourceCloudTrail, EventName: "CreateTrail", Region: region, Request: req, Response: resp})
	return arn, nil
}

// updateTrail points the trail name in region at the key keyARN.
func (w *world) updateTrail(ctx context.Context, region, name, keyARN string) error {
	out, err := w.in(region).CloudTrail.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(name), KmsKeyId: aws.String(keyARN)})
	if err != nil {
		return fmt.Errorf("update trail %s in %s: %w", name, region, err)
	}
	w.record(call{Source: sourceCloudTrail, EventName: "UpdateTrail", Region: region,
		Request:  map[string]any{"name": name, "kmsKeyId": keyARN},
		Response: map[string]any{"name": name, "trailARN": aws.ToString(out.TrailARN), "kmsKeyId": keyARN}})
	return nil
}

// ownCall returns the call record of an action trailguard took, as
// CloudTrail records it, and whether the action is an API call that
// changed something.
func ownCall(action, target, kmsKeyID string) (call, bool) {
	region := arnRegion(target)
	switch action {
	case "PutKeyPolicy":
		return call{Source: sourceKMS, EventName: action, Region: region, KeyARN: target, Own: true,
			Request: map[string]any{"keyId": target, "policyName": "default", "bypassPolicyLockoutSafetyCheck": false}}, true
	case "EnableKey", "CancelKeyDeletion", "EnableKeyRotation":
		c := call{Source: sourceKMS, EventName: action, Region: region, KeyARN: target, Own: true,
			Request: map[string]any{"keyId": target}}
		if action == "CancelKeyDeletion" {
			c.Response = map[string]any{"keyId": target}
		}
		return c, true
	case "UpdateTrail":
		req := map[string]any{"name": target}
		resp := map[string]any{"trailARN": target, "name": arnResource(target)}
		if kmsKeyID != "" {
			req["kmsKeyId"], resp["kmsKeyId"] = kmsKeyID, kmsKeyID
		}
		return call{Source: sourceCloudTrail, EventName: action, Region: region, Own: true, Request: req, Response: resp}, true
	}
	return call{}, false
}

// arnRegion returns the Region field of an ARN ("" if it has none).
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

// arnResource returns the name after the resource type of an ARN
// ("trail/name" gives "name").
func arnResource(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return arn
	}
	_, name, ok := strings.Cut(parts[5], "/")
	if !ok {
		return parts[5]
	}
	return name
}
