//go:build e2e

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
)

// bootstrapLike does in moto what `cdk bootstrap` and the CDK CLI's asset
// publishing do before CloudFormation runs the central template: the
// assets bucket with every file asset zipped into it, and the bootstrap
// version parameter the template's rule checks.
func bootstrapLike(t *testing.T, srv *motoserver.Server, dir, stackArtifact, account, region string) {
	t.Helper()
	cfg, err := srv.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	bootstrapLikeWith(t, srv, cfg, dir, stackArtifact, account, region)
}

// bootstrapLikeWith is bootstrapLike with the credentials of cfg (another
// account's, through AssumeRole).
func bootstrapLikeWith(t *testing.T, srv *motoserver.Server, cfg aws.Config, dir, stackArtifact, account, region string) {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(dir, stackArtifact+".assets.json"))
	if err != nil {
		t.Fatalf("assets manifest: %v", err)
	}
	var manifest struct {
		Files map[string]struct {
			Source struct {
				Path      string `json:"path"`
				Packaging string `json:"packaging"`
			} `json:"source"`
			Destinations map[string]struct {
				BucketName string `json:"bucketName"`
				ObjectKey  string `json:"objectKey"`
			} `json:"destinations"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatalf("assets manifest: %v", err)
	}
	s3c := s3.NewFromConfig(cfg, motoserver.S3Options)
	sub := strings.NewReplacer("${AWS::AccountId}", account, "${AWS::Region}", region, "${AWS::Partition}", "aws")
	made := map[string]bool{}
	for hash, f := range manifest.Files {
		var body []byte
		src := filepath.Join(dir, f.Source.Path)
		if f.Source.Packaging == "zip" {
			body = zipDir(t, src)
		} else if body, err = os.ReadFile(src); err != nil {
			t.Fatalf("asset %s: %v", hash, err)
		}
		for _, d := range f.Destinations {
			bucket := sub.Replace(d.BucketName)
			if !made[bucket] {
				in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
				if region != "us-east-1" {
					in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
				}
				if _, err := s3c.CreateBucket(ctx, in); err != nil {
					t.Fatalf("create assets bucket: %v", err)
				}
				made[bucket] = true
			}
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(sub.Replace(d.ObjectKey)), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("upload asset %s: %v", hash, err)
			}
		}
	}
	// SSM PutParameter over moto's JSON protocol (the repository has no
	// SSM client; this is the one call).
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.Endpoint+"/",
		strings.NewReader(`{"Name":"/cdk-bootstrap/hnb659fds/version","Value":"30","Type":"String","Overwrite":true}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.PutParameter")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("credentials of %s: %v", account, err)
	}
	// moto takes the account from the access key id.
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20260101/%s/ssm/aws4_request, SignedHeaders=host, Signature=0", creds.AccessKeyID, region))
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ssm PutParameter: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ssm PutParameter: %s: %s", resp.Status, b)
	}
}

// zipDir zips the files of dir (a function asset: bootstrap).
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("asset %s: %v", dir, err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The account-mode central stack, deployed into its Region.
func TestE2EAccountModeCentralStack(t *testing.T) {
	s := synth(t, regionsContext)
	srv := e2eServer(t)
	region := *s.tg.Stack.Region()
	bootstrapLike(t, srv, s.dir, *s.tg.Stack.ArtifactId(), motoserver.AccountID, region)
	c := clientsIn(t, srv, region)
	st, res := createStack(t, c, deployment{account: motoserver.AccountID, region: region}, *s.tg.Stack.StackName(), s.json)
	if st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("central stack: %s", st)
	}
	byType := map[string]int{}
	for _, r := range res {
		byType[aws.ToString(r.ResourceType)]++
		if r.ResourceStatus != cfntypes.ResourceStatusCreateComplete {
			t.Errorf("%s %s: %s", aws.ToString(r.ResourceType), aws.ToString(r.LogicalResourceId), r.ResourceStatus)
		}
	}
	want := map[string]int{}
	for _, r := range s.json["Resources"].(map[string]any) {
		want[r.(map[string]any)["Type"].(string)]++
	}
	// moto's CloudFormation does not create these types: it lists them
	// with no type and no physical id (README "Emulator gaps"). The list
	// is exact, so a moto that starts creating one fails here and the
	// README entry can go.
	gaps := map[string]bool{"AWS::CloudWatch::Alarm": true, "AWS::Lambda::EventInvokeConfig": true, "AWS::SNS::TopicPolicy": true, "AWS::SQS::QueuePolicy": true}
	missing := 0
	for typ, n := range want {
		switch {
		case gaps[typ] && byType[typ] == 0:
			missing += n
		case gaps[typ]:
			t.Errorf("moto now creates %s (%d of %d): drop it from the gaps and the README", typ, byType[typ], n)
		case byType[typ] != n:
			t.Errorf("%s: template has %d, moto created %d", typ, n, byType[typ])
		}
	}
	if byType[""] != missing {
		t.Errorf("%d untyped resources, want %d (the gap types)", byType[""], missing)
	}

	// What was created, read back.
	ctx := context.Background()
	checkDeployedKey(t, "central", c)
	cfg, _ := srv.AWSConfig(ctx, region)
	queues, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(queues.QueueUrls); n != want["AWS::SQS::Queue"] {
		t.Errorf("%d queues, want %d", n, want["AWS::SQS::Queue"])
	}
	rules, err := c.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	toQueue := 0
	for _, r := range rules.Rules {
		targets, err := c.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets.Targets {
			if strings.HasPrefix(aws.ToString(tg.Arn), "arn:aws:sqs:"+region+":"+motoserver.AccountID+":") {
				toQueue++
				if tg.DeadLetterConfig == nil || tg.RetryPolicy == nil {
					t.Errorf("rule %s: queue target without dead-letter queue or retry policy", aws.ToString(r.Name))
				}
			}
		}
	}
	if toQueue != 2 {
		t.Errorf("%d rules send to an event queue, want 2 (trail, key)", toQueue)
	}
}

// An API call in a Region other than the central stack's travels through
// the deployed Region stack's rule and the home Region's default-bus rule
// into trail-remediator's event queue. (The call is simulated with
// PutEvents of the event CloudTrail would deliver: moto does not emit
// CloudTrail events for API calls.)
func TestE2EEventFromAnotherRegionReachesQueue(t *testing.T) {
	s := synth(t, regionsContext)
	srv := e2eServer(t)
	home := *s.tg.Stack.Region()
	bootstrapLike(t, srv, s.dir, *s.tg.Stack.ArtifactId(), motoserver.AccountID, home)
	hc := clientsIn(t, srv, home)
	if st, _ := createStack(t, hc, deployment{account: motoserver.AccountID, region: home}, *s.tg.Stack.StackName(), s.json); st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("central stack: %s", st)
	}
	var other *RegionStack
	for _, rs := range s.tg.Regions {
		if rs.Region == "us-east-1" {
			other = rs
		}
	}
	if other == nil {
		t.Fatal("no us-east-1 Region stack")
	}
	oc := clientsIn(t, srv, other.Region)
	if st, _ := createStack(t, oc, deployment{account: motoserver.AccountID, region: other.Region}, *other.Stack.StackName(), stackJSON(t, other.Stack)); st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("Region stack: %s", st)
	}
	ctx := context.Background()
	dropScheduleTargets(t, hc)
	rules, err := hc.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	detail := `{"eventSource":"cloudtrail.amazonaws.com","eventName":"CreateTrail","awsRegion":"us-east-1","requestParameters":{"name":"t1"},"responseElements":{"trailARN":"arn:aws:cloudtrail:us-east-1:` + motoserver.AccountID + `:trail/t1"}}`
	out, err := oc.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.cloudtrail"), DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(detail),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		logText, _ := os.ReadFile(srv.LogPath)
		if len(logText) > 3000 {
			logText = logText[len(logText)-3000:]
		}
		t.Fatalf("PutEvents: %v %+v\nmoto log:\n%s", err, out, logText)
	}
	cfg, _ := srv.AWSConfig(ctx, home)
	sq := sqs.NewFromConfig(cfg)
	// The trail queue: the rule TrailEventsRule's target.
	qARN := ""
	for _, r := range rules.Rules {
		if !strings.Contains(aws.ToString(r.EventPattern), "cloudtrail.amazonaws.com") {
			continue
		}
		tg, err := hc.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
		if err != nil || len(tg.Targets) != 1 {
			t.Fatalf("trail rule targets: %v %+v", err, tg)
		}
		qARN = aws.ToString(tg.Targets[0].Arn)
	}
	name := qARN[strings.LastIndex(qARN, ":")+1:]
	url, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("trail queue %s: %v", qARN, err)
	}
	msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("trail queue holds %d messages, want the one event from us-east-1", len(msgs.Messages))
	}
	// moto sets a forwarded event's "region" to the receiving bus's
	// Region (AWS keeps the Region of the call); pkg/event reads
	// detail.awsRegion first, which survives.
	var ev struct {
		Detail struct {
			EventName string `json:"eventName"`
			AWSRegion string `json:"awsRegion"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &ev); err != nil {
		t.Fatalf("message body %q: %v", aws.ToString(msgs.Messages[0].Body), err)
	}
	if ev.Detail.AWSRegion != "us-east-1" || ev.Detail.EventName != "CreateTrail" {
		t.Errorf("queued event awsRegion %q name %q, want us-east-1 CreateTrail", ev.Detail.AWSRegion, ev.Detail.EventName)
	}
}

// dropScheduleTargets removes the targets of the Region's schedule rules:
// moto matches a rule without a pattern (the sweeper's schedule) against
// every event put on the bus, and cannot invoke its Lambda target
// (PutEvents fails with a 500); in AWS a schedule rule never matches events
// (README "Emulator gaps").
func dropScheduleTargets(t *testing.T, c e2eRegion) {
	t.Helper()
	ctx := context.Background()
	rules, err := c.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Rules {
		if aws.ToString(r.ScheduleExpression) == "" {
			continue
		}
		tg, err := c.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range tg.Targets {
			ids = append(ids, aws.ToString(x.Id))
		}
		if len(ids) == 0 {
			continue
		}
		if _, err := c.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: r.Name, Ids: ids}); err != nil {
			t.Fatal(err)
		}
	}
}
