package main

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Parts of the app (context "part").
const (
	// PartCentral is the central stack and its Region stacks, deployed
	// with the central account's credentials (`make deploy`).
	PartCentral = "central"
	// PartManagement is the management account's stacks, deployed with
	// its credentials (`make deploy-management`).
	PartManagement = "management"
)

// Outputs of the central stack (organization mode) that the management
// stacks take as context.
const (
	OutputCentralBusARN   = "CentralEventBusArn"
	OutputCentralRoleARNs = "CentralFunctionRoleArns"
)

var (
	busARNRE  = regexp.MustCompile(busARNPattern)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
)

// ManagementStackName is the name of the management account's stack in
// region.
func ManagementStackName(stackName, region string) string {
	return stackName + "-management-" + region
}

// newManagementStacks builds, for every member Region, the member
// template as a plain stack of the management account: forwarding rules
// to the central bus, the baseline key and (in the role Region only) the
// remediation role.
//
// Why a stack there and not delegated-administrator permissions: a
// service-managed StackSet never deploys to the management account
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html),
// and although a CloudTrail delegated administrator may update
// organization trails, "the management account remains the owner" of them
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-delegated-administrator.html):
// the trail's ARN, aws:SourceArn and the encryption context carry the
// management account id
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html),
// which the management account's baseline key statements match, and the
// event of a change to the trail is an API call in the account where it
// was made. Reconciling the organization trail as the management account
// (through this role) keeps compliance's rule that an organization trail
// is fixed in its owner's account.
func newManagementStacks(scope constructs.Construct, cfg Config) ([]*MemberStack, error) {
	var out []*MemberStack
	for _, r := range cfg.MemberRegions {
		m, err := newMemberStack(scope, ManagementStackName(cfg.StackName, r), cfg, memberOptions{
			env:      &awscdk.Environment{Account: jsii.String(cfg.ManagementAccount), Region: jsii.String(r)},
			busARN:   cfg.CentralEventBusARN,
			roleARNs: cfg.CentralFunctionRoleARNs,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// addCentralOutputs gives the central stack (organization mode) the
// outputs that `make deploy-management` takes as context.
func addCentralOutputs(tg *Trailguard, roleARNs []*string) {
	awscdk.NewCfnOutput(tg.Stack, jsii.String(OutputCentralBusARN), &awscdk.CfnOutputProps{
		Description: jsii.String("context centralEventBusArn of `make deploy-management`"),
		Value:       tg.Bus.EventBusArn(),
	})
	awscdk.NewCfnOutput(tg.Stack, jsii.String(OutputCentralRoleARNs), &awscdk.CfnOutputProps{
		Description: jsii.String("context centralFunctionRoleArns of `make deploy-management`"),
		Value:       awscdk.Fn_Join(jsii.String(","), &roleARNs),
	})
}
