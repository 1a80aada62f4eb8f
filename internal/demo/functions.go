package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// function is a deployed function as an EventBridge rule invokes it: it
// handles the delivered event and returns its report, whose JSON form is
// {"results": [...]} (CONTRACTS.md).
type function func(ctx context.Context, raw json.RawMessage) (any, error)

// result is one item of a report's "results", as the handlers write it.
type result struct {
	Trail    string `json:"trail"`
	Account  string `json:"account"`
	Region   string `json:"region"`
	Findings []struct {
		Rule       string `json:"rule"`
		Detail     string `json:"detail"`
		Actionable bool   `json:"actionable"`
	} `json:"findings"`
	Actions []struct {
		Action  string `json:"action"`
		Target  string `json:"target"`
		Outcome string `json:"outcome"`
	} `json:"actions"`
	Error string `json:"error"`
}

// decodeReport reads a handler's report through its JSON form, the
// contract of the handlers' output, and returns its results.
func decodeReport(report any) ([]result, error) {
	b, err := json.Marshal(report)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	var env struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	return env.Results, nil
}

// newFunctions builds the functions the demo's rules deliver to: the real
// handlers of trail-remediator, key-remediator and the sweeper, each over
// its own reconciler on the state table (writer: the function's name) and
// importing findings into Security Hub, as handler.Main builds them at cold
// start with TRAILGUARD_TABLE set. The event's id goes into the context, so
// the change log names the event each write was made for.
func newFunctions(base aws.Config, c config.Config, log *slog.Logger, table string) map[string]function {
	recon := func(writer string) *reconcile.Reconciler {
		st := state.New(dynamodb.NewFromConfig(base), table, state.WithWriter(writer))
		return reconcile.New(base, c, reconcile.WithLogger(log), reconcile.WithOwnAccount(Account), reconcile.WithStore(st), reconcile.WithSecurityHub())
	}
	trail := handler.TrailHandler{Reconciler: recon(trailFunction), Logger: log}
	key := handler.KeyHandler{Reconciler: recon(keyFunction), Logger: log}
	sweep := handler.SweepHandler{Reconciler: recon(sweepFunction), Logger: log}
	return map[string]function{
		sweepFunction: func(ctx context.Context, raw json.RawMessage) (any, error) { return sweep.Handle(ctx, raw) },
		trailFunction: func(ctx context.Context, raw json.RawMessage) (any, error) {
			return trail.Handle(withEventID(ctx, raw), raw)
		},
		keyFunction: func(ctx context.Context, raw json.RawMessage) (any, error) {
			return key.Handle(withEventID(ctx, raw), raw)
		},
	}
}

// withEventID returns ctx carrying the id of the EventBridge event raw
// (unchanged when it has none).
func withEventID(ctx context.Context, raw json.RawMessage) context.Context {
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &ev) != nil || ev.ID == "" {
		return ctx
	}
	return reconcile.WithEventID(ctx, ev.ID)
}
