package stacksim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/internal/testbed/stacksim"
	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/event"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/policy"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// The functions, as named in the stack.
const (
	trailFn = "trail-remediator"
	keyFn   = "key-remediator"
	sweepFn = "sweeper"
)

const (
	account = motoserver.AccountID
	region  = "us-east-1"
	// ownCaller is the identity CloudTrail records for trailguard's calls.
	ownCaller = "arn:aws:sts::123456789012:assumed-role/trailguard-remediator/trailguard"
	// functionHeader names the function that made a call, on every call
	// of the harness's functions.
	functionHeader = "X-Stacksim-Function"
	// human is the identity of every other call.
	human = "arn:aws:iam::123456789012:user/alice"
	// foreignSid is the statement every test key carries that trailguard
	// does not own: it must survive everything.
	foreignSid = "ForeignAuditRead"
)

// writeOps are the calls that change AWS state.
var writeOps = []string{"PutKeyPolicy", "UpdateTrail", "EnableKey", "CancelKeyDeletion", "EnableKeyRotation",
	"CreateTrail", "DisableKey", "ScheduleKeyDeletion", "DeleteTrail", "CreateKey", "StartLogging", "StopLogging"}

// basePolicy is moto's root statement plus the foreign statement.
func basePolicy() string {
	return `{"Version":"2012-10-17","Id":"test","Statement":[` +
		`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"` + foreignSid + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Auditor"},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}]}`
}

// harness is a moto server behind a fault-injecting proxy, the world made
// directly in moto (the "humans"), and trailguard's three functions, each
// one warm container (its own Reconciler, client cache and loop guard)
// talking to AWS through the proxy, wired as the stack wires them. Every
// write trailguard makes becomes an event on the bus again. Before hooks
// check, at the moment of each of trailguard's writes, that it never
// points a trail at a key CloudTrail cannot use, never makes a key
// unusable for a trail already on it, never drops a statement it does not
// own and never passes BypassPolicyLockoutSafetyCheck.
type harness struct {
	t       *testing.T
	lease   time.Duration
	noTable bool
	ctx     context.Context
	srv     *motoserver.Server
	direct  aws.Config
	proxy   *awsproxy.Proxy
	cfg     config.Config
	stack   *stacksim.Stack
	// recs are the functions' reconcilers (one warm container each).
	recs map[string]*reconcile.Reconciler

	mu         sync.Mutex
	violations []string
	writes     []awsproxy.Call // trailguard's writes that reached AWS
	checked    int             // writes the invariants were checked on
	// redundantN counts writes that would change nothing (the value
	// written is already there): two writers raced.
	redundantN int
	// seq is every call trailguard made, in order: "Operation target".
	seq []string
	// beforeHook and afterHook are the test's own hooks, run after the
	// harness's.
	beforeHook, afterHook func(awsproxy.Call)
}

// harnessOptions configure newHarness.
type harnessOptions struct {
	faults      []awsproxy.Rule
	seed        uint64
	cfg         func(*config.Config)
	jitter      time.Duration
	maxAttempts int // SDK attempts per call (default: the deployed 4)
	// standardRetry uses the SDK's standard retry mode instead of the
	// deployed adaptive mode, whose client-side rate limiting after
	// throttles (down to 0.5 calls/s) makes a run with 30% faults take
	// minutes; the attempts per call stay the deployed ones.
	standardRetry bool
	// noEvents turns off re-delivering trailguard's own writes.
	noEvents bool
	// noTable runs the functions without the state table (in-process
	// locks and loop guard, no change log), as a local run does.
	noTable bool
	// lease is the state table's lease duration (default the deployed
	// state.DefaultLeaseDuration: a write path slowed by the adaptive
	// retry's client-side rate limiting must fit in it); the wait for a
	// busy lease is the deployed one, or twice a shorter lease.
	lease time.Duration
	// securityHub enables Security Hub in moto and builds the functions
	// as handler.Main does, importing findings there.
	securityHub bool
}

// stateTable is the state table the harness deploys in moto.
const stateTable = "trailguard-state"

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	srv := motoserver.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	direct, err := srv.AWSConfig(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, srv: srv, direct: direct, recs: map[string]*reconcile.Reconciler{}}
	h.proxy, err = awsproxy.Start(srv.Endpoint, awsproxy.Options{
		Rules: o.faults, Seed: o.seed, TimeoutHold: 150 * time.Millisecond,
		Before: h.before,
		// moto 5.2.1 lacks BatchUpdateFindings: answered as documented.
		Reply: awsproxy.SecurityHubBatchUpdate(srv.Endpoint),
		After: func(c awsproxy.Call) {
			h.after(c, !o.noEvents)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.proxy.Close() })

	h.cfg = config.Default()
	h.cfg.Regions = []string{region}
	if o.cfg != nil {
		o.cfg(&h.cfg)
	}
	attempts := o.maxAttempts
	if attempts == 0 {
		attempts = reconcile.DefaultRetryMaxAttempts
	}
	if o.securityHub {
		if _, err := securityhub.NewFromConfig(direct).EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
			t.Fatalf("enable Security Hub: %v", err)
		}
	}
	viaProxy := direct.Copy()
	viaProxy.BaseEndpoint = aws.String(h.proxy.URL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if !o.noTable {
		h.must(statetable.Create(ctx, dynamodb.NewFromConfig(direct), stateTable))
	}
	h.lease = o.lease
	if h.lease == 0 {
		h.lease = state.DefaultLeaseDuration
	}
	h.noTable = o.noTable
	for _, fn := range append([]string{trailFn, keyFn, sweepFn}, cliWriter) {
		// Each function's calls carry its name, so hooks can tell them
		// apart.
		fnCfg := viaProxy.Copy()
		fnCfg.APIOptions = append(fnCfg.APIOptions, smithyhttp.AddHeaderValue(functionHeader, fn))
		// The deployed retry policy (attempts per call), with short
		// backoffs so the test runs in seconds.
		rt := reconcile.NewRetryer(attempts, 20*time.Millisecond)
		if o.standardRetry {
			rt = func() aws.Retryer {
				return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts, so.MaxBackoff = attempts, 20*time.Millisecond })
			}
		}
		opts := []reconcile.Option{reconcile.WithLogger(log), reconcile.WithRetryer(rt)}
		if fn == cliWriter {
			opts = append(opts, reconcile.WithSource("cli"))
		}
		if st := h.store(fnCfg, fn, rt); st != nil {
			opts = append(opts, reconcile.WithStore(st))
		}
		if o.securityHub {
			opts = append(opts, reconcile.WithSecurityHub())
		}
		h.recs[fn] = reconcile.New(fnCfg, h.cfg, opts...)
	}
	trail := handler.TrailHandler{Reconciler: h.recs[trailFn], Logger: log}
	key := handler.KeyHandler{Reconciler: h.recs[keyFn], Logger: log}
	sweep := handler.SweepHandler{Reconciler: h.recs[sweepFn], Logger: log}
	h.stack, err = stacksim.New(stacksim.Options{RetryDelay: 20 * time.Millisecond, Jitter: o.jitter, Seed: o.seed},
		stacksim.Function{Name: trailFn, Handler: func(ctx context.Context, raw json.RawMessage) (any, error) { return trail.Handle(ctx, raw) }},
		stacksim.Function{Name: keyFn, Handler: func(ctx context.Context, raw json.RawMessage) (any, error) { return key.Handle(ctx, raw) }},
		stacksim.Function{Name: sweepFn, Timeout: 900 * time.Second, Handler: func(ctx context.Context, raw json.RawMessage) (any, error) { return sweep.Handle(ctx, raw) }},
	)
	if err != nil {
		t.Fatal(err)
	}
	h.must(h.stack.Route(trailFn, event.TrailPattern()))
	h.must(h.stack.Route(keyFn, event.KeyPattern()))
	return h
}

// cliWriter is `trailguard fix --apply` run by a person: a fourth writer.
const cliWriter = "cli"

// store is writer's view of the state table, through cfg (the proxy), with
// the deployed retry policy; nil without the table.
func (h *harness) store(cfg aws.Config, writer string, rt func() aws.Retryer) *state.Store {
	if h.noTable {
		return nil
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.Retryer = rt() })
	return state.New(db, stateTable, state.WithWriter(writer), state.WithLease(h.lease, max(2*h.lease, state.DefaultLeaseWait)))
}

// redundant is the number of writes that changed nothing. Meaningful
// without faults: an SDK retry after a lost answer repeats a write.
func (h *harness) redundant() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.redundantN
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return reflect.DeepEqual(va, vb)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// changes returns the change log, oldest first.
func (h *harness) changes() []state.Change {
	h.t.Helper()
	if h.noTable {
		return nil
	}
	cs, err := state.New(dynamodb.NewFromConfig(h.direct), stateTable).History(h.ctx, state.Filter{})
	h.must(err)
	slices.Reverse(cs)
	return cs
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) violate(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
}

// before checks trailguard's writes against the state in moto at the
// moment they are made (every attempt, whether or not a fault will stop it).
func (h *harness) before(c awsproxy.Call) {
	var target struct{ KeyId, Name string }
	_ = json.Unmarshal(c.Body, &target)
	h.mu.Lock()
	h.seq = append(h.seq, strings.TrimSpace(c.Operation+" "+target.KeyId+target.Name))
	h.mu.Unlock()
	switch c.Operation {
	case "UpdateTrail":
		h.checkUpdateTrail(c)
	case "PutKeyPolicy":
		h.checkPutKeyPolicy(c)
	}
	h.mu.Lock()
	hook := h.beforeHook
	h.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}

func (h *harness) after(c awsproxy.Call, deliver bool) {
	if c.Forwarded && c.Status < 300 && slices.Contains(writeOps, c.Operation) {
		h.mu.Lock()
		h.writes = append(h.writes, c)
		h.mu.Unlock()
	}
	if deliver {
		if api, ok := stacksim.FromCall(c, account, ownCaller); ok {
			h.deliver(api)
		}
	}
	h.mu.Lock()
	hook := h.afterHook
	h.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}

func (h *harness) deliver(api stacksim.APICall) {
	ev, err := api.Event()
	if err == nil {
		_, err = h.stack.Deliver(ev)
	}
	if err != nil {
		h.violate("deliver %s: %v", api.EventName, err)
	}
}

// stateOf reads a trail directly from moto as compliance sees it.
func (h *harness) stateOf(name string) (compliance.State, bool) {
	out, err := cloudtrail.NewFromConfig(h.direct).GetTrail(h.ctx, &cloudtrail.GetTrailInput{Name: aws.String(name)})
	if err != nil || out.Trail == nil {
		return compliance.State{}, false
	}
	tr := out.Trail
	return compliance.State{
		Account: account, Region: region, BucketRegion: region,
		Trail: compliance.Trail{Name: aws.ToString(tr.Name), ARN: aws.ToString(tr.TrailARN), HomeRegion: aws.ToString(tr.HomeRegion),
			IsMultiRegion: aws.ToBool(tr.IsMultiRegionTrail), S3BucketName: aws.ToString(tr.S3BucketName), KMSKeyID: aws.ToString(tr.KmsKeyId)},
	}, true
}

// keyOf reads a key directly from moto; policy overrides its policy when
// not nil.
func (h *harness) keyOf(ref string, pol *string) (compliance.Key, error) {
	c := kms.NewFromConfig(h.direct)
	d, err := c.DescribeKey(h.ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
	if err != nil {
		return compliance.Key{}, err
	}
	m := d.KeyMetadata
	k := compliance.Key{ARN: aws.ToString(m.Arn), ID: aws.ToString(m.KeyId), Account: account, Region: region,
		State: string(m.KeyState), Manager: string(m.KeyManager), Spec: string(m.KeySpec), Usage: string(m.KeyUsage)}
	if pol != nil {
		k.Policy = *pol
	} else {
		p, err := c.GetKeyPolicy(h.ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(ref), PolicyName: aws.String("default")})
		if err != nil {
			return compliance.Key{}, err
		}
		k.Policy = aws.ToString(p.Policy)
	}
	return k, nil
}

// blocking are the findings that mean CloudTrail cannot use the key.
var blocking = []compliance.Rule{compliance.KeyPolicyNoEncrypt, compliance.KeyPolicyNoDescribe, compliance.KeyPolicyDeniesCloudTrail}

// unusable says why CloudTrail could not use k for the trail in st ("" when
// it can).
func unusable(k compliance.Key, st compliance.State) string {
	if k.State != compliance.KeyStateEnabled || k.Manager == compliance.KeyManagerAWS || k.Spec != compliance.KeySpecSymmetric {
		return fmt.Sprintf("key %s is %s/%s/%s", k.ARN, k.State, k.Manager, k.Spec)
	}
	var why []string
	for _, f := range compliance.PolicyFindings(k, st, compliance.Config{}) {
		if slices.Contains(blocking, f.Rule) {
			why = append(why, string(f.Rule))
		}
	}
	return strings.Join(why, ",")
}

func (h *harness) checkUpdateTrail(c awsproxy.Call) {
	h.mu.Lock()
	h.checked++
	h.mu.Unlock()
	var in struct{ Name, KmsKeyId string }
	if err := json.Unmarshal(c.Body, &in); err != nil {
		h.violate("UpdateTrail body %q: %v", c.Body, err)
		return
	}
	if in.KmsKeyId == "" {
		h.violate("trailguard turned encryption off on %s", in.Name)
		return
	}
	st, ok := h.stateOf(in.Name)
	if !ok {
		return
	}
	if st.Trail.KMSKeyID == in.KmsKeyId {
		h.mu.Lock()
		h.redundantN++
		h.mu.Unlock()
	}
	k, err := h.keyOf(in.KmsKeyId, nil)
	if err != nil {
		h.violate("UpdateTrail %s to key %s, which cannot be described: %v", in.Name, in.KmsKeyId, err)
		return
	}
	if why := unusable(k, st); why != "" {
		h.violate("UpdateTrail points %s at %s, which CloudTrail cannot use: %s", in.Name, in.KmsKeyId, why)
	}
}

func (h *harness) checkPutKeyPolicy(c awsproxy.Call) {
	h.mu.Lock()
	h.checked++
	h.mu.Unlock()
	var in struct {
		KeyId, Policy, PolicyName      string
		BypassPolicyLockoutSafetyCheck *bool
	}
	if err := json.Unmarshal(c.Body, &in); err != nil {
		h.violate("PutKeyPolicy body %q: %v", c.Body, err)
		return
	}
	if in.BypassPolicyLockoutSafetyCheck != nil || bytes.Contains(c.Body, []byte("Bypass")) {
		h.violate("PutKeyPolicy on %s passes BypassPolicyLockoutSafetyCheck: %s", in.KeyId, c.Body)
	}
	// Every statement it does not own, as in the policy it replaces.
	cur, err := h.keyOf(in.KeyId, nil)
	if err != nil {
		h.violate("PutKeyPolicy on %s, which cannot be read: %v", in.KeyId, err)
		return
	}
	if sameJSON(cur.Policy, in.Policy) {
		h.mu.Lock()
		h.redundantN++
		h.mu.Unlock()
	}
	if lost := lostStatements(cur.Policy, in.Policy); len(lost) > 0 {
		h.violate("PutKeyPolicy on %s drops statements it does not own: %v", in.KeyId, lost)
	}
	// Every trail already on the key can still use it.
	next, err := h.keyOf(in.KeyId, &in.Policy)
	if err != nil {
		return
	}
	out, err := cloudtrail.NewFromConfig(h.direct).DescribeTrails(h.ctx, &cloudtrail.DescribeTrailsInput{})
	if err != nil {
		h.violate("describe trails: %v", err)
		return
	}
	for _, tr := range out.TrailList {
		if k := aws.ToString(tr.KmsKeyId); k != next.ARN && k != next.ID {
			continue
		}
		st, ok := h.stateOf(aws.ToString(tr.TrailARN))
		if !ok {
			continue
		}
		if why := unusable(next, st); why != "" && unusable(cur, st) == "" {
			h.violate("PutKeyPolicy on %s makes it unusable for %s, which uses it: %s", in.KeyId, aws.ToString(tr.TrailARN), why)
		}
	}
}

// lostStatements returns the Sids (or indexes) of the statements of before
// that trailguard does not own and that are not in after, unchanged.
func lostStatements(before, after string) []string {
	bd, err := policy.Parse([]byte(before))
	if err != nil {
		return nil // not a policy: nothing trailguard could keep
	}
	ad, err := policy.Parse([]byte(after))
	if err != nil {
		return []string{"(the new policy does not parse)"}
	}
	var lost []string
	for i, st := range bd.Statements {
		if compliance.IsOwnSid(st.Sid) {
			continue
		}
		if !slices.ContainsFunc(ad.Statements, func(o policy.Statement) bool { return o.Equal(st) && compact(o.Raw) == compact(st.Raw) }) {
			lost = append(lost, cmpSid(st.Sid, i))
		}
	}
	return lost
}

func cmpSid(sid string, i int) string {
	if sid != "" {
		return sid
	}
	return fmt.Sprintf("#%d", i)
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// checkInvariants fails the test on any violation the hooks recorded.
func (h *harness) checkInvariants() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.violations {
		h.t.Error("VIOLATION: " + v)
	}
	if h.checked == 0 {
		h.t.Error("the invariant hooks checked no write")
	}
}

// ownWrites returns trailguard's writes that reached AWS, by operation.
func (h *harness) ownWrites() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, c := range h.writes {
		out[c.Operation]++
	}
	return out
}

// writeCalls returns trailguard's writes that reached AWS.
func (h *harness) writeCalls() []awsproxy.Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]awsproxy.Call(nil), h.writes...)
}

// The world, made directly in moto.

func (h *harness) bucket(name string) {
	h.t.Helper()
	_, err := s3.NewFromConfig(h.direct, motoserver.S3Options).CreateBucket(h.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	h.must(err)
}

// key creates a customer key with policy pol and returns its ARN.
func (h *harness) key(pol string) string {
	h.t.Helper()
	out, err := kms.NewFromConfig(h.direct).CreateKey(h.ctx, &kms.CreateKeyInput{Policy: aws.String(pol),
		KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT"})
	h.must(err)
	return aws.ToString(out.KeyMetadata.Arn)
}

func (h *harness) alias(name, keyARN string) {
	h.t.Helper()
	_, err := kms.NewFromConfig(h.direct).CreateAlias(h.ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(keyARN)})
	h.must(err)
}

// baseline creates the baseline key (basePolicy, the configured alias).
func (h *harness) baseline() string {
	h.t.Helper()
	k := h.key(basePolicy())
	h.alias(h.cfg.KeyAlias, k)
	return k
}

// trail creates a trail (encrypted with keyARN unless "") and returns the
// CreateTrail call for its event.
func (h *harness) trail(name, bucket, keyARN string) (string, stacksim.APICall) {
	h.t.Helper()
	in := &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}
	req := map[string]any{"name": name, "s3BucketName": bucket}
	if keyARN != "" {
		in.KmsKeyId = aws.String(keyARN)
		req["kmsKeyId"] = keyARN
	}
	out, err := cloudtrail.NewFromConfig(h.direct).CreateTrail(h.ctx, in)
	h.must(err)
	_, err = cloudtrail.NewFromConfig(h.direct).StartLogging(h.ctx, &cloudtrail.StartLoggingInput{Name: in.Name})
	h.must(err)
	arn := aws.ToString(out.TrailARN)
	return arn, stacksim.APICall{Source: stacksim.SourceCloudTrail, EventName: "CreateTrail", Account: account, Region: region, Caller: human,
		Request: req, Response: map[string]any{"name": name, "trailARN": arn}}
}

// keyCall is the event of a human KMS call on keyARN.
func keyCall(op, keyARN string, req map[string]any) stacksim.APICall {
	if req == nil {
		req = map[string]any{}
	}
	req["keyId"] = keyID(keyARN)
	return stacksim.APICall{Source: stacksim.SourceKMS, EventName: op, Account: account, Region: region, Caller: human,
		Request: req, Resources: []string{keyARN}}
}

// keyID is the id of a key ARN (moto's write calls want the id).
func keyID(keyARN string) string { return keyARN[strings.LastIndex(keyARN, "/")+1:] }

func (h *harness) putPolicy(keyARN, pol string) stacksim.APICall {
	h.t.Helper()
	_, err := kms.NewFromConfig(h.direct).PutKeyPolicy(h.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID(keyARN)), PolicyName: aws.String("default"), Policy: aws.String(pol)})
	h.must(err)
	return keyCall("PutKeyPolicy", keyARN, map[string]any{"policyName": "default", "policy": pol})
}

func (h *harness) disable(keyARN string) stacksim.APICall {
	h.t.Helper()
	_, err := kms.NewFromConfig(h.direct).DisableKey(h.ctx, &kms.DisableKeyInput{KeyId: aws.String(keyID(keyARN))})
	h.must(err)
	return keyCall("DisableKey", keyARN, nil)
}

func (h *harness) scheduleDeletion(keyARN string) stacksim.APICall {
	h.t.Helper()
	_, err := kms.NewFromConfig(h.direct).ScheduleKeyDeletion(h.ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID(keyARN)), PendingWindowInDays: aws.Int32(7)})
	h.must(err)
	return keyCall("ScheduleKeyDeletion", keyARN, map[string]any{"pendingWindowInDays": 7})
}

func (h *harness) policy(keyARN string) string {
	h.t.Helper()
	out, err := kms.NewFromConfig(h.direct).GetKeyPolicy(h.ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	h.must(err)
	return aws.ToString(out.Policy)
}

func (h *harness) trailKey(name string) string {
	h.t.Helper()
	st, ok := h.stateOf(name)
	if !ok {
		h.t.Fatalf("trail %s not found", name)
	}
	return st.Trail.KMSKeyID
}

func (h *harness) topic(name string) string {
	h.t.Helper()
	out, err := sns.NewFromConfig(h.direct).CreateTopic(h.ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	h.must(err)
	return aws.ToString(out.TopicArn)
}

// run delivers the events of calls at once and waits until the stack is
// idle (every re-delivered event included).
func (h *harness) run(calls ...stacksim.APICall) {
	h.t.Helper()
	for _, c := range calls {
		h.deliver(c)
	}
	h.stack.Wait()
}

// sweep runs the scheduled sweep once (with its Lambda retries) and waits.
func (h *harness) sweep() {
	h.t.Helper()
	h.must(h.stack.Invoke(sweepFn, stacksim.ScheduledEvent(account, region)))
	h.stack.Wait()
}

// findings returns the findings of every trail, judged by a report-mode
// reconciler reading moto directly.
func (h *harness) findings() map[string][]compliance.Finding {
	h.t.Helper()
	cfg := h.cfg
	cfg.Mode = config.Report
	cfg.TopicARN = ""
	rep, err := reconcile.New(h.direct, cfg, reconcile.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))).Sweep(h.ctx)
	if err != nil {
		h.t.Fatalf("report sweep: %v", err)
	}
	out := map[string][]compliance.Finding{}
	for _, res := range rep.Results {
		if res.Error != "" {
			h.t.Fatalf("report sweep: %s: %s", res.Trail, res.Error)
		}
		out[res.Trail] = res.Findings
	}
	return out
}

// foreignIntact fails unless the foreign statement of every key in keys is
// present and unchanged; it returns how many were checked.
func (h *harness) foreignIntact(keys []string) (lost int) {
	h.t.Helper()
	want := statement(h.t, basePolicy(), foreignSid)
	for _, k := range keys {
		got := statement(h.t, h.policy(k), foreignSid)
		if got == nil || !got.Equal(*want) || compact(got.Raw) != compact(want.Raw) {
			h.t.Errorf("key %s: the foreign statement %s was lost or changed: %s", k, foreignSid, h.policy(k))
			lost++
		}
	}
	return lost
}

// statement returns the statement with sid in pol, or nil.
func statement(t *testing.T, pol, sid string) *policy.Statement {
	t.Helper()
	d, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatalf("parse policy: %v\n%s", err, pol)
	}
	if i, ok := d.Find(sid); ok {
		return &d.Statements[i]
	}
	return nil
}

// reports returns the handler results of every invocation of fn.
func (h *harness) reports(fn string) []reconcile.Report {
	var out []reconcile.Report
	for _, inv := range h.stack.Invocations() {
		if inv.Function != fn {
			continue
		}
		if rep, ok := inv.Output.(reconcile.Report); ok {
			out = append(out, rep)
		}
	}
	return out
}

// runsOf describes every invocation's result for trail (actions with
// their outcomes, alerts, errors), for a failure message.
func (h *harness) runsOf(trail string) string {
	var b strings.Builder
	for _, inv := range h.stack.Invocations() {
		rep, ok := inv.Output.(reconcile.Report)
		if !ok {
			continue
		}
		for _, res := range rep.Results {
			if res.Trail != trail {
				continue
			}
			fmt.Fprintf(&b, "\n  %s:", inv.Function)
			for _, a := range res.Actions {
				fmt.Fprintf(&b, " %s %s=%s %s;", a.Action, a.Target, a.Outcome, a.Message)
			}
			for _, a := range res.Alerts {
				fmt.Fprintf(&b, " alert %q;", a)
			}
			if res.Error != "" {
				fmt.Fprintf(&b, " error %q;", res.Error)
			}
		}
		for _, e := range rep.Errors {
			if strings.Contains(e, trail) {
				fmt.Fprintf(&b, "\n  %s: report error %q", inv.Function, e)
			}
		}
	}
	return b.String()
}

// faultTotal sums the proxy's injected faults.
func faultTotal(p *awsproxy.Proxy) int {
	n := 0
	for _, c := range p.Faults() {
		n += c
	}
	return n
}

// sortedKeys returns the keys of m in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
