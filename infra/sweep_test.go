package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// roleActions returns every Allow action of the identity policies attached
// to the role with logical id roleID (inline and managed), with the
// resources of each.
func roleActions(t *testing.T, s *synthesized, roleID string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(doc any) {
		for _, st := range statements(t, doc) {
			for _, a := range strs(st["Action"]) {
				out[a] = append(out[a], strs(st["Resource"])...)
			}
		}
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, r := range resources(s.json, typ) {
			roles, _ := props(r)["Roles"].([]any)
			for _, ro := range roles {
				if m, _ := ro.(map[string]any); m["Ref"] == roleID {
					add(props(r)["PolicyDocument"])
				}
			}
		}
	}
	return out
}

// TestSweepFanOut: the sweep work queue (encrypted, TLS only, with a
// dead-letter queue of maxReceiveCount = TRAILGUARD_SWEEP_MAX_RECEIVES and
// an alarm), the worker's event source mapping (partial batch responses,
// MaximumConcurrency from context, default 50), the variables, and least
// privilege: the coordinator lists and enqueues and cannot touch a trail
// or a key; the worker has the remediation permissions.
func TestSweepFanOut(t *testing.T) {
	orgRegions := maps.Clone(orgContext)
	orgRegions["regions"] = "us-east-1,eu-west-1"
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		org       bool
		// reach: the coordinator assumes the member role (organization
		// mode listing every enabled Region) and the role trusts it.
		reach    bool
		wantConc int
	}{
		{"account, default concurrency", nil, false, false, DefaultSweepConcurrency},
		{"organization", orgContext, true, true, DefaultSweepConcurrency},
		{"organization, regions named: the coordinator stays out of members", orgRegions, true, false, DefaultSweepConcurrency},
		{"custom concurrency", customContext, false, false, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			queues := resources(s.json, "AWS::SQS::Queue")
			qID, dlqID := logicalID(s, s.tg.SweepQueue), logicalID(s, s.tg.SweepDLQ)
			q := props(queues[qID])
			if q == nil || props(queues[dlqID]) == nil {
				t.Fatalf("sweep queue %s or its dead-letter queue %s missing", qID, dlqID)
			}
			want := map[string]any{"deadLetterTargetArn": getAttArn(dlqID), "maxReceiveCount": float64(config.DefaultSweepReceives)}
			if ok, got, exp := jsonEqual(q["RedrivePolicy"], want); !ok {
				t.Errorf("RedrivePolicy = %s, want %s", got, exp)
			}
			if got := q["VisibilityTimeout"]; got != float64(sweepVisibilityTimeout) || sweepVisibilityTimeout < 6*sweepWorkerTimeout {
				t.Errorf("VisibilityTimeout = %v, want %d (>= 6 x the worker's %d s)", got, sweepVisibilityTimeout, sweepWorkerTimeout)
			}
			alarmed := false
			for _, r := range resources(s.json, "AWS::CloudWatch::Alarm") {
				for _, d := range strsOfDims(props(r)["Dimensions"]) {
					if d == "${"+dlqID+".QueueName}" {
						alarmed = true
					}
				}
			}
			if !alarmed {
				t.Error("no alarm on the sweep dead-letter queue")
			}

			ids := functionIDs(t, s.json)
			var esm map[string]any
			for _, m := range resources(s.json, "AWS::Lambda::EventSourceMapping") {
				if ok, _, _ := jsonEqual(props(m)["EventSourceArn"], getAttArn(qID)); ok {
					esm = props(m)
				}
			}
			if esm == nil {
				t.Fatal("no event source mapping reads the sweep work queue")
			}
			wantESM := map[string]any{
				"FunctionName":          map[string]any{"Ref": ids[SweepWorker]},
				"BatchSize":             float64(sweepBatchSize),
				"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
				"ScalingConfig":         map[string]any{"MaximumConcurrency": float64(tc.wantConc)},
			}
			for k, v := range wantESM {
				if ok, got, exp := jsonEqual(esm[k], v); !ok {
					t.Errorf("mapping %s = %s, want %s", k, got, exp)
				}
			}

			for _, name := range []string{Sweeper, SweepWorker} {
				p := props(s.json["Resources"].(map[string]any)[ids[name]].(map[string]any))
				vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
				if ok, got, _ := jsonEqual(vars[config.EnvSweepQueue], map[string]any{"Ref": qID}); !ok {
					t.Errorf("%s: %s = %s, want the queue's URL", name, config.EnvSweepQueue, got)
				}
				if vars[config.EnvSweepReceives] != strconv.Itoa(config.DefaultSweepReceives) {
					t.Errorf("%s: %s = %v", name, config.EnvSweepReceives, vars[config.EnvSweepReceives])
				}
			}
			for _, name := range []string{TrailRemediator, KeyRemediator} {
				p := props(s.json["Resources"].(map[string]any)[ids[name]].(map[string]any))
				if _, has := p["Environment"].(map[string]any)["Variables"].(map[string]any)[config.EnvSweepQueue]; has {
					t.Errorf("%s has %s", name, config.EnvSweepQueue)
				}
			}

			coord := roleActions(t, s, logicalID(s, s.tg.Roles[Sweeper]))
			wantCoord := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "ec2:DescribeRegions",
				"logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish", "sqs:SendMessage"}
			if tc.org {
				wantCoord = append(wantCoord, "organizations:ListAccounts")
			}
			if tc.reach {
				wantCoord = append(wantCoord, "sts:AssumeRole")
			}
			slices.Sort(wantCoord)
			if tc.org {
				// The member role trusts the central roles the StackSet
				// passes: the coordinator's only when it reaches members.
				var trusted string
				for _, ss := range resources(s.json, "AWS::CloudFormation::StackSet") {
					for _, p := range props(ss)["Parameters"].([]any) {
						if m := p.(map[string]any); m["ParameterKey"] == ParamCentralRoleARNs {
							b, _ := json.Marshal(m["ParameterValue"])
							trusted = string(b)
						}
					}
				}
				sweeperRole := logicalID(s, s.tg.Roles[Sweeper])
				if trusted == "" || strings.Contains(trusted, `"`+sweeperRole+`"`) != tc.reach || !strings.Contains(trusted, `"`+logicalID(s, s.tg.Roles[SweepWorker])+`"`) {
					t.Errorf("member role trusts %s: want sweep-worker, and the coordinator (%s) %v", trusted, sweeperRole, tc.reach)
				}
			}
			var got []string
			for a := range coord {
				got = append(got, a)
			}
			slices.Sort(got)
			if !slices.Equal(got, wantCoord) {
				t.Errorf("coordinator actions\n got %v\nwant %v", got, wantCoord)
			}
			if res := coord["sqs:SendMessage"]; !slices.Contains(res, "${"+qID+".Arn}") {
				t.Errorf("coordinator sqs:SendMessage on %v, want the sweep queue", res)
			}
			for _, a := range state.SweepPermissions {
				if !slices.Contains(coord[a], "${"+logicalID(s, s.tg.Table)+".Arn}") {
					t.Errorf("coordinator %s on %v, want the state table", a, coord[a])
				}
			}
			worker := roleActions(t, s, logicalID(s, s.tg.Roles[SweepWorker]))
			for _, a := range append(RemediationActions(tc.org), "dynamodb:Query", "sqs:ReceiveMessage", "sqs:DeleteMessage") {
				if len(worker[a]) == 0 {
					t.Errorf("worker lacks %s", a)
				}
			}
		})
	}
}

// strsOfDims returns the values of an alarm's dimensions, resolved to
// "${id.Attr}" strings where they are Fn::GetAtt.
func strsOfDims(v any) []string {
	var out []string
	ds, _ := v.([]any)
	for _, d := range ds {
		m, _ := d.(map[string]any)
		switch val := m["Value"].(type) {
		case string:
			out = append(out, val)
		case map[string]any:
			if ga, ok := val["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
				out = append(out, "${"+ga[0].(string)+"."+ga[1].(string)+"}")
			}
		}
	}
	return out
}
