package securityhub

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
)

var moto motoserver.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := moto.Stop(); err != nil {
		os.Stderr.WriteString("stop moto: " + err.Error() + "\n")
	}
	os.Exit(code)
}

const (
	motoAccount = "123456789012"
	motoRegion  = "us-east-1"
	trailA      = "arn:aws:cloudtrail:us-east-1:123456789012:trail/a"
	trailB      = "arn:aws:cloudtrail:us-east-1:123456789012:trail/b"
	keyA        = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
)

// hubWorld is moto behind the loopback proxy, which answers
// BatchUpdateFindings as documented (moto 5.2.1 does not implement it) and
// records every call.
type hubWorld struct {
	client *securityhub.Client
	pub    *Publisher

	mu    sync.Mutex
	calls []awsproxy.Call
}

func newHubWorld(t *testing.T) *hubWorld {
	t.Helper()
	srv := moto.Get(t)
	w := &hubWorld{}
	px, err := awsproxy.Start(srv.Endpoint, awsproxy.Options{
		Reply: awsproxy.SecurityHubBatchUpdate(srv.Endpoint),
		After: func(c awsproxy.Call) {
			w.mu.Lock()
			w.calls = append(w.calls, c)
			w.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	cfg, err := srv.AWSConfig(context.Background(), motoRegion)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(px.URL)
	w.client = securityhub.NewFromConfig(cfg)
	clock := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	w.pub = &Publisher{
		Clients: func(_ context.Context, account, region string) (API, error) { return w.client, nil },
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     func() time.Time { clock = clock.Add(time.Minute); return clock },
	}
	return w
}

// paths returns the method and path of the calls made so far, and forgets
// them.
func (w *hubWorld) paths() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		out = append(out, c.Method+" "+c.Path)
	}
	w.calls = nil
	return out
}

func (w *hubWorld) findings(t *testing.T) map[string]types.AwsSecurityFinding {
	t.Helper()
	out, err := w.client.GetFindings(context.Background(), &securityhub.GetFindingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.AwsSecurityFinding{}
	for _, f := range out.Findings {
		m[aws.ToString(f.Id)] = f
	}
	return m
}

func TestPublishSkipsWithoutSecurityHub(t *testing.T) {
	w := newHubWorld(t)
	trail := Trail{ARN: trailA, Account: motoAccount, Region: motoRegion, Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted}}, Settled: true}
	for i := range 2 {
		sum, err := w.pub.Publish(context.Background(), []Trail{trail})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sum.Skipped, []string{motoAccount + "/" + motoRegion}) || sum.Imported != 0 {
			t.Errorf("run %d: summary %+v, want skipped and nothing imported", i, sum)
		}
	}
	// DescribeHub once per container, nothing else.
	if got := w.paths(); !slices.Equal(got, []string{"GET /accounts"}) {
		t.Errorf("calls %q, want one DescribeHub", got)
	}
	if got := w.findings(t); len(got) != 0 {
		t.Errorf("findings imported without Security Hub: %v", got)
	}
}

// TestPublishCreateUpdateResolve drives one trail from two failing rules
// to one to none, and checks what Security Hub holds after each run.
func TestPublishCreateUpdateResolve(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	if _, err := w.client.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatal(err)
	}
	product := ProductARN("aws", motoRegion, motoAccount)
	idEnc, idDesc := FindingID(trailA, compliance.KeyPolicyNoEncrypt), FindingID(trailA, compliance.KeyPolicyNoDescribe)
	idOther := FindingID(trailB, compliance.TrailNotEncrypted)

	type want struct{ compliance, workflow string }
	steps := []struct {
		name   string
		trails []Trail
		sum    Summary
		want   map[string]want
	}{
		{
			name: "two rules fail on a, one on b",
			trails: []Trail{
				{ARN: trailA, Account: motoAccount, Region: motoRegion, KMSKeyARN: keyA, Settled: true,
					Findings: []compliance.Finding{{Rule: compliance.KeyPolicyNoEncrypt, Detail: "CloudTrail may not encrypt", Actionable: true}, {Rule: compliance.KeyPolicyNoDescribe, Actionable: true}},
					Done:     []string{"PutKeyPolicy " + keyA + ": planned"}},
				{ARN: trailB, Account: motoAccount, Region: motoRegion, Settled: true, Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted, Actionable: true}}},
			},
			sum:  Summary{Imported: 3},
			want: map[string]want{idEnc: {"FAILED", "NEW"}, idDesc: {"FAILED", "NEW"}, idOther: {"FAILED", "NEW"}},
		},
		{
			name:   "describe fixed on a; b not in this run",
			trails: []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion, KMSKeyARN: keyA, Settled: true, Findings: []compliance.Finding{{Rule: compliance.KeyPolicyNoEncrypt}}}},
			sum:    Summary{Imported: 2, Resolved: 1},
			want:   map[string]want{idEnc: {"FAILED", "NEW"}, idDesc: {"PASSED", "RESOLVED"}, idOther: {"FAILED", "NEW"}},
		},
		{
			name:   "a unsettled (a read failed): nothing resolved",
			trails: []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion, Settled: false}},
			sum:    Summary{},
			want:   map[string]want{idEnc: {"FAILED", "NEW"}, idDesc: {"PASSED", "RESOLVED"}, idOther: {"FAILED", "NEW"}},
		},
		{
			name:   "a compliant",
			trails: []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion, KMSKeyARN: keyA, Settled: true}},
			sum:    Summary{Imported: 1, Resolved: 1},
			want:   map[string]want{idEnc: {"PASSED", "RESOLVED"}, idDesc: {"PASSED", "RESOLVED"}, idOther: {"FAILED", "NEW"}},
		},
		{
			name:   "a compliant again: nothing to do",
			trails: []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion, KMSKeyARN: keyA, Settled: true}},
			sum:    Summary{},
			want:   map[string]want{idEnc: {"PASSED", "RESOLVED"}, idDesc: {"PASSED", "RESOLVED"}, idOther: {"FAILED", "NEW"}},
		},
		{
			name:   "encrypt drifts again on a",
			trails: []Trail{{ARN: trailA, Account: motoAccount, Region: motoRegion, KMSKeyARN: keyA, Settled: true, Findings: []compliance.Finding{{Rule: compliance.KeyPolicyNoEncrypt}}}},
			sum:    Summary{Imported: 1},
			want:   map[string]want{idEnc: {"FAILED", "NEW"}, idDesc: {"PASSED", "RESOLVED"}, idOther: {"FAILED", "NEW"}},
		},
	}
	var created string
	for _, st := range steps {
		sum, err := w.pub.Publish(ctx, st.trails)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if sum.Imported != st.sum.Imported || sum.Resolved != st.sum.Resolved || sum.Rejected != 0 || len(sum.Skipped) != 0 {
			t.Errorf("%s: summary %+v, want %+v", st.name, sum, st.sum)
		}
		got := w.findings(t)
		if len(got) != len(st.want) {
			t.Errorf("%s: %d findings, want %d", st.name, len(got), len(st.want))
		}
		for id, wnt := range st.want {
			f, ok := got[id]
			if !ok {
				t.Errorf("%s: no finding %s", st.name, id)
				continue
			}
			if c, wf := string(f.Compliance.Status), string(f.Workflow.Status); c != wnt.compliance || wf != wnt.workflow {
				t.Errorf("%s: %s is %s/%s, want %s/%s", st.name, id, c, wf, wnt.compliance, wnt.workflow)
			}
			if aws.ToString(f.ProductArn) != product || aws.ToString(f.AwsAccountId) != motoAccount {
				t.Errorf("%s: %s product %s account %s", st.name, id, aws.ToString(f.ProductArn), aws.ToString(f.AwsAccountId))
			}
		}
		if id := idEnc; created == "" {
			created = aws.ToString(got[id].CreatedAt)
		} else if c := aws.ToString(got[id].CreatedAt); c != created {
			t.Errorf("%s: CreatedAt of %s changed from %s to %s", st.name, id, created, c)
		}
	}

	// The first finding as imported: resources, severity, remediation,
	// what trailguard did.
	f := w.findings(t)[idEnc]
	var rtypes []string
	for _, r := range f.Resources {
		rtypes = append(rtypes, aws.ToString(r.Type)+" "+aws.ToString(r.Id))
	}
	if want := []string{"AwsCloudTrailTrail " + trailA, "AwsKmsKey " + keyA}; !slices.Equal(rtypes, want) {
		t.Errorf("resources %q, want %q", rtypes, want)
	}
	if f.Severity == nil || f.Severity.Label != types.SeverityLabelHigh || f.FindingProviderFields.Severity.Label != types.SeverityLabelHigh {
		t.Errorf("severity %+v", f.Severity)
	}
	if u := aws.ToString(f.Remediation.Recommendation.Url); u != DefaultDocsURL+"#rule-key-policy-no-encrypt" {
		t.Errorf("remediation url %s", u)
	}
	if aws.ToString(f.GeneratorId) != "trailguard/key-policy-no-encrypt" || aws.ToString(f.SchemaVersion) != SchemaVersion {
		t.Errorf("generator %s schema %s", aws.ToString(f.GeneratorId), aws.ToString(f.SchemaVersion))
	}
	if r := w.findings(t)[idDesc]; r.Note == nil || !strings.Contains(aws.ToString(r.Note.Text), "compliant again") {
		t.Errorf("resolved finding's note %+v", r.Note)
	}
}

// TestPublishBatches checks that 250 findings go in calls of at most 100
// and resolve in calls of at most 100.
func TestPublishBatches(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	if _, err := w.client.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatal(err)
	}
	var trails []Trail
	for i := range 125 {
		trails = append(trails, Trail{ARN: trailA + "-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Account: motoAccount, Region: motoRegion, Settled: true,
			Findings: []compliance.Finding{{Rule: compliance.TrailNotEncrypted}, {Rule: compliance.KeyRotationDisabled}}})
	}
	sum, err := w.pub.Publish(ctx, trails)
	if err != nil || sum.Imported != 250 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	sizes := func(path string) []int {
		w.mu.Lock()
		defer w.mu.Unlock()
		var out []int
		for _, c := range w.calls {
			if c.Path != path {
				continue
			}
			var body struct {
				Findings           []json.RawMessage
				FindingIdentifiers []json.RawMessage
			}
			if err := json.Unmarshal(c.Body, &body); err != nil {
				t.Fatal(err)
			}
			out = append(out, len(body.Findings)+len(body.FindingIdentifiers))
		}
		return out
	}
	if got := sizes("/findings/import"); !slices.Equal(got, []int{100, 100, 50}) {
		t.Errorf("import batches %v, want [100 100 50]", got)
	}
	for i := range trails {
		trails[i].Findings = nil
	}
	w.paths()
	sum, err = w.pub.Publish(ctx, trails)
	if err != nil || sum.Imported != 250 || sum.Resolved != 250 {
		t.Fatalf("resolve summary %+v, %v", sum, err)
	}
	if got := sizes("/findings/batchupdate"); !slices.Equal(got, []int{100, 100, 50}) {
		t.Errorf("update batches %v, want [100 100 50]", got)
	}
}
