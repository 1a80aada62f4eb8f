//go:build e2e

// The e2e tests deploy synthesized templates into moto server's
// CloudFormation (CreateStack) and read back what moto created. They run
// with `make e2e` (go test -tags e2e), the last step of `make test`; see
// README "Emulator gaps" for what moto does not do.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
)

// e2eServer starts a moto server for the test: without moto_server the
// test skips with the reason, and fails under CI=true (motoserver.ForTest).
func e2eServer(t *testing.T) *motoserver.Server {
	t.Helper()
	return motoserver.ForTest(t)
}

// e2eRegion is one Region's clients.
type e2eRegion struct {
	cfn *cloudformation.Client
	eb  *eventbridge.Client
	kms *kms.Client
}

func clientsIn(t *testing.T, s *motoserver.Server, region string) e2eRegion {
	t.Helper()
	cfg, err := s.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	return e2eRegion{cfn: cloudformation.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg), kms: kms.NewFromConfig(cfg)}
}

// createStack deploys tmpl as stack name and returns its final status and
// resources. It waits for a terminal status (moto creates synchronously;
// the poll bounds a slow one).
func createStack(t *testing.T, c e2eRegion, d deployment, name string, tmpl map[string]any) (cfntypes.StackStatus, []cfntypes.StackResource) {
	t.Helper()
	ctx := context.Background()
	params := d.params
	body, err := json.Marshal(forMoto(t, tmpl))
	if err != nil {
		t.Fatal(err)
	}
	in := &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityIam},
	}
	for k, v := range params {
		in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	if _, err := c.cfn.CreateStack(ctx, in); err != nil {
		// moto creates the resources within CreateStack and returns a
		// resource's error from it, where CloudFormation would report
		// CREATE_FAILED and roll back.
		t.Logf("CreateStack %s: %v", name, err)
		return cfntypes.StackStatusCreateFailed, nil
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStacks %s: %v", name, err)
		}
		st := out.Stacks[0].StackStatus
		if !strings.HasSuffix(string(st), "_IN_PROGRESS") || time.Now().After(deadline) {
			res, err := c.cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name)})
			if err != nil {
				t.Fatalf("DescribeStackResources %s: %v", name, err)
			}
			return st, res.StackResources
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkDeployedForwarding reads back the Region's rules: the trail and
// key patterns, each with one target, bus, through a role.
func checkDeployedForwarding(t *testing.T, what string, c e2eRegion, bus string) {
	t.Helper()
	ctx := context.Background()
	rules, err := c.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatalf("%s: ListRules: %v", what, err)
	}
	var pats []string
	for _, r := range rules.Rules {
		targets, err := c.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
		if err != nil {
			t.Fatalf("%s: ListTargetsByRule: %v", what, err)
		}
		if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != bus || aws.ToString(targets.Targets[0].RoleArn) == "" {
			t.Errorf("%s: rule %s targets %+v, want only %s with a role", what, aws.ToString(r.Name), targets.Targets, bus)
		}
		var m any
		if err := json.Unmarshal([]byte(aws.ToString(r.EventPattern)), &m); err != nil {
			t.Fatalf("%s: rule pattern: %v", what, err)
		}
		b, _ := json.Marshal(m)
		pats = append(pats, string(b))
	}
	slices.Sort(pats)
	if want := patterns(t); !slices.Equal(pats, want) {
		t.Errorf("%s: deployed patterns\n got %v\nwant %v", what, pats, want)
	}
}

// checkDeployedKey reads back the baseline alias and its key.
func checkDeployedKey(t *testing.T, what string, c e2eRegion) {
	t.Helper()
	ctx := context.Background()
	aliases, err := c.kms.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatalf("%s: ListAliases: %v", what, err)
	}
	for _, a := range aliases.Aliases {
		if aws.ToString(a.AliasName) != DefaultKeyAlias {
			continue
		}
		k, err := c.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: a.TargetKeyId})
		if err != nil {
			t.Fatalf("%s: DescribeKey %s (the alias's target): %v", what, aws.ToString(a.TargetKeyId), err)
		}
		if !k.KeyMetadata.Enabled {
			t.Errorf("%s: baseline key disabled", what)
		}
		rot, err := c.kms.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: a.TargetKeyId})
		if err != nil || !rot.KeyRotationEnabled {
			t.Errorf("%s: baseline key rotation %v, %v; want on", what, rot, err)
		}
		pol, err := c.kms.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: a.TargetKeyId, PolicyName: aws.String("default")})
		if err != nil {
			t.Fatalf("%s: GetKeyPolicy: %v", what, err)
		}
		for _, sid := range []string{compliance.SidCloudTrailEncrypt, compliance.SidCloudTrailDescribe, compliance.SidLogDecryptAccounts} {
			if !strings.Contains(aws.ToString(pol.Policy), `"`+sid+`"`) {
				t.Errorf("%s: baseline key policy lacks %s", what, sid)
			}
		}
		return
	}
	t.Errorf("%s: no %s in %v", what, DefaultKeyAlias, aliases.Aliases)
}

// forMoto is tmpl with each AWS::KMS::Key's KeyPolicy given as a JSON
// string (an Fn::Join of its text and its intrinsic functions), which
// CloudFormation also accepts for a Json property: moto keeps an object
// policy as an object, and its KMS DescribeKey/GetKeyPolicy then fail with
// a 500 (README "Emulator gaps").
func forMoto(t *testing.T, tmpl map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(tmpl)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	for _, r := range resources(out, "AWS::KMS::Key") {
		p := props(r)
		var parts []any
		jsonParts(t, p["KeyPolicy"], &parts)
		p["KeyPolicy"] = map[string]any{"Fn::Join": []any{"", parts}}
	}
	// moto resolves a Ref of an AWS::Events::EventBus to its internal
	// object, and a rule's EventBusName given so fails (500): put in its
	// place the bus's name, which is what Ref returns in CloudFormation
	// (README "Emulator gaps").
	buses := resources(out, "AWS::Events::EventBus")
	for _, r := range resources(out, "AWS::Events::Rule") {
		ref, _ := props(r)["EventBusName"].(map[string]any)
		if id, ok := ref["Ref"].(string); ok && len(ref) == 1 && buses[id] != nil {
			if name, ok := props(buses[id])["Name"].(string); ok {
				props(r)["EventBusName"] = name
			}
		}
	}
	// moto's CloudFormation creates no AWS::CloudWatch::Alarm (README
	// "Emulator gaps"), so a Fn::GetAtt of an alarm's Arn (the dashboard's
	// alarm widgets) would fail validation: put in its place the ARN
	// CloudFormation returns for an alarm
	// (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>; the
	// logical id stands for the generated name).
	alarms := map[string]bool{}
	for id, r := range out["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == "AWS::CloudWatch::Alarm" {
			alarms[id] = true
		}
	}
	out["Resources"] = replaceAlarmARNs(out["Resources"], alarms)
	return out
}

// replaceAlarmARNs returns v with every {"Fn::GetAtt": [alarm, "Arn"]} of
// an alarm in alarms replaced by the alarm's ARN as CloudFormation forms it.
func replaceAlarmARNs(v any, alarms map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(ga) == 2 {
			if id, _ := ga[0].(string); alarms[id] && ga[1] == "Arn" {
				return map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":cloudwatch:",
					map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":alarm:" + id}}}
			}
		}
		for k, e := range x {
			x[k] = replaceAlarmARNs(e, alarms)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = replaceAlarmARNs(e, alarms)
		}
		return x
	}
	return v
}

// jsonParts appends v as JSON text to parts, an intrinsic function (a
// string value) as itself between quotes.
func jsonParts(t *testing.T, v any, parts *[]any) {
	t.Helper()
	text := func(s string) {
		if n := len(*parts); n > 0 {
			if last, ok := (*parts)[n-1].(string); ok {
				(*parts)[n-1] = last + s
				return
			}
		}
		*parts = append(*parts, s)
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					text(`"`)
					*parts = append(*parts, x)
					text(`"`)
					return
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		text("{")
		for i, k := range keys {
			if i > 0 {
				text(",")
			}
			kb, _ := json.Marshal(k)
			text(string(kb) + ":")
			jsonParts(t, x[k], parts)
		}
		text("}")
	case []any:
		text("[")
		for i, e := range x {
			if i > 0 {
				text(",")
			}
			jsonParts(t, e, parts)
		}
		text("]")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		text(string(b))
	}
}

func statusOf(res []cfntypes.StackResource, typ string) map[string]cfntypes.ResourceStatus {
	out := map[string]cfntypes.ResourceStatus{}
	for _, r := range res {
		if aws.ToString(r.ResourceType) == typ {
			out[aws.ToString(r.LogicalResourceId)] = r.ResourceStatus
		}
	}
	return out
}

// Account mode's Region stacks, deployed into their Regions: forwarding
// rules to the home Region's default bus and a baseline key in each.
func TestE2ERegionStacks(t *testing.T) {
	s := synth(t, regionsContext)
	srv := e2eServer(t)
	bus := "arn:aws:events:eu-west-1:" + motoserver.AccountID + ":event-bus/default"
	for _, rs := range s.tg.Regions {
		c := clientsIn(t, srv, rs.Region)
		d := deployment{account: motoserver.AccountID, region: rs.Region}
		st, res := createStack(t, c, d, *rs.Stack.StackName(), stackJSON(t, rs.Stack))
		if st != cfntypes.StackStatusCreateComplete {
			t.Fatalf("%s: %s, resources %+v", rs.Region, st, res)
		}
		checkDeployedForwarding(t, rs.Region, c, bus)
		checkDeployedKey(t, rs.Region, c)

		// Deploying again changes nothing.
		redeployUnchanged(t, c, d, *rs.Stack.StackName(), stackJSON(t, rs.Stack), res)
		checkDeployedForwarding(t, rs.Region+" (again)", c, bus)
	}
}

// redeployUnchanged deploys tmpl again as stack name (deployed with
// resources res): CloudFormation refuses an update without changes ("No
// updates are to be performed"), and no resource's physical id changes.
func redeployUnchanged(t *testing.T, c e2eRegion, d deployment, name string, tmpl map[string]any, res []cfntypes.StackResource) {
	t.Helper()
	before := physicalIDs(res)
	body, _ := json.Marshal(forMoto(t, tmpl))
	in := &cloudformation.UpdateStackInput{
		StackName: aws.String(name), TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityIam},
	}
	for k, v := range d.params {
		in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	_, err := c.cfn.UpdateStack(context.Background(), in)
	if err != nil && !strings.Contains(err.Error(), "No updates are to be performed") {
		t.Fatalf("%s: second deployment: %v", name, err)
	}
	out, err := c.cfn.DescribeStackResources(context.Background(), &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if after := physicalIDs(out.StackResources); !maps.Equal(before, after) {
		t.Errorf("%s: second deployment changed resources\nbefore %v\n after %v", name, before, after)
	}
}

// physicalIDs maps logical to physical resource ids.
func physicalIDs(res []cfntypes.StackResource) map[string]string {
	out := map[string]string{}
	for _, r := range res {
		out[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}
	return out
}

// mgmtDeployment is a management stack in moto's account: the
// parameters keep their defaults (the central stack's outputs); d.params
// only resolves the key policy for forMoto.
func mgmtDeployment(region string) deployment {
	return deployment{account: motoserver.AccountID, region: region, params: map[string]string{
		ParamCentralBusARN:   centralBus,
		ParamCentralAccount:  "444444444444",
		ParamCentralRoleARNs: strings.Join(centralRoles, ","),
	}}
}

// The management stacks, one per member Region in one account: both
// complete, the named role is created once, and each Region forwards to
// the central bus and has its key. The control deploys the same templates
// with the role in every Region (today's main): the second Region fails,
// as IAM's global names make it fail in AWS.
func TestE2EManagementStacksRoleOnce(t *testing.T) {
	s := synth(t, managementContext)
	srv := e2eServer(t)
	roles := 0
	for _, m := range s.tg.Management {
		r := *m.Stack.Region()
		c := clientsIn(t, srv, r)
		st, res := createStack(t, c, mgmtDeployment(r), *m.Stack.StackName(), stackJSON(t, m.Stack))
		if st != cfntypes.StackStatusCreateComplete {
			t.Fatalf("%s: %s, resources %+v", r, st, res)
		}
		for id, rst := range statusOf(res, "AWS::IAM::Role") {
			if rst == cfntypes.ResourceStatusCreateComplete && strings.HasPrefix(id, "RemediationRole") {
				roles++
			}
		}
		checkDeployedForwarding(t, "management "+r, c, centralBus)
		checkDeployedKey(t, "management "+r, c)
	}
	if roles != 1 {
		t.Errorf("remediation role created by %d stacks, want 1", roles)
	}

	// Control: without the Region condition.
	var failed []string
	for i, m := range s.tg.Management {
		tmpl := stackJSON(t, m.Stack)
		for _, res := range tmpl["Resources"].(map[string]any) {
			delete(res.(map[string]any), "Condition")
		}
		// A different role name and alias, so the stacks above do not
		// interfere.
		for _, r := range resources(tmpl, "AWS::IAM::Role") {
			if props(r)["RoleName"] == DefaultRoleName {
				props(r)["RoleName"] = "ControlRole"
			}
		}
		for _, r := range resources(tmpl, "AWS::KMS::Alias") {
			props(r)["AliasName"] = "alias/control"
		}
		c := clientsIn(t, srv, *m.Stack.Region())
		st, _ := createStack(t, c, mgmtDeployment(*m.Stack.Region()), fmt.Sprintf("control-%d", i), tmpl)
		if st != cfntypes.StackStatusCreateComplete {
			failed = append(failed, *m.Stack.Region()+":"+string(st))
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], orgMemberRegions()[1]+":") {
		t.Errorf("control (role in every Region): failed stacks %v, want exactly the second Region's", failed)
	}
}
