package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
)

// checkFixed asserts that the trail is compliant now, that the foreign
// statement of each key is intact, and that a second run with a fresh
// reconciler changes nothing.
func checkFixed(t *testing.T, w *world, cfg config.Config, account, trail string, keys ...string) {
	t.Helper()
	w.assertCompliant(cfg, account, trail)
	want := statement(t, rootPolicy(account, fmt.Sprintf(foreignStatement, account)), "ForeignAuditRead")
	for _, k := range keys {
		if got := statement(t, w.policy(k), "ForeignAuditRead"); !reflect.DeepEqual(got, want) {
			t.Errorf("key %s: foreign statement changed: %v, want %v", k, got, want)
		}
	}
	rep, err := w.reconciler(cfg).ReconcileTrail(context.Background(), account, regionOf(trail), trail)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	assertQuiet(t, rep)
	if n := len(onlyResult(t, rep).Actions); n != 0 {
		t.Errorf("second run planned %d actions: %v", n, outcomes(rep.Results[0]))
	}
}

func hasRule(fs []compliance.Finding, r compliance.Rule) bool {
	return slices.ContainsFunc(fs, func(f compliance.Finding) bool { return f.Rule == r })
}

// policyWithForeign is the root policy plus the foreign statement.
func policyWithForeign(account string) string {
	return rootPolicy(account, fmt.Sprintf(foreignStatement, account))
}

func TestMotoUnencryptedTrail(t *testing.T) {
	w := newWorld(t, moto(t))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-plain", "us-east-1")
	trail := w.trail("us-east-1", "plain", "logs-plain", "", false, nil)
	cfg := testConfig()

	rep, err := w.reconciler(cfg).ReconcileTrail(context.Background(), motoAccount, "us-east-1", "plain")
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	res := onlyResult(t, rep)
	if res.Trail != trail || res.Account != motoAccount || res.Region != "us-east-1" || res.Error != "" {
		t.Fatalf("result %+v", res)
	}
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if res.Actions[0].Target != base || res.Actions[1].Target != trail || res.Actions[1].KMSKeyID != base {
		t.Errorf("actions %+v", res.Actions)
	}
	if !hasRule(res.Findings, compliance.TrailNotEncrypted) {
		t.Errorf("findings %v lack %s", res.Findings, compliance.TrailNotEncrypted)
	}
	if got := w.trailKey(trail); got != base {
		t.Errorf("trail key %q, want baseline %q", got, base)
	}
	checkFixed(t, w, cfg, motoAccount, trail, base)
}

// TestMotoKeyDrift covers drift of the trail's own key, fixed in place.
func TestMotoKeyDrift(t *testing.T) {
	tests := []struct {
		name  string
		drift func(w *world, key string)
		want  []string
		rule  compliance.Rule
	}{
		{"policy lacks statements", func(*world, string) {}, []string{"PutKeyPolicy=updated"}, compliance.KeyPolicyNoEncrypt},
		{"key disabled", func(w *world, key string) {
			if _, err := w.kms("us-east-1").DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(keyID(key))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"EnableKey=updated", "PutKeyPolicy=updated"}, compliance.KeyDisabled},
		{"key pending deletion", func(w *world, key string) {
			if _, err := w.kms("us-east-1").ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID(key)), PendingWindowInDays: aws.Int32(7)}); err != nil {
				t.Fatal(err)
			}
		}, []string{"CancelKeyDeletion=updated", "EnableKey=updated", "PutKeyPolicy=updated"}, compliance.KeyPendingDeletion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, moto(t))
			key := w.key("us-east-1", policyWithForeign(motoAccount))
			w.bucket("logs-key", "us-east-1")
			trail := w.trail("us-east-1", "keyed", "logs-key", key, false, nil)
			tt.drift(w, key)
			cfg := testConfig()

			rep, err := w.reconciler(cfg).ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
			if err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			res := onlyResult(t, rep)
			if got := outcomes(res); !slices.Equal(got, tt.want) {
				t.Fatalf("outcomes %v, want %v (findings %v, alerts %v)", got, tt.want, res.Findings, res.Alerts)
			}
			if !hasRule(res.Findings, tt.rule) {
				t.Errorf("findings %v lack %s", res.Findings, tt.rule)
			}
			if got := w.keyState(key); got != compliance.KeyStateEnabled {
				t.Errorf("key state %s", got)
			}
			if got := w.trailKey(trail); got != key {
				t.Errorf("trail moved to key %q", got)
			}
			if statement(t, w.policy(key), compliance.SidCloudTrailEncrypt) == nil {
				t.Errorf("policy lacks %s:\n%s", compliance.SidCloudTrailEncrypt, w.policy(key))
			}
			checkFixed(t, w, cfg, motoAccount, trail, key)
		})
	}
}

func TestMotoMultiRegionTrailFixedInHomeRegion(t *testing.T) {
	w := newWorld(t, moto(t))
	base := w.key("us-west-2", policyWithForeign(motoAccount))
	w.alias("us-west-2", config.DefaultKeyAlias, base)
	w.bucket("logs-multi", "us-west-2")
	trail := w.trail("us-west-2", "multi", "logs-multi", "", true, nil)
	cfg := testConfig("us-east-1", "us-west-2", "eu-west-1")

	rep, err := w.reconciler(cfg).Sweep(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	res := onlyResult(t, rep) // seen in three Regions, reconciled once
	if res.Trail != trail || res.Region != "us-west-2" {
		t.Fatalf("result for %s in %s, want %s in us-west-2", res.Trail, res.Region, trail)
	}
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if r := res.Actions[1].Region; r != "us-west-2" {
		t.Errorf("UpdateTrail in %s, want the home Region us-west-2", r)
	}
	if got := w.trailKey(trail); got != base {
		t.Errorf("trail key %q, want %q", got, base)
	}
	// An event from another Region naming the trail by ARN goes home too.
	rep, err = w.reconciler(cfg).ReconcileTrail(context.Background(), motoAccount, "eu-west-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	if res := onlyResult(t, rep); res.Region != "us-west-2" || len(res.Actions) != 0 || res.Error != "" {
		t.Errorf("event from eu-west-1: %+v", res)
	}
	checkFixed(t, w, cfg, motoAccount, trail, base)
}

func TestMotoBucketInAnotherRegion(t *testing.T) {
	w := newWorld(t, moto(t))
	east := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, east)
	eu := w.key("eu-west-1", policyWithForeign(motoAccount))
	w.alias("eu-west-1", config.DefaultKeyAlias, eu)
	eastPolicy := w.policy(east)
	w.bucket("logs-in-eu", "eu-west-1")
	trail := w.trail("us-east-1", "far", "logs-in-eu", "", false, nil)
	cfg := testConfig()

	rep, err := w.reconciler(cfg).ReconcileTrail(context.Background(), motoAccount, "us-east-1", "far")
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if res.Actions[0].Target != eu || res.Actions[0].Region != "eu-west-1" {
		t.Errorf("PutKeyPolicy on %s in %s, want %s in eu-west-1", res.Actions[0].Target, res.Actions[0].Region, eu)
	}
	if got := w.trailKey(trail); got != eu {
		t.Errorf("trail key %q, want the bucket Region's baseline %q", got, eu)
	}
	if w.policy(east) != eastPolicy {
		t.Errorf("the trail Region's baseline key was changed")
	}
	checkFixed(t, w, cfg, motoAccount, trail, eu)
}

func TestMotoTwoTrailsShareOneKey(t *testing.T) {
	w := newWorld(t, moto(t))
	key := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", "alias/shared", key)
	w.bucket("logs-shared", "us-east-1")
	t1 := w.trail("us-east-1", "first", "logs-shared", key, false, nil)
	t2 := w.trail("us-west-2", "second", "logs-shared", key, true, nil)
	cfg := testConfig()
	cfg.Regions = nil // every Region moto reports as enabled

	// A PutKeyPolicy event names the key by alias.
	rep, err := w.reconciler(cfg).ReconcileKey(context.Background(), motoAccount, "us-east-1", "alias/shared")
	if err != nil {
		t.Fatalf("reconcile key: %v", err)
	}
	if len(rep.Results) != 2 || rep.Results[0].Trail != t1 || rep.Results[1].Trail != t2 {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("want results for %s and %s:\n%s", t1, t2, b)
	}
	for _, res := range rep.Results {
		if got, want := outcomes(res), []string{"PutKeyPolicy=updated"}; !slices.Equal(got, want) {
			t.Errorf("%s: outcomes %v, want %v", res.Trail, got, want)
		}
	}
	enc := statement(t, w.policy(key), compliance.SidCloudTrailEncrypt)
	if enc == nil || !strings.Contains(fmt.Sprint(enc), t1) || !strings.Contains(fmt.Sprint(enc), t2) {
		t.Errorf("encrypt statement does not name both trails: %v", enc)
	}
	checkFixed(t, w, cfg, motoAccount, t1, key)
	checkFixed(t, w, cfg, motoAccount, t2, key)

	rep, err = w.reconciler(testConfig()).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("sweep: %d results", len(rep.Results))
	}
	assertQuiet(t, rep)
}

func TestMotoSweepSharedKeyConcurrently(t *testing.T) {
	w := newWorld(t, moto(t))
	key := w.key("us-east-1", policyWithForeign(motoAccount))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-many", "us-east-1")
	var trails []string
	for i := range 6 {
		k := key
		if i%2 == 1 {
			k = "" // unencrypted: all switch to the same baseline key
		}
		trails = append(trails, w.trail("us-east-1", fmt.Sprintf("many-%d", i), "logs-many", k, false, nil))
	}
	cfg := testConfig("us-east-1")
	cfg.Concurrency = 6
	rep, err := w.reconciler(cfg).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(trails) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(trails))
	}
	for _, tr := range trails {
		w.assertCompliant(cfg, motoAccount, tr)
	}
	rep, err = w.reconciler(cfg).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertQuiet(t, rep)
}

func TestMotoReportMode(t *testing.T) {
	w := newWorld(t, moto(t))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	key := w.key("us-east-1", policyWithForeign(motoAccount))
	if _, err := w.kms("us-east-1").DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(keyID(key))}); err != nil {
		t.Fatal(err)
	}
	w.bucket("logs-report", "us-east-1")
	plain := w.trail("us-east-1", "report-plain", "logs-report", "", false, nil)
	keyed := w.trail("us-east-1", "report-keyed", "logs-report", key, false, nil)
	basePolicy, keyPolicy := w.policy(base), w.policy(key)
	cfg := testConfig("us-east-1")
	cfg.Mode = config.Report

	rep, err := w.reconciler(cfg).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, res := range rep.Results {
		if len(res.Actions) == 0 {
			t.Errorf("%s: no planned actions", res.Trail)
		}
		for _, a := range res.Actions {
			if a.Outcome != Planned {
				t.Errorf("%s: %s %s", res.Trail, a.Action, a.Outcome)
			}
		}
	}
	if w.trailKey(plain) != "" || w.trailKey(keyed) != key {
		t.Errorf("report mode changed a trail")
	}
	if w.policy(base) != basePolicy || w.policy(key) != keyPolicy {
		t.Errorf("report mode changed a key policy")
	}
	if w.keyState(key) != compliance.KeyStateDisabled {
		t.Errorf("report mode enabled the key")
	}
}

func TestMotoExemptTrail(t *testing.T) {
	w := newWorld(t, moto(t))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	basePolicy := w.policy(base)
	w.bucket("logs-exempt", "us-east-1")
	trail := w.trail("us-east-1", "exempt", "logs-exempt", "", false, map[string]string{config.DefaultExemptTag: "true"})

	rep, err := w.reconciler(testConfig()).ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if !hasRule(res.Findings, compliance.TrailNotEncrypted) {
		t.Errorf("exempt trail not reported: %v", res.Findings)
	}
	for _, f := range res.Findings {
		if f.Actionable || !strings.Contains(f.Detail, "exempt") {
			t.Errorf("finding %+v should be non-actionable because exempt", f)
		}
	}
	if len(res.Actions) != 0 {
		t.Errorf("actions on an exempt trail: %v", outcomes(res))
	}
	if w.trailKey(trail) != "" || w.policy(base) != basePolicy {
		t.Errorf("an exempt trail or the baseline key was changed")
	}
}

func TestMotoBaselineFromKeysConfig(t *testing.T) {
	w := newWorld(t, moto(t))
	explicit := w.key("us-east-1", policyWithForeign(motoAccount))
	aliased := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, aliased)
	w.bucket("logs-explicit", "us-east-1")
	trail := w.trail("us-east-1", "explicit", "logs-explicit", "", false, nil)
	cfg := testConfig()
	cfg.Keys = map[string]string{"us-east-1": explicit}

	rep, err := w.reconciler(cfg).ReconcileTrail(context.Background(), motoAccount, "us-east-1", trail)
	if err != nil {
		t.Fatal(err)
	}
	res := onlyResult(t, rep)
	if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if got := w.trailKey(trail); got != explicit {
		t.Errorf("trail key %q, want the TRAILGUARD_KEYS key %q (over the alias's %q)", got, explicit, aliased)
	}
	checkFixed(t, w, cfg, motoAccount, trail, explicit)
}

func TestMotoMissingBaseline(t *testing.T) {
	w := newWorld(t, moto(t))
	w.bucket("logs-nobase", "eu-west-1")
	trail := w.trail("eu-west-1", "nobase", "logs-nobase", "", false, nil)

	rep, err := w.reconciler(testConfig()).ReconcileTrail(context.Background(), motoAccount, "eu-west-1", trail)
	if err != nil {
		t.Fatalf("a missing baseline is terminal, got error %v", err)
	}
	res := onlyResult(t, rep)
	if !strings.Contains(res.Error, "eu-west-1") || !strings.Contains(res.Error, config.DefaultKeyAlias) {
		t.Errorf("error %q should name the alias and the Region", res.Error)
	}
	if len(res.Alerts) == 0 {
		t.Errorf("no alert")
	}
	if len(res.Actions) != 0 {
		t.Errorf("actions without a baseline: %v", outcomes(res))
	}
	if w.trailKey(trail) != "" {
		t.Errorf("trail changed")
	}
}

func TestMotoTrailGone(t *testing.T) {
	w := newWorld(t, moto(t))
	rep, err := w.reconciler(testConfig()).ReconcileTrail(context.Background(), motoAccount, "us-east-1", "deleted-trail")
	if err != nil {
		t.Fatalf("a trail that no longer exists is success, got %v", err)
	}
	res := onlyResult(t, rep)
	if res.Error != "" || len(res.Findings) != 0 || len(res.Actions) != 0 || res.Message == "" {
		t.Errorf("result %+v", res)
	}
}

func TestMotoLoopGuard(t *testing.T) {
	w := newWorld(t, moto(t))
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-loop", "us-east-1")
	trail := w.trail("us-east-1", "loop", "logs-loop", "", false, nil)
	cfg := testConfig()
	cfg.MaxAttempts = 2
	r := w.reconciler(cfg) // one warm container
	ctx := context.Background()
	revert := func() {
		if _, err := w.ct("us-east-1").UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(trail), KmsKeyId: aws.String("")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		rep, err := r.ReconcileTrail(ctx, motoAccount, "us-east-1", trail)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcomes(onlyResult(t, rep)); !has(got, "UpdateTrail=updated") {
			t.Fatalf("run %d: %v", i, got)
		}
		revert()
	}
	var alerts int
	for i := range 2 {
		rep, err := r.ReconcileTrail(ctx, motoAccount, "us-east-1", trail)
		if err != nil {
			t.Fatal(err)
		}
		res := onlyResult(t, rep)
		if got := outcomes(res); !has(got, "UpdateTrail=skipped") {
			t.Fatalf("run %d after the limit: %v", i+2, got)
		}
		for _, a := range res.Alerts {
			if strings.Contains(a, "loop guard") {
				alerts++
			}
		}
	}
	if alerts != 1 {
		t.Errorf("%d loop guard alerts, want exactly 1", alerts)
	}
	if w.trailKey(trail) != "" {
		t.Errorf("the guard let a write through")
	}
}

func TestMotoNotification(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	topic, err := sns.NewFromConfig(w.cfg("us-east-1")).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("trailguard")})
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(w.cfg("us-east-1"))
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("notices")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(w.cfg("us-east-1")).Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String("arn:aws:sqs:us-east-1:" + motoAccount + ":notices"),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
	base := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, base)
	w.bucket("logs-notify", "us-east-1")
	trail := w.trail("us-east-1", "notify", "logs-notify", "", false, nil)
	cfg := testConfig()
	cfg.TopicARN = aws.ToString(topic.TopicArn)

	receive := func() []string {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
		}
		return bodies
	}
	if _, err := w.reconciler(cfg).ReconcileTrail(ctx, motoAccount, "us-east-1", trail); err != nil {
		t.Fatal(err)
	}
	msgs := receive()
	if len(msgs) != 1 {
		t.Fatalf("%d notifications, want 1: %v", len(msgs), msgs)
	}
	var rep Report
	if err := json.Unmarshal([]byte(msgs[0]), &rep); err != nil {
		t.Fatalf("notification is not a JSON report: %v\n%s", err, msgs[0])
	}
	if len(rep.Results) != 1 || rep.Results[0].Trail != trail || !rep.Results[0].Changed() {
		t.Errorf("notification %s", msgs[0])
	}
	// A run that changes nothing and raises no alert sends nothing.
	if _, err := w.reconciler(cfg).ReconcileTrail(ctx, motoAccount, "us-east-1", trail); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if msgs := receive(); len(msgs) != 0 {
		t.Errorf("quiet run notified: %v", msgs)
	}
	// An alert (no baseline key in the bucket's Region) is notified too.
	w.bucket("logs-notify-eu", "eu-west-1")
	lonely := w.trail("eu-west-1", "notify-eu", "logs-notify-eu", "", false, nil)
	if _, err := w.reconciler(cfg).ReconcileTrail(ctx, motoAccount, "eu-west-1", lonely); err != nil {
		t.Fatal(err)
	}
	msgs = receive()
	if len(msgs) != 1 || !strings.Contains(msgs[0], lonely) || !strings.Contains(msgs[0], "no baseline key") {
		t.Errorf("alert notification: %v", msgs)
	}
}

func TestMotoOrganizationMode(t *testing.T) {
	w := newWorld(t, moto(t))
	ctx := context.Background()
	org := organizations.NewFromConfig(w.cfg("us-east-1"))
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}); err != nil {
		t.Fatal(err)
	}
	created, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("member"), Email: aws.String("member@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	member := aws.ToString(created.CreateAccountStatus.AccountId)
	const role = "TrailguardRemediation"
	m := w.as(member, role)

	// Drift in both accounts; each has its own baseline key.
	mgmtBase := w.key("us-east-1", policyWithForeign(motoAccount))
	w.alias("us-east-1", config.DefaultKeyAlias, mgmtBase)
	w.bucket("logs-mgmt", "us-east-1")
	mgmtTrail := w.trail("us-east-1", "mgmt", "logs-mgmt", "", false, nil)
	memberBase := m.key("us-east-1", policyWithForeign(member))
	m.alias("us-east-1", config.DefaultKeyAlias, memberBase)
	m.bucket("logs-member", "us-east-1")
	memberTrail := m.trail("us-east-1", "member", "logs-member", "", false, nil)
	if !strings.Contains(memberTrail, ":"+member+":") {
		t.Fatalf("moto did not create the trail in the member account: %s", memberTrail)
	}

	cfg := testConfig("us-east-1")
	cfg.RoleName = role
	rep, err := w.reconciler(cfg).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byTrail := map[string]Result{}
	for _, res := range rep.Results {
		byTrail[res.Trail] = res
	}
	if len(rep.Results) != 2 || byTrail[memberTrail].Account != member || byTrail[mgmtTrail].Account != motoAccount {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("want one result per account:\n%s", b)
	}
	for _, res := range rep.Results {
		if got, want := outcomes(res), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
			t.Errorf("%s: outcomes %v, want %v (error %s)", res.Trail, got, want, res.Error)
		}
	}
	if got := m.trailKey(memberTrail); got != memberBase {
		t.Errorf("member trail key %q, want the member's baseline %q", got, memberBase)
	}
	if got := w.trailKey(mgmtTrail); got != mgmtBase {
		t.Errorf("management trail key %q, want %q", got, mgmtBase)
	}
	m.assertCompliant(cfg, member, memberTrail)
	w.assertCompliant(cfg, motoAccount, mgmtTrail)

	// A member account's event goes through the role as well.
	rep, err = w.reconciler(cfg).ReconcileTrail(ctx, member, "us-east-1", "member")
	if err != nil {
		t.Fatal(err)
	}
	if res := onlyResult(t, rep); res.Trail != memberTrail || len(res.Actions) != 0 || res.Error != "" {
		t.Errorf("member event: %+v", res)
	}
	rep, err = w.reconciler(cfg).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertQuiet(t, rep)
}
