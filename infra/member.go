package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Parameters of the member template; the StackSet fills them from the
// central stack.
const (
	ParamCentralBusARN   = "CentralEventBusArn"
	ParamCentralAccount  = "CentralAccountId"
	ParamCentralRoleARNs = "CentralFunctionRoleArns"
)

// MemberStackSetName is the name of the service-managed StackSet.
const MemberStackSetName = "trailguard-member"

// maxTemplateBody is CloudFormation's limit for an inline TemplateBody.
const maxTemplateBody = 51200

// MemberStack is what the StackSet installs in every member account and
// Region.
type MemberStack struct {
	Stack           awscdk.Stack
	BaselineKey     awskms.Key
	RemediationRole awsiam.Role
	ForwardRole     awsiam.Role
}

// Member is the member stack, synthesized in an app of its own so its
// template can be embedded in the central stack's StackSet.
type Member struct {
	*MemberStack
	App awscdk.App
	// Template is the synthesized template, compact JSON.
	Template string
	// Cleanup removes the member app's temporary output directory.
	Cleanup func()
}

// NewMemberStack builds the member-account stack in scope: forwarding
// rules for the trail and key patterns to the central bus, the remediation
// role the central functions assume, and the baseline key. It synthesizes
// without bootstrap resources (a StackSet cannot use them).
func NewMemberStack(scope constructs.Construct, id string, cfg Config) (*MemberStack, error) {
	return newMemberStack(scope, id, cfg, memberOptions{})
}

// memberOptions are what differs between the StackSet's member template
// and the management account's stacks (management.go).
type memberOptions struct {
	// env pins the stack's account and Region (management stacks).
	env *awscdk.Environment
	// busARN and roleARNs are the parameters' defaults (management stacks,
	// which are deployed without the StackSet filling them in).
	busARN   string
	roleARNs []string
}

func newMemberStack(scope constructs.Construct, id string, cfg Config, opts memberOptions) (*MemberStack, error) {
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Description: jsii.String("trailguard member account: forwards CloudTrail and KMS events to the central bus, remediation role, baseline key"),
		Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{}),
		Env:         opts.env,
	})
	var busDefault, accountDefault, rolesDefault *string
	if opts.busARN != "" {
		busDefault = jsii.String(opts.busARN)
		accountDefault = jsii.String(arnAccount(opts.busARN))
		rolesDefault = jsii.String(strings.Join(opts.roleARNs, ","))
	}
	busARN := awscdk.NewCfnParameter(stack, jsii.String(ParamCentralBusARN), &awscdk.CfnParameterProps{
		Type:           jsii.String("String"),
		Description:    jsii.String("ARN of the central trailguard event bus"),
		AllowedPattern: jsii.String(busARNPattern),
		Default:        busDefault,
	})
	account := awscdk.NewCfnParameter(stack, jsii.String(ParamCentralAccount), &awscdk.CfnParameterProps{
		Type:           jsii.String("String"),
		Description:    jsii.String("Account id of the central trailguard stack"),
		AllowedPattern: jsii.String(`^\d{12}$`),
		Default:        accountDefault,
	})
	roleARNs := awscdk.NewCfnParameter(stack, jsii.String(ParamCentralRoleARNs), &awscdk.CfnParameterProps{
		Type:        jsii.String("CommaDelimitedList"),
		Description: jsii.String("ARNs of the central trailguard functions' roles, the only principals that may assume the remediation role"),
		Default:     rolesDefault,
	})

	m := &MemberStack{Stack: stack}
	m.BaselineKey = NewBaselineKey(stack, "BaselineKey", cfg.KeyAlias, cfg.Readers)
	// The central account has its own baseline key in every Region (the
	// central stack and its Region stacks, regions.go); aliases are unique
	// per account and Region, so a stack instance there must not create
	// another (finding 5; the StackSet also excludes the central account).
	notCentral := awscdk.NewCfnCondition(stack, jsii.String(CondNotCentralAccount), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), account.ValueAsString())),
	})
	setCondition(m.BaselineKey, notCentral)

	var err error
	m.ForwardRole, err = addForwarding(stack, busARN.ValueAsString())
	if err != nil {
		return nil, err
	}

	statements, err := remediationStatements(MemberActions(), policyTargets{})
	if err != nil {
		return nil, err
	}
	m.RemediationRole = awsiam.NewRole(stack, jsii.String("RemediationRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(cfg.RoleName),
		Description: jsii.String("trailguard: assumed by the central trailguard functions only"),
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewAccountPrincipal(account.ValueAsString()), &map[string]any{
			"ArnEquals":    map[string]any{"aws:PrincipalArn": roleARNs.ValueAsList()},
			"StringEquals": map[string]any{"aws:PrincipalOrgID": cfg.OrganizationID},
		}),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"Remediation": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
		},
	})
	// IAM names are global per account: a named role in a template
	// deployed to several Regions fails in every Region after the first
	// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html,
	// RoleName). The central functions assume the role by name
	// (TRAILGUARD_ROLE_NAME), so it keeps its name and is created only by
	// the stack instance in RoleRegion (finding 1).
	isRoleRegion := awscdk.NewCfnCondition(stack, jsii.String(CondRoleRegion), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(cfg.RoleRegion())),
	})
	setCondition(m.RemediationRole, isRoleRegion)
	addMemberSuppressions(m)
	return m, nil
}

// RenderMemberTemplate synthesizes the member stack in a separate app (with
// the same context, so the same feature flags, and cdk-nag) and returns its
// template. Errors reported during synthesis (cdk-nag included) fail it.
func RenderMemberTemplate(context map[string]any, cfg Config) (*Member, error) {
	dir, err := os.MkdirTemp("", "trailguard-member-")
	if err != nil {
		return nil, fmt.Errorf("member template: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	props := &awscdk.AppProps{
		Outdir:             jsii.String(dir),
		AnalyticsReporting: jsii.Bool(false),
	}
	if context != nil {
		props.Context = &context
	}
	app := awscdk.NewApp(props)
	AddChecks(app)
	ms, err := NewMemberStack(app, "TrailguardMember", cfg)
	if err != nil {
		cleanup()
		return nil, err
	}
	artifact := app.Synth(nil).GetStackArtifact(ms.Stack.ArtifactId())
	if errs := ErrorMessages(artifact); len(errs) > 0 {
		cleanup()
		return nil, fmt.Errorf("member template:\n%s", strings.Join(errs, "\n"))
	}
	body, err := json.Marshal(artifact.Template())
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("member template: %w", err)
	}
	if len(body) > maxTemplateBody {
		cleanup()
		return nil, fmt.Errorf("member template is %d bytes, over CloudFormation's %d-byte TemplateBody limit", len(body), maxTemplateBody)
	}
	return &Member{MemberStack: ms, App: app, Template: string(body), Cleanup: cleanup}, nil
}

// newMemberStackSet deploys the member template to every account of the
// given organizational units in the member Regions, including accounts that
// join later.
func newMemberStackSet(stack awscdk.Stack, cfg Config, m *Member, bus awsevents.EventBus, roleARNs []*string) awscloudformation.CfnStackSet {
	isManagement := awscdk.NewCfnCondition(stack, jsii.String("IsManagementAccount"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), jsii.String(cfg.ManagementAccount)),
	})
	return awscloudformation.NewCfnStackSet(stack, jsii.String("MemberStackSet"), &awscloudformation.CfnStackSetProps{
		StackSetName:    jsii.String(MemberStackSetName),
		Description:     jsii.String("trailguard member accounts: event forwarding, remediation role, baseline key"),
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		// The management account creates it as itself; any other account
		// must be a registered delegated administrator for StackSets.
		CallAs: awscdk.Fn_ConditionIf(isManagement.LogicalId(), jsii.String("SELF"), jsii.String("DELEGATED_ADMIN")).ToString(),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled:                      jsii.Bool(true),
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		Capabilities: jsii.Strings("CAPABILITY_NAMED_IAM"),
		// ManagedExecution is untyped JSON in the CloudFormation schema.
		ManagedExecution: map[string]any{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			FailureTolerancePercentage: jsii.Number(10),
			MaxConcurrentPercentage:    jsii.Number(25),
			RegionConcurrencyType:      jsii.String("PARALLEL"),
		},
		StackInstancesGroup: []any{&awscloudformation.CfnStackSet_StackInstancesProperty{
			// The central account is covered by the central stack and its
			// Region stacks; an instance there would clash with their
			// baseline key aliases (finding 5). DIFFERENCE deploys to the
			// OUs except the listed accounts
			// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-cloudformation-stackset-deploymenttargets.html).
			// The management account never gets an instance ("StackSets
			// doesn't deploy stack instances to the organization management
			// account", https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html):
			// it deploys the management stacks (management.go).
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{
				OrganizationalUnitIds: jsii.Strings(cfg.OrganizationalUnitIDs...),
				AccountFilterType:     jsii.String("DIFFERENCE"),
				Accounts:              &[]*string{awscdk.Aws_ACCOUNT_ID()},
			},
			Regions: jsii.Strings(cfg.MemberRegions...),
		}},
		Parameters: []any{
			&awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(ParamCentralBusARN), ParameterValue: bus.EventBusArn()},
			&awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(ParamCentralAccount), ParameterValue: awscdk.Aws_ACCOUNT_ID()},
			&awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(ParamCentralRoleARNs), ParameterValue: awscdk.Fn_Join(jsii.String(","), &roleARNs)},
		},
		TemplateBody: jsii.String(m.Template),
	})
}

// ErrorMessages returns the error-level synthesis messages (cdk-nag
// errors included) of a synthesized stack, one line each.
func ErrorMessages(artifact cxapi.CloudFormationStackArtifact) []string {
	var out []string
	if artifact.Messages() == nil {
		return nil
	}
	for _, m := range *artifact.Messages() {
		if m.Level != cxapi.SynthesisMessageLevel_ERROR {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	return out
}
