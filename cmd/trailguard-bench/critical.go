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
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailguard/trailguard/pkg/awsproxy"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/motoserver"
	"github.com/trailguard/trailguard/pkg/reconcile"
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
	// ChainRounds is the longest chain of calls that waited for each
	// other (from the recorded call timeline); ChainRoundsToFix leaves
	// out the final SNS notification.
	ChainRounds      int      `json:"chain_rounds"`
	ChainRoundsToFix int      `json:"chain_rounds_to_fix"`
	Chain            []string `json:"chain"`
	// Calls counts the AWS calls (as the proxy saw them).
	Calls       int            `json:"calls"`
	ByOperation map[string]int `json:"by_operation"`
	PeakInFlight int           `json:"peak_in_flight"`
	// Repeated and ReadAfterOwnWrite are calls whose answer the run
	// already knew.
	Repeated          []string `json:"repeated,omitempty"`
	ReadAfterOwnWrite []string `json:"read_after_own_write,omitempty"`
	KnownAnswers      int      `json:"known_answers"`
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

// scenarioSpec sets up one scenario in a fresh moto and returns the event
// and the extra environment of the function.
type scenarioSpec struct {
	name, function, description string
	targetRounds                int
	setup                       func(ctx context.Context, w *world, env map[string]string) ([]byte, error)
}

const (
	home         = "us-east-1"
	baselineName = "alias/trailguard-cloudtrail"
)

func criticalScenarios() []scenarioSpec {
	acct := motoserver.AccountID
	trail := func(name string) plannedTrail {
		return plannedTrail{Account: acct, Region: home, Name: name, Bucket: "bench-logs-" + acct}
	}
	// baseline creates the baseline key (alias) with policy.
	baseline := func(ctx context.Context, w *world, policy string) (string, error) {
		k, err := w.key(ctx, home, policy)
		if err != nil {
			return "", err
		}
		return k, w.alias(ctx, home, baselineName, k)
	}
	unencrypted := func(compliantBaseline, explicit bool) func(ctx context.Context, w *world, env map[string]string) ([]byte, error) {
		return func(ctx context.Context, w *world, env map[string]string) ([]byte, error) {
			t := trail("bench-plain")
			policy := ""
			if compliantBaseline {
				p, err := compliantPolicy(acct, []plannedTrail{t})
				if err != nil {
					return nil, err
				}
				policy = p
			}
			k, err := baseline(ctx, w, policy)
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
	// ownKeyTrails creates n trails sharing one key that is compliant for
	// all of them, and a compliant baseline.
	ownKeyTrails := func(ctx context.Context, w *world, n int) (string, []string, error) {
		var ts []plannedTrail
		for i := 0; i < n; i++ {
			ts = append(ts, trail(fmt.Sprintf("bench-keyed-%d", i)))
		}
		p, err := compliantPolicy(acct, ts)
		if err != nil {
			return "", nil, err
		}
		if _, err := baseline(ctx, w, p); err != nil {
			return "", nil, err
		}
		k, err := w.key(ctx, home, p)
		if err != nil {
			return "", nil, err
		}
		if err := w.bucket(ctx, ts[0].Bucket, home); err != nil {
			return "", nil, err
		}
		var arns []string
		for _, t := range ts {
			arn, err := w.trail(ctx, home, t.Name, t.Bucket, k)
			if err != nil {
				return "", nil, err
			}
			arns = append(arns, arn)
		}
		return k, arns, nil
	}
	return []scenarioSpec{
		{name: "compliant", function: "trail-remediator", targetRounds: 2,
			description: "CreateTrail of a trail already encrypted with a compliant key: nothing to change",
			setup: func(ctx context.Context, w *world, env map[string]string) ([]byte, error) {
				_, arns, err := ownKeyTrails(ctx, w, 1)
				if err != nil {
					return nil, err
				}
				return trailEvent(acct, home, "CreateTrail", "bench-keyed-0", arns[0], trail("").Bucket)
			}},
		{name: "unencrypted-compliant-baseline", function: "trail-remediator", targetRounds: 3,
			description: "CreateTrail of an unencrypted trail; the baseline key (found by alias) already lets CloudTrail use it",
			setup:       unencrypted(true, false)},
		{name: "unencrypted-compliant-baseline-keys", function: "trail-remediator", targetRounds: 3,
			description: "as above, with the baseline key named by ARN in TRAILGUARD_KEYS (no alias lookup)",
			setup:       unencrypted(true, true)},
		{name: "unencrypted-baseline-needs-statements", function: "trail-remediator",
			description: "CreateTrail of an unencrypted trail; the baseline key has KMS's root-only default policy",
			setup:       unencrypted(false, false)},
		{name: "shared-key-policy-drift", function: "key-remediator",
			description: "PutKeyPolicy resets to root-only the policy of a key used by 5 trails",
			setup: func(ctx context.Context, w *world, env map[string]string) ([]byte, error) {
				k, _, err := ownKeyTrails(ctx, w, 5)
				if err != nil {
					return nil, err
				}
				if err := w.putPolicy(ctx, k, rootPolicy(acct)); err != nil {
					return nil, err
				}
				return keyEvent(acct, home, "PutKeyPolicy", k)
			}},
		{name: "key-pending-deletion", function: "key-remediator",
			description: "ScheduleKeyDeletion of the compliant key of one trail",
			setup: func(ctx context.Context, w *world, env map[string]string) ([]byte, error) {
				k, _, err := ownKeyTrails(ctx, w, 1)
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
// latency per call.
func runCritical(ctx context.Context, srv *motoserver.Server, latency time.Duration, runs int, logf func(string, ...any)) (*CriticalSection, error) {
	proxy, err := awsproxy.Start(srv.Endpoint, awsproxy.Options{Latency: latency})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	sec := &CriticalSection{LatencyMS: ms(latency),
		Config: "deployed defaults (every enabled Region, alias/trailguard-cloudtrail, an SNS topic), functions built per scenario as at cold start"}
	for _, spec := range criticalScenarios() {
		var measured []Scenario
		for i := 0; i < runs; i++ {
			s, err := runScenario(ctx, srv, proxy, latency, spec)
			if err != nil {
				s = Scenario{Name: spec.name, Function: spec.function, Description: spec.description, Error: err.Error()}
				measured = []Scenario{s}
				break
			}
			measured = append(measured, s)
		}
		sort.Slice(measured, func(i, j int) bool { return measured[i].WallMS < measured[j].WallMS })
		s := measured[len(measured)/2]
		s.Runs = len(measured)
		logf("critical path %-40s %6.0f ms  %4.1f round trips  %2d chain  %2d calls  %d known answers %s",
			s.Name, s.WallMS, s.RoundTrips, s.ChainRounds, s.Calls, s.KnownAnswers, s.Error)
		sec.Scenarios = append(sec.Scenarios, s)
	}
	return sec, nil
}

func runScenario(ctx context.Context, srv *motoserver.Server, proxy *awsproxy.Proxy, latency time.Duration, spec scenarioSpec) (Scenario, error) {
	s := Scenario{Name: spec.name, Function: spec.function, Description: spec.description, TargetRounds: spec.targetRounds}
	if err := srv.Reset(ctx); err != nil {
		return s, err
	}
	w, err := newWorld(srv)
	if err != nil {
		return s, err
	}
	topic, err := sns.NewFromConfig(w.cfg(home)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("trailguard-notices")})
	if err != nil {
		return s, fmt.Errorf("create topic: %w", err)
	}
	env := map[string]string{config.EnvTopicARN: aws.ToString(topic.TopicArn)}
	raw, err := spec.setup(ctx, w, env)
	if err != nil {
		return s, fmt.Errorf("set up %s: %w", spec.name, err)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return s, err
	}

	// The function as main.go builds it at cold start, its AWS calls
	// going through the latency proxy and the recorder.
	rec := newRecorder(awshttp.NewBuildableClient())
	base, err := srv.AWSConfig(ctx, home)
	if err != nil {
		return s, err
	}
	base.BaseEndpoint = aws.String(proxy.URL)
	base.HTTPClient = rec
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	r := reconcile.New(base, cfg, reconcile.WithLogger(log))
	var h lambda.Handler
	switch spec.function {
	case "trail-remediator":
		h = lambda.NewHandler(handler.TrailHandler{Reconciler: r, Logger: log}.Handle)
	case "key-remediator":
		h = lambda.NewHandler(handler.KeyHandler{Reconciler: r, Logger: log}.Handle)
	default:
		return s, fmt.Errorf("unknown function %s", spec.function)
	}

	proxy.Reset()
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
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
	s.RoundTrips = float64(wall) / float64(latency)
	s.ChainRounds, s.ChainRoundsToFix, s.Chain = a.Rounds, toFix.Rounds, a.Chain
	s.Calls, s.ByOperation, s.PeakInFlight = proxy.Total(), proxy.Calls(), proxy.Peak()
	s.Repeated, s.ReadAfterOwnWrite = a.Repeated, a.ReadAfterOwnWrite
	s.KnownAnswers = len(a.Repeated) + len(a.ReadAfterOwnWrite)
	if s.Calls != a.Calls {
		return s, fmt.Errorf("the proxy saw %d calls, the recorder %d", s.Calls, a.Calls)
	}
	return s, nil
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
