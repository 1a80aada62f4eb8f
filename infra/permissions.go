package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/plan"
)

// scope is where an IAM action of the remediation policy may act.
type scope int

const (
	scopeOwnKeys        scope = iota // KMS keys of the account the policy lives in
	scopeOwnTrails                   // trails of the account the policy lives in
	scopeTrails                      // any trail the account can see (organization trails carry the management account id)
	scopeBuckets                     // S3 buckets (GetBucketLocation)
	scopeTopic                       // the notices topic
	scopeMemberRoles                 // the remediation role in member accounts
	scopeCloudTrailRole              // CloudTrail's service-linked role of the account (read by UpdateTrail on an organization trail)
	scopeSecurityHub                 // Security Hub's hub and default product of the account the policy lives in
	scopeAny                         // actions that support no resource-level permission
)

// actionScopes assigns every action pkg/plan asks for to a scope. An action
// that is not listed falls back by service (kms: own keys; cloudtrail: own
// trails); anything else fails synthesis until someone decides its scope.
var actionScopes = map[string]scope{
	"cloudtrail:DescribeTrails":  scopeAny,
	"cloudtrail:GetTrail":        scopeTrails,
	"cloudtrail:GetTrailStatus":  scopeTrails,
	"cloudtrail:ListTags":        scopeTrails,
	"cloudtrail:UpdateTrail":     scopeOwnTrails,
	"ec2:DescribeRegions":        scopeAny,
	"organizations:ListAccounts": scopeAny,
	"s3:GetBucketLocation":       scopeBuckets,
	// Issue 11: the bucket's S3 Bucket Key setting; the organization id of
	// an organization trail's log path; the reads CloudTrail makes with the
	// caller's permissions on UpdateTrail of an organization trail
	// (pkg/plan UpdateTrail). The organizations actions support no
	// resource-level permission.
	"s3:GetEncryptionConfiguration":                     scopeBuckets,
	"organizations:DescribeOrganization":                scopeAny,
	"organizations:ListAWSServiceAccessForOrganization": scopeAny,
	"iam:GetRole":    scopeCloudTrailRole,
	"sns:Publish":    scopeTopic,
	"sts:AssumeRole": scopeMemberRoles,
	// Security Hub findings (pkg/securityhub): imported and read in the
	// account the finding is about.
	"securityhub:BatchImportFindings": scopeSecurityHub,
	"securityhub:BatchUpdateFindings": scopeSecurityHub,
	"securityhub:DescribeHub":         scopeSecurityHub,
	"securityhub:GetFindings":         scopeSecurityHub,
}

// scopeSids names each statement of the remediation policy.
var scopeSids = map[scope]string{
	scopeOwnKeys:        "TrailguardKeys",
	scopeOwnTrails:      "TrailguardTrailWrite",
	scopeTrails:         "TrailguardTrailRead",
	scopeBuckets:        "TrailguardBucketLocation",
	scopeTopic:          "TrailguardNotices",
	scopeMemberRoles:    "TrailguardMemberRoles",
	scopeCloudTrailRole: "TrailguardCloudTrailRoleRead",
	scopeSecurityHub:    "TrailguardSecurityHub",
	scopeAny:            "TrailguardUnscopedReads",
}

// RemediationActions is the exact, sorted set of IAM actions the functions
// need, computed from pkg/plan: every action kind's permissions, the read
// permissions, the dependency permissions (checked by CloudTrail on
// UpdateTrail of an organization trail), and in organization mode the
// organization permissions.
func RemediationActions(organization bool) []string {
	var acts []string
	for _, k := range plan.Kinds() {
		acts = append(acts, k.Permissions()...)
	}
	acts = append(acts, plan.ReadPermissions()...)
	acts = append(acts, plan.DependencyPermissions()...)
	if organization {
		acts = append(acts, plan.OrganizationPermissions()...)
	}
	sort.Strings(acts)
	return slices.Compact(acts)
}

// MemberActions is the set the member accounts' remediation role grants:
// RemediationActions without the organization permissions (the member role
// assumes nothing) and without sns:Publish: notices are published by the
// central functions with their own credentials to the central topic.
func MemberActions() []string {
	return slices.DeleteFunc(RemediationActions(false), func(a string) bool { return a == "sns:Publish" })
}

// policyTargets are the concrete resources of the scopes for one stack.
type policyTargets struct {
	topicARN *string // nil when the policy has no topic (member role)
	roleName string  // member remediation role name (organization mode)
}

// remediationStatements groups actions by scope into policy statements with
// trailguard's Sids, in a stable order. Write actions are limited to the
// stack's own account (arn:${Partition}:kms:*:${AccountId}:key/*,
// ...:cloudtrail:*:${AccountId}:trail/*); only actions that support no
// resource-level permission get "*".
func remediationStatements(actions []string, t policyTargets) ([]awsiam.PolicyStatement, error) {
	byScope := map[scope][]string{}
	for _, a := range actions {
		s, ok := actionScopes[a]
		if !ok {
			switch {
			case strings.HasPrefix(a, "kms:"):
				s = scopeOwnKeys
			case strings.HasPrefix(a, "cloudtrail:"):
				s = scopeOwnTrails
			default:
				return nil, fmt.Errorf("IAM action %s: no resource scope is defined for it in infra/permissions.go", a)
			}
		}
		byScope[s] = append(byScope[s], a)
	}
	var out []awsiam.PolicyStatement
	for s := scopeOwnKeys; s <= scopeAny; s++ {
		acts := byScope[s]
		if len(acts) == 0 {
			continue
		}
		var res string
		switch s {
		case scopeOwnKeys:
			res = ownKeysARN()
		case scopeOwnTrails:
			res = ownTrailsARN()
		case scopeTrails:
			res = "arn:" + *awscdk.Aws_PARTITION() + ":cloudtrail:*:*:trail/*"
		case scopeBuckets:
			res = "arn:" + *awscdk.Aws_PARTITION() + ":s3:::*"
		case scopeTopic:
			if t.topicARN == nil {
				return nil, fmt.Errorf("IAM action %s needs the notices topic, which this stack does not have", acts[0])
			}
			res = *t.topicARN
		case scopeMemberRoles:
			if t.roleName == "" {
				return nil, fmt.Errorf("IAM action %s needs the member role name", acts[0])
			}
			res = memberRoleARNPattern(t.roleName)
		case scopeCloudTrailRole:
			res = cloudTrailRoleARN()
		case scopeSecurityHub:
			res = ownSecurityHubARN()
		case scopeAny:
			res = "*"
		}
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(scopeSids[s]),
			Effect:    awsiam.Effect_ALLOW,
			Actions:   jsii.Strings(acts...),
			Resources: jsii.Strings(res),
		}))
	}
	return out, nil
}

// ownKeysARN matches every KMS key of the stack's account in any Region.
func ownKeysARN() string {
	return "arn:" + *awscdk.Aws_PARTITION() + ":kms:*:" + *awscdk.Aws_ACCOUNT_ID() + ":key/*"
}

// ownTrailsARN matches every trail of the stack's account in any Region.
func ownTrailsARN() string {
	return "arn:" + *awscdk.Aws_PARTITION() + ":cloudtrail:*:" + *awscdk.Aws_ACCOUNT_ID() + ":trail/*"
}

// cloudTrailRoleARN is CloudTrail's service-linked role in the stack's
// account (CloudTrail user guide, "Using service-linked roles for AWS
// CloudTrail",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/using-service-linked-roles.html).
func cloudTrailRoleARN() string {
	return "arn:" + *awscdk.Aws_PARTITION() + ":iam::" + *awscdk.Aws_ACCOUNT_ID() + ":role/aws-service-role/cloudtrail.amazonaws.com/AWSServiceRoleForCloudTrail"
}

// ownSecurityHubARN matches the Security Hub resources of the stack's
// account in any Region: its hub (hub/default) and its default product
// (product/<account>/default), under which findings are imported.
func ownSecurityHubARN() string {
	return "arn:" + *awscdk.Aws_PARTITION() + ":securityhub:*:" + *awscdk.Aws_ACCOUNT_ID() + ":*"
}

// memberRoleARNPattern matches the remediation role in every account.
func memberRoleARNPattern(roleName string) string {
	return "arn:" + *awscdk.Aws_PARTITION() + ":iam::*:role/" + roleName
}
