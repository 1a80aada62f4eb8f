package compliance

import (
	"slices"
	"strings"

	"github.com/trailguard/trailguard/pkg/policy"
)

// CloudTrailService is the service principal CloudTrail uses with the key.
const CloudTrailService = "cloudtrail.amazonaws.com"

// Condition keys of the requests CloudTrail, S3 and readers present.
const (
	ctxTrailARN     = "kms:EncryptionContext:aws:cloudtrail:arn"
	ctxObjectARN    = "kms:EncryptionContext:aws:s3:arn"
	ctxContextKeys  = "kms:EncryptionContextKeys"
	ctxSourceARN    = "aws:SourceArn"
	ctxSourceAcct   = "aws:SourceAccount"
	ctxCallerAcct   = "kms:CallerAccount"
	ctxViaService   = "kms:ViaService"
	ctxPrincipalARN = "aws:PrincipalArn"
	ctxPrincipalAcc = "aws:PrincipalAccount"
	ctxPrincipalSvc = "aws:PrincipalServiceName"
	ctxPrincipalIsS = "aws:PrincipalIsAWSService"
	ctxPrincipalTyp = "aws:PrincipalType"
)

// check is one request a compliant key policy must allow.
type check struct {
	// rule fails when the request is not allowed.
	rule Rule
	// who and what describe the request in a finding's detail.
	who, what string
	trail     string
	req       policy.Request
}

// grantChecks returns the requests the grant exists for: for every trail,
// CloudTrail's GenerateDataKey and DescribeKey, and a Decrypt through S3 by
// every reader account (asked as its root principal) and every reader ARN.
func grantChecks(g Grant) []check {
	var out []check
	for _, trail := range g.TrailARNs {
		t, ok := parseTrailARN(trail)
		if !ok {
			continue
		}
		var d Delivery
		for _, cand := range g.Deliveries {
			if cand.TrailARN == trail {
				d = cand
				break
			}
		}
		resource := g.KeyARN
		if resource == "" {
			region := d.BucketRegion
			if region == "" {
				region = t.Region
			}
			resource = "arn:" + t.Partition + ":kms:" + region + ":" + t.Account + ":key/00000000-0000-0000-0000-000000000000"
		}
		object := s3Context(t, d)

		encrypt := map[string][]string{
			ctxTrailARN:     {trail},
			ctxContextKeys:  {"aws:cloudtrail:arn", "aws:s3:arn"},
			ctxSourceARN:    {trail},
			ctxSourceAcct:   {t.Account},
			ctxPrincipalSvc: {CloudTrailService},
			ctxPrincipalIsS: {"true"},
		}
		if object != "" {
			encrypt[ctxObjectARN] = []string{object}
		}
		out = append(out,
			check{rule: KeyPolicyNoEncrypt, who: CloudTrailService, what: "kms:GenerateDataKey", trail: trail, req: policy.Request{
				Caller: policy.Caller{Service: CloudTrailService}, Action: "kms:GenerateDataKey", Resource: resource, Context: encrypt,
			}},
			check{rule: KeyPolicyNoDescribe, who: CloudTrailService, what: "kms:DescribeKey", trail: trail, req: policy.Request{
				Caller: policy.Caller{Service: CloudTrailService}, Action: "kms:DescribeKey", Resource: resource,
				Context: map[string][]string{
					ctxSourceARN: {trail}, ctxSourceAcct: {t.Account},
					ctxPrincipalSvc: {CloudTrailService}, ctxPrincipalIsS: {"true"},
				},
			}},
		)

		if slices.Contains(g.BucketKeyTrails, trail) && d.Bucket != "" {
			// CloudTrail's own Decrypt, which it needs to create or update
			// a trail with SSE-KMS when the bucket uses an S3 Bucket Key.
			bucketCtx := map[string][]string{
				ctxTrailARN:     {trail},
				ctxObjectARN:    {bucketARN(t.Partition, d.Bucket)},
				ctxContextKeys:  {"aws:cloudtrail:arn", "aws:s3:arn"},
				ctxSourceARN:    {trail},
				ctxSourceAcct:   {t.Account},
				ctxPrincipalSvc: {CloudTrailService},
				ctxPrincipalIsS: {"true"},
			}
			out = append(out, check{rule: KeyPolicyNoBucketKeyDecrypt, who: CloudTrailService, what: "kms:Decrypt (S3 Bucket Key)", trail: trail, req: policy.Request{
				Caller: policy.Caller{Service: CloudTrailService}, Action: "kms:Decrypt", Resource: resource, Context: bucketCtx,
			}})
		}

		// Readers decrypt log files written before a Bucket Key was
		// enabled (object ARN context) and after (bucket ARN context).
		readerCtxs := []string{objectARN(t, d)}
		if d.BucketKey && d.Bucket != "" {
			readerCtxs = append(readerCtxs, bucketARN(t.Partition, d.Bucket))
		}
		decrypt := func(caller, account string, explicit bool, object string) check {
			ctx := map[string][]string{
				ctxTrailARN:     {trail},
				ctxContextKeys:  {"aws:cloudtrail:arn", "aws:s3:arn"},
				ctxCallerAcct:   {account},
				ctxPrincipalAcc: {account},
				ctxPrincipalIsS: {"false"},
			}
			if object != "" {
				ctx[ctxObjectARN] = []string{object}
			}
			if d.BucketRegion != "" {
				ctx[ctxViaService] = []string{"s3." + d.BucketRegion + ".amazonaws.com"}
			}
			if explicit {
				// aws:PrincipalArn of a role's session is the role ARN.
				ctx[ctxPrincipalARN] = []string{caller}
				if typ := principalType(caller); typ != "" {
					ctx[ctxPrincipalTyp] = []string{typ}
				}
			}
			return check{rule: KeyPolicyNoReaderDecrypt, who: caller, what: "kms:Decrypt", trail: trail, req: policy.Request{
				Caller: policy.Caller{ARN: caller}, Action: "kms:Decrypt", Resource: resource, Context: ctx,
			}}
		}
		for _, object := range readerCtxs {
			for _, acct := range g.ReaderAccounts {
				if validAccount(acct) {
					out = append(out, decrypt(rootARN(t.Partition, acct), acct, false, object))
				}
			}
			for _, reader := range g.Readers {
				if r, ok := parsePrincipalARN(reader); ok {
					out = append(out, decrypt(reader, r.Account, true, object))
				}
			}
		}
	}
	return out
}

// principalType is the aws:PrincipalType of requests made by the principal
// ARN p ("" when unknown). The account root ARN that stands for a whole
// account has none: its principals are of every type.
func principalType(p string) string {
	a, ok := parsePrincipalARN(p)
	if !ok {
		return ""
	}
	switch {
	case a.Service == "iam" && a.Resource == "root":
		return "Account"
	case a.Service == "iam" && strings.HasPrefix(a.Resource, "user/"):
		return "User"
	case a.Service == "iam" && strings.HasPrefix(a.Resource, "role/"),
		a.Service == "sts" && strings.HasPrefix(a.Resource, "assumed-role/"):
		return "AssumedRole"
	case a.Service == "sts" && strings.HasPrefix(a.Resource, "federated-user/"):
		return "FederatedUser"
	}
	return ""
}

// objectARN is the ARN of a representative log file of trail t delivered as
// d: arn:PARTITION:s3:::BUCKET/PREFIX/AWSLogs/[ORG-ID/]ACCOUNT/CloudTrail/REGION/...
// It is "" when the bucket is unknown.
func objectARN(t arn, d Delivery) string {
	if d.Bucket == "" {
		return ""
	}
	logs := "AWSLogs/"
	if d.OrganizationID != "" {
		// An organization trail writes under AWSLogs/o-.../ACCOUNT/.
		logs += d.OrganizationID + "/"
	}
	key := logs + t.Account + "/CloudTrail/" + t.Region + "/2025/01/01/" +
		t.Account + "_CloudTrail_" + t.Region + "_20250101T0000Z_trailguard.json.gz"
	if d.Prefix != "" {
		key = d.Prefix + "/" + key
	}
	return "arn:" + t.Partition + ":s3:::" + d.Bucket + "/" + key
}

// s3Context is the aws:s3:arn encryption context of log files of trail t
// delivered as d: the object ARN, or the bucket ARN when the bucket uses an
// S3 Bucket Key ("" when the bucket is unknown). With a Bucket Key, S3 uses
// the bucket ARN as encryption context
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
func s3Context(t arn, d Delivery) string {
	if d.BucketKey && d.Bucket != "" {
		return bucketARN(t.Partition, d.Bucket)
	}
	return objectARN(t, d)
}

// bucketARN is the ARN of an S3 bucket.
func bucketARN(partition, bucket string) string {
	return "arn:" + partition + ":s3:::" + bucket
}
