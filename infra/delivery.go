package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/state"
)

// Delivery settings of the event queues (trail-remediator and
// key-remediator read their events from SQS, not from Lambda's
// asynchronous queue).
const (
	// eventFunctionTimeout is the event functions' timeout, in seconds.
	eventFunctionTimeout = 60
	// sweeperTimeout is the sweeper's timeout, in seconds.
	sweeperTimeout = 900
	// queueVisibilityTimeout is six times the function timeout: "set the
	// source queue's visibility timeout to at least six times the
	// configuration timeout on your function. The extra time allows Lambda
	// to retry if your function is throttled while processing a previous
	// batch"
	// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
	queueVisibilityTimeout = 6 * eventFunctionTimeout
	// queueBatchSize is the event source mapping's batch size. The handler
	// processes a batch's messages one after the other inside one
	// invocation, so the batch must fit the 60 s timeout even when several
	// messages wait for a lease: 10 events of a few API calls each do,
	// and a burst (a Terraform apply touching many trails) still drains
	// in few invocations. A message that fails transiently is reported
	// alone (ReportBatchItemFailures), so a larger batch costs no extra
	// retries of its other messages.
	queueBatchSize = 10
	// queueMaxReceiveCount is how often a message is delivered before SQS
	// moves it to the queue's dead-letter queue: transient errors (a busy
	// lease, throttling) get five attempts, each after a visibility
	// timeout, before an alarm asks a human.
	queueMaxReceiveCount = 5
	// queueRetentionDays keeps an undelivered event for 4 days (the SQS
	// default); its dead-letter queue keeps it 14 days: a message moved to
	// a dead-letter queue keeps its original enqueue time, so the
	// dead-letter queue's retention must be the longer one
	// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
	queueRetentionDays = 4
	dlqRetentionDays   = 14
)

// queueConsumeActions are the SQS actions Lambda's event source mapping
// needs on the queue through the function's execution role: "the
// execution role ... sqs:ReceiveMessage, sqs:DeleteMessage,
// sqs:GetQueueAttributes"
// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
// They are granted here, exactly, instead of the CDK's broader
// grantConsumeMessages.
var queueConsumeActions = []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}

// newQueue creates an SQS queue the way every trailguard queue is made:
// SQS-managed encryption (EventBridge cannot send to a queue encrypted with
// the AWS managed KMS key) and a policy refusing requests without TLS.
func newQueue(stack awscdk.Stack, id string, props awssqs.QueueProps) awssqs.Queue {
	props.Encryption = awssqs.QueueEncryption_SQS_MANAGED
	props.EnforceSSL = jsii.Bool(true)
	return awssqs.NewQueue(stack, jsii.String(id), &props)
}

// dlqAlarm raises an alarm on the notices topic as soon as a message waits
// in the dead-letter queue.
func dlqAlarm(stack awscdk.Stack, id string, dlq awssqs.Queue, description string, action awscloudwatch.IAlarmAction) awscloudwatch.Alarm {
	alarm := dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		Statistic: jsii.String("Maximum"),
	}).CreateAlarm(stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String(description),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(action)
	return alarm
}

// eventQueue is the queue between a function's EventBridge rules and the
// function, with its dead-letter queue.
type eventQueue struct {
	Queue awssqs.Queue
	DLQ   awssqs.Queue
	// Alarm fires when a message is in the dead-letter queue.
	Alarm awscloudwatch.Alarm
}

// newEventQueue creates the event queue of the named function, its
// dead-letter queue (with an alarm; a queue of its own rather than the
// shared one, because SQS redrives back to the source only from a
// dead-letter queue of SQS queues,
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html)
// and the event source mapping that
// feeds the function from it, with partial batch responses and a bounded
// concurrency; the function's role gets exactly the consume actions.
func newEventQueue(stack awscdk.Stack, cfg Config, name string, fn awslambda.Function, role awsiam.Role, alarmAction awscloudwatch.IAlarmAction) eventQueue {
	id := constructID(name)
	dlq := newQueue(stack, id+"DeadLetterQueue", awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionDays)),
	})
	q := newQueue(stack, id+"Queue", awssqs.QueueProps{
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(queueVisibilityTimeout)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(queueMaxReceiveCount),
		},
	})
	alarm := dlqAlarm(stack, id+"DeadLetterQueueMessages", dlq,
		fmt.Sprintf("trailguard %s events failed %d deliveries and are waiting in its dead-letter queue", name, queueMaxReceiveCount), alarmAction)

	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailguardEventQueue"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(queueConsumeActions...),
		Resources: jsii.Strings(*q.QueueArn()),
	}))
	esm := fn.AddEventSourceMapping(jsii.String("EventQueue"), &awslambda.EventSourceMappingOptions{
		EventSourceArn: q.QueueArn(),
		BatchSize:      jsii.Number(queueBatchSize),
		// The handler answers {"batchItemFailures": [...]}: only the
		// messages that failed transiently become visible again
		// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
		ReportBatchItemFailures: jsii.Bool(true),
		// Instead of reserved concurrency: at most this many concurrent
		// invocations from the queue; the rest waits in SQS.
		MaxConcurrency: jsii.Number(float64(cfg.MaxConcurrency)),
	})
	// Lambda checks the role's permissions when it creates the mapping.
	esm.Node().AddDependency(role)
	return eventQueue{Queue: q, DLQ: dlq, Alarm: alarm}
}

// newStateTable creates the state table of pkg/state (leases, the shared
// loop guard and the change log).
//
// Encryption: the AWS managed key (aws/dynamodb), not the default AWS
// owned key, so every use of the key is visible in the account's
// CloudTrail, and not a customer managed key: that would need a key
// policy naming the function roles and the CLI's users, and the change
// log must stay readable for undo however the stack evolves; the table
// holds key policies that are not secrets
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/EncryptionAtRest.html;
// the template's SSESpecification {"SSEEnabled": true} selects it:
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-table-ssespecification.html).
//
// Retained on stack deletion and protected against deletion: the change
// log is what undo needs. Point-in-time recovery restores it after a bad
// write; TTL removes expired leases and guard counters
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
func newStateTable(stack awscdk.Stack) awsdynamodb.Table {
	return awsdynamodb.NewTable(stack, jsii.String("StateTable"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		TimeToLiveAttribute: jsii.String("expires_at"),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
}

// stateStatement grants exactly the actions pkg/state calls, on the table.
func stateStatement(tableARN *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailguardState"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(state.Permissions...),
		Resources: jsii.Strings(*tableARN),
	})
}
