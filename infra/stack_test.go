package main

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/event"
	"github.com/trailguard/trailguard/pkg/metrics"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/state"
)

func TestFunctions(t *testing.T) {
	s := synth(t, nil)
	must(t, "four functions", func() {
		s.template.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(4))
	})
	ids := functionIDs(t, s.json)
	dlqID := logicalID(s, s.tg.DLQ)
	for _, name := range FunctionNames {
		t.Run(name, func(t *testing.T) {
			id, ok := ids[name]
			if !ok {
				t.Fatalf("no function named %s%s; have %v", DefaultFunctionPrefix, name, ids)
			}
			timeout := eventFunctionTimeout
			switch name {
			case Sweeper:
				timeout = sweeperTimeout
			case SweepWorker:
				timeout = sweepWorkerTimeout
			}
			must(t, "function properties", func() {
				s.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"FunctionName":     DefaultFunctionPrefix + name,
					"Runtime":          "provided.al2023",
					"Architectures":    []any{"arm64"},
					"Handler":          "bootstrap",
					"Timeout":          timeout,
					"DeadLetterConfig": map[string]any{"TargetArn": getAttArn(dlqID)},
				})
			})
			p := props(s.json["Resources"].(map[string]any)[id].(map[string]any))
			// No reserved concurrency (issue 13): the event queues bound
			// the concurrency instead.
			if rc, has := p["ReservedConcurrentExecutions"]; has {
				t.Errorf("ReservedConcurrentExecutions = %v, want unset", rc)
			}

			// Explicit log group with the configured retention.
			lg, _ := p["LoggingConfig"].(map[string]any)
			ref, _ := lg["LogGroup"].(map[string]any)
			lgID, _ := ref["Ref"].(string)
			logGroup, ok := resources(s.json, "AWS::Logs::LogGroup")[lgID]
			if !ok {
				t.Fatalf("LoggingConfig.LogGroup = %v, want a Ref to a log group of the stack", p["LoggingConfig"])
			}
			if got := props(logGroup)["RetentionInDays"]; got != float64(DefaultLogRetention) {
				t.Errorf("log retention = %v, want %d", got, DefaultLogRetention)
			}

			// Asynchronous invocation: retries, then the dead-letter queue.
			found := false
			for _, r := range resources(s.json, "AWS::Lambda::EventInvokeConfig") {
				rp := props(r)
				if fn, _ := rp["FunctionName"].(map[string]any); fn["Ref"] != id {
					continue
				}
				found = true
				if rp["MaximumRetryAttempts"] != float64(functionRetryAttempts) || rp["MaximumEventAgeInSeconds"] != float64(functionMaxEventAge*60) {
					t.Errorf("event invoke config = %v", rp)
				}
			}
			if !found {
				t.Error("no EventInvokeConfig for the function")
			}
		})
	}
}

func TestFunctionAssetIsAProp(t *testing.T) {
	s := synth(t, nil)
	for name, id := range functionIDs(t, s.json) {
		code, _ := props(s.json["Resources"].(map[string]any)[id].(map[string]any))["Code"].(map[string]any)
		if code["S3Key"] == nil {
			t.Errorf("%s: Code = %v, want an S3 asset", name, code)
		}
	}
	if err := checkAssets(t.TempDir()); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("checkAssets(empty dir) = %v, want an error telling to run make build", err)
	}
	if err := checkAssets(assetDir); err != nil {
		t.Errorf("checkAssets(test assets) = %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]any
		want      map[string]string
		noRole    bool
	}{
		{
			name:      "defaults",
			overrides: nil,
			want: map[string]string{
				"TRAILGUARD_MODE":         "enforce",
				"TRAILGUARD_KEY_ALIAS":    "alias/trailguard-cloudtrail",
				"TRAILGUARD_READERS":      "",
				"TRAILGUARD_EXEMPT_TAG":   "trailguard:exempt",
				"TRAILGUARD_REGIONS":      "",
				"TRAILGUARD_SECURITY_HUB": "auto",
			},
			noRole: true,
		},
		{
			name:      "Security Hub off",
			overrides: map[string]any{"securityHub": "off"},
			want:      map[string]string{"TRAILGUARD_SECURITY_HUB": "off"},
			noRole:    true,
		},
		{
			name:      "report mode with readers and Regions",
			overrides: customContext,
			want: map[string]string{
				"TRAILGUARD_MODE":       "report",
				"TRAILGUARD_KEY_ALIAS":  "alias/trailguard-cloudtrail",
				"TRAILGUARD_READERS":    "arn:aws:iam::111111111111:role/Auditor,arn:aws:iam::333333333333:root",
				"TRAILGUARD_EXEMPT_TAG": "trailguard:exempt",
				"TRAILGUARD_REGIONS":    "us-east-1,eu-west-1",
			},
			noRole: true,
		},
		{
			name:      "organization",
			overrides: orgContext,
			want: map[string]string{
				"TRAILGUARD_MODE":      "enforce",
				"TRAILGUARD_ROLE_NAME": DefaultRoleName,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			topicID, _ := only(t, s.json, "AWS::SNS::Topic")
			for name, id := range functionIDs(t, s.json) {
				p := props(s.json["Resources"].(map[string]any)[id].(map[string]any))
				vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
				for k, v := range tc.want {
					if vars[k] != v {
						t.Errorf("%s: %s = %q, want %q", name, k, vars[k], v)
					}
				}
				if ref, _ := vars["TRAILGUARD_TOPIC_ARN"].(map[string]any); ref["Ref"] != topicID {
					t.Errorf("%s: TRAILGUARD_TOPIC_ARN = %v, want Ref %s", name, vars["TRAILGUARD_TOPIC_ARN"], topicID)
				}
				if _, has := vars["TRAILGUARD_ROLE_NAME"]; has == tc.noRole {
					t.Errorf("%s: TRAILGUARD_ROLE_NAME present = %v, want %v", name, has, !tc.noRole)
				}
			}
		})
	}
}

// rulesTo returns the rules with a target pointing at the resource (a
// function or a queue), by id.
func rulesTo(s *synthesized, targetID string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range resources(s.json, "AWS::Events::Rule") {
		targets, _ := props(r)["Targets"].([]any)
		for _, tg := range targets {
			arn, _ := tg.(map[string]any)["Arn"].(map[string]any)
			if ga, _ := arn["Fn::GetAtt"].([]any); len(ga) == 2 && ga[0] == targetID {
				out[id] = r
			}
		}
	}
	return out
}

func TestRules(t *testing.T) {
	s := synth(t, nil)
	ids := functionIDs(t, s.json)
	dlqID := logicalID(s, s.tg.DLQ)
	for _, tc := range []struct {
		fn      string
		pattern event.Pattern
	}{
		{TrailRemediator, event.TrailPattern()},
		{KeyRemediator, event.KeyPattern()},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			// The events go to the function's queue, never straight to
			// the function (Lambda's asynchronous queue may drop them).
			if rules := rulesTo(s, ids[tc.fn]); len(rules) != 0 {
				t.Errorf("%d rules invoke %s directly, want 0", len(rules), tc.fn)
			}
			rules := rulesTo(s, logicalID(s, s.tg.Queues[tc.fn]))
			if len(rules) != 1 {
				t.Fatalf("rules targeting the %s queue: %d, want 1", tc.fn, len(rules))
			}
			for _, r := range rules {
				ok, got, want := jsonEqual(props(r)["EventPattern"], tc.pattern)
				if !ok {
					t.Errorf("EventPattern = %s, want the shared definition %s", got, want)
				}
				if _, bus := props(r)["EventBusName"]; bus {
					t.Errorf("account-mode rule is on bus %v, want the default bus", props(r)["EventBusName"])
				}
			}
		})
	}
	t.Run(Sweeper, func(t *testing.T) {
		rules := rulesTo(s, ids[Sweeper])
		if len(rules) != 1 {
			t.Fatalf("rules targeting sweeper: %d, want 1", len(rules))
		}
		for _, r := range rules {
			if got := props(r)["ScheduleExpression"]; got != DefaultSchedule {
				t.Errorf("ScheduleExpression = %v, want %s", got, DefaultSchedule)
			}
		}
	})
	t.Run("retry and dead-letter queue on every target", func(t *testing.T) {
		all := resources(s.json, "AWS::Events::Rule")
		if len(all) != 3 {
			t.Errorf("rules = %d, want 3", len(all))
		}
		for id, r := range all {
			for _, tg := range props(r)["Targets"].([]any) {
				tm := tg.(map[string]any)
				rp, _ := tm["RetryPolicy"].(map[string]any)
				if rp["MaximumRetryAttempts"] != float64(targetRetryAttempts) || rp["MaximumEventAgeInSeconds"] != float64(targetMaxEventAge*60) {
					t.Errorf("%s: RetryPolicy = %v", id, tm["RetryPolicy"])
				}
				dl, _ := tm["DeadLetterConfig"].(map[string]any)
				if ok, got, _ := jsonEqual(dl["Arn"], getAttArn(dlqID)); !ok {
					t.Errorf("%s: DeadLetterConfig.Arn = %s, want the DLQ", id, got)
				}
			}
		}
	})
}

func TestScheduleAndConcurrencyFromContext(t *testing.T) {
	s := synth(t, customContext)
	esms := resources(s.json, "AWS::Lambda::EventSourceMapping")
	if len(esms) != 3 {
		t.Errorf("event source mappings = %d, want 3", len(esms))
	}
	sweepQ := getAttArn(logicalID(s, s.tg.SweepQueue))
	for id, m := range esms {
		sc, _ := props(m)["ScalingConfig"].(map[string]any)
		if ok, _, _ := jsonEqual(props(m)["EventSourceArn"], sweepQ); ok {
			if sc["MaximumConcurrency"] != float64(7) {
				t.Errorf("%s: sweep work queue ScalingConfig = %v, want MaximumConcurrency 7 (context sweepConcurrency)", id, sc)
			}
			continue
		}
		if sc["MaximumConcurrency"] != float64(5) {
			t.Errorf("%s: ScalingConfig = %v, want MaximumConcurrency 5 (context maxConcurrency)", id, props(m)["ScalingConfig"])
		}
	}
	rules := rulesTo(s, functionIDs(t, s.json)[Sweeper])
	for _, r := range rules {
		if got := props(r)["ScheduleExpression"]; got != "rate(2 hours)" {
			t.Errorf("ScheduleExpression = %v, want rate(2 hours)", got)
		}
	}
	if len(rules) != 1 {
		t.Errorf("sweeper rules = %d, want 1", len(rules))
	}
}

// TestQueues: every queue of the stack (the shared dead-letter queue, the
// event queues and their dead-letter queues) is encrypted and refuses
// requests without TLS.
func TestQueues(t *testing.T) {
	s := synth(t, nil)
	queues := resources(s.json, "AWS::SQS::Queue")
	if len(queues) != 7 {
		t.Errorf("queues = %d, want 7 (dead-letter queue, 2 event queues, 2 event dead-letter queues, the sweep work queue and its dead-letter queue)", len(queues))
	}
	tlsOnly := map[string]bool{}
	for _, r := range resources(s.json, "AWS::SQS::QueuePolicy") {
		deny := false
		for _, st := range statements(t, props(r)["PolicyDocument"]) {
			cond, _ := st["Condition"].(map[string]any)
			b, _ := cond["Bool"].(map[string]any)
			if st["Effect"] == "Deny" && b["aws:SecureTransport"] == "false" && slices.Contains(strs(st["Action"]), "sqs:*") {
				deny = true
			}
		}
		qs, _ := props(r)["Queues"].([]any)
		if len(qs) != 1 {
			t.Errorf("queue policy applies to %v, want one queue", props(r)["Queues"])
			continue
		}
		if ref, _ := qs[0].(map[string]any)["Ref"].(string); deny {
			tlsOnly[ref] = true
		}
	}
	for id, q := range queues {
		p := props(q)
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: not encrypted with SQS-managed SSE (EventBridge cannot use the AWS managed key): %v", id, p)
		}
		if !tlsOnly[id] {
			t.Errorf("%s: no TLS-only Deny in its queue policy", id)
		}
	}
	if got := props(queues[logicalID(s, s.tg.DLQ)])["MessageRetentionPeriod"]; got != float64(dlqRetentionDays*24*3600) {
		t.Errorf("dead-letter queue retention = %v, want %d days", got, dlqRetentionDays)
	}
}

func TestAlarms(t *testing.T) {
	s := synth(t, nil)
	topicID, _ := only(t, s.json, "AWS::SNS::Topic")
	ids := functionIDs(t, s.json)
	// Every dead-letter queue has an alarm: the shared one and each event
	// queue's.
	dlqs := map[string]string{logicalID(s, s.tg.DLQ): "dlq"}
	for name, q := range s.tg.QueueDLQs {
		dlqs[logicalID(s, q)] = name + " dlq"
	}
	dlqs[logicalID(s, s.tg.SweepDLQ)] = "sweep dlq"
	want := map[string]bool{}
	for _, n := range dlqs {
		want[n] = false
	}
	for _, n := range FunctionNames {
		want[n] = false
	}
	if len(want) != 8 {
		t.Errorf("alarms expected for %v, want 4 dead-letter queues and 4 functions", want)
	}
	for id, r := range resources(s.json, "AWS::CloudWatch::Alarm") {
		p := props(r)
		if p["Threshold"] != float64(1) || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("%s: threshold %v %v, want >= 1", id, p["ComparisonOperator"], p["Threshold"])
		}
		if ok, got, _ := jsonEqual(p["AlarmActions"], []any{map[string]any{"Ref": topicID}}); !ok {
			t.Errorf("%s: AlarmActions = %s, want the notices topic", id, got)
		}
		dims, _ := p["Dimensions"].([]any)
		if len(dims) != 1 {
			t.Errorf("%s: dimensions %v", id, dims)
			continue
		}
		dim := dims[0].(map[string]any)
		value, _ := dim["Value"].(map[string]any)
		switch {
		case p["Namespace"] == "AWS/SQS" && p["MetricName"] == "ApproximateNumberOfMessagesVisible" &&
			dim["Name"] == "QueueName" && value["Fn::GetAtt"] != nil && dlqs[value["Fn::GetAtt"].([]any)[0].(string)] != "":
			want[dlqs[value["Fn::GetAtt"].([]any)[0].(string)]] = true
		case p["Namespace"] == "AWS/Lambda" && p["MetricName"] == "Errors" && dim["Name"] == "FunctionName":
			for name, fid := range ids {
				if value["Ref"] == fid {
					want[name] = true
				}
			}
		default:
			t.Errorf("unexpected alarm %s: %v", id, p)
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no alarm for %s", k)
		}
	}
}

// TestDashboard: the stack has one CloudWatch dashboard with the alarms'
// states and the functions' EMF metrics (pkg/metrics) by rule, action and
// function.
func TestDashboard(t *testing.T) {
	s := synth(t, nil)
	_, d := only(t, s.json, "AWS::CloudWatch::Dashboard")
	body, err := json.Marshal(props(d)["DashboardBody"])
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	// The body is an Fn::Join of the dashboard's JSON text around
	// references; plain is that text without the references.
	var plain strings.Builder
	if join, ok := props(d)["DashboardBody"].(map[string]any)["Fn::Join"].([]any); ok && len(join) == 2 {
		parts, _ := join[1].([]any)
		for _, p := range parts {
			if str, ok := p.(string); ok {
				plain.WriteString(str)
			}
		}
	}
	for id := range resources(s.json, "AWS::CloudWatch::Alarm") {
		if !strings.Contains(text, id) {
			t.Errorf("dashboard does not show alarm %s", id)
		}
	}
	var want []string
	for _, r := range compliance.Catalogue() {
		want = append(want, `"Rule","`+string(r.ID)+`"`)
	}
	for _, k := range plan.Kinds() {
		want = append(want, `"Action","`+string(k)+`"`)
	}
	for _, m := range []string{metrics.Findings, metrics.Fixes, metrics.Failures, metrics.Duration, metrics.Trails} {
		want = append(want, `["`+metrics.Namespace+`","`+m+`"`)
	}
	for name, fid := range functionIDs(t, s.json) {
		if !strings.Contains(text, fid) {
			t.Errorf("dashboard does not chart function %s (%s)", name, fid)
		}
	}
	for _, w := range want {
		if !strings.Contains(plain.String(), w) {
			t.Errorf("dashboard body lacks %s", w)
		}
	}
}

func TestNoticesTopic(t *testing.T) {
	s := synth(t, nil)
	topicID, topic := only(t, s.json, "AWS::SNS::Topic")
	keyRef, _ := props(topic)["KmsMasterKeyId"].(map[string]any)
	ga, _ := keyRef["Fn::GetAtt"].([]any)
	if len(ga) != 2 {
		t.Fatalf("KmsMasterKeyId = %v, want the notices key", props(topic)["KmsMasterKeyId"])
	}
	key := resources(s.json, "AWS::KMS::Key")[ga[0].(string)]
	if key == nil || props(key)["EnableKeyRotation"] != true {
		t.Errorf("notices key %v: want a key of the stack with rotation", ga[0])
	}
	tls := false
	for _, r := range resources(s.json, "AWS::SNS::TopicPolicy") {
		if ok, _, _ := jsonEqual(props(r)["Topics"], []any{map[string]any{"Ref": topicID}}); !ok {
			continue
		}
		for _, st := range statements(t, props(r)["PolicyDocument"]) {
			cond, _ := st["Condition"].(map[string]any)
			b, _ := cond["Bool"].(map[string]any)
			if st["Effect"] == "Deny" && b["aws:SecureTransport"] == "false" {
				tls = true
			}
		}
	}
	if !tls {
		t.Error("topic policy does not refuse non-TLS requests")
	}
	// The functions can use the topic's key through SNS without any IAM
	// kms: permission: the key policy names their roles.
	sts := statements(t, props(key)["KeyPolicy"])
	pub, ok := bySid(sts, "TrailguardFunctionsPublish")
	if !ok {
		t.Fatal("notices key policy has no statement for the functions")
	}
	principals := strs(pub["Principal"].(map[string]any)["AWS"])
	if len(principals) != len(FunctionNames) {
		t.Errorf("notices key principals = %v, want the %d function roles", principals, len(FunctionNames))
	}
	for _, p := range principals {
		if !strings.HasSuffix(p, ".Arn}") || !strings.Contains(p, "Role") {
			t.Errorf("notices key principal %s is not a function role", p)
		}
	}
}

// planActions computes the expected action set straight from pkg/plan.
func planActions(organization bool) []string {
	var want []string
	for _, k := range plan.Kinds() {
		want = append(want, k.Permissions()...)
	}
	want = append(want, plan.ReadPermissions()...)
	want = append(want, plan.DependencyPermissions()...)
	if organization {
		want = append(want, plan.OrganizationPermissions()...)
	}
	sort.Strings(want)
	return slices.Compact(want)
}

// operationalActions are the function roles' other actions: writing their
// own log group, sending failed invocations to the dead-letter queue and
// (the event functions) reading their event queue.
// The sweep record (the sweeper and sweep-worker) also reads the
// state table's sweep items with dynamodb:Query.
var operationalActions = append([]string{"dynamodb:Query", "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}, queueConsumeActions...)

// stateActions are the actions pkg/state calls on the state table, as the
// code declares them.
func stateActions() []string {
	out := slices.Clone(state.Permissions)
	sort.Strings(out)
	return slices.Compact(out)
}

func TestIAMActionsEqualPlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		org       bool
	}{
		{"account", nil, false},
		{"organization", orgContext, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			want := append(planActions(tc.org), stateActions()...)
			sort.Strings(want)
			_, mp := only(t, s.json, "AWS::IAM::ManagedPolicy")
			if got := actionSet(t, props(mp)["PolicyDocument"]); !slices.Equal(got, want) {
				t.Errorf("remediation policy actions\n got %v\nwant %v (pkg/plan and pkg/state)", got, want)
			}
			// The state table's statement holds exactly pkg/state's
			// actions, on the table alone.
			st, ok := bySid(statements(t, props(mp)["PolicyDocument"]), "TrailguardState")
			if !ok {
				t.Fatal("no TrailguardState statement")
			}
			if got := strs(st["Action"]); !slices.Equal(got, stateActions()) {
				t.Errorf("TrailguardState actions %v, want state.Permissions %v", got, stateActions())
			}
			if got, want := strs(st["Resource"]), []string{"${" + logicalID(s, s.tg.Table) + ".Arn}"}; !slices.Equal(got, want) {
				t.Errorf("TrailguardState on %v, want %v", got, want)
			}
			if roles := props(mp)["Roles"].([]any); len(roles) != 3 {
				t.Errorf("remediation policy attached to %d roles, want the 3 function roles", len(roles))
			}
			var docs []any
			for _, d := range identityPolicies(s.json) {
				docs = append(docs, d)
			}
			all := actionSet(t, docs...)
			wantAll := append(slices.Clone(want), operationalActions...)
			sort.Strings(wantAll)
			if !slices.Equal(all, wantAll) {
				t.Errorf("all identity-policy actions\n got %v\nwant %v", all, wantAll)
			}
			for _, a := range all {
				if strings.Contains(a, "*") {
					t.Errorf("wildcard action %s", a)
				}
			}
		})
	}
}

func TestIAMResourcesScoped(t *testing.T) {
	s := synth(t, orgContext)
	topicID, _ := only(t, s.json, "AWS::SNS::Topic")
	_, mp := only(t, s.json, "AWS::IAM::ManagedPolicy")
	want := map[string]string{
		"kms:PutKeyPolicy":           "arn:aws:kms:*:" + testAccount + ":key/*",
		"kms:EnableKey":              "arn:aws:kms:*:" + testAccount + ":key/*",
		"kms:CancelKeyDeletion":      "arn:aws:kms:*:" + testAccount + ":key/*",
		"kms:EnableKeyRotation":      "arn:aws:kms:*:" + testAccount + ":key/*",
		"kms:GetKeyPolicy":           "arn:aws:kms:*:" + testAccount + ":key/*",
		"cloudtrail:UpdateTrail":     "arn:aws:cloudtrail:*:" + testAccount + ":trail/*",
		"sns:Publish":                "${" + topicID + "}",
		"sts:AssumeRole":             "arn:aws:iam::*:role/" + DefaultRoleName,
		"s3:GetBucketLocation":       "arn:aws:s3:::*",
		"cloudtrail:DescribeTrails":  "*",
		"ec2:DescribeRegions":        "*",
		"organizations:ListAccounts": "*",
		// Issue 11.
		"s3:GetEncryptionConfiguration":                     "arn:aws:s3:::*",
		"cloudtrail:StartLogging":                           "arn:aws:cloudtrail:*:" + testAccount + ":trail/*",
		"organizations:DescribeOrganization":                "*",
		"organizations:ListAWSServiceAccessForOrganization": "*",
		"iam:GetRole": "arn:aws:iam::" + testAccount + ":role/aws-service-role/cloudtrail.amazonaws.com/AWSServiceRoleForCloudTrail",
		// Issue 14.
		"securityhub:BatchImportFindings": "arn:aws:securityhub:*:" + testAccount + ":*",
		"securityhub:BatchUpdateFindings": "arn:aws:securityhub:*:" + testAccount + ":*",
		"securityhub:DescribeHub":         "arn:aws:securityhub:*:" + testAccount + ":*",
		"securityhub:GetFindings":         "arn:aws:securityhub:*:" + testAccount + ":*",
	}
	for _, a := range state.Permissions {
		want[a] = "${" + logicalID(s, s.tg.Table) + ".Arn}"
	}
	got := map[string][]string{}
	for _, st := range statements(t, props(mp)["PolicyDocument"]) {
		for _, a := range strs(st["Action"]) {
			got[a] = append(got[a], strs(st["Resource"])...)
		}
	}
	for a, res := range want {
		if len(got[a]) != 1 || got[a][0] != res {
			t.Errorf("%s on %v, want %s", a, got[a], res)
		}
	}
	unscoped := map[string]bool{"cloudtrail:DescribeTrails": true, "ec2:DescribeRegions": true, "organizations:ListAccounts": true,
		"organizations:DescribeOrganization": true, "organizations:ListAWSServiceAccessForOrganization": true}
	for a, res := range got {
		if slices.Contains(res, "*") && !unscoped[a] {
			t.Errorf("%s has Resource \"*\" but supports resource-level permissions", a)
		}
	}
}

func TestBaselineKey(t *testing.T) {
	s := synth(t, nil)
	var keyID string
	for id, r := range resources(s.json, "AWS::KMS::Alias") {
		if props(r)["AliasName"] == DefaultKeyAlias {
			ga := props(r)["TargetKeyId"].(map[string]any)["Fn::GetAtt"].([]any)
			keyID = ga[0].(string)
		} else {
			t.Errorf("unexpected alias %s: %v", id, props(r)["AliasName"])
		}
	}
	key := resources(s.json, "AWS::KMS::Key")[keyID]
	if key == nil {
		t.Fatalf("no key behind alias %s", DefaultKeyAlias)
	}
	if props(key)["EnableKeyRotation"] != true {
		t.Error("baseline key rotation is off")
	}
	if key["DeletionPolicy"] != "Retain" || key["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("baseline key removal = %v/%v, want Retain", key["DeletionPolicy"], key["UpdateReplacePolicy"])
	}
	must(t, "key policy statements", func() {
		s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
			"EnableKeyRotation": true,
			"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{"Sid": "TrailguardCloudTrailEncrypt", "Principal": map[string]any{"Service": "cloudtrail.amazonaws.com"}}),
					assertions.Match_ObjectLike(&map[string]any{"Sid": "TrailguardCloudTrailDescribe", "Principal": map[string]any{"Service": "cloudtrail.amazonaws.com"}}),
					assertions.Match_ObjectLike(&map[string]any{"Sid": "TrailguardLogDecryptAccounts", "Principal": map[string]any{"AWS": "*"}}),
				}),
			}),
		})
	})
	checkBaselinePolicy(t, props(key)["KeyPolicy"])
}

// checkBaselinePolicy checks the exact statements of a baseline key policy
// after substituting the account and partition.
func checkBaselinePolicy(t *testing.T, policy any) {
	t.Helper()
	sts := statements(t, policy)
	trails := "arn:aws:cloudtrail:*:" + testAccount + ":trail/*"
	want := map[string]string{
		"": `{"Action":"kms:*","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Resource":"*"}`,
		"TrailguardCloudTrailEncrypt": `{"Action":"kms:GenerateDataKey*","Condition":{"StringLike":{"aws:SourceArn":"` + trails +
			`","kms:EncryptionContext:aws:cloudtrail:arn":"` + trails + `"}},"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Resource":"*","Sid":"TrailguardCloudTrailEncrypt"}`,
		"TrailguardCloudTrailDescribe": `{"Action":"kms:DescribeKey","Condition":{"StringLike":{"aws:SourceArn":"` + trails +
			`"}},"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Resource":"*","Sid":"TrailguardCloudTrailDescribe"}`,
		"TrailguardLogDecryptAccounts": `{"Action":["kms:Decrypt","kms:ReEncryptFrom"],"Condition":{"StringEquals":{"kms:CallerAccount":"` + testAccount +
			`"},"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":"` + trails + `"}},"Effect":"Allow","Principal":{"AWS":"*"},"Resource":"*","Sid":"TrailguardLogDecryptAccounts"}`,
	}
	seen := map[string]bool{}
	for _, st := range sts {
		sid, _ := st["Sid"].(string)
		w, ok := want[sid]
		if !ok {
			continue
		}
		seen[sid] = true
		var wv any
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			t.Fatal(err)
		}
		if ok, got, exp := jsonEqual(st, wv); !ok {
			t.Errorf("statement %q\n got %s\nwant %s", sid, got, exp)
		}
	}
	for sid := range want {
		if !seen[sid] {
			t.Errorf("key policy has no statement %q (the account-root admin statement when empty)", sid)
		}
	}
}

func TestNagNoErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
	}{
		{"account", nil},
		{"organization", orgContext},
		// With an explicit environment the CDK renders some values as
		// literals; the suppressions must still match.
		{"explicit environment", envContext},
		{"Region stacks", regionsContext},
		{"management part", managementContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.overrides)
			check := func(what string, ann assertions.Annotations) {
				must(t, what, func() {
					found := ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
					for _, m := range *found {
						t.Errorf("%s: cdk-nag error at %s: %v", what, *m.Id, m.Entry.Data)
					}
					warnings := ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
					for _, m := range *warnings {
						t.Logf("%s: cdk-nag warning at %s: %v", what, *m.Id, m.Entry.Data)
					}
				})
			}
			if s.tg.Stack != nil {
				check("central stack", assertions.Annotations_FromStack(s.tg.Stack))
			}
			for _, rs := range s.tg.Regions {
				check("Region stack "+rs.Region, assertions.Annotations_FromStack(rs.Stack))
			}
			for _, m := range s.tg.Management {
				check("management stack "+*m.Stack.Region(), assertions.Annotations_FromStack(m.Stack))
			}
			if s.tg.Member != nil {
				check("member stack", assertions.Annotations_FromStack(s.tg.Member.Stack))
			}
		})
	}
}

func TestNagSuppressionsHaveReasons(t *testing.T) {
	s := synth(t, orgContext)
	check := func(where string, tmpl map[string]any) {
		n := 0
		for id, r := range tmpl["Resources"].(map[string]any) {
			md, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := md["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, rule := range rules {
				n++
				rm := rule.(map[string]any)
				reason, _ := rm["reason"].(string)
				if len(reason) < 40 {
					t.Errorf("%s %s: suppression %v has no specific reason: %q", where, id, rm["id"], reason)
				}
				if rm["id"] != "AwsSolutions-IAM5" {
					t.Errorf("%s %s: unexpected suppression %v", where, id, rm["id"])
				}
				if applies, _ := rm["applies_to"].([]any); len(applies) != 1 {
					t.Errorf("%s %s: suppression %v must apply to exactly one finding, applies to %v", where, id, rm["id"], rm["applies_to"])
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no suppressions found; the wildcard reads should need some", where)
		}
	}
	check("central", s.json)
	check("member", s.member)
}

func TestEventPatternConversion(t *testing.T) {
	for _, p := range []event.Pattern{event.TrailPattern(), event.KeyPattern()} {
		ep, err := EventPattern(p)
		if err != nil {
			t.Fatalf("EventPattern(%v): %v", p, err)
		}
		if ep.Source == nil || ep.DetailType == nil || ep.Detail == nil {
			t.Errorf("EventPattern(%v) = %+v: missing fields", p, ep)
		}
	}
	bad := []event.Pattern{
		{"source": "aws.kms"},
		{"source": []any{1}},
		{"detail": []any{"x"}},
		{"replay-name": []any{"x"}},
	}
	for _, p := range bad {
		if _, err := EventPattern(p); err == nil {
			t.Errorf("EventPattern(%v): want an error", p)
		}
	}
}

// TestNagCheckCanFail shows that the cdk-nag query of TestNagNoErrors sees
// errors: a queue without TLS enforcement and with no DLQ is reported.
func TestNagCheckCanFail(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	AddChecks(app)
	stack := awscdk.NewStack(app, jsii.String("Control"), nil)
	awssqs.NewQueue(stack, jsii.String("Plain"), &awssqs.QueueProps{})
	must(t, "control", func() {
		found := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		if len(*found) == 0 {
			t.Error("cdk-nag reported no error for a queue without TLS enforcement or DLQ")
		}
	})
}
