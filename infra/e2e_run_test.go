//go:build e2e

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailguard/trailguard/internal/testbed/lambdarie"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
)

// The tests of this file run what was deployed: each function's code is
// read back from the deployment (the asset object whose SHA-256 is the
// deployed function's CodeSha256), run under aws-lambda-rie with the
// deployed function's environment (GetFunctionConfiguration) and the
// credentials of its deployed role (sts:AssumeRole of the function's Role),
// and fed the messages the deployed rules routed into the function's event
// queue (the queue of its deployed event source mapping): moto routes
// events between buses and into SQS, but cannot invoke a Lambda target.

var (
	realOnce sync.Once
	realDir  string
	realErr  error
)

// realAssets builds the functions' bootstraps (for this host's
// architecture; the template says arm64, which only Lambda reads) and
// aws-lambda-rie once per test binary, into a directory that serves as the
// synthesis' assetDir.
func realAssets(t *testing.T) string {
	t.Helper()
	realOnce.Do(func() {
		realDir, realErr = os.MkdirTemp(outRoot, "bootstraps-")
		if realErr == nil {
			realErr = lambdarie.Build(realDir)
		}
	})
	if errors.Is(realErr, lambdarie.ErrNoEmulator) {
		motoserver.SkipOrFail(t, "%v", realErr)
	}
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realDir
}

// account is one moto account's view of one Region.
type account struct {
	id, region string
	cfg        aws.Config
}

// as returns the configuration of account id in region: moto's default
// account directly, another through sts:AssumeRole of its
// OrganizationAccountAccessRole (which in moto acts as that account).
func as(t *testing.T, srv *motoserver.Server, id, region string) account {
	t.Helper()
	cfg, err := srv.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	if id != motoserver.AccountID {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+id+":role/OrganizationAccountAccessRole"))
	}
	return account{id: id, region: region, cfg: cfg}
}

func (a account) in(region string) account {
	c := a.cfg.Copy()
	c.Region = region
	return account{id: a.id, region: region, cfg: c}
}

func (a account) clients() e2eRegion {
	return e2eRegion{cfn: cloudformation.NewFromConfig(a.cfg), eb: eventbridge.NewFromConfig(a.cfg), kms: kms.NewFromConfig(a.cfg)}
}

// deployedFunction is a function as moto holds it, running under
// aws-lambda-rie.
type deployedFunction struct {
	name, arn, role string
	env             map[string]string
	queueURL        string
	queueARN        string
	url             string // the emulator's invoke URL
	owner           account
}

// runDeployed starts function name (without prefix) of account a under
// aws-lambda-rie: its code from the assets bucket, checked against the
// deployed CodeSha256; its deployed environment; the credentials of its
// deployed role; AWS_ENDPOINT_URL pointing at moto.
func runDeployed(t *testing.T, srv *motoserver.Server, a account, name string) *deployedFunction {
	t.Helper()
	return runDeployedAt(t, srv.Endpoint, a, name)
}

// runDeployedAt is runDeployed with the function's AWS_ENDPOINT_URL set to
// endpoint (a loopback proxy in front of moto).
func runDeployedAt(t *testing.T, endpoint string, a account, name string) *deployedFunction {
	t.Helper()
	ctx := context.Background()
	lc := lambda.NewFromConfig(a.cfg)
	conf, err := lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(DefaultFunctionPrefix + name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration %s in %s %s: %v", name, a.id, a.region, err)
	}
	f := &deployedFunction{name: aws.ToString(conf.FunctionName), arn: aws.ToString(conf.FunctionArn), role: aws.ToString(conf.Role), owner: a}
	if conf.Environment == nil || len(conf.Environment.Variables) == 0 {
		t.Fatalf("%s: deployed with no environment", f.name)
	}
	f.env = conf.Environment.Variables

	// The deployed code: the asset object with the function's CodeSha256.
	bootstrap := deployedBootstrap(t, a, aws.ToString(conf.CodeSha256), f.name)

	// The deployed role's credentials.
	creds, err := sts.NewFromConfig(a.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(f.role), RoleSessionName: aws.String(f.name)})
	if err != nil {
		t.Fatalf("AssumeRole %s (the role of %s): %v", f.role, f.name, err)
	}
	env := lambdarie.CleanEnv(
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REGION="+a.region, "AWS_DEFAULT_REGION="+a.region,
		"AWS_ACCESS_KEY_ID="+aws.ToString(creds.Credentials.AccessKeyId),
		"AWS_SECRET_ACCESS_KEY="+aws.ToString(creds.Credentials.SecretAccessKey),
		"AWS_SESSION_TOKEN="+aws.ToString(creds.Credentials.SessionToken),
		"AWS_LAMBDA_FUNCTION_NAME="+f.name,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", aws.ToInt32(conf.Timeout)),
	)
	for k, v := range f.env {
		env = append(env, k+"="+v)
	}
	f.url = lambdarie.Start(t, filepath.Join(realAssets(t), "aws-lambda-rie"), bootstrap, f.name+"@"+a.id+"/"+a.region, env)

	// Its event queue: the source of its deployed event source mapping.
	maps, err := lc.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(f.name)})
	if err != nil {
		t.Fatalf("ListEventSourceMappings %s: %v", f.name, err)
	}
	for _, m := range maps.EventSourceMappings {
		if arn := aws.ToString(m.EventSourceArn); strings.HasPrefix(arn, "arn:aws:sqs:") {
			// moto plays an enabled mapping itself: on every SendMessage
			// it receives the queue's messages, fails to invoke the
			// function (no Docker) and makes them visible again, racing
			// concurrent sends (a 500 from SendMessageBatch) and hiding
			// messages from the test. The test is the mapping here
			// (deliver, invokeBatch), so moto's is disabled (README
			// "Emulator gaps").
			if _, err := lc.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(false)}); err != nil {
				t.Fatalf("%s: disable moto's run of the event source mapping: %v", f.name, err)
			}
			f.queueARN = arn
			u, err := sqs.NewFromConfig(a.cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(arn[strings.LastIndex(arn, ":")+1:])})
			if err != nil {
				t.Fatalf("%s: queue %s: %v", f.name, arn, err)
			}
			f.queueURL = aws.ToString(u.QueueUrl)
		}
	}
	return f
}

// runWorker starts the deployed sweep-worker of account a (runDeployed).
// The worker reconciles a batch's items at once, and each completes the
// one sweep record with a TransactWriteItems; moto applies a
// TransactWriteItems without isolation (an ADD of a concurrent
// transaction on the same item can be lost, and a failing one restores a
// copy of the whole table; a sweep record one item short was seen in this
// test), where DynamoDB serializes transactions and cancels a conflicting
// one (TransactionConflict,
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation),
// which state.Sweeps tries again. srv.Endpoint is motoserver's front,
// which lets one DynamoDB request reach moto at a time. README "Emulator
// gaps".
func runWorker(t *testing.T, srv *motoserver.Server, a account) *deployedFunction {
	t.Helper()
	return runDeployedAt(t, srv.Endpoint, a, SweepWorker)
}

// deployedBootstrap finds, in the account's CDK assets bucket, the zip
// whose SHA-256 (base64) is sha (the deployed function's CodeSha256), and
// unpacks its bootstrap.
func deployedBootstrap(t *testing.T, a account, sha, fn string) string {
	t.Helper()
	ctx := context.Background()
	s3c := s3.NewFromConfig(a.cfg, motoserver.S3Options)
	bucket := fmt.Sprintf("cdk-hnb659fds-assets-%s-%s", a.id, a.region)
	objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list assets bucket %s: %v", bucket, err)
	}
	for _, o := range objs.Contents {
		got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if base64.StdEncoding.EncodeToString(sum[:]) != sha {
			continue
		}
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: deployed code is not a zip: %v", fn, err)
		}
		dir := filepath.Join(t.TempDir(), fn)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			if zf.Name != "bootstrap" {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "bootstrap")
			if err := os.WriteFile(p, data, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
		t.Fatalf("%s: deployed zip %s has no bootstrap", fn, aws.ToString(o.Key))
	}
	t.Fatalf("%s: no object in %s has the deployed CodeSha256 %s", fn, bucket, sha)
	return ""
}

// disableTrailKey disables the key of trail name in a, as a person would,
// and puts the DisableKey event.
func disableTrailKey(t *testing.T, a account, name string) {
	t.Helper()
	ctx := context.Background()
	tr, err := cloudtrail.NewFromConfig(a.cfg).GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(tr.Trail.KmsKeyId)
	// By key id: moto's DisableKey fails (500) on a key ARN, which AWS
	// accepts (README "Emulator gaps").
	if _, err := kms.NewFromConfig(a.cfg).DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyARN[strings.LastIndex(keyARN, "/")+1:])}); err != nil {
		t.Fatalf("DisableKey %s: %v", keyARN, err)
	}
	putCloudTrailEvent(t, a, "aws.kms", "DisableKey", map[string]any{"keyId": keyARN}, nil,
		[]any{map[string]any{"accountId": a.id, "type": "AWS::KMS::Key", "ARN": keyARN}})
}

// batchResult is an SQS-fed function's result.
type batchResult struct {
	Results []struct {
		Trail    string `json:"trail"`
		Findings []struct {
			Rule       string `json:"rule"`
			Actionable bool   `json:"actionable"`
		} `json:"findings"`
		Actions []struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
		} `json:"actions"`
	} `json:"results"`
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

// deliver does what the function's event source mapping does: it receives
// every message of its queue (exactly want of them; want < 0: at least
// one), invokes the function with them as one SQS batch, and deletes the
// messages the function did not report as failed. It returns the
// function's result.
func (f *deployedFunction) deliver(t *testing.T, want int) batchResult {
	t.Helper()
	msgs := f.receive(t, 0)
	if (want >= 0 && len(msgs) != want) || len(msgs) == 0 {
		t.Fatalf("%s: %d messages in its queue, want %d", f.name, len(msgs), want)
	}
	res, out := f.invokeBatch(t, msgs)
	if len(res.BatchItemFailures) != 0 {
		t.Errorf("%s: batchItemFailures %v; result %s", f.name, res.BatchItemFailures, out)
	}
	return res
}

// receive receives the messages of the function's queue until two
// receives in a row return none, or (limit > 0) until it has limit of
// them.
func (f *deployedFunction) receive(t *testing.T, limit int) []sqstypes.Message {
	t.Helper()
	if f.queueURL == "" {
		t.Fatalf("%s has no event queue", f.name)
	}
	q := sqs.NewFromConfig(f.owner.cfg)
	var msgs []sqstypes.Message
	for empty := 0; empty < 2 && (limit <= 0 || len(msgs) < limit); {
		n := int32(10)
		if limit > 0 {
			n = int32(min(10, limit-len(msgs)))
		}
		out, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queueURL), MaxNumberOfMessages: n, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatalf("%s: receive: %v", f.name, err)
		}
		if len(out.Messages) == 0 {
			empty++
		}
		msgs = append(msgs, out.Messages...)
	}
	return msgs
}

// invokeBatch invokes the function with msgs as one SQS batch and deletes
// the messages it did not report as failed (what the event source mapping
// with ReportBatchItemFailures does). It returns the result, parsed and raw.
func (f *deployedFunction) invokeBatch(t *testing.T, msgs []sqstypes.Message) (batchResult, []byte) {
	t.Helper()
	ctx := context.Background()
	q := sqs.NewFromConfig(f.owner.cfg)
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
			EventSource: "aws:sqs", EventSourceARN: f.queueARN, AWSRegion: f.owner.region,
		})
	}
	raw, _ := json.Marshal(ev)
	out := lambdarie.Invoke(t, f.url, raw)
	var res batchResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: result %s: %v", f.name, out, err)
	}
	failed := map[string]bool{}
	for _, b := range res.BatchItemFailures {
		failed[b.ItemIdentifier] = true
	}
	for _, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] {
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return res, out
}

// sweep runs a fanned-out sweep as deployed: the coordinator (the
// sweeper) is invoked with its schedule's event in account and region; the
// work items it enqueued are then received from the worker's queue (the
// source of its deployed event source mapping) sweepBatchSize (the
// mapping's batch size) at a time
// and handed to the worker, until the queue is empty. It fails t unless
// every item succeeded, the work queue held exactly the items of one
// sweep (one per account and Region), and that sweep's record in the
// deployed state table has every item done and its summary claimed. It
// returns the workers' results merged, and the accounts the items covered.
func sweep(t *testing.T, coordinator, worker *deployedFunction, account, region string) (batchResult, map[string][]string) {
	t.Helper()
	out := lambdarie.Invoke(t, coordinator.url, scheduledEvent(account, region))
	var coord struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(out, &coord); err != nil {
		t.Fatalf("sweeper result %s: %v", out, err)
	}
	if len(coord.Errors) != 0 {
		t.Errorf("sweeper (coordinator): errors %v", coord.Errors)
	}
	var all batchResult
	covered := map[string][]string{}
	sweeps := map[string]bool{}
	for {
		msgs := worker.receive(t, sweepBatchSize)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			var w struct {
				Sweep   string `json:"sweep"`
				Account string `json:"account"`
				Region  string `json:"region"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &w); err != nil {
				t.Fatalf("work item %s: %v", aws.ToString(m.Body), err)
			}
			sweeps[w.Sweep] = true
			if slices.Contains(covered[w.Account], w.Region) {
				t.Errorf("work item for %s %s enqueued twice", w.Account, w.Region)
			}
			covered[w.Account] = append(covered[w.Account], w.Region)
		}
		res, raw := worker.invokeBatch(t, msgs)
		if len(res.BatchItemFailures) != 0 {
			t.Errorf("%s: batchItemFailures %v; result %s", worker.name, res.BatchItemFailures, raw)
		}
		all.Results = append(all.Results, res.Results...)
	}
	if len(sweeps) != 1 {
		t.Fatalf("work items of %d sweeps, want 1", len(sweeps))
	}
	table := coordinator.env["TRAILGUARD_TABLE"]
	if table == "" || table != worker.env["TRAILGUARD_TABLE"] {
		t.Fatalf("coordinator table %q, worker table %q: want one deployed state table", table, worker.env["TRAILGUARD_TABLE"])
	}
	rec, err := dynamodb.NewFromConfig(coordinator.owner.cfg).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "sweep"}, "sk": &ddbtypes.AttributeValueMemberS{Value: slices.Collect(maps.Keys(sweeps))[0]}},
	})
	if err != nil || rec.Item == nil {
		t.Fatalf("the sweep's record: %v (item %v)", err, rec)
	}
	num := func(name string) string {
		if v, ok := rec.Item[name].(*ddbtypes.AttributeValueMemberN); ok {
			return v.Value
		}
		return ""
	}
	n := 0
	for _, rs := range covered {
		n += len(rs)
	}
	// The record counts one item per account and Region, plus the
	// coordinator's own.
	if want := fmt.Sprint(n + 1); num("items") != want || num("done") != want {
		t.Errorf("sweep record: items %s, done %s; want %s of %s (the work items received + the coordinator's)", num("items"), num("done"), want, want)
	}
	if _, ok := rec.Item["claimed"]; !ok {
		t.Errorf("sweep record: the summary was not claimed: %v", rec.Item)
	}
	if num("failed") != "0" && num("failed") != "" {
		t.Errorf("sweep record: %s failed items", num("failed"))
	}
	return all, covered
}

// want fails t unless the result has the action outcome "Action=outcome".
func (r batchResult) want(t *testing.T, outcome string) {
	t.Helper()
	if !slices.Contains(r.outcomes(), outcome) {
		t.Errorf("outcomes %v, want %s", r.outcomes(), outcome)
	}
}

// scheduledEvent is the event of the sweeper's schedule in account and
// region.
func scheduledEvent(account, region string) []byte {
	return []byte(`{"version":"0","id":"e2e-sweep","detail-type":"Scheduled Event","source":"aws.events","account":"` + account + `","region":"` + region + `","resources":[],"detail":{}}`)
}

// outcomes lists "Action=outcome" of a result.
func (r batchResult) outcomes() []string {
	var out []string
	for _, res := range r.Results {
		for _, a := range res.Actions {
			out = append(out, a.Action+"="+a.Outcome)
		}
	}
	return out
}

// putCloudTrailEvent puts on a's default bus (a's Region: where the call
// was made) the event CloudTrail delivers for an API call: moto records
// no CloudTrail events for API calls, so the test makes it.
func putCloudTrailEvent(t *testing.T, a account, source, eventName string, request, response, resources any) {
	t.Helper()
	detail := map[string]any{
		"eventVersion": "1.09", "eventSource": strings.TrimPrefix(source, "aws.") + ".amazonaws.com",
		"eventName": eventName, "awsRegion": a.region, "recipientAccountId": a.id,
		"userIdentity":      map[string]any{"type": "IAMUser", "accountId": a.id, "arn": "arn:aws:iam::" + a.id + ":user/Alice"},
		"requestParameters": request, "responseElements": response,
		"eventType": "AwsApiCall", "managementEvent": true, "readOnly": false, "eventCategory": "Management",
	}
	if resources != nil {
		detail["resources"] = resources
	}
	b, _ := json.Marshal(detail)
	out, err := eventbridge.NewFromConfig(a.cfg).PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String(source), DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(string(b)),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents %s in %s %s: %v %+v", eventName, a.id, a.region, err, out)
	}
}

// createTrail makes bucket (in the bucket owner's Region, with the policy
// CloudTrail needs) and an unencrypted trail on it in a, and puts the
// CreateTrail event. It returns the trail's ARN.
func createTrail(t *testing.T, a account, bucketOwner account, name, bucket string, multiRegion, org bool) string {
	t.Helper()
	ctx := context.Background()
	s3c := s3.NewFromConfig(bucketOwner.cfg, motoserver.S3Options)
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if bucketOwner.region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(bucketOwner.region)}
	}
	if _, err := s3c.CreateBucket(ctx, in); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"AWSCloudTrailAclCheck","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl","Resource":"arn:aws:s3:::%[1]s"},{"Sid":"AWSCloudTrailWrite","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::%[1]s/AWSLogs/*"}]}`, bucket)
	if _, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(pol)}); err != nil {
		t.Fatalf("bucket policy %s: %v", bucket, err)
	}
	out, err := cloudtrail.NewFromConfig(a.cfg).CreateTrail(ctx, &cloudtrail.CreateTrailInput{
		Name: aws.String(name), S3BucketName: aws.String(bucket), IsMultiRegionTrail: aws.Bool(multiRegion), IsOrganizationTrail: aws.Bool(org),
	})
	if err != nil {
		t.Fatalf("CreateTrail %s in %s %s: %v", name, a.id, a.region, err)
	}
	arn := aws.ToString(out.TrailARN)
	req := map[string]any{"name": name, "s3BucketName": bucket, "isMultiRegionTrail": multiRegion, "isOrganizationTrail": org}
	resp := map[string]any{"name": name, "s3BucketName": bucket, "isMultiRegionTrail": multiRegion, "isOrganizationTrail": org, "trailARN": arn}
	putCloudTrailEvent(t, a, "aws.cloudtrail", "CreateTrail", req, resp, nil)
	return arn
}

// checkFixed reads the trail and its key back: the trail is encrypted with
// a key of its own Region that is enabled, and whose policy lets
// CloudTrail encrypt for this trail.
func checkFixed(t *testing.T, srv *motoserver.Server, what string, a account, name string) {
	t.Helper()
	ctx := context.Background()
	tr, err := cloudtrail.NewFromConfig(a.cfg).GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("%s: GetTrail %s: %v", what, name, err)
	}
	keyARN := aws.ToString(tr.Trail.KmsKeyId)
	if keyARN == "" {
		t.Errorf("%s: trail %s still unencrypted", what, name)
		return
	}
	parts := strings.Split(keyARN, ":")
	if len(parts) < 6 || parts[3] != a.region {
		t.Errorf("%s: trail key %s is not in the trail's Region %s", what, keyARN, a.region)
		return
	}
	kc := kms.NewFromConfig(a.in(parts[3]).cfg)
	if parts[4] != a.id {
		// A key of another account is read as its owner.
		kc = kms.NewFromConfig(as(t, srv, parts[4], parts[3]).cfg)
	}
	k, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatalf("%s: DescribeKey %s: %v", what, keyARN, err)
	}
	if !k.KeyMetadata.Enabled {
		t.Errorf("%s: key %s disabled", what, keyARN)
	}
	pol, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatalf("%s: GetKeyPolicy %s: %v", what, keyARN, err)
	}
	if !grantsCloudTrail(t, aws.ToString(pol.Policy), aws.ToString(tr.Trail.TrailARN)) {
		t.Errorf("%s: key policy of %s does not let CloudTrail encrypt for %s:\n%s", what, keyARN, aws.ToString(tr.Trail.TrailARN), aws.ToString(pol.Policy))
	}
}

// grantsCloudTrail reports whether policy has an Allow of
// kms:GenerateDataKey* to cloudtrail.amazonaws.com whose encryption-context
// condition (if any) covers trailARN.
func grantsCloudTrail(t *testing.T, policy, trailARN string) bool {
	t.Helper()
	var doc struct {
		Statement []struct {
			Sid       string          `json:"Sid"`
			Effect    string          `json:"Effect"`
			Principal json.RawMessage `json:"Principal"`
			Action    any             `json:"Action"`
			Condition map[string]map[string]any
		} `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("key policy is not JSON: %v", err)
	}
	for _, s := range doc.Statement {
		if s.Sid != compliance.SidCloudTrailEncrypt || s.Effect != "Allow" || !strings.Contains(string(s.Principal), "cloudtrail.amazonaws.com") {
			continue
		}
		if !strings.Contains(fmt.Sprint(s.Action), "kms:GenerateDataKey") {
			continue
		}
		for _, cond := range s.Condition {
			for k, v := range cond {
				if strings.EqualFold(k, "kms:EncryptionContext:aws:cloudtrail:arn") {
					if !matchesAny(v, trailARN) {
						return false
					}
				}
			}
		}
		return true
	}
	return false
}

// matchesAny reports whether one of the patterns (a string or a list; *
// matches any run) matches s.
func matchesAny(v any, s string) bool {
	var pats []string
	switch x := v.(type) {
	case string:
		pats = []string{x}
	case []any:
		for _, e := range x {
			pats = append(pats, fmt.Sprint(e))
		}
	}
	for _, p := range pats {
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches s against p, where * matches any run of characters.
func wildcard(p, s string) bool {
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// deployAccountMode deploys the account-mode central stack (home Region
// eu-west-1, real bootstraps) and the Region stacks of regions, and
// returns the synthesis, the home account view and the central stack's
// resources.
func deployAccountMode(t *testing.T, srv *motoserver.Server, regions ...string) (*synthesized, account, []cfntypes.StackResource) {
	t.Helper()
	s := synth(t, with(regionsContext, map[string]any{"assetDir": realAssets(t)}))
	home := as(t, srv, motoserver.AccountID, *s.tg.Stack.Region())
	bootstrapLike(t, srv, s.dir, *s.tg.Stack.ArtifactId(), home.id, home.region)
	st, res := createStack(t, home.clients(), deployment{account: home.id, region: home.region}, *s.tg.Stack.StackName(), s.json)
	if st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("central stack: %s", st)
	}
	dropScheduleTargets(t, home.clients())
	for _, r := range regions {
		var rs *RegionStack
		for _, x := range s.tg.Regions {
			if x.Region == r {
				rs = x
			}
		}
		if rs == nil {
			t.Fatalf("no Region stack for %s", r)
		}
		if st, _ := createStack(t, home.in(r).clients(), deployment{account: home.id, region: r}, *rs.Stack.StackName(), stackJSON(t, rs.Stack)); st != cfntypes.StackStatusCreateComplete {
			t.Fatalf("Region stack %s: %s", r, st)
		}
	}
	return s, home, res
}

// Account mode, run: a trail created in us-east-1 (not the stack's home
// Region eu-west-1) is fixed on the event path, its key disabled there is
// re-enabled on the event path, the sweep then finds nothing to do, and
// deploying the central stack again changes nothing.
func TestE2EAccountModeRunFixesAnotherRegion(t *testing.T) {
	srv := e2eServer(t)
	s, home, res := deployAccountMode(t, srv, "us-east-1")
	other := home.in("us-east-1")
	trailFn := runDeployed(t, srv, home, TrailRemediator)
	keyFn := runDeployed(t, srv, home, KeyRemediator)
	sweepFn := runDeployed(t, srv, home, Sweeper)
	workerFn := runWorker(t, srv, home)

	// CreateTrail in us-east-1 → the Region stack's rule → eu-west-1's
	// default bus → the trail rule → the trail queue → trail-remediator.
	createTrail(t, other, other, "other-region", "other-region-logs", false, false)
	got := trailFn.deliver(t, 1)
	got.want(t, "UpdateTrail=updated")
	checkFixed(t, srv, "account mode, us-east-1", other, "other-region")

	// DisableKey of that key in us-east-1 → key queue → key-remediator.
	disableTrailKey(t, other, "other-region")
	got = keyFn.deliver(t, 1)
	got.want(t, "EnableKey=updated")
	checkFixed(t, srv, "account mode, after DisableKey", other, "other-region")

	// The sweep (its schedule's event, fanned out to sweep-worker through
	// the deployed work queue) finds nothing left to do.
	swept, covered := sweep(t, sweepFn, workerFn, home.id, home.region)
	if len(covered) != 1 || len(covered[home.id]) < 3 {
		t.Errorf("sweep covered %v, want every Region of %s (at least the 3 of the stacks)", covered, home.id)
	}
	if len(swept.outcomes()) != 0 {
		t.Errorf("sweep after the event path: actions %v, want none", swept.outcomes())
	}
	seen := false
	for _, r := range swept.Results {
		seen = seen || strings.HasSuffix(r.Trail, ":trail/other-region")
		for _, f := range r.Findings {
			if f.Actionable {
				t.Errorf("sweeper: %s still has %s", r.Trail, f.Rule)
			}
		}
	}
	if !seen {
		t.Errorf("sweep did not observe the us-east-1 trail: %+v", swept.Results)
	}

	// Deploying the central stack again is a no-op.
	redeployUnchanged(t, home.clients(), deployment{account: home.id, region: home.region}, *s.tg.Stack.StackName(), s.json, res)
}
