package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// Scenario is the measured critical path of one handler invocation.
type Scenario struct {
	Name        string `json:"name"`
	Function    string `json:"function"`
	Description string `json:"description"`
	// Runs is how many times it was measured (fresh world each time);
	// the figures are those of the median-wall run.
	Runs int `json:"runs"`
	// WallMS is the invocation's wall time.
	WallMS float64 `json:"wall_ms"`
	// RoundTrips is WallMS divided by the injected latency.
	RoundTrips float64 `json:"round_trips"`
	// ZeroLatencyWallMS is the median wall time of the same scenario
	// measured side by side without added latency; RoundTripsNet is
	// (WallMS - ZeroLatencyWallMS) / latency: the round trips net of the
	// emulator's own time.
	ZeroLatencyWallMS float64 `json:"zero_latency_wall_ms"`
	RoundTripsNet     float64 `json:"round_trips_net"`
	// ChainRounds is the longest chain of calls that waited for each
	// other (from the recorded call timeline); ChainRoundsToFix leaves
	// out the final SNS notification.
	ChainRounds      int      `json:"chain_rounds"`
	ChainRoundsToFix int      `json:"chain_rounds_to_fix"`
	Chain            []string `json:"chain"`
	// ChainDynamoDB is how many calls of Chain are the state table's
	// (lease, loop guard, change log, trail index; index.go).
	ChainDynamoDB int `json:"chain_dynamodb,omitempty"`
	// Calls counts the AWS calls (as the proxy saw them).
	Calls       int            `json:"calls"`
	ByOperation map[string]int `json:"by_operation"`
	// MeanCallMS is the mean duration of each operation's calls: the
	// injected latency plus the emulator's own time.
	MeanCallMS   map[string]float64 `json:"mean_call_ms"`
	PeakInFlight int                `json:"peak_in_flight"`
	// Repeated and ReadAfterOwnWrite are calls whose answer the run
	// already knew; KnownAnswers counts them.
	Repeated          []string `json:"repeated,omitempty"`
	ReadAfterOwnWrite []string `json:"read_after_own_write,omitempty"`
	KnownAnswers      int      `json:"known_answers"`
	// ReReadBeforeWrite are repeated reads (or reads after the run's own
	// write) whose next call on the resource is a write to it: the
	// deliberate re-read under the lease right before a write, which the
	// issue exempts. Not in KnownAnswers.
	ReReadBeforeWrite []string `json:"reread_before_write,omitempty"`
	// Outcomes are the handler's actions ("PutKeyPolicy=updated").
	Outcomes []string `json:"outcomes"`
	// TargetRounds is the target (0: none).
	TargetRounds int    `json:"target_rounds,omitempty"`
	Error        string `json:"error,omitempty"`
}

// CriticalSection is part 2 of the report.
type CriticalSection struct {
	LatencyMS float64    `json:"latency_ms"`
	Config    string     `json:"config"`
	Scenarios []Scenario `json:"scenarios"`
}

// scenarioSpec sets up one scenario in moto, its names prefixed with
// prefix (moto is not reset between runs), and returns the event; env
// receives the function's extra configuration.
type scenarioSpec struct {
	name, function, description string
	targetRounds                int
	setup                       func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error)
	// warmUp, when set, is called before setup (same prefix and env); the
	// event it returns is invoked first, unmeasured, on the same
	// Reconciler as the measured event: a warm container (warm.go).
	warmUp func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error)
}

const (
	home         = "us-east-1"
	baselineName = "alias/trailguard-cloudtrail"
)

func criticalScenarios() []scenarioSpec {
	acct := motoserver.AccountID
	trail := func(prefix, name string) plannedTrail {
		return plannedTrail{Account: acct, Region: home, Name: prefix + name, Bucket: prefix + "logs-" + acct}
	}
	// baseline creates the run's baseline key and alias with policy ("":
	// root-only) and names the alias in env.
	baseline := func(ctx context.Context, w *world, prefix, policy string, env map[string]string) (string, error) {
		k, err := w.key(ctx, home, policy)
		if err != nil {
			return "", err
		}
		alias := "alias/" + prefix + "trailguard-cloudtrail"
		env[config.EnvKeyAlias] = alias
		return k, w.alias(ctx, home, alias, k)
	}
	unencrypted := func(compliantBaseline, explicit bool) func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
		return func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
			t := trail(prefix, "plain")
			policy := ""
			if compliantBaseline {
				p, err := compliantPolicy(acct, []plannedTrail{t})
				if err != nil {
					return nil, err
				}
				policy = p
			}
			k, err := baseline(ctx, w, prefix, policy, env)
			if err != nil {
				return nil, err
			}
			if explicit {
				env[config.EnvKeys] = home + "=" + k
			}
			if err := w.bucket(ctx, t.Bucket, home); err != nil {
				return nil, err
			}
			arn, err := w.trail(ctx, home, t.Name, t.Bucket, "")
			if err != nil {
				return nil, err
			}
			return trailEvent(acct, home, "CreateTrail", t.Name, arn, t.Bucket)
		}
	}
	// keyedTrails creates n trails sharing one key that is compliant for
	// all of them, and a compliant baseline.
	keyedTrails := func(ctx context.Context, w *world, prefix string, n int, env map[string]string) (string, []plannedTrail, []string, error) {
		var ts []plannedTrail
		for i := 0; i < n; i++ {
			ts = append(ts, trail(prefix, fmt.Sprintf("keyed-%d", i)))
		}
		p, err := compliantPolicy(acct, ts)
		if err != nil {
			return "", nil, nil, err
		}
		if _, err := baseline(ctx, w, prefix, p, env); err != nil {
			return "", nil, nil, err
		}
		k, err := w.key(ctx, home, p)
		if err != nil {
			return "", nil, nil, err
		}
		if err := w.bucket(ctx, ts[0].Bucket, home); err != nil {
			return "", nil, nil, err
		}
		var arns []string
		for _, t := range ts {
			arn, err := w.trail(ctx, home, t.Name, t.Bucket, k)
			if err != nil {
				return "", nil, nil, err
			}
			arns = append(arns, arn)
		}
		return k, ts, arns, nil
	}
	return []scenarioSpec{
		{name: "compliant", function: "trail-remediator", targetRounds: 2,
			description: "CreateTrail of a trail already encrypted with a compliant key: nothing to change",
			setup: func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
				_, ts, arns, err := keyedTrails(ctx, w, prefix, 1, env)
				if err != nil {
					return nil, err
				}
				return trailEvent(acct, home, "CreateTrail", ts[0].Name, arns[0], ts[0].Bucket)
			}},
		{name: "unencrypted-compliant-baseline", function: "trail-remediator", targetRounds: 3,
			description: "CreateTrail of an unencrypted trail; the baseline key (found by its alias) already lets CloudTrail use it",
			setup:       unencrypted(true, false)},
		{name: "unencrypted-compliant-baseline-keys", function: "trail-remediator", targetRounds: 3,
			description: "as above, the baseline key named by ARN in TRAILGUARD_KEYS (no alias lookup)",
			setup:       unencrypted(true, true)},
		{name: "unencrypted-baseline-needs-statements", function: "trail-remediator",
			description: "CreateTrail of an unencrypted trail; the baseline key has KMS's root-only default policy",
			setup:       unencrypted(false, false)},
		{name: "shared-key-policy-drift", function: "key-remediator",
			description: "PutKeyPolicy resets to root-only the policy of a key used by 5 trails",
			setup: func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
				k, _, _, err := keyedTrails(ctx, w, prefix, 5, env)
				if err != nil {
					return nil, err
				}
				if err := w.putPolicy(ctx, k, rootPolicy(acct)); err != nil {
					return nil, err
				}
				return keyEvent(acct, home, "PutKeyPolicy", k)
			}},
		{name: "key-policy-edit-harmless", function: "key-remediator",
			description: "PutKeyPolicy adds an unrelated statement to the compliant key of one trail: nothing to change",
			setup: func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
				k, ts, _, err := keyedTrails(ctx, w, prefix, 1, env)
				if err != nil {
					return nil, err
				}
				p, err := compliantPolicy(acct, ts)
				if err != nil {
					return nil, err
				}
				edited, err := withStatement(p, `{"Sid":"AuditorsDescribe","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":"kms:DescribeKey","Resource":"*"}`)
				if err != nil {
					return nil, err
				}
				if err := w.putPolicy(ctx, k, edited); err != nil {
					return nil, err
				}
				return keyEvent(acct, home, "PutKeyPolicy", k)
			}},
		{name: "key-pending-deletion", function: "key-remediator",
			description: "ScheduleKeyDeletion of the compliant key of one trail",
			setup: func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
				k, _, _, err := keyedTrails(ctx, w, prefix, 1, env)
				if err != nil {
					return nil, err
				}
				if err := w.scheduleDeletion(ctx, k); err != nil {
					return nil, err
				}
				return keyEvent(acct, home, "ScheduleKeyDeletion", k)
			}},
	}
}

// runCritical measures every scenario runs times through a proxy adding
// latency per call and, side by side, through one adding none: the
// difference of the wall times divided by the latency is the number of
// sequential round trips, net of the emulator's own time.
func runCritical(ctx context.Context, srv *motoserver.Server, latency time.Duration, runs int, logf func(string, ...any)) (*CriticalSection, error) {
	slow, err := awsproxy.Start(srv.Endpoint, awsproxy.Options{Latency: latency})
	if err != nil {
		return nil, err
	}
	defer slow.Close()
	fast, err := awsproxy.Start(srv.Endpoint, awsproxy.Options{})
	if err != nil {
		return nil, err
	}
	defer fast.Close()
	if err := srv.Reset(ctx); err != nil {
		return nil, err
	}
	w, err := newWorld(srv)
	if err != nil {
		return nil, err
	}
	if err := w.warmUp(ctx); err != nil {
		return nil, err
	}
	topic, err := sns.NewFromConfig(w.cfg(home)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("trailguard-notices")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	sec := &CriticalSection{LatencyMS: ms(latency),
		Config: "deployed defaults: every enabled Region (moto lists 38), the baseline key by alias, an SNS topic; a new Reconciler per invocation, as at cold start, except in the -warm scenarios (the second invocation on one Reconciler)"}
	seq := 0
	for _, spec := range slices.Concat(criticalScenarios(), warmScenarios(), indexedScenarios()) {
		var measured []Scenario
		var zero []float64
		for i := 0; i < runs && ctx.Err() == nil; i++ {
			seq++
			s, err := runScenario(ctx, srv, w, slow, latency, aws.ToString(topic.TopicArn), fmt.Sprintf("r%d-", seq), spec)
			if err != nil {
				measured = []Scenario{{Name: spec.name, Function: spec.function, Description: spec.description, Error: err.Error()}}
				break
			}
			measured = append(measured, s)
			seq++
			z, err := runScenario(ctx, srv, w, fast, 0, aws.ToString(topic.TopicArn), fmt.Sprintf("r%d-", seq), spec)
			if err != nil {
				measured = []Scenario{{Name: spec.name, Function: spec.function, Description: spec.description, Error: "without latency: " + err.Error()}}
				break
			}
			zero = append(zero, z.WallMS)
		}
		sort.Slice(measured, func(i, j int) bool { return measured[i].WallMS < measured[j].WallMS })
		s := measured[len(measured)/2]
		s.Runs = len(measured)
		if s.Error == "" {
			s.ZeroLatencyWallMS = median(zero)
			s.RoundTripsNet = (median(walls(measured)) - s.ZeroLatencyWallMS) / ms(latency)
		}
		logf("critical path %-38s %5.0f ms (%4.0f ms without latency): %4.1f round trips, %4.1f net, chain %2d (%d DynamoDB), %2d calls, %d known answers %s",
			s.Name, s.WallMS, s.ZeroLatencyWallMS, s.RoundTrips, s.RoundTripsNet, s.ChainRounds, s.ChainDynamoDB, s.Calls, s.KnownAnswers, s.Error)
		sec.Scenarios = append(sec.Scenarios, s)
	}
	return sec, ctx.Err()
}

func walls(ss []Scenario) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = s.WallMS
	}
	return out
}

func runScenario(ctx context.Context, srv *motoserver.Server, w *world, proxy *awsproxy.Proxy, latency time.Duration, topicARN, prefix string, spec scenarioSpec) (Scenario, error) {
	s := Scenario{Name: spec.name, Function: spec.function, Description: spec.description, TargetRounds: spec.targetRounds}
	env := map[string]string{config.EnvTopicARN: topicARN}
	var warmRaw []byte
	if spec.warmUp != nil {
		var err error
		if warmRaw, err = spec.warmUp(ctx, w, prefix, env); err != nil {
			return s, fmt.Errorf("set up %s (warm-up): %w", spec.name, err)
		}
	}
	raw, err := spec.setup(ctx, w, prefix, env)
	if err != nil {
		return s, fmt.Errorf("set up %s: %w", spec.name, err)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return s, err
	}

	// The function as main.go builds it at cold start, its AWS calls
	// going through the proxy and the recorder.
	rec := newRecorder(awshttp.NewBuildableClient())
	base, err := srv.AWSConfig(ctx, home)
	if err != nil {
		return s, err
	}
	base.BaseEndpoint = aws.String(proxy.URL)
	base.HTTPClient = rec
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	opts := []reconcile.Option{reconcile.WithLogger(log)}
	if cfg.Table != "" {
		// As main.go: the state table's store (leases, guard, change
		// log, trail index) when TRAILGUARD_TABLE is set.
		opts = append(opts, reconcile.WithStore(state.New(dynamodb.NewFromConfig(base), cfg.Table, state.WithWriter(spec.function))))
	}
	r := reconcile.New(base, cfg, opts...)
	var h lambda.Handler
	switch spec.function {
	case "trail-remediator":
		h = lambda.NewHandler(handler.TrailHandler{Reconciler: r, Logger: log}.Handle)
	case "key-remediator":
		h = lambda.NewHandler(handler.KeyHandler{Reconciler: r, Logger: log}.Handle)
	default:
		return s, fmt.Errorf("unknown function %s", spec.function)
	}

	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if warmRaw != nil {
		if err := warmUp(ictx, h, rec, warmRaw); err != nil {
			return s, err
		}
	}
	proxy.Reset()
	start := time.Now()
	out, err := h.Invoke(ictx, raw)
	wall := time.Since(start)
	calls := rec.take()
	if err != nil {
		return s, fmt.Errorf("invoke %s: %w", spec.function, err)
	}
	var rep reconcile.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return s, fmt.Errorf("decode result: %w", err)
	}
	if len(rep.Results) == 0 {
		return s, fmt.Errorf("no result: %s", out)
	}
	for _, res := range rep.Results {
		if res.Error != "" {
			return s, fmt.Errorf("%s: %s", res.Trail, res.Error)
		}
		for _, a := range res.Actions {
			s.Outcomes = append(s.Outcomes, fmt.Sprintf("%s=%s", a.Action, a.Outcome))
		}
	}
	a := analyse(calls)
	toFix := analyse(slices.DeleteFunc(slices.Clone(calls), func(c call) bool { return c.Op == "Publish" }))
	s.WallMS = ms(wall)
	if latency > 0 {
		s.RoundTrips = float64(wall) / float64(latency)
	}
	s.ChainRounds, s.ChainRoundsToFix, s.Chain = a.Rounds, toFix.Rounds, a.Chain
	s.ChainDynamoDB = chainDynamoDB(a.Chain)
	s.Calls, s.ByOperation, s.PeakInFlight = proxy.Total(), proxy.Calls(), proxy.Peak()
	s.Repeated, s.ReadAfterOwnWrite, s.MeanCallMS = a.Repeated, a.ReadAfterOwnWrite, a.MeanMS
	s.KnownAnswers = len(a.Repeated) + len(a.ReadAfterOwnWrite)
	s.ReReadBeforeWrite = a.ReReadBeforeWrite
	if s.Calls != a.Calls {
		return s, fmt.Errorf("the proxy saw %d calls, the recorder %d", s.Calls, a.Calls)
	}
	return s, nil
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// withStatement returns policy with statement (a JSON object) appended.
func withStatement(policy, statement string) (string, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return "", fmt.Errorf("policy: %w", err)
	}
	var st any
	if err := json.Unmarshal([]byte(statement), &st); err != nil {
		return "", fmt.Errorf("statement: %w", err)
	}
	list, _ := doc["Statement"].([]any)
	doc["Statement"] = append(list, st)
	b, err := json.Marshal(doc)
	return string(b), err
}
