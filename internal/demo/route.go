package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailguard/trailguard/pkg/event"
)

// The functions the events are routed to (CONTRACTS.md).
const (
	trailFunction = "trail-remediator"
	keyFunction   = "key-remediator"
	sweepFunction = "sweeper"
)

// rule is one EventBridge rule of the stack: the stack's own pattern and
// the function it invokes.
type rule struct {
	Function string
	Pattern  event.Pattern
}

// rules returns the stack's rules, in the order events are delivered.
func rules() []rule {
	return []rule{
		{Function: trailFunction, Pattern: event.TrailPattern()},
		{Function: keyFunction, Pattern: event.KeyPattern()},
	}
}

// delivery is one event as a rule's target received it.
type delivery struct {
	// Function is the function the matching rule invokes.
	Function string
	// Body is the event as delivered.
	Body []byte
}

// router delivers the event of a call to the functions whose rule
// matches it. The demo uses busRouter, so that moto's EventBridge, an
// independent implementation, checks the stack's patterns.
type router interface {
	Route(ctx context.Context, c call) ([]delivery, error)
}

// EventBridgeAPI is the part of the EventBridge client the demo uses.
type EventBridgeAPI interface {
	PutRule(ctx context.Context, in *eventbridge.PutRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	PutTargets(ctx context.Context, in *eventbridge.PutTargetsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// SQSAPI is the part of the SQS client the demo uses.
type SQSAPI interface {
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var (
	_ EventBridgeAPI = (*eventbridge.Client)(nil)
	_ SQSAPI         = (*sqs.Client)(nil)
)

// busRouter routes through EventBridge's default event bus in the call's
// Region: one rule per function with the stack's pattern and an SQS queue
// as target, standing in for the Lambda function. What a queue receives is
// what the function would be invoked with.
type busRouter struct {
	// clients returns the EventBridge and SQS clients of a Region.
	clients func(region string) (EventBridgeAPI, SQSAPI)
	// onSetup is told about every rule created, for the output.
	onSetup func(region, ruleName, pattern, queueURL string)

	mu      sync.Mutex
	queues  map[string][]busQueue // by Region
	created map[string]bool
}

// busQueue is the queue standing in for a function in one Region.
type busQueue struct {
	function string
	url      string
}

// ruleName is the name of the rule (and queue) for a function.
func ruleName(function string) string { return "trailguard-" + function }

// setup creates the rules and queues of region once.
func (r *busRouter) setup(ctx context.Context, region string) ([]busQueue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created[region] {
		return r.queues[region], nil
	}
	eb, q := r.clients(region)
	var queues []busQueue
	for _, rl := range rules() {
		name := ruleName(rl.Function)
		cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("create queue %s in %s: %w", name, region, err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       cq.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return nil, fmt.Errorf("get queue ARN of %s in %s: %w", name, region, err)
		}
		pattern, err := json.Marshal(rl.Pattern)
		if err != nil {
			return nil, fmt.Errorf("encode pattern of %s: %w", name, err)
		}
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
			Name:         aws.String(name),
			EventPattern: aws.String(string(pattern)),
			State:        ebtypes.RuleStateEnabled,
			Description:  aws.String("trailguard demo: events for " + rl.Function),
		}); err != nil {
			return nil, fmt.Errorf("put rule %s in %s: %w", name, region, err)
		}
		out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
			Rule:    aws.String(name),
			Targets: []ebtypes.Target{{Id: aws.String(rl.Function), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}},
		})
		if err != nil {
			return nil, fmt.Errorf("put target of rule %s in %s: %w", name, region, err)
		}
		if out.FailedEntryCount > 0 {
			return nil, fmt.Errorf("put target of rule %s in %s: %d failed", name, region, out.FailedEntryCount)
		}
		if r.onSetup != nil {
			r.onSetup(region, name, string(pattern), aws.ToString(cq.QueueUrl))
		}
		queues = append(queues, busQueue{function: rl.Function, url: aws.ToString(cq.QueueUrl)})
	}
	if r.queues == nil {
		r.queues, r.created = map[string][]busQueue{}, map[string]bool{}
	}
	r.queues[region], r.created[region] = queues, true
	return queues, nil
}

// Route puts c's event on the default bus of c's Region and collects what
// the rules delivered to their queues.
func (r *busRouter) Route(ctx context.Context, c call) ([]delivery, error) {
	queues, err := r.setup(ctx, c.Region)
	if err != nil {
		return nil, err
	}
	eb, q := r.clients(c.Region)
	now := time.Now()
	detail, err := json.Marshal(c.detail(now))
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", c.EventName, err)
	}
	entry := ebtypes.PutEventsRequestEntry{
		Source:     aws.String(c.Source),
		DetailType: aws.String(event.DetailType),
		Detail:     aws.String(string(detail)),
		Time:       aws.Time(now),
	}
	if c.KeyARN != "" {
		entry.Resources = []string{c.KeyARN}
	}
	out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return nil, fmt.Errorf("put %s event: %w", c.EventName, err)
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 {
		msg := ""
		if len(out.Entries) > 0 {
			msg = aws.ToString(out.Entries[0].ErrorMessage)
		}
		return nil, fmt.Errorf("put %s event: rejected: %s", c.EventName, msg)
	}
	id := aws.ToString(out.Entries[0].EventId)
	var got []delivery
	for _, bq := range queues {
		bodies, err := drain(ctx, q, bq.url)
		if err != nil {
			return nil, err
		}
		for _, b := range bodies {
			var env struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(b, &env) == nil && env.ID != "" && id != "" && env.ID != id {
				return nil, fmt.Errorf("queue %s: got event %s, want %s", bq.url, env.ID, id)
			}
			got = append(got, delivery{Function: bq.function, Body: b})
		}
	}
	return got, nil
}

// drain receives and deletes every message waiting in a queue. Moto
// delivers an event to its targets during PutEvents, so the queue holds
// all the event's deliveries when PutEvents returns.
func drain(ctx context.Context, q SQSAPI, url string) ([][]byte, error) {
	var out [][]byte
	for {
		m, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(m.Messages) == 0 {
			return out, nil
		}
		for _, msg := range m.Messages {
			out = append(out, []byte(aws.ToString(msg.Body)))
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete message from %s: %w", url, err)
			}
		}
	}
}

// matchRouter routes with event.Matches, trailguard's own implementation
// of the pattern language, without an emulator. The demo routes through
// moto's EventBridge and uses matchRouter to cross-check every verdict.
type matchRouter struct{}

// Route returns c's event once for every rule whose pattern matches it.
func (matchRouter) Route(_ context.Context, c call) ([]delivery, error) {
	raw, err := c.envelope(time.Now())
	if err != nil {
		return nil, err
	}
	var out []delivery
	for _, rl := range rules() {
		ok, err := event.Matches(rl.Pattern, raw)
		if err != nil {
			return nil, fmt.Errorf("match %s event against the %s rule: %w", c.EventName, rl.Function, err)
		}
		if ok {
			out = append(out, delivery{Function: rl.Function, Body: raw})
		}
	}
	return out, nil
}

// functionsOf lists the functions of deliveries, for comparing routers.
func functionsOf(ds []delivery) string {
	var fs []string
	for _, d := range ds {
		fs = append(fs, d.Function)
	}
	if len(fs) == 0 {
		return "none"
	}
	return strings.Join(fs, ",")
}
