package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
)

// One moto server for the package's tests: started on first use, stopped
// by TestMain.
var sharedMoto motoserver.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sharedMoto.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "moto server:", err)
	}
	os.Exit(code)
}

// skipOrFail skips t with a visible reason, or fails it when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	motoserver.SkipOrFail(t, format, args...)
}

// moto returns the package's moto server, reset to an empty state, and
// holds it for t.
func moto(t *testing.T) *motoserver.Server {
	t.Helper()
	return sharedMoto.Get(t)
}

const motoAccount = motoserver.AccountID

// world creates and reads back resources in moto with real SDK clients,
// as one account (the default account, or an assumed role's).
type world struct {
	t     *testing.T
	srv   *motoserver.Server
	creds aws.CredentialsProvider
	acct  string
}

func newWorld(t *testing.T, srv *motoserver.Server) *world {
	return &world{t: t, srv: srv, acct: motoAccount}
}

func (w *world) cfg(region string) aws.Config {
	w.t.Helper()
	cfg, err := w.srv.AWSConfig(context.Background(), region)
	if err != nil {
		w.t.Fatal(err)
	}
	if w.creds != nil {
		cfg.Credentials = w.creds
	}
	return cfg
}

func (w *world) ct(region string) *cloudtrail.Client { return cloudtrail.NewFromConfig(w.cfg(region)) }
func (w *world) kms(region string) *kms.Client       { return kms.NewFromConfig(w.cfg(region)) }
func (w *world) s3(region string) *s3.Client {
	return s3.NewFromConfig(w.cfg(region), motoserver.S3Options)
}

// as returns a world acting in account through an assumed role.
func (w *world) as(account, role string) *world {
	w.t.Helper()
	out, err := sts.NewFromConfig(w.cfg("us-east-1")).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/%s", account, role)),
		RoleSessionName: aws.String("test"),
	})
	if err != nil {
		w.t.Fatalf("assume role in %s: %v", account, err)
	}
	c := out.Credentials
	return &world{t: w.t, srv: w.srv, acct: account, creds: aws.NewCredentialsCache(aws.CredentialsProviderFunc(
		func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
		}))}
}

func (w *world) bucket(name, region string) {
	w.t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := w.s3(region).CreateBucket(context.Background(), in); err != nil {
		w.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// foreignStatement is a statement trailguard does not own; it must survive
// every merge unchanged.
const foreignStatement = `{"Sid":"ForeignAuditRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:role/Auditor"},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}`

func rootPolicy(account string, extra ...string) string {
	stmts := []string{fmt.Sprintf(`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}`, account)}
	for _, e := range extra {
		stmts = append(stmts, e)
	}
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[` + strings.Join(stmts, ",") + `]}`
}

// key creates a key in region with policy ("" keeps moto's default) and
// returns its ARN.
func (w *world) key(region, policy string) string {
	w.t.Helper()
	in := &kms.CreateKeyInput{Description: aws.String("test key")}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := w.kms(region).CreateKey(context.Background(), in)
	if err != nil {
		w.t.Fatalf("create key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (w *world) alias(region, alias, keyARN string) {
	w.t.Helper()
	if _, err := w.kms(region).CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyARN)}); err != nil {
		w.t.Fatalf("create alias: %v", err)
	}
}

func (w *world) policy(keyARN string) string {
	w.t.Helper()
	out, err := w.kms(regionOf(keyARN)).GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		w.t.Fatalf("get key policy: %v", err)
	}
	return aws.ToString(out.Policy)
}

func (w *world) setPolicy(keyARN, policy string) {
	w.t.Helper()
	if _, err := w.kms(regionOf(keyARN)).PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		w.t.Fatalf("put key policy: %v", err)
	}
}

func (w *world) keyState(keyARN string) string {
	w.t.Helper()
	out, err := w.kms(regionOf(keyARN)).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	if err != nil {
		w.t.Fatalf("describe key: %v", err)
	}
	return string(out.KeyMetadata.KeyState)
}

// trail creates a trail and returns its ARN.
func (w *world) trail(region, name, bucket, keyARN string, multiRegion bool, tags map[string]string) string {
	w.t.Helper()
	in := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket), IsMultiRegionTrail: aws.Bool(multiRegion)}
	if keyARN != "" {
		in.KmsKeyId = aws.String(keyARN)
	}
	for k, v := range tags {
		in.TagsList = append(in.TagsList, cttypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := w.ct(region).CreateTrail(context.Background(), in)
	if err != nil {
		w.t.Fatalf("create trail %s: %v", name, err)
	}
	// CreateTrail does not start logging; a real trail is started, and
	// one that is not is trail-not-logging.
	if _, err := w.ct(region).StartLogging(context.Background(), &cloudtrail.StartLoggingInput{Name: in.Name}); err != nil {
		w.t.Fatalf("start logging %s: %v", name, err)
	}
	return aws.ToString(out.TrailARN)
}

// trailKey returns the KmsKeyId of a trail.
func (w *world) trailKey(trailARN string) string {
	w.t.Helper()
	out, err := w.ct(regionOf(trailARN)).GetTrail(context.Background(), &cloudtrail.GetTrailInput{Name: aws.String(trailARN)})
	if err != nil {
		w.t.Fatalf("get trail: %v", err)
	}
	return aws.ToString(out.Trail.KmsKeyId)
}

func regionOf(a string) string {
	parts := strings.SplitN(a, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

// testConfig is the default configuration with test Regions.
func testConfig(regions ...string) config.Config {
	c := config.Default()
	if len(regions) == 0 {
		regions = []string{"us-east-1", "us-west-2", "eu-west-1"}
	}
	c.Regions = regions
	return c
}

// reconciler returns a Reconciler against moto, logging to the test log.
func (w *world) reconciler(cfg config.Config, opts ...Option) *Reconciler {
	w.t.Helper()
	base, err := w.srv.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		w.t.Fatal(err)
	}
	opts = append([]Option{WithLogger(testLogger(w.t))}, opts...)
	return New(base, cfg, opts...)
}

// testLogger writes JSON logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewJSONHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = tlogWriter{}

// state observes trailARN the way the reconciler does, for assertions.
func (w *world) state(cfg config.Config, account, trailARN string) compliance.State {
	w.t.Helper()
	r := w.reconciler(cfg)
	rn := r.newRun()
	ctx := context.Background()
	out, err := w.ct(regionOf(trailARN)).GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trailARN)})
	if err != nil {
		w.t.Fatalf("get trail: %v", err)
	}
	st, err := rn.observe(ctx, account, toTrail(out.Trail))
	if err != nil {
		w.t.Fatalf("observe %s: %v", trailARN, err)
	}
	return st
}

// assertCompliant re-observes the trail and fails on any actionable
// finding.
func (w *world) assertCompliant(cfg config.Config, account, trailARN string) {
	w.t.Helper()
	st := w.state(cfg, account, trailARN)
	for _, f := range compliance.Evaluate(st, cfg.Compliance()) {
		if f.Actionable {
			w.t.Errorf("trail %s still has actionable finding %s: %s", trailARN, f.Rule, f.Detail)
		}
	}
}

// statement returns the statement with sid in policy, or nil.
func statement(t *testing.T, policy, sid string) map[string]any {
	t.Helper()
	var doc struct {
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("policy does not parse: %v\n%s", err, policy)
	}
	for _, s := range doc.Statement {
		if s["Sid"] == sid {
			return s
		}
	}
	return nil
}

// outcomes returns "Action=outcome" for each action of res, in order.
func outcomes(res Result) []string {
	var out []string
	for _, a := range res.Actions {
		out = append(out, string(a.Action)+"="+string(a.Outcome))
	}
	return out
}

// onlyResult returns the single result of rep.
func onlyResult(t *testing.T, rep Report) Result {
	t.Helper()
	if len(rep.Results) != 1 {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Fatalf("want 1 result, got %d:\n%s", len(rep.Results), b)
	}
	return rep.Results[0]
}

// assertNoWrites fails if any outcome of rep is a write.
func assertQuiet(t *testing.T, rep Report) {
	t.Helper()
	for _, res := range rep.Results {
		for _, a := range res.Actions {
			if a.Outcome != Unchanged {
				t.Errorf("second run: %s %s on %s: %s %s", res.Trail, a.Action, a.Target, a.Outcome, a.Message)
			}
		}
		if res.Error != "" {
			t.Errorf("second run: %s: error %s", res.Trail, res.Error)
		}
	}
}

func has(list []string, s string) bool { return slices.Contains(list, s) }
