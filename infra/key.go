package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/compliance"
)

// NewBaselineKey creates the account's baseline CloudTrail key in scope:
// a symmetric customer managed key with rotation on, the given alias, kept
// when the stack is deleted (logs written with it must stay readable), and
// a key policy with the CDK's account-root admin statement (so IAM policies
// and key admins keep working) plus CloudTrail's encrypt and describe
// statements and the account's log-reader statement for every trail of the
// account (trails are not known at deploy time), and, when readers are
// configured, the explicit readers' decrypt statement. The statements carry
// pkg/compliance's Sids, so the remediator recognises them as its own.
func NewBaselineKey(scope constructs.Construct, id string, alias string, readers []string) awskms.Key {
	key := awskms.NewKey(scope, jsii.String(id), &awskms.KeyProps{
		Description:       jsii.String("trailguard baseline key for CloudTrail SSE-KMS"),
		Alias:             jsii.String(alias),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	for _, st := range BaselineKeyStatements(readers) {
		key.AddToResourcePolicy(st, jsii.Bool(false))
	}
	return key
}

// BaselineKeyStatements are the CloudTrail statements of the baseline key
// policy, for the account the stack is deployed in, in the shapes of
// KEY-POLICY.md.
func BaselineKeyStatements(readers []string) []awsiam.PolicyStatement {
	trails := jsii.String(ownTrailsARN())
	cloudtrail := awsiam.NewServicePrincipal(jsii.String("cloudtrail.amazonaws.com"), nil)
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(compliance.SidCloudTrailEncrypt),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{cloudtrail},
			Actions:    jsii.Strings("kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringLike": map[string]any{
					"kms:EncryptionContext:aws:cloudtrail:arn": trails,
					"aws:SourceArn": trails,
				},
			},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(compliance.SidCloudTrailDescribe),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{cloudtrail},
			Actions:    jsii.Strings("kms:DescribeKey"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringLike": map[string]any{"aws:SourceArn": trails},
			},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(compliance.SidLogDecryptAccounts),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("kms:Decrypt", "kms:ReEncryptFrom"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"kms:CallerAccount": awscdk.Aws_ACCOUNT_ID()},
				"StringLike":   map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": trails},
			},
		}),
	}
	if len(readers) > 0 {
		var principals []awsiam.IPrincipal
		for _, r := range readers {
			principals = append(principals, awsiam.NewArnPrincipal(jsii.String(r)))
		}
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(compliance.SidLogDecryptReaders),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &principals,
			Actions:    jsii.Strings("kms:Decrypt"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"Null": map[string]any{"kms:EncryptionContext:aws:cloudtrail:arn": "false"},
			},
		}))
	}
	return statements
}
