package main

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/state"
)

// Settings of the sweep fan-out: the sweeper (coordinator) enqueues one
// work item per account and Region on the sweep work queue; sweep-worker
// reconciles them.
const (
	// sweepWorkerTimeout is the worker's timeout, in seconds: one batch of
	// up to sweepBatchSize items, reconciled at once, each one account and
	// Region (a few calls; a lease wait is at most 25 s).
	sweepWorkerTimeout = 120
	// sweepVisibilityTimeout is six times the worker's timeout, as for the
	// event queues (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
	sweepVisibilityTimeout = 6 * sweepWorkerTimeout
	// sweepBatchSize: up to 10 items per invocation, reconciled at once.
	sweepBatchSize = 10
	// sweepMaxReceiveCount is how often an item is delivered before SQS
	// moves it to the dead-letter queue; the worker counts an item
	// failing on that delivery as failed in the sweep summary
	// (TRAILGUARD_SWEEP_MAX_RECEIVES).
	sweepMaxReceiveCount = config.DefaultSweepReceives
	// sweepRetentionDays: an item not reconciled within a day is stale
	// (the next sweep comes after rate(6 hours)).
	sweepRetentionDays = 1
)

// sweepQueue is the sweep work queue with its dead-letter queue and alarm.
type sweepQueue struct {
	Queue awssqs.Queue
	DLQ   awssqs.Queue
	Alarm awscloudwatch.Alarm
}

// newSweepQueue creates the sweep work queue (SQS-managed encryption, TLS
// only, like every trailguard queue) and its dead-letter queue with an
// alarm.
func newSweepQueue(stack awscdk.Stack, alarmAction awscloudwatch.IAlarmAction) sweepQueue {
	dlq := newQueue(stack, "SweepWorkDeadLetterQueue", awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionDays)),
	})
	q := newQueue(stack, "SweepWorkQueue", awssqs.QueueProps{
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(sweepVisibilityTimeout)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(sweepRetentionDays)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(sweepMaxReceiveCount)},
	})
	alarm := dlqAlarm(stack, "SweepWorkDeadLetterQueueMessages", dlq,
		fmt.Sprintf("trailguard sweep work items (account and Region) failed %d deliveries and are waiting in the sweep dead-letter queue", sweepMaxReceiveCount), alarmAction)
	return sweepQueue{Queue: q, DLQ: dlq, Alarm: alarm}
}

// sweepEnvironment adds the fan-out's variables to env (the sweeper's and
// the worker's environment).
func sweepEnvironment(env map[string]*string, q awssqs.Queue) map[string]*string {
	out := map[string]*string{}
	for k, v := range env {
		out[k] = v
	}
	out[config.EnvSweepQueue] = q.QueueUrl()
	out[config.EnvSweepReceives] = jsii.String(strconv.Itoa(sweepMaxReceiveCount))
	return out
}

// connectSweepWorker feeds the worker from the work queue: batches of
// sweepBatchSize with partial batch responses, at most
// cfg.SweepConcurrency concurrent invocations; the role gets exactly the
// consume actions.
func connectSweepWorker(cfg Config, q awssqs.Queue, fn awslambda.Function, role awsiam.Role) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailguardSweepQueue"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(queueConsumeActions...),
		Resources: jsii.Strings(*q.QueueArn()),
	}))
	esm := fn.AddEventSourceMapping(jsii.String("SweepWorkQueue"), &awslambda.EventSourceMappingOptions{
		EventSourceArn:          q.QueueArn(),
		BatchSize:               jsii.Number(sweepBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(float64(cfg.SweepConcurrency)),
	})
	esm.Node().AddDependency(role)
}

// coordinatorReachesMembers reports whether the coordinator assumes the
// member role: in organization mode, to list each account's enabled
// Regions, unless `regions` names them (TRAILGUARD_REGIONS: the sweep
// covers those in every account, and no account's Regions are listed).
// The member role holds the remediation writes (docs/THREAT-MODEL.md
// section 3), so a deployment that names its Regions keeps the
// coordinator out of the members altogether.
func coordinatorReachesMembers(cfg Config) bool {
	return cfg.Organization && len(cfg.Regions) == 0
}

// coordinatorActions are what the sweeper needs as the coordinator: list
// the organization's accounts and each account's enabled Regions (through
// the member role, coordinatorReachesMembers), and nothing that writes a
// trail or a key.
func coordinatorActions(cfg Config) []string {
	acts := []string{"ec2:DescribeRegions"}
	if cfg.Organization {
		acts = append(acts, "organizations:ListAccounts")
	}
	if coordinatorReachesMembers(cfg) {
		acts = append(acts, "sts:AssumeRole")
	}
	return acts
}

// memberTrusted are the central functions the member role trusts: all but
// the coordinator when it does not reach the members.
func memberTrusted(cfg Config) []string {
	var out []string
	for _, name := range FunctionNames {
		if name == Sweeper && !coordinatorReachesMembers(cfg) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// coordinatorStatements are the sweeper's permissions (on its role, in
// place of the remediation policy): the listing actions,
// sqs:SendMessage on the work queue (SendMessageBatch is authorized as
// sqs:SendMessage,
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html),
// the sweep record's actions on the state table, and sns:Publish on the
// notices topic (a sweep whose items could not be enqueued is summarized
// by the coordinator).
func coordinatorStatements(cfg Config, topicARN, tableARN, queueARN *string) ([]awsiam.PolicyStatement, error) {
	t := policyTargets{topicARN: topicARN}
	if coordinatorReachesMembers(cfg) {
		t.roleName = cfg.RoleName
	}
	statements, err := remediationStatements(append(coordinatorActions(cfg), "sns:Publish"), t)
	if err != nil {
		return nil, err
	}
	return append(statements,
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("TrailguardSweepEnqueue"),
			Effect:    awsiam.Effect_ALLOW,
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: jsii.Strings(*queueARN),
		}),
		sweepRecordStatement(tableARN)), nil
}

// sweepRecordStatement grants the sweep record's actions on the table.
func sweepRecordStatement(tableARN *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailguardSweepRecord"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(state.SweepPermissions...),
		Resources: jsii.Strings(*tableARN),
	})
}

// coordinatorSuppressions are the IAM5 suppressions of the sweeper's
// (coordinator's) statements, each with its reason.
func coordinatorSuppressions(roleName string) *[]*cdknag.NagPackSuppression {
	s := []*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("ec2:DescribeRegions and organizations:ListAccounts support no resource-level permissions: they must use Resource \"*\"."),
		AppliesTo: &[]any{nagAnyResource},
	}}
	if roleName != "" {
		s = append(s, memberRoleSuppression(roleName, "sts:AssumeRole only on the trailguard remediation role of member accounts (to list their enabled Regions), in accounts that join the organization after deployment."))
	}
	return &s
}
