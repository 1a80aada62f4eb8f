package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// indexTable is the state table of the indexed critical-path scenarios.
const indexTable = "trailguard-bench-state"

// dynamoDBOps are the state table's operations, told apart in a chain.
var dynamoDBOps = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "TransactWriteItems": true,
}

// indexedScenarios are the key-remediator scenarios again with a state
// table (TRAILGUARD_TABLE, as deployed) whose trail index holds the key's
// trails and the mark of a completed sweep ("-indexed"): the key event
// reads those trails instead of listing every Region's. The table also
// brings the lease, loop guard and change log around each write: DynamoDB
// calls the chain counts (chainDynamoDB tells them apart). The key of one
// trail runs once more with the table but no index entry ("-table": the
// full scan), which isolates what the index saves from what the table
// costs.
func indexedScenarios() []scenarioSpec {
	var out []scenarioSpec
	for _, base := range criticalScenarios() {
		if base.function != "key-remediator" {
			continue
		}
		s := base
		s.name = base.name + "-indexed"
		s.description = base.description + "; with the state table, the key's trails in its trail index"
		if base.name == "key-pending-deletion" || base.name == "key-policy-edit-harmless" {
			s.targetRounds = 4 // issue 15: a key with one trail
		}
		s.setup = withTable(base.setup, true)
		out = append(out, s)
		if base.name == "key-pending-deletion" {
			t := base
			t.name = base.name + "-table"
			t.description = base.description + "; with the state table, no index entry for the key (full scan)"
			t.setup = withTable(base.setup, false)
			out = append(out, t)
		}
	}
	return out
}

// withTable wraps a scenario's setup: the function gets the state table
// and, when seed is set, the index holds the scenario's trails.
func withTable(setup func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error), seed bool) func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
	return func(ctx context.Context, w *world, prefix string, env map[string]string) ([]byte, error) {
		raw, err := setup(ctx, w, prefix, env)
		if err != nil {
			return nil, err
		}
		env[config.EnvTable] = indexTable
		if err := createIndexTable(ctx, w); err != nil {
			return nil, err
		}
		if !seed {
			return raw, nil
		}
		if err := seedIndex(ctx, w, prefix, raw); err != nil {
			return nil, fmt.Errorf("seed the trail index: %w", err)
		}
		return raw, nil
	}
}

// createIndexTable creates the state table once per moto.
func createIndexTable(ctx context.Context, w *world) error {
	err := statetable.Create(ctx, dynamodb.NewFromConfig(w.cfg(home)), indexTable)
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return err
	}
	return nil
}

// seedIndex indexes, under the event's key, the trails of the scenario (names starting with prefix) that
// use it, then marks a sweep completed a minute ago: what a sweep leaves.
// It talks to moto directly, not through the measured proxy.
func seedIndex(ctx context.Context, w *world, prefix string, event []byte) error {
	var ev struct {
		Resources []string `json:"resources"`
	}
	if err := json.Unmarshal(event, &ev); err != nil || len(ev.Resources) != 1 {
		return fmt.Errorf("the key event names no key (%v)", err)
	}
	keyARN := ev.Resources[0]
	db := dynamodb.NewFromConfig(w.cfg(home))
	out, err := cloudtrail.NewFromConfig(w.cfg(home)).DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
	if err != nil {
		return fmt.Errorf("describe trails: %w", err)
	}
	st := state.New(db, indexTable)
	n := 0
	for _, t := range out.TrailList {
		if !strings.HasPrefix(aws.ToString(t.Name), prefix) || aws.ToString(t.KmsKeyId) != keyARN {
			continue
		}
		e := state.IndexedTrail{Trail: aws.ToString(t.TrailARN), Account: w.account, Region: aws.ToString(t.HomeRegion), Bucket: aws.ToString(t.S3BucketName)}
		if err := st.NoteTrail(ctx, keyARN, e); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no trail of %s uses %s", prefix, keyARN)
	}
	_, err = st.MarkIndexSwept(ctx, time.Now().Add(-time.Minute))
	return err
}

// chainDynamoDB counts the state table's calls in a chain.
func chainDynamoDB(chain []string) int {
	n := 0
	for _, op := range chain {
		if dynamoDBOps[op] {
			n++
		}
	}
	return n
}
