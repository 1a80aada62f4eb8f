package handler

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// invoke runs h through lambda.NewHandler as the Lambda runtime does and
// decodes the result.
func invoke(t *testing.T, h any, event []byte) reconcile.Report {
	t.Helper()
	out, err := lambda.NewHandler(h).Invoke(context.Background(), event)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var rep reconcile.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("result %s: %v", out, err)
	}
	return rep
}

func actionOutcomes(rep reconcile.Report) []string {
	var out []string
	for _, res := range rep.Results {
		for _, a := range res.Actions {
			out = append(out, string(a.Action)+"="+string(a.Outcome))
		}
	}
	return out
}

// TestHandlersAgainstMoto drives the real reconciler through each handler
// with the events the drift's API calls produce.
func TestHandlersAgainstMoto(t *testing.T) {
	srv := moto(t)
	w := world{t: t, srv: srv}
	base := w.key(config.DefaultKeyAlias)
	w.bucket("handler-logs")
	plain := w.trail("plain", "handler-logs", "")
	shared := w.key("")
	keyed := w.trail("keyed", "handler-logs", shared)

	cfg := config.Default()
	cfg.Regions = []string{"us-east-1"}
	awsCfg, err := srv.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	r := reconcile.New(awsCfg, cfg, reconcile.WithLogger(discardLogger()))

	// CreateTrail of an unencrypted trail.
	rep := invoke(t, TrailHandler{Reconciler: r, Logger: discardLogger()}.Handle,
		eventJSON(t, "create_trail.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "CreateTrail", Name: "plain", ARN: plain, Bucket: "handler-logs"}))
	if got, want := actionOutcomes(rep), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Fatalf("CreateTrail: outcomes %v, want %v", got, want)
	}
	if got := w.trailKey("plain"); got != base {
		t.Errorf("trail key %q, want %q", got, base)
	}

	// DisableKey of the key another trail uses.
	w.disable(shared)
	rep = invoke(t, KeyHandler{Reconciler: r, Logger: discardLogger()}.Handle,
		eventJSON(t, "key_event.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "DisableKey", KeyRef: shared, ARN: shared}))
	if len(rep.Results) != 1 || rep.Results[0].Trail != keyed {
		t.Fatalf("DisableKey: results %+v, want one for %s", rep.Results, keyed)
	}
	if got, want := actionOutcomes(rep), []string{"EnableKey=updated", "PutKeyPolicy=updated"}; !slices.Equal(got, want) {
		t.Errorf("DisableKey: outcomes %v, want %v", got, want)
	}
	if got := w.keyState(shared); got != "Enabled" {
		t.Errorf("key state %s", got)
	}

	// The scheduled sweep finds nothing left to do; our own UpdateTrail
	// event coming back is a no-op.
	rep = invoke(t, SweepHandler{Reconciler: r, Logger: discardLogger()}.Handle, eventJSON(t, "scheduled.json", ev{Account: motoAccount, Region: "us-east-1"}))
	if len(rep.Results) != 2 {
		t.Fatalf("sweep: %d results", len(rep.Results))
	}
	if got := actionOutcomes(rep); len(got) != 0 {
		t.Errorf("sweep after the fixes: %v", got)
	}
	rep = invoke(t, TrailHandler{Reconciler: r, Logger: discardLogger()}.Handle,
		eventJSON(t, "create_trail.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "UpdateTrail", Name: plain, Bucket: "handler-logs"}))
	if len(rep.Results) != 1 || len(actionOutcomes(rep)) != 0 {
		t.Errorf("self-triggered UpdateTrail: %+v", rep)
	}
}
