package main

import (
	"slices"
	"strings"
	"testing"
)

// eventFunctions are the functions fed by an event queue.
var eventFunctions = []string{TrailRemediator, KeyRemediator}

func TestStateTable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
	}{
		{"account", nil},
		// Organization mode: the table is in the central stack only.
		{"organization", orgContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			id, table := only(t, s.json, "AWS::DynamoDB::Table")
			if id != logicalID(s, s.tg.Table) {
				t.Errorf("table %s is not Trailguard.Table", id)
			}
			// The change log must survive a stack delete or replacement.
			if table["DeletionPolicy"] != "Retain" || table["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("removal = %v/%v, want Retain", table["DeletionPolicy"], table["UpdateReplacePolicy"])
			}
			p := props(table)
			want := map[string]any{
				"BillingMode":          "PAY_PER_REQUEST",
				"KeySchema":            []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}, map[string]any{"AttributeName": "sk", "KeyType": "RANGE"}},
				"AttributeDefinitions": []any{map[string]any{"AttributeName": "pk", "AttributeType": "S"}, map[string]any{"AttributeName": "sk", "AttributeType": "S"}},
				// SSEEnabled true without a key: "server-side encryption
				// type is set to KMS and an AWS managed key is used"
				// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-table-ssespecification.html).
				"SSESpecification":                 map[string]any{"SSEEnabled": true},
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
				"DeletionProtectionEnabled":        true,
			}
			for k, v := range want {
				if ok, got, exp := jsonEqual(p[k], v); !ok {
					t.Errorf("%s = %s, want %s", k, got, exp)
				}
			}
			if _, has := p["ProvisionedThroughput"]; has {
				t.Errorf("on-demand table has ProvisionedThroughput %v", p["ProvisionedThroughput"])
			}
			// Every function knows the table.
			for name, fid := range functionIDs(t, s.json) {
				vars := props(s.json["Resources"].(map[string]any)[fid].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
				if ok, got, _ := jsonEqual(vars["TRAILGUARD_TABLE"], map[string]any{"Ref": id}); !ok {
					t.Errorf("%s: TRAILGUARD_TABLE = %s, want Ref %s", name, got, id)
				}
			}
			if s.member != nil {
				if n := len(resources(s.member, "AWS::DynamoDB::Table")); n != 0 {
					t.Errorf("member template has %d tables, want none", n)
				}
				for _, a := range actionSet(t, valuesOf(identityPolicies(s.member))...) {
					if strings.HasPrefix(a, "dynamodb:") {
						t.Errorf("member template grants %s", a)
					}
				}
			}
		})
	}
}

func valuesOf(m map[string]any) []any {
	var out []any
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestEventQueues(t *testing.T) {
	s := synth(t, nil)
	queues := resources(s.json, "AWS::SQS::Queue")
	for _, name := range eventFunctions {
		t.Run(name, func(t *testing.T) {
			qID, dlqID := logicalID(s, s.tg.Queues[name]), logicalID(s, s.tg.QueueDLQs[name])
			q, dlq := props(queues[qID]), props(queues[dlqID])
			if q == nil || dlq == nil {
				t.Fatalf("queue %s or dead-letter queue %s missing", qID, dlqID)
			}
			// At least six times the function timeout (Lambda's SQS docs).
			if got := q["VisibilityTimeout"]; got != float64(queueVisibilityTimeout) || queueVisibilityTimeout < 6*eventFunctionTimeout {
				t.Errorf("VisibilityTimeout = %v, want %d (>= 6 x %d s)", got, queueVisibilityTimeout, eventFunctionTimeout)
			}
			want := map[string]any{"deadLetterTargetArn": getAttArn(dlqID), "maxReceiveCount": float64(queueMaxReceiveCount)}
			if ok, got, exp := jsonEqual(q["RedrivePolicy"], want); !ok {
				t.Errorf("RedrivePolicy = %s, want %s", got, exp)
			}
			qr, _ := q["MessageRetentionPeriod"].(float64)
			dr, _ := dlq["MessageRetentionPeriod"].(float64)
			if qr != float64(queueRetentionDays*24*3600) || dr <= qr {
				t.Errorf("retention: queue %v s, dead-letter queue %v s; want %d days and a longer dead-letter queue", qr, dr, queueRetentionDays)
			}
			if _, has := dlq["RedrivePolicy"]; has {
				t.Errorf("the dead-letter queue has a redrive policy of its own: %v", dlq["RedrivePolicy"])
			}
			// EventBridge may send to the queue only for this stack's
			// rules that target it.
			rules := rulesTo(s, qID)
			senders := 0
			for _, r := range resources(s.json, "AWS::SQS::QueuePolicy") {
				if qs, _ := props(r)["Queues"].([]any); len(qs) != 1 || qs[0].(map[string]any)["Ref"] != qID {
					continue
				}
				for _, st := range statements(t, props(r)["PolicyDocument"]) {
					if st["Effect"] != "Allow" {
						continue
					}
					senders++
					pr, _ := st["Principal"].(map[string]any)
					cond, _ := st["Condition"].(map[string]any)
					src, _ := cond["ArnEquals"].(map[string]any)
					ref, _ := src["aws:SourceArn"].(string)
					ruleID := strings.TrimSuffix(strings.TrimPrefix(ref, "${"), ".Arn}")
					if pr["Service"] != "events.amazonaws.com" || !slices.Equal(strs(st["Action"]), []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}) || rules[ruleID] == nil {
						t.Errorf("queue policy statement %v: want events.amazonaws.com sending, conditioned on one of the rules %v", st, rules)
					}
				}
			}
			if senders != len(rules) || senders == 0 {
				t.Errorf("%d Allow statements for %d rules", senders, len(rules))
			}
		})
	}
}

func TestEventSourceMappings(t *testing.T) {
	s := synth(t, nil)
	ids := functionIDs(t, s.json)
	esms := resources(s.json, "AWS::Lambda::EventSourceMapping")
	if len(esms) != len(eventFunctions)+1 {
		t.Errorf("event source mappings = %d, want %d (the event queues' and the sweep work queue's)", len(esms), len(eventFunctions)+1)
	}
	for _, name := range eventFunctions {
		t.Run(name, func(t *testing.T) {
			qID := logicalID(s, s.tg.Queues[name])
			var found map[string]any
			var foundID string
			for id, m := range esms {
				if ok, _, _ := jsonEqual(props(m)["EventSourceArn"], getAttArn(qID)); ok {
					found, foundID = m, id
				}
			}
			if found == nil {
				t.Fatalf("no event source mapping reads %s", qID)
			}
			p := props(found)
			want := map[string]any{
				"FunctionName":          map[string]any{"Ref": ids[name]},
				"BatchSize":             float64(queueBatchSize),
				"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
				"ScalingConfig":         map[string]any{"MaximumConcurrency": float64(DefaultMaxConcurrency)},
			}
			for k, v := range want {
				if ok, got, exp := jsonEqual(p[k], v); !ok {
					t.Errorf("%s = %s, want %s", k, got, exp)
				}
			}
			if mc := DefaultMaxConcurrency; mc < 2 {
				t.Errorf("default MaximumConcurrency %d is below Lambda's minimum 2", mc)
			}
			// Created after the role can read the queue.
			deps := strs(found["DependsOn"])
			roleID := logicalID(s, s.tg.Roles[name])
			policies := resources(s.json, "AWS::IAM::Policy")
			onPolicy := slices.ContainsFunc(deps, func(d string) bool {
				roles, _ := props(policies[d])["Roles"].([]any)
				return len(roles) == 1 && roles[0].(map[string]any)["Ref"] == roleID
			})
			if !slices.Contains(deps, roleID) || !onPolicy {
				t.Errorf("%s DependsOn %v, want the role %s and its policy", foundID, deps, roleID)
			}
		})
	}
}

// TestEventQueueConsumers: each event function's role may consume its own
// queue, with exactly the actions Lambda's poller needs; the sweeper reads
// no queue.
func TestEventQueueConsumers(t *testing.T) {
	s := synth(t, nil)
	for _, name := range FunctionNames {
		t.Run(name, func(t *testing.T) {
			roleID := logicalID(s, s.tg.Roles[name])
			var consume []statement
			for _, r := range resources(s.json, "AWS::IAM::Policy") {
				roles, _ := props(r)["Roles"].([]any)
				if len(roles) != 1 || roles[0].(map[string]any)["Ref"] != roleID {
					continue
				}
				for _, st := range statements(t, props(r)["PolicyDocument"]) {
					for _, a := range strs(st["Action"]) {
						if slices.Contains(queueConsumeActions, a) {
							consume = append(consume, st)
							break
						}
					}
				}
			}
			if name == Sweeper {
				if len(consume) != 0 {
					t.Errorf("sweeper role consumes queues: %v", consume)
				}
				return
			}
			queue := s.tg.Queues[name]
			if name == SweepWorker {
				queue = s.tg.SweepQueue
			}
			if len(consume) != 1 {
				t.Fatalf("consume statements %v, want one", consume)
			}
			st := consume[0]
			if got := strs(st["Action"]); !slices.Equal(got, queueConsumeActions) {
				t.Errorf("actions %v, want %v", got, queueConsumeActions)
			}
			if got, want := strs(st["Resource"]), []string{"${" + logicalID(s, queue) + ".Arn}"}; !slices.Equal(got, want) {
				t.Errorf("resources %v, want only its queue %v", got, want)
			}
		})
	}
	if !slices.IsSorted(queueConsumeActions) {
		t.Errorf("queueConsumeActions must be sorted for the comparisons: %v", queueConsumeActions)
	}
}
