package handler

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailguard/trailguard/internal/testbed/lambdarie"
	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// buildE2E builds every function's bootstrap and aws-lambda-rie into dir
// (lambdarie.Build); without the emulator the test skips with the reason,
// or fails under CI=true.
func buildE2E(t *testing.T, dir string) {
	t.Helper()
	if err := lambdarie.Build(dir); errors.Is(err, lambdarie.ErrNoEmulator) {
		skipOrFail(t, "%v", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// functionEnv is the environment of a function: this process's without
// AWS_* and TRAILGUARD_* variables, then extra.
func functionEnv(extra ...string) []string { return lambdarie.CleanEnv(extra...) }

// rie runs dir/fn/bootstrap under aws-lambda-rie and returns its invoke URL.
func rie(t *testing.T, dir, fn string, env []string) string {
	t.Helper()
	return lambdarie.StartBuilt(t, dir, fn, env)
}

// post invokes the function with event and decodes its result.
func post(t *testing.T, url string, event []byte) reconcile.Report {
	t.Helper()
	body := postRaw(t, url, event)
	var rep reconcile.Report
	if json.Unmarshal(body, &rep) != nil || rep.Results == nil {
		t.Fatalf("invoke: result %s is not {\"results\": [...]}", body)
	}
	return rep
}

// postRaw invokes the function with event and returns its result.
func postRaw(t *testing.T, url string, event []byte) []byte {
	t.Helper()
	return lambdarie.Invoke(t, url, event)
}

// TestEndToEndLambdaRuntime builds each function's bootstrap and invokes it
// through aws-lambda-rie with real event JSON against moto.
func TestEndToEndLambdaRuntime(t *testing.T) {
	if runtime.GOOS != "linux" {
		skipOrFail(t, "the Lambda bootstrap is a linux binary; this host is %s", runtime.GOOS)
	}
	if testing.Short() {
		skipOrFail(t, "-short: the end-to-end test builds the functions (minutes on a cold build cache)")
	}
	srv := moto(t)
	dir := t.TempDir()
	buildE2E(t, dir)

	t.Run("bad config stops the function", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(dir, "sweeper", "bootstrap"))
		cmd.Env = functionEnv(append(srv.Env(), config.EnvMode+"=fix-everything")...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), config.EnvMode) || !strings.Contains(string(out), "bad configuration") {
			t.Errorf("output does not name the bad variable:\n%s", out)
		}
	})

	w := world{t: t, srv: srv}
	base := w.key(config.DefaultKeyAlias)
	w.bucket("e2e-logs")
	plain := w.trail("e2e-plain", "e2e-logs", "")
	shared := w.key("")
	keyed := w.trail("e2e-keyed", "e2e-logs", shared)
	w.disable(shared)
	// The functions run on the state table, as deployed (TRAILGUARD_TABLE).
	db := dynamodb.NewFromConfig(w.cfg("us-east-1"))
	if err := statetable.Create(context.Background(), db, "e2e-state"); err != nil {
		t.Fatal(err)
	}
	env := functionEnv(append(srv.Env(), "TRAILGUARD_REGIONS=us-east-1", "AWS_LAMBDA_FUNCTION_TIMEOUT=60", config.EnvTable+"=e2e-state")...)

	trailURL := rie(t, dir, "trail-remediator", env)
	rep := post(t, trailURL,
		eventJSON(t, "create_trail.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "CreateTrail", Name: "e2e-plain", ARN: plain, Bucket: "e2e-logs"}))
	if got, want := actionOutcomes(rep), []string{"PutKeyPolicy=updated", "UpdateTrail=updated"}; !slices.Equal(got, want) {
		t.Errorf("trail-remediator: outcomes %v, want %v", got, want)
	}
	if got := w.trailKey("e2e-plain"); got != base {
		t.Errorf("trail key %q, want %q", got, base)
	}

	// The same function fed by its event queue: an SQS batch with a body
	// that is not an event (acknowledged) and a CreateTrail event.
	batched := w.trail("e2e-batched", "e2e-logs", "")
	out := postRaw(t, trailURL, sqsBatchJSON(t, "not an event",
		string(eventJSON(t, "create_trail.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "CreateTrail", Name: "e2e-batched", ARN: batched, Bucket: "e2e-logs"}))))
	var br batchOut
	if err := json.Unmarshal(out, &br); err != nil || br.BatchItemFailures == nil {
		t.Fatalf("trail-remediator batch: result %s has no batchItemFailures: %v", out, err)
	}
	if f := br.failed(); len(f) != 0 {
		t.Errorf("trail-remediator batch: batchItemFailures %v, want none", f)
	}
	if len(br.Results) != 1 || br.Results[0]["trail"] != batched {
		t.Errorf("trail-remediator batch: results %s, want one for %s", out, batched)
	}
	if got := w.trailKey("e2e-batched"); got != base {
		t.Errorf("batched trail key %q, want %q", got, base)
	}

	rep = post(t, rie(t, dir, "key-remediator", env),
		eventJSON(t, "key_event.json", ev{Account: motoAccount, Region: "us-east-1", EventName: "DisableKey", KeyRef: shared, ARN: shared}))
	if len(rep.Results) != 1 || rep.Results[0].Trail != keyed {
		t.Errorf("key-remediator: results %+v, want one for %s", rep.Results, keyed)
	}
	if got, want := actionOutcomes(rep), []string{"EnableKey=updated", "PutKeyPolicy=updated"}; !slices.Equal(got, want) {
		t.Errorf("key-remediator: outcomes %v, want %v", got, want)
	}

	rep = post(t, rie(t, dir, "sweeper", env), eventJSON(t, "scheduled.json", ev{Account: motoAccount, Region: "us-east-1"}))
	if len(rep.Results) != 3 {
		t.Errorf("sweeper: %d results, want 3", len(rep.Results))
	}
	if got := actionOutcomes(rep); len(got) != 0 {
		t.Errorf("sweeper after the fixes: %v", got)
	}
	for _, res := range rep.Results {
		for _, f := range res.Findings {
			if f.Actionable {
				t.Errorf("sweeper: %s still has %s", res.Trail, f.Rule)
			}
		}
	}

	// The bootstraps ran with the table configured and released every
	// lease they took.
	if leases := stateKeys(t, db, "e2e-state", "lease"); len(leases) != 0 {
		t.Errorf("leases left in the state table: %v", leases)
	}
	// Every write went through the shared loop guard and is in the
	// change log: at least trail-remediator's PutKeyPolicy and
	// UpdateTrail of e2e-plain and key-remediator's EnableKey and
	// PutKeyPolicy (the batched trail may add its own).
	if changes := stateKeys(t, db, "e2e-state", "change"); len(changes) < 4 {
		t.Errorf("%d change records, want one per write (at least 4): %v", len(changes), changes)
	}
	if guards := stateKeys(t, db, "e2e-state", "guard"); len(guards) < 4 {
		t.Errorf("%d loop-guard items, want one per resource written (at least 4): %v", len(guards), guards)
	}
}

// stateKeys lists the sort keys of the state table's items in partition pk
// (pkg/state: "lease", "guard", "change").
func stateKeys(t *testing.T, db *dynamodb.Client, table, pk string) []string {
	t.Helper()
	out, err := db.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":pk": &dbtypes.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("query state table: %v", err)
	}
	var keys []string
	for _, it := range out.Items {
		if sk, ok := it["sk"].(*dbtypes.AttributeValueMemberS); ok {
			keys = append(keys, sk.Value)
		}
	}
	return keys
}
