package main

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/event"
)

// The function names (directory names under functions/ and build/).
const (
	TrailRemediator = "trail-remediator"
	KeyRemediator   = "key-remediator"
	Sweeper         = "sweeper"
	// SweepWorker reconciles the sweep's work items (one account and
	// Region each) that the sweeper enqueues.
	SweepWorker = "sweep-worker"
)

// FunctionNames lists the functions in a stable order.
var FunctionNames = []string{TrailRemediator, KeyRemediator, Sweeper, SweepWorker}

// Retry settings of the event targets and of Lambda's asynchronous
// invocation.
const (
	targetRetryAttempts   = 8
	targetMaxEventAge     = 2 * 60 // minutes
	functionRetryAttempts = 2
	functionMaxEventAge   = 6 * 60 // minutes
)

// StackProps configures NewTrailguardStack.
type StackProps struct {
	awscdk.StackProps
	// Config is the validated deployment configuration.
	Config Config
	// AssetDir holds <function>/bootstrap for every function; tests point
	// it at a directory of dummy files so they never need a build.
	AssetDir string
	// Context is the app's context (feature flags); organization mode
	// synthesizes the member template in a separate app with it.
	Context map[string]any
}

// Trailguard is the central stack and the constructs callers and tests
// look at.
type Trailguard struct {
	Stack       awscdk.Stack
	Functions   map[string]awslambda.Function
	Roles       map[string]awsiam.Role
	Remediation awsiam.ManagedPolicy
	BaselineKey awskms.Key
	NoticesKey  awskms.Key
	Topic       awssns.Topic
	// DLQ receives what EventBridge could not deliver to a target and the
	// sweeper's failed asynchronous invocations.
	DLQ awssqs.Queue
	// Table is the state table (leases, loop guard, change log).
	Table awsdynamodb.Table
	// Queues are the event queues of trail-remediator and key-remediator
	// (by function name), QueueDLQs their dead-letter queues.
	Queues    map[string]awssqs.Queue
	QueueDLQs map[string]awssqs.Queue
	// SweepQueue is the sweep work queue (sweeper to sweep-worker),
	// SweepDLQ its dead-letter queue.
	SweepQueue awssqs.Queue
	SweepDLQ   awssqs.Queue
	// Bus is the organization event bus (organization mode only).
	Bus awsevents.EventBus
	// Member is the member-account template embedded in the StackSet
	// (organization mode only).
	Member *Member
	// Regions are the central account's stacks in the other covered
	// Regions (regions.go), Management the management account's stacks
	// (part=management, management.go; then Stack is nil).
	Regions    []*RegionStack
	Management []*MemberStack
}

// NewTrailguardStack builds the central stack: the three functions, their
// rules, the event queues of trail-remediator and key-remediator (the
// rules' targets) with their event source mappings, the dead-letter
// queues, alarms, the state table, the baseline key and the notices topic,
// and in organization mode the organization bus (whose rules feed the same
// queues) and the member StackSet.
func NewTrailguardStack(scope constructs.Construct, id string, props *StackProps) (*Trailguard, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sp := props.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("trailguard: keeps every CloudTrail trail encrypted with SSE-KMS under a key whose policy lets CloudTrail encrypt and the right readers decrypt")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	tg := &Trailguard{
		Stack:     stack,
		Functions: map[string]awslambda.Function{},
		Roles:     map[string]awsiam.Role{},
		Queues:    map[string]awssqs.Queue{},
		QueueDLQs: map[string]awssqs.Queue{},
	}

	tg.BaselineKey = NewBaselineKey(stack, "BaselineKey", cfg.KeyAlias, cfg.Readers)
	tg.NoticesKey, tg.Topic = newNoticesTopic(stack)
	tg.DLQ = newQueue(stack, "DeadLetterQueue", awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionDays)),
	})
	tg.Table = newStateTable(stack)

	var err error
	tg.Remediation, err = newRemediationPolicy(stack, cfg, tg.Topic.TopicArn(), tg.Table.TableArn())
	if err != nil {
		return nil, err
	}

	env := map[string]*string{}
	for k, v := range cfg.Environment(*tg.Topic.TopicArn(), *tg.Table.TableName()) {
		env[k] = jsii.String(v)
	}
	alarmAction := awscloudwatchactions.NewSnsAction(tg.Topic)
	sq := newSweepQueue(stack, alarmAction)
	tg.SweepQueue, tg.SweepDLQ = sq.Queue, sq.DLQ
	// The sweeper (coordinator) lists and enqueues: it gets its own
	// statements instead of the remediation policy.
	coordinator, err := coordinatorStatements(cfg, tg.Topic.TopicArn(), tg.Table.TableArn(), sq.Queue.QueueArn())
	if err != nil {
		return nil, err
	}
	alarms := []awscloudwatch.IAlarm{sq.Alarm}
	for _, name := range FunctionNames {
		policy, fenv := tg.Remediation, env
		switch name {
		case Sweeper:
			policy, fenv = nil, sweepEnvironment(env, sq.Queue)
		case SweepWorker:
			fenv = sweepEnvironment(env, sq.Queue)
		}
		fn, role := newFunction(stack, cfg, name, props.AssetDir, fenv, tg.DLQ, policy)
		tg.Functions[name] = fn
		tg.Roles[name] = role
		if name == Sweeper {
			for _, st := range coordinator {
				role.AddToPrincipalPolicy(st)
			}
		}
		if name == SweepWorker {
			role.AddToPrincipalPolicy(sweepRecordStatement(tg.Table.TableArn()))
			connectSweepWorker(cfg, sq.Queue, fn, role)
		}
		if name != Sweeper && name != SweepWorker {
			eq := newEventQueue(stack, cfg, name, fn, role, alarmAction)
			tg.Queues[name] = eq.Queue
			tg.QueueDLQs[name] = eq.DLQ
			alarms = append(alarms, eq.Alarm)
		}
		alarm := fn.MetricErrors(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Sum"),
		}).CreateAlarm(stack, jsii.String(constructID(name)+"Errors"), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(fmt.Sprintf("trailguard %s reported errors", name)),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarm.AddAlarmAction(alarmAction)
		alarms = append(alarms, alarm)
	}
	dlq := dlqAlarm(stack, "DeadLetterQueueMessages", tg.DLQ, "trailguard events or invocations failed and are waiting in the dead-letter queue", alarmAction)
	newDashboard(stack, tg.Functions, append(alarms, dlq))

	// The functions publish to the encrypted topic: the key policy names
	// their roles (same account, so no IAM kms: permission is needed).
	var roleARNs []*string
	for _, name := range FunctionNames {
		roleARNs = append(roleARNs, tg.Roles[name].RoleArn())
	}
	var publishers []awsiam.IPrincipal
	for _, arn := range roleARNs {
		publishers = append(publishers, awsiam.NewArnPrincipal(arn))
	}
	tg.NoticesKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TrailguardFunctionsPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &publishers,
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"kms:ViaService": "sns." + *awscdk.Aws_REGION() + "." + *awscdk.Aws_URL_SUFFIX()},
		},
	}), jsii.Bool(false))

	trailPattern, err := EventPattern(event.TrailPattern())
	if err != nil {
		return nil, fmt.Errorf("trail rule: %w", err)
	}
	keyPattern, err := EventPattern(event.KeyPattern())
	if err != nil {
		return nil, fmt.Errorf("key rule: %w", err)
	}
	routes := []struct {
		id      string
		pattern *awsevents.EventPattern
		fn      string
	}{
		{"TrailEvents", trailPattern, TrailRemediator},
		{"KeyEvents", keyPattern, KeyRemediator},
	}
	for _, r := range routes {
		awsevents.NewRule(stack, jsii.String(r.id+"Rule"), &awsevents.RuleProps{
			Description:  jsii.String(fmt.Sprintf("trailguard: %s of this account to %s", r.id, r.fn)),
			EventPattern: r.pattern,
			Targets:      &[]awsevents.IRuleTarget{tg.queueTarget(r.fn)},
		})
	}
	awsevents.NewRule(stack, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("trailguard: periodic sweep of every trail"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(cfg.Schedule)),
		Targets:     &[]awsevents.IRuleTarget{tg.functionTarget(Sweeper)},
	})

	if cfg.Organization {
		tg.Bus = awsevents.NewEventBus(stack, jsii.String("OrganizationBus"), &awsevents.EventBusProps{
			Description: jsii.String("trailguard: CloudTrail and KMS events forwarded by the organization's member accounts"),
		})
		tg.Bus.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("TrailguardOrganizationPutEvents"),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("events:PutEvents"),
			Resources:  jsii.Strings(*tg.Bus.EventBusArn()),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:PrincipalOrgID": cfg.OrganizationID},
			},
		}))
		for _, r := range routes {
			awsevents.NewRule(stack, jsii.String("Organization"+r.id+"Rule"), &awsevents.RuleProps{
				Description:  jsii.String(fmt.Sprintf("trailguard: %s forwarded by member accounts to %s", r.id, r.fn)),
				EventBus:     tg.Bus,
				EventPattern: r.pattern,
				Targets:      &[]awsevents.IRuleTarget{tg.queueTarget(r.fn)},
			})
		}
		tg.Member, err = RenderMemberTemplate(props.Context, cfg)
		if err != nil {
			return nil, err
		}
		var trusted []*string
		for _, name := range memberTrusted(cfg) {
			trusted = append(trusted, tg.Roles[name].RoleArn())
		}
		newMemberStackSet(stack, cfg, tg.Member, tg.Bus, trusted)
		addCentralOutputs(tg, trusted)
	}

	addStackSuppressions(tg, cfg)
	return tg, nil
}

// queueTarget routes a rule to the named function's event queue, with the
// retry policy and, when EventBridge cannot deliver, the dead-letter queue.
// The function reads the queue (newEventQueue), so an event is either
// processed or ends in a dead-letter queue with an alarm: nothing waits in
// Lambda's asynchronous queue, where "events might also be deleted from the
// queue without being sent to the function"
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
func (tg *Trailguard) queueTarget(name string) awsevents.IRuleTarget {
	return awseventstargets.NewSqsQueue(tg.Queues[name], &awseventstargets.SqsQueueProps{
		DeadLetterQueue: tg.DLQ,
		RetryAttempts:   jsii.Number(targetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(targetMaxEventAge)),
	})
}

// functionTarget routes a rule (the sweeper's schedule) straight to the
// named function, with the retry policy and the dead-letter queue.
func (tg *Trailguard) functionTarget(name string) awsevents.IRuleTarget {
	return awseventstargets.NewLambdaFunction(tg.Functions[name], &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: tg.DLQ,
		RetryAttempts:   jsii.Number(targetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(targetMaxEventAge)),
	})
}

// newNoticesTopic creates the SNS topic for remediation notices and alarms,
// encrypted with its own key (CloudWatch alarms cannot publish to a topic
// encrypted with the AWS managed key) and refusing non-TLS publishers.
func newNoticesTopic(stack awscdk.Stack) (awskms.Key, awssns.Topic) {
	key := awskms.NewKey(stack, jsii.String("NoticesKey"), &awskms.KeyProps{
		Description:       jsii.String("trailguard notices topic encryption"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TrailguardAlarmsPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), jsii.Bool(false))
	topic := awssns.NewTopic(stack, jsii.String("Notices"), &awssns.TopicProps{
		DisplayName: jsii.String("trailguard notices"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TrailguardAlarmsPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	return key, topic
}

// newRemediationPolicy is the least-privilege managed policy shared by the
// three functions' roles.
// The state table's statement (pkg/state's actions on the table) is part
// of it: every function takes leases and records changes.
func newRemediationPolicy(stack awscdk.Stack, cfg Config, topicARN, tableARN *string) (awsiam.ManagedPolicy, error) {
	t := policyTargets{topicARN: topicARN}
	if cfg.Organization {
		t.roleName = cfg.RoleName
	}
	statements, err := remediationStatements(RemediationActions(cfg.Organization), t)
	if err != nil {
		return nil, err
	}
	statements = append(statements, stateStatement(tableARN))
	return awsiam.NewManagedPolicy(stack, jsii.String("RemediationPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("trailguard: the actions pkg/plan declares, scoped to this account's keys and trails, and pkg/state's on the state table"),
		Statements:  &statements,
	}), nil
}

// newFunction creates one function with its role, log group and
// asynchronous-invocation settings.
func newFunction(stack awscdk.Stack, cfg Config, name, assetDir string, env map[string]*string, dlq awssqs.Queue, policy awsiam.ManagedPolicy) (awslambda.Function, awsiam.Role) {
	id := constructID(name)
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	logs.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(float64(cfg.LogRetentionDays)))

	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		Description: jsii.String("trailguard " + name + " function"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	// Attached from the policy's side (its Roles list): the notices key's
	// policy names the role, and the policy names the topic. The sweeper
	// (coordinator) has none: its statements are its own.
	if policy != nil {
		policy.AttachToRole(role)
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TrailguardLogs"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))

	timeout := float64(eventFunctionTimeout)
	switch name {
	case Sweeper:
		timeout = sweeperTimeout
	case SweepWorker:
		timeout = sweepWorkerTimeout
	}
	props := &awslambda.FunctionProps{
		FunctionName: jsii.String(cfg.FunctionPrefix + name),
		Description:  jsii.String("trailguard " + name),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(assetDir, name)), nil),
		Role:         role,
		LogGroup:     logs,
		MemorySize:   jsii.Number(256),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout)),
		Environment:  &env,
		// An asynchronous invocation (the sweeper's schedule, or a user's
		// `aws lambda invoke --invocation-type Event`) that returns a
		// transient error is retried, then sent to the dead-letter queue.
		// Events of the rules go through the event queues instead.
		RetryAttempts:   jsii.Number(functionRetryAttempts),
		MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(functionMaxEventAge)),
		DeadLetterQueue: dlq,
		// No ReservedConcurrentExecutions: the event queues' mappings
		// bound the concurrency (Config.MaxConcurrency) and the state
		// table's leases serialize the writes.
	}
	fn := awslambda.NewFunction(stack, jsii.String(id), props)
	if policy != nil {
		fn.Node().AddDependency(policy)
	}
	return fn, role
}

// constructID turns "trail-remediator" into "TrailRemediator".
func constructID(name string) string {
	out := make([]byte, 0, len(name))
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		out = append(out, c)
	}
	return string(out)
}
