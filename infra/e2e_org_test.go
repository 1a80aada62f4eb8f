//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
)

// clientsAs are the clients of account (through sts:AssumeRole, which in
// moto acts as that account) in region.
func clientsAs(t *testing.T, srv *motoserver.Server, account, region string) e2eRegion {
	t.Helper()
	cfg, err := srv.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	if account != motoserver.AccountID {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+account+":role/OrganizationAccountAccessRole"))
	}
	return e2eRegion{cfn: cloudformation.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg), kms: kms.NewFromConfig(cfg)}
}

// The member template in an organization made with moto's Organizations
// API: management (moto's default account, also the central account
// here), two members in an OU. Each instance's stack is created with
// CreateStack, as the member account, where a service-managed StackSet
// would put it: every account of the OU but the management and the
// excluded central account, in every member Region, so each stack's
// resources can be read back (TestE2EOrganizationRun deploys the same
// template through CreateStackSet/CreateStackInstances). A third
// deployment puts an instance in the central account anyway (as if the
// filter were ignored): it completes without a second baseline alias.
func TestE2EMemberInstancesInOrganization(t *testing.T) {
	s := synth(t, orgContext)
	srv := e2eServer(t)
	ctx := context.Background()
	cfg, _ := srv.AWSConfig(ctx, "us-east-1")
	org := organizations.NewFromConfig(cfg)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("members")})
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, name := range []string{"member-a", "member-b"} {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: roots.Roots[0].Id, DestinationParentId: ou.OrganizationalUnit.Id}); err != nil {
			t.Fatalf("MoveAccount: %v", err)
		}
		members = append(members, id)
	}
	central := motoserver.AccountID
	bus := "arn:aws:events:us-east-1:" + central + ":event-bus/TrailguardOrganizationBus"
	params := map[string]string{
		ParamCentralAccount:  central,
		ParamCentralBusARN:   bus,
		ParamCentralRoleARNs: "arn:aws:iam::" + central + ":role/Trailguard-TrailRemediatorRole-AAAA",
	}
	var member map[string]any
	if err := json.Unmarshal([]byte(s.tg.Member.Template), &member); err != nil {
		t.Fatal(err)
	}
	regions := orgMemberRegions()
	for _, acct := range members {
		roles := 0
		for _, r := range regions {
			c := clientsAs(t, srv, acct, r)
			st, res := createStack(t, c, deployment{account: acct, region: r, params: params}, "StackSet-"+MemberStackSetName, member)
			if st != cfntypes.StackStatusCreateComplete {
				t.Fatalf("%s %s: %s", acct, r, st)
			}
			for id, rst := range statusOf(res, "AWS::IAM::Role") {
				if strings.HasPrefix(id, "RemediationRole") && rst == cfntypes.ResourceStatusCreateComplete {
					roles++
				}
			}
			checkDeployedForwarding(t, acct+" "+r, c, bus)
			checkDeployedKey(t, acct+" "+r, c)
		}
		if roles != 1 {
			t.Errorf("%s: remediation role created %d times over %v, want 1", acct, roles, regions)
		}
	}

	// The central account's own baseline key (the central stack's), then
	// a member instance there: it must not create a second alias.
	cc := clientsAs(t, srv, central, regions[0])
	if _, err := cc.kms.CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	keys, _ := cc.kms.ListKeys(ctx, &kms.ListKeysInput{})
	if _, err := cc.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(DefaultKeyAlias), TargetKeyId: keys.Keys[0].KeyId}); err != nil {
		t.Fatal(err)
	}
	st, res := createStack(t, cc, deployment{account: central, region: regions[0], params: params}, "StackSet-"+MemberStackSetName, member)
	if st != cfntypes.StackStatusCreateComplete {
		t.Fatalf("member instance in the central account: %s", st)
	}
	for _, r := range res {
		if typ := aws.ToString(r.ResourceType); typ == "AWS::KMS::Alias" || typ == "AWS::KMS::Key" {
			t.Errorf("member instance in the central account created %s", typ)
		}
	}
	aliases, _ := cc.kms.ListAliases(ctx, &kms.ListAliasesInput{})
	n := 0
	for _, a := range aliases.Aliases {
		if aws.ToString(a.AliasName) == DefaultKeyAlias {
			n++
		}
	}
	if n != 1 {
		t.Errorf("central account has %d %s aliases, want 1", n, DefaultKeyAlias)
	}
}
