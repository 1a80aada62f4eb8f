package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/event"
)

func TestAccountModeHasNoOrganizationResources(t *testing.T) {
	s := synth(t, nil)
	for _, typ := range []string{"AWS::Events::EventBus", "AWS::Events::EventBusPolicy", "AWS::CloudFormation::StackSet"} {
		if n := len(resources(s.json, typ)); n != 0 {
			t.Errorf("account mode has %d %s", n, typ)
		}
	}
	if s.tg.Member != nil {
		t.Error("account mode rendered a member template")
	}
}

func TestOrganizationBus(t *testing.T) {
	s := synth(t, orgContext)
	busID, _ := only(t, s.json, "AWS::Events::EventBus")
	_, pol := only(t, s.json, "AWS::Events::EventBusPolicy")
	p := props(pol)
	if ok, got, _ := jsonEqual(p["EventBusName"], map[string]any{"Ref": busID}); !ok {
		t.Errorf("bus policy on %s, want the organization bus", got)
	}
	st := mustResolve(t, p["Statement"]).(map[string]any)
	want := map[string]any{
		"Action":    "events:PutEvents",
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": "*"},
		"Resource":  "${" + busID + ".Arn}",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": orgContext["organizationId"]}},
		"Sid":       st["Sid"],
	}
	if ok, got, exp := jsonEqual(st, want); !ok {
		t.Errorf("bus policy statement\n got %s\nwant %s", got, exp)
	}

	for _, tc := range []struct {
		fn      string
		pattern event.Pattern
	}{
		{TrailRemediator, event.TrailPattern()},
		{KeyRemediator, event.KeyPattern()},
	} {
		// Both buses' rules feed the same event queue.
		onBus, onDefault := 0, 0
		for id, r := range rulesTo(s, logicalID(s, s.tg.Queues[tc.fn])) {
			if ok, got, _ := jsonEqual(props(r)["EventPattern"], tc.pattern); !ok {
				t.Errorf("%s: pattern %s differs from the shared definition", id, got)
			}
			switch bus := props(r)["EventBusName"].(type) {
			case nil:
				onDefault++
			case map[string]any:
				if bus["Ref"] == busID {
					onBus++
				}
			}
		}
		if onBus != 1 || onDefault != 1 {
			t.Errorf("%s: %d rules on the organization bus and %d on the default bus, want 1 and 1", tc.fn, onBus, onDefault)
		}
	}
}

func TestMemberStackSet(t *testing.T) {
	s := synth(t, orgContext)
	_, ss := only(t, s.json, "AWS::CloudFormation::StackSet")
	must(t, "StackSet properties", func() {
		s.template.HasResourceProperties(jsii.String("AWS::CloudFormation::StackSet"), map[string]any{
			"PermissionModel": "SERVICE_MANAGED",
			"AutoDeployment":  map[string]any{"Enabled": true, "RetainStacksOnAccountRemoval": false},
			"Capabilities":    []any{"CAPABILITY_NAMED_IAM"},
			"StackSetName":    MemberStackSetName,
			"StackInstancesGroup": []any{map[string]any{
				"DeploymentTargets": map[string]any{"OrganizationalUnitIds": []any{"r-ab12"}},
				"Regions":           []any{"us-east-1", "eu-west-1"},
			}},
			"CallAs": map[string]any{"Fn::If": []any{"IsManagementAccount", "SELF", "DELEGATED_ADMIN"}},
		})
		s.template.HasCondition(jsii.String("IsManagementAccount"), map[string]any{
			"Fn::Equals": []any{map[string]any{"Ref": "AWS::AccountId"}, orgContext["managementAccount"]},
		})
	})
	p := props(ss)
	if body, _ := p["TemplateBody"].(string); body != s.tg.Member.Template {
		t.Error("TemplateBody is not the synthesized member template")
	}
	if n := len(s.tg.Member.Template); n > maxTemplateBody {
		t.Errorf("member template is %d bytes, over the TemplateBody limit", n)
	}
	params := map[string]string{}
	for _, e := range mustResolve(t, p["Parameters"]).([]any) {
		m := e.(map[string]any)
		params[m["ParameterKey"].(string)], _ = m["ParameterValue"].(string)
	}
	busID, _ := only(t, s.json, "AWS::Events::EventBus")
	if params[ParamCentralBusARN] != "${"+busID+".Arn}" {
		t.Errorf("%s = %q, want the organization bus ARN", ParamCentralBusARN, params[ParamCentralBusARN])
	}
	if params[ParamCentralAccount] != testAccount {
		t.Errorf("%s = %q, want the stack's account", ParamCentralAccount, params[ParamCentralAccount])
	}
	roles := strings.Split(params[ParamCentralRoleARNs], ",")
	var fnRoles []string
	for _, id := range functionIDs(t, s.json) {
		r := props(s.json["Resources"].(map[string]any)[id].(map[string]any))["Role"]
		fnRoles = append(fnRoles, mustResolve(t, r).(string))
	}
	slices.Sort(roles)
	slices.Sort(fnRoles)
	if !slices.Equal(roles, fnRoles) {
		t.Errorf("%s = %v, want the function roles %v", ParamCentralRoleARNs, roles, fnRoles)
	}
	// Every parameter the member template declares is given.
	for name := range s.member["Parameters"].(map[string]any) {
		if _, ok := params[name]; !ok {
			t.Errorf("member parameter %s is not set by the StackSet", name)
		}
	}
}

func TestMemberTemplate(t *testing.T) {
	s := synth(t, orgContext)
	m := s.member
	if _, has := m["Rules"]; has {
		t.Error("member template has bootstrap Rules; a StackSet instance has no CDK bootstrap")
	}
	member := assertions.Template_FromJSON(&m, nil)
	must(t, "member resources", func() {
		member.ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(2))
		member.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(1))
		member.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{"RoleName": DefaultRoleName})
	})

	// Forwarding rules: the shared patterns, to the central bus, with a
	// role allowed to PutEvents there only.
	var forwardRole string
	var patterns []any
	for id, r := range resources(m, "AWS::Events::Rule") {
		p := props(r)
		patterns = append(patterns, p["EventPattern"])
		targets := p["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%s: %d targets", id, len(targets))
		}
		tg := mustResolve(t, targets[0]).(map[string]any)
		if tg["Arn"] != "${"+ParamCentralBusARN+"}" {
			t.Errorf("%s: target %v, want the central bus parameter", id, tg["Arn"])
		}
		forwardRole = strings.TrimSuffix(strings.TrimPrefix(tg["RoleArn"].(string), "${"), ".Arn}")
	}
	for _, want := range []event.Pattern{event.TrailPattern(), event.KeyPattern()} {
		if !slices.ContainsFunc(patterns, func(p any) bool { ok, _, _ := jsonEqual(p, want); return ok }) {
			t.Errorf("no forwarding rule with pattern %v", want)
		}
	}
	var forwardDocs []any
	for _, r := range resources(m, "AWS::IAM::Policy") {
		for _, role := range props(r)["Roles"].([]any) {
			if role.(map[string]any)["Ref"] == forwardRole {
				forwardDocs = append(forwardDocs, props(r)["PolicyDocument"])
			}
		}
	}
	if got := actionSet(t, forwardDocs...); !slices.Equal(got, []string{"events:PutEvents"}) {
		t.Errorf("forward role actions = %v, want events:PutEvents", got)
	}
	for _, d := range forwardDocs {
		for _, st := range statements(t, d) {
			if res := strs(st["Resource"]); !slices.Equal(res, []string{"${" + ParamCentralBusARN + "}"}) {
				t.Errorf("forward role PutEvents on %v, want the central bus only", res)
			}
		}
	}

	// The remediation role: only the central functions' roles may assume
	// it, and it grants exactly the plan's actions (less the ones only the
	// central functions use).
	var remediation map[string]any
	for _, r := range resources(m, "AWS::IAM::Role") {
		if props(r)["RoleName"] == DefaultRoleName {
			remediation = props(r)
		}
	}
	trust := statements(t, remediation["AssumeRolePolicyDocument"])
	if len(trust) != 1 {
		t.Fatalf("trust policy has %d statements, want 1", len(trust))
	}
	wantTrust := map[string]any{
		"Action":    "sts:AssumeRole",
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::${" + ParamCentralAccount + "}:root"},
		"Condition": map[string]any{
			"ArnEquals":    map[string]any{"aws:PrincipalArn": "${" + ParamCentralRoleARNs + "}"},
			"StringEquals": map[string]any{"aws:PrincipalOrgID": orgContext["organizationId"]},
		},
	}
	if ok, got, exp := jsonEqual(trust[0], wantTrust); !ok {
		t.Errorf("remediation trust\n got %s\nwant %s", got, exp)
	}
	var docs []any
	for _, p := range remediation["Policies"].([]any) {
		docs = append(docs, p.(map[string]any)["PolicyDocument"])
	}
	want := slices.DeleteFunc(planActions(false), func(a string) bool { return a == "sns:Publish" })
	if got := actionSet(t, docs...); !slices.Equal(got, want) {
		t.Errorf("member remediation actions\n got %v\nwant %v", got, want)
	}
	var all []any
	for _, d := range identityPolicies(m) {
		all = append(all, d)
	}
	wantAll := append(slices.Clone(want), "events:PutEvents")
	slices.Sort(wantAll)
	if got := actionSet(t, all...); !slices.Equal(got, wantAll) {
		t.Errorf("member identity-policy actions\n got %v\nwant %v", got, wantAll)
	}

	// The baseline key, same policy and settings as the central one.
	_, key := only(t, m, "AWS::KMS::Key")
	if props(key)["EnableKeyRotation"] != true || key["DeletionPolicy"] != "Retain" {
		t.Errorf("member baseline key: rotation %v, deletion %v", props(key)["EnableKeyRotation"], key["DeletionPolicy"])
	}
	checkBaselinePolicy(t, props(key)["KeyPolicy"])
	_, alias := only(t, m, "AWS::KMS::Alias")
	if props(alias)["AliasName"] != DefaultKeyAlias {
		t.Errorf("member alias = %v", props(alias)["AliasName"])
	}
}

func TestCentralRolesMayAssumeMemberRole(t *testing.T) {
	s := synth(t, orgContext)
	_, mp := only(t, s.json, "AWS::IAM::ManagedPolicy")
	for _, st := range statements(t, props(mp)["PolicyDocument"]) {
		if slices.Contains(strs(st["Action"]), "sts:AssumeRole") {
			if res := strs(st["Resource"]); len(res) != 1 || res[0] != "arn:aws:iam::*:role/"+DefaultRoleName {
				t.Errorf("sts:AssumeRole on %v, want only the member role", res)
			}
			return
		}
	}
	t.Error("central policy has no sts:AssumeRole")
}

func TestOrganizationContextRequired(t *testing.T) {
	for _, missing := range []string{"organizationId", "managementAccount", "organizationalUnitIds", "memberRegions"} {
		ctx := map[string]any{}
		for k, v := range orgContext {
			if k != missing {
				ctx[k] = v
			}
		}
		_, err := ConfigFromContext(func(k string) any { return ctx[k] })
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: err = %v, want one naming it", missing, err)
		}
	}
	// A JSON list given on the command line.
	ctx := map[string]any{}
	for k, v := range orgContext {
		ctx[k] = v
	}
	raw, _ := json.Marshal([]string{"ou-ab12-abcdefgh", "r-ab12"})
	ctx["organizationalUnitIds"] = string(raw)
	c, err := ConfigFromContext(func(k string) any { return ctx[k] })
	if err != nil || !slices.Equal(c.OrganizationalUnitIDs, []string{"ou-ab12-abcdefgh", "r-ab12"}) {
		t.Errorf("JSON list context: %v, %v", c.OrganizationalUnitIDs, err)
	}
}
