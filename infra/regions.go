package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/event"
)

// Conditions of the member template.
const (
	// CondRoleRegion is true in the one Region whose stack instance
	// creates the (named, account-global) remediation role.
	CondRoleRegion = "IsRemediationRoleRegion"
	// CondNotCentralAccount is false in the central account, which has
	// its own baseline keys.
	CondNotCentralAccount = "IsNotCentralAccount"
)

// busARNPattern is the AllowedPattern of the central bus ARN parameter.
const busARNPattern = `^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]+$`

// DefaultRegions are the Regions enabled by default in every account
// ("Regions launched before March 20, 2019 are enabled by default ...
// Default Regions cannot be enabled or disabled",
// https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html).
// Account mode puts forwarding rules and a baseline key in each of them
// unless context "regions" names the Regions; opt-in Regions must be named
// there.
var DefaultRegions = []string{
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
	"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// CoverRegions are the Regions of the central account that get
// forwarding rules and a baseline key: in organization mode the member
// Regions, else context "regions", else DefaultRegions.
func (c Config) CoverRegions() []string {
	switch {
	case c.Organization:
		return c.MemberRegions
	case len(c.Regions) > 0:
		return c.Regions
	default:
		return DefaultRegions
	}
}

// RoleRegion is the Region whose member stack instance creates the
// remediation role: the first member Region.
func (c Config) RoleRegion() string {
	if len(c.MemberRegions) == 0 {
		return ""
	}
	return c.MemberRegions[0]
}

// RegionStackName is the name of the central account's stack in region.
func RegionStackName(stackName, region string) string {
	return stackName + "-" + region
}

// RegionStack is what the central account gets in every covered Region
// other than the central stack's: forwarding rules to the default bus of
// the central stack's Region (where the central rules feed the event
// queues) and the baseline key, so a trail whose bucket is in that Region
// can be switched.
type RegionStack struct {
	Stack  awscdk.Stack
	Region string
}

// newRegionStacks builds a RegionStack in scope for every covered Region
// but home (the central stack's Region). Without a known home Region
// (environment-agnostic synthesis) there are none: the central stack's
// Region is then the only one covered on the event path, which a warning
// on the central stack says.
func newRegionStacks(scope constructs.Construct, central awscdk.Stack, cfg Config, home string) ([]*RegionStack, error) {
	if home == "" {
		awscdk.Annotations_Of(central).AddWarningV2(jsii.String("trailguard:no-home-region"), jsii.String(
			"no Region known (context \"region\" or CDK_DEFAULT_REGION): only the stack's own Region gets event rules and a baseline key; set -c region=... to add the other Regions' stacks"), nil)
		return nil, nil
	}
	var out []*RegionStack
	for _, r := range cfg.CoverRegions() {
		if r == home {
			continue
		}
		env := &awscdk.Environment{Region: jsii.String(r)}
		if cfg.Account != "" {
			env.Account = jsii.String(cfg.Account)
		}
		stack := awscdk.NewStack(scope, jsii.String(RegionStackName(cfg.StackName, r)), &awscdk.StackProps{
			Description: jsii.String(fmt.Sprintf("trailguard %s: forwards CloudTrail and KMS events to %s, baseline key", r, home)),
			// No assets: deployable without cdk bootstrap in the Region.
			Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{}),
			Env:         env,
		})
		NewBaselineKey(stack, "BaselineKey", cfg.KeyAlias, cfg.Readers)
		// An API call's event reaches only the default bus of the Region
		// of the call; a rule with an event bus of another Region as its
		// target sends it there
		// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-region.html).
		// The home Region's default-bus rules then feed the event queues
		// (a received event goes no further than that bus's targets,
		// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-bus-to-bus.html).
		bus := "arn:" + *awscdk.Aws_PARTITION() + ":events:" + home + ":" + *awscdk.Aws_ACCOUNT_ID() + ":event-bus/default"
		if _, err := addForwarding(stack, jsii.String(bus)); err != nil {
			return nil, err
		}
		out = append(out, &RegionStack{Stack: stack, Region: r})
	}
	return out, nil
}

// addForwarding adds to stack the rules that forward the trail and key
// events of the stack's account and Region to the event bus busARN, and
// the role they use.
func addForwarding(stack awscdk.Stack, busARN *string) (awsiam.Role, error) {
	role := awsiam.NewRole(stack, jsii.String("ForwardRole"), &awsiam.RoleProps{
		Description: jsii.String("trailguard: lets EventBridge forward this account's trail and key events to the central bus"),
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil), &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		}),
	})
	bus := awsevents.EventBus_FromEventBusArn(stack, jsii.String("CentralBus"), busARN)
	for _, r := range []struct {
		id      string
		pattern event.Pattern
	}{
		{"ForwardTrailEvents", event.TrailPattern()},
		{"ForwardKeyEvents", event.KeyPattern()},
	} {
		p, err := EventPattern(r.pattern)
		if err != nil {
			return nil, fmt.Errorf("forwarding rule %s: %w", r.id, err)
		}
		awsevents.NewRule(stack, jsii.String(r.id), &awsevents.RuleProps{
			Description:  jsii.String("trailguard: forward to the central bus"),
			EventPattern: p,
			Targets: &[]awsevents.IRuleTarget{awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{
				Role: role,
			})},
		})
	}
	return role, nil
}

// setCondition makes every CloudFormation resource under c conditional on
// cond.
func setCondition(c constructs.IConstruct, cond awscdk.CfnCondition) {
	for _, child := range *c.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if r, ok := child.(awscdk.CfnResource); ok {
			r.CfnOptions().SetCondition(cond)
		}
	}
}

// arnAccount is the account field of an ARN ("" if it has none).
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
