package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/policy"
)

// Emulator gaps (README "Emulator gaps"): moto holds the resources; the
// loopback proxy in front of it answers what moto does not reproduce,
// exactly as the AWS documentation cited at each answer says.

// proxied returns a reconciler whose clients go through a proxy in front
// of moto answering with respond.
func (w *world) proxied(cfg config.Config, respond func(awsproxy.Call) *awsproxy.Answer, opts ...Option) (*Reconciler, *awsproxy.Proxy) {
	w.t.Helper()
	p, err := awsproxy.Start(w.srv.Endpoint, awsproxy.Options{Respond: respond})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = p.Close() })
	base, err := w.srv.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		w.t.Fatal(err)
	}
	base.BaseEndpoint = aws.String(p.URL)
	opts = append([]Option{WithLogger(testLogger(w.t))}, opts...)
	return New(base, cfg, opts...), p
}

// logArchiveAnswers answers the bucket reads of another account's bucket
// in Region region as S3 documents them:
//   - GetBucketLocation: "In other Regions, the bucket policy doesn't
//     apply, which means that cross-account access won't be authorized"
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html);
//   - HeadBucket: "regardless of the permissions on the bucket, you will
//     receive a response header with the correct bucket location", and an
//     unauthorized HEAD is a bare 403
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html);
//   - GetBucketEncryption needs s3:GetEncryptionConfiguration, which the
//     log-archive bucket does not grant other accounts
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketEncryption.html).
func logArchiveAnswers(region string) func(awsproxy.Call) *awsproxy.Answer {
	return func(c awsproxy.Call) *awsproxy.Answer {
		switch c.Operation {
		case "s3:GETBucketLocation", "s3:GetBucketLocation":
			return &awsproxy.Answer{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied"}
		case "s3:HEADBucket":
			return &awsproxy.Answer{Status: http.StatusForbidden, Header: http.Header{"X-Amz-Bucket-Region": {region}}}
		case "s3:GetBucketEncryption":
			return &awsproxy.Answer{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied"}
		}
		return nil
	}
}

// TestGapLogArchiveBucket (case 1): an unencrypted trail writing to a
// central log-archive bucket in eu-west-1 is encrypted under the eu-west-1
// baseline key, whose policy also gets CloudTrail's Bucket Key Decrypt (the
// bucket's encryption cannot be read). Before issue 11 the run ended with
// a terminal "get bucket location ... AccessDenied" every time.
func TestGapLogArchiveBucket(t *testing.T) {
	w := newWorld(t, moto(t))
	w.bucket("central-logs", "eu-west-1")
	euBase := w.key("eu-west-1", policyWithForeign(motoAccount))
	w.alias("eu-west-1", config.DefaultKeyAlias, euBase)
	trail := w.trail("us-east-1", "member-trail", "central-logs", "", false, nil)

	r, p := w.proxied(testConfig("us-east-1"), logArchiveAnswers("eu-west-1"))
	rep, err := r.ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v (error %q)", got, want, res.Error)
	}
	if got := w.trailKey(trail); got != euBase {
		t.Errorf("trail key %s, want the eu-west-1 baseline %s", got, euBase)
	}
	if statement(t, w.policy(euBase), compliance.SidCloudTrailBucketKeyDecrypt) == nil {
		t.Errorf("the baseline lacks CloudTrail's Bucket Key Decrypt although the bucket's encryption was unreadable")
	}
	if n := p.Faults()["s3:HEADBucket:answered"]; n != 1 {
		t.Errorf("HeadBucket answered %d times, want 1 (once per run)", n)
	}
}

// cloudTrailChecksBucketKeyDecrypt answers UpdateTrail the way CloudTrail
// documents for a bucket with an S3 Bucket Key: "kms:Decrypt permissions
// are required to create or update a trail with SSE-KMS encryption
// enabled" (CloudTrail user guide, "Configure AWS KMS key policies for
// CloudTrail",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html);
// without it the call fails with InsufficientEncryptionPolicyException. The
// key policy is read from moto at the moment of the call and evaluated for
// a kms:Decrypt by cloudtrail.amazonaws.com for the trail.
func cloudTrailChecksBucketKeyDecrypt(t *testing.T, w *world) func(awsproxy.Call) *awsproxy.Answer {
	return func(c awsproxy.Call) *awsproxy.Answer {
		if c.Operation != "UpdateTrail" {
			return nil
		}
		var in struct{ Name, KmsKeyId string }
		if err := json.Unmarshal(c.Body, &in); err != nil || in.KmsKeyId == "" {
			return nil
		}
		out, err := w.kms(regionOf(in.KmsKeyId)).GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(in.KmsKeyId), PolicyName: aws.String("default")})
		if err != nil {
			t.Errorf("read key policy for the emulated CloudTrail check: %v", err)
			return nil
		}
		doc, err := policy.Parse([]byte(aws.ToString(out.Policy)))
		if err == nil && doc.Evaluate(policy.Request{Caller: policy.Caller{Service: compliance.CloudTrailService}, Action: "kms:Decrypt",
			Resource: in.KmsKeyId, Context: map[string][]string{"aws:SourceArn": {in.Name}, "aws:SourceAccount": {motoAccount}}}).Effect == policy.Allowed {
			return nil
		}
		return &awsproxy.Answer{Code: "InsufficientEncryptionPolicyException", Message: "Insufficient permissions to access S3 bucket or KMS key (emulated: S3 Bucket Key needs kms:Decrypt)"}
	}
}

// TestGapBucketKeyDecrypt (case 3): the bucket's default encryption uses an
// S3 Bucket Key (moto stores and returns BucketKeyEnabled but CloudTrail's
// check is emulated): trailguard adds CloudTrail's Decrypt before
// UpdateTrail, so CloudTrail accepts it. Before issue 11, UpdateTrail was
// refused on every run.
func TestGapBucketKeyDecrypt(t *testing.T) {
	w := newWorld(t, moto(t))
	w.bucket("bk-logs", "us-east-1")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	if _, err := w.s3("us-east-1").PutBucketEncryption(context.Background(), &s3.PutBucketEncryptionInput{
		Bucket: aws.String("bk-logs"),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String(base)},
			BucketKeyEnabled:                   aws.Bool(true),
		}}},
	}); err != nil {
		t.Fatalf("put bucket encryption: %v", err)
	}
	trail := w.trail("us-east-1", "bk-trail", "bk-logs", "", false, nil)

	r, _ := w.proxied(testConfig("us-east-1"), cloudTrailChecksBucketKeyDecrypt(t, w))
	rep, err := r.ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v (error %q)", got, want, res.Error)
	}
	if got := w.trailKey(trail); got != base {
		t.Errorf("trail key %s, want %s", got, base)
	}
	st := w.state(testConfig("us-east-1"), motoAccount, trail)
	if st.BucketKey != compliance.BucketKeyEnabled {
		t.Errorf("observed BucketKey %q, want enabled", st.BucketKey)
	}
	w.assertCompliant(testConfig("us-east-1"), motoAccount, trail)
}

// TestGapKMSPropagation (case 4): right after trailguard's PutKeyPolicy,
// CloudTrail refuses UpdateTrail twice with
// InsufficientEncryptionPolicyException while the new policy propagates
// (AWS KMS developer guide, "AWS KMS eventual consistency": changes usually
// take effect within seconds but can take minutes,
// https://docs.aws.amazon.com/kms/latest/developerguide/programming-eventual-consistency.html);
// moto applies a policy at once, so the proxy emulates the delay. The run
// retries after its (injected, instant) waits and succeeds.
func TestGapKMSPropagation(t *testing.T) {
	w := newWorld(t, moto(t))
	w.bucket("prop-logs", "us-east-1")
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	trail := w.trail("us-east-1", "prop-trail", "prop-logs", "", false, nil)

	var (
		mu             sync.Mutex
		sinceWrite     = -1 // UpdateTrail calls since the last PutKeyPolicy; -1 before any
		refused, waits int
	)
	respond := func(c awsproxy.Call) *awsproxy.Answer {
		mu.Lock()
		defer mu.Unlock()
		switch c.Operation {
		case "PutKeyPolicy":
			sinceWrite = 0
		case "UpdateTrail":
			if sinceWrite >= 0 && sinceWrite < 2 {
				sinceWrite++
				refused++
				return &awsproxy.Answer{Code: "InsufficientEncryptionPolicyException", Message: "Insufficient permissions to access S3 bucket or KMS key (emulated propagation delay)"}
			}
		}
		return nil
	}
	sleeper := func(context.Context, time.Duration) error { mu.Lock(); waits++; mu.Unlock(); return nil }
	r, p := w.proxied(testConfig("us-east-1"), respond, WithSleeper(sleeper))
	rep, err := r.ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v (error %q)", got, want, res.Error)
	}
	if refused != 2 || waits != 2 || p.Calls()["UpdateTrail"] != 3 {
		t.Errorf("refused %d, waits %d, UpdateTrail calls %d; want 2, 2, 3", refused, waits, p.Calls()["UpdateTrail"])
	}
	if got := w.trailKey(trail); got != base {
		t.Errorf("trail key %s, want %s", got, base)
	}
}

// TestMotoOrganizationTrailLogPath (case 6): an organization trail's log
// files are written under AWSLogs/<organization id>/<account>/ (CloudTrail
// user guide, "Creating a trail for an organization",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html):
// observe reads the organization id (DescribeOrganization) and the reader
// checks use that path.
func TestMotoOrganizationTrailLogPath(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	out, err := organizations.NewFromConfig(w.cfg("us-east-1")).CreateOrganization(ctx, &organizations.CreateOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	orgID := aws.ToString(out.Organization.Id)
	w.bucket("org-logs", "us-east-1")
	created, err := w.ct("us-east-1").CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("org-trail"), S3BucketName: aws.String("org-logs"),
		IsOrganizationTrail: aws.Bool(true), IsMultiRegionTrail: aws.Bool(true)})
	if err != nil {
		t.Fatalf("create organization trail: %v", err)
	}
	trail := aws.ToString(created.TrailARN)
	st := w.state(testConfig("us-east-1"), motoAccount, trail)
	if !st.Trail.IsOrganizationTrail || st.OrganizationID != orgID {
		t.Fatalf("observed organization trail=%v, organization id %q; want true, %q", st.Trail.IsOrganizationTrail, st.OrganizationID, orgID)
	}
	g := compliance.Needs(st, testConfig("us-east-1").Compliance())
	if len(g.Deliveries) != 1 || g.Deliveries[0].OrganizationID != orgID {
		t.Errorf("grant deliveries %+v, want the organization id %s", g.Deliveries, orgID)
	}
}
