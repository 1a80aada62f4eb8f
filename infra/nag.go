package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// AddChecks runs cdk-nag's AWS Solutions rules on every stack of scope at
// synthesis; their findings are error annotations, which fail `make synth`
// and the tests. Every suppression is below, with its reason.
func AddChecks(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// The wildcard resources of the remediation policy, as cdk-nag renders
// them in IAM5 findings.
const (
	nagAnyResource     = "Resource::*"
	nagOwnKeys         = "Resource::arn:<AWS::Partition>:kms:*:<AWS::AccountId>:key/*"
	nagOwnTrails       = "Resource::arn:<AWS::Partition>:cloudtrail:*:<AWS::AccountId>:trail/*"
	nagTrails          = "Resource::arn:<AWS::Partition>:cloudtrail:*:*:trail/*"
	nagBuckets         = "Resource::arn:<AWS::Partition>:s3:::*"
	nagSecurityHub     = "Resource::arn:<AWS::Partition>:securityhub:*:<AWS::AccountId>:*"
	nagMemberRolesHead = "Resource::arn:<AWS::Partition>:iam::*:role/"
)

// remediationSuppressions are the IAM5 suppressions of the remediation
// policy, one per wildcard resource, each with its reason.
func remediationSuppressions(roleName string) *[]*cdknag.NagPackSuppression {
	s := []*cdknag.NagPackSuppression{
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("cloudtrail:DescribeTrails, ec2:DescribeRegions, organizations:ListAccounts, organizations:DescribeOrganization and organizations:ListAWSServiceAccessForOrganization support no resource-level permissions: they must use Resource \"*\"."),
			AppliesTo: &[]any{nagAnyResource},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("The keys trailguard repairs (any trail's key, in any Region) are not known at deploy time; the scope is limited to this account's keys."),
			AppliesTo: &[]any{nagOwnKeys},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("cloudtrail:UpdateTrail must reach every trail of this account in any Region (trails are created after deployment); limited to this account."),
			AppliesTo: &[]any{nagOwnTrails},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Read-only GetTrail, GetTrailStatus and ListTags on any visible trail: an organization trail's ARN carries the management account id in every member account."),
			AppliesTo: &[]any{nagTrails},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("s3:GetBucketLocation and s3:GetEncryptionConfiguration on the trails' log buckets, which are chosen by trail owners and not known at deploy time; read-only."),
			AppliesTo: &[]any{nagBuckets},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Security Hub findings are imported into and read from this account's hub and default product in every Region trails live in; limited to this account."),
			AppliesTo: &[]any{nagSecurityHub},
		},
	}
	if roleName != "" {
		s = append(s, memberRoleSuppression(roleName, "sts:AssumeRole only on the trailguard remediation role, in member accounts that join the organization after deployment."))
	}
	return &s
}

// memberRoleSuppression is the IAM5 suppression of sts:AssumeRole on the
// member role roleName in every account (arn:...:iam::*:role/roleName).
func memberRoleSuppression(roleName, reason string) *cdknag.NagPackSuppression {
	return &cdknag.NagPackSuppression{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String(reason),
		AppliesTo: &[]any{nagMemberRolesHead + roleName},
	}
}

// addStackSuppressions adds the central stack's suppressions.
func addStackSuppressions(tg *Trailguard, cfg Config) {
	roleName := ""
	if cfg.Organization {
		roleName = cfg.RoleName
	}
	cdknag.NagSuppressions_AddResourceSuppressions(tg.Remediation, remediationSuppressions(roleName), jsii.Bool(true))
	coordRole := ""
	if coordinatorReachesMembers(cfg) {
		coordRole = cfg.RoleName
	}
	cdknag.NagSuppressions_AddResourceSuppressions(tg.Roles[Sweeper], coordinatorSuppressions(coordRole), jsii.Bool(true))
}

// addMemberSuppressions adds the member stack's suppressions.
func addMemberSuppressions(m *MemberStack) {
	cdknag.NagSuppressions_AddResourceSuppressions(m.RemediationRole, remediationSuppressions(""), jsii.Bool(true))
}
