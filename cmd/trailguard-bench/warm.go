package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// warmScenarios are the critical-path scenarios of a warm container: the
// function's one Reconciler (as handler.Main builds it at cold start) has
// already served an invocation, so what it keeps per container (the own
// account id, the resolved baseline alias, the SDK clients and their
// connections) is in place; the second invocation is measured.
func warmScenarios() []scenarioSpec {
	acct := motoserver.AccountID
	trail := func(prefix, name string) plannedTrail {
		return plannedTrail{Account: acct, Region: home, Name: prefix + name, Bucket: prefix + "logs-" + acct}
	}
	return []scenarioSpec{
		{name: "unencrypted-compliant-baseline-warm", function: "trail-remediator", targetRounds: 3,
			description: "as unencrypted-compliant-baseline, on a warm container: the same function first fixed another unencrypted trail with the same baseline alias",
			// A baseline key (by alias) compliant for both trails, and the
			// first, unencrypted trail the warm-up invocation fixes.
			warmUp: func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
				first, second := trail(prefix, "warm-up"), trail(prefix, "plain")
				p, err := compliantPolicy(acct, []plannedTrail{first, second})
				if err != nil {
					return nil, err
				}
				k, err := w.key(ctx, home, p)
				if err != nil {
					return nil, err
				}
				alias := "alias/" + prefix + "trailguard-cloudtrail"
				env[config.EnvKeyAlias] = alias
				if err := w.alias(ctx, home, alias, k); err != nil {
					return nil, err
				}
				return unencryptedTrail(ctx, w, first)
			},
			// The measured, second unencrypted trail.
			setup: func(ctx context.Context, w *world, prefix string, _ map[string]string) ([]byte, error) {
				return unencryptedTrail(ctx, w, trail(prefix, "plain"))
			}},
	}
}

// unencryptedTrail creates t's bucket and t without encryption and
// returns its CreateTrail event.
func unencryptedTrail(ctx context.Context, w *world, t plannedTrail) ([]byte, error) {
	if err := w.bucket(ctx, t.Bucket, t.Region); err != nil {
		return nil, err
	}
	arn, err := w.trail(ctx, t.Region, t.Name, t.Bucket, "")
	if err != nil {
		return nil, err
	}
	return trailEvent(t.Account, t.Region, "CreateTrail", t.Name, arn, t.Bucket)
}

// warmUp invokes h with the warm-up event and drops its recorded calls;
// the invocation must succeed with a result and no error in it, or the
// measured one would not be on a warm container.
func warmUp(ctx context.Context, h lambda.Handler, rec *recorder, raw []byte) error {
	out, err := h.Invoke(ctx, raw)
	rec.take()
	if err != nil {
		return fmt.Errorf("warm-up invocation: %w", err)
	}
	var rep reconcile.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("warm-up invocation: decode result: %w", err)
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("warm-up invocation: no result: %s", out)
	}
	for _, res := range rep.Results {
		if res.Error != "" {
			return fmt.Errorf("warm-up invocation: %s: %s", res.Trail, res.Error)
		}
	}
	return nil
}
