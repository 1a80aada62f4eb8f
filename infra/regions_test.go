package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/event"
)

// Contexts of the multi-Region tests.
var (
	// regionsContext is account mode with the central stack pinned to
	// eu-west-1 and three covered Regions.
	regionsContext = map[string]any{
		"region":  "eu-west-1",
		"regions": "us-east-1,eu-west-1,ap-southeast-2",
	}
	// orgRegionContext is organization mode with the central stack's
	// Region known.
	orgRegionContext = with(orgContext, map[string]any{"region": "us-east-1"})
	// centralBus and centralRoles are the central stack outputs the
	// management part takes; the central account is 444444444444.
	centralBus   = "arn:aws:events:us-east-1:444444444444:event-bus/TrailguardOrganizationBus"
	centralRoles = []string{
		"arn:aws:iam::444444444444:role/Trailguard-TrailRemediatorRole-AAAA",
		"arn:aws:iam::444444444444:role/Trailguard-KeyRemediatorRole-BBBB",
		"arn:aws:iam::444444444444:role/Trailguard-SweeperRole-CCCC",
	}
	managementContext = with(orgContext, map[string]any{
		"part":                    PartManagement,
		"centralEventBusArn":      centralBus,
		"centralFunctionRoleArns": strings.Join(centralRoles, ","),
	})
)

// with returns base with the overrides added.
func with(base, overrides map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

// stackJSON is a synthesized stack's template.
func stackJSON(t *testing.T, stack awscdk.Stack) map[string]any {
	t.Helper()
	var out map[string]any
	must(t, "template of "+*stack.StackName(), func() {
		out = *assertions.Template_FromStack(stack, nil).ToJSON()
	})
	return out
}

// deployment is one stack (instance) of a template: its account, Region
// and parameter values.
type deployment struct {
	account, region string
	params          map[string]string
}

// created returns the resources CloudFormation creates for template tmpl
// in d: Conditions evaluated (Fn::Equals, Fn::Not, Fn::And, Fn::Or,
// Condition) over the pseudo parameters and the parameters (d.params,
// else their defaults).
func created(t *testing.T, tmpl map[string]any, d deployment) map[string]map[string]any {
	t.Helper()
	conds, _ := tmpl["Conditions"].(map[string]any)
	paramDefs, _ := tmpl["Parameters"].(map[string]any)
	var value func(v any) string
	value = func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case map[string]any:
			if ref, ok := x["Ref"].(string); ok {
				switch ref {
				case "AWS::AccountId":
					return d.account
				case "AWS::Region":
					return d.region
				}
				if p, ok := d.params[ref]; ok {
					return p
				}
				if def, ok := paramDefs[ref].(map[string]any); ok {
					if s, ok := def["Default"].(string); ok {
						return s
					}
				}
				t.Fatalf("parameter %s has no value", ref)
			}
		}
		t.Fatalf("cannot evaluate %v in a condition", v)
		return ""
	}
	var eval func(e any) bool
	eval = func(e any) bool {
		m, ok := e.(map[string]any)
		if !ok || len(m) != 1 {
			t.Fatalf("condition expression %v", e)
		}
		for k, arg := range m {
			l, _ := arg.([]any)
			switch k {
			case "Fn::Equals":
				return value(l[0]) == value(l[1])
			case "Fn::Not":
				return !eval(l[0])
			case "Fn::And", "Fn::Or":
				and := k == "Fn::And"
				for _, x := range l {
					if eval(x) != and {
						return !and
					}
				}
				return and
			case "Condition":
				name, _ := arg.(string)
				return eval(conds[name])
			}
		}
		t.Fatalf("condition expression %v", e)
		return false
	}
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if c, ok := rm["Condition"].(string); ok {
			def, ok := conds[c]
			if !ok {
				t.Fatalf("%s: condition %s not defined", id, c)
			}
			if !eval(def) {
				continue
			}
		}
		out[id] = rm
	}
	return out
}

// namedIAM counts, over deployments, the IAM resources created with a
// fixed name, by name: IAM names are global per account.
func namedIAM(t *testing.T, tmpl map[string]any, ds []deployment) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range ds {
		for _, r := range created(t, tmpl, d) {
			typ, _ := r["Type"].(string)
			if !strings.HasPrefix(typ, "AWS::IAM::") {
				continue
			}
			for _, prop := range []string{"RoleName", "ManagedPolicyName", "UserName", "GroupName", "InstanceProfileName"} {
				if name, ok := props(r)[prop]; ok {
					n[d.account+"/"+fmt.Sprint(name)]++
				}
			}
		}
	}
	return n
}

// memberDeployments are the StackSet's instances in one member account,
// one per member Region.
func memberDeployments(account string, regions []string, centralAccount string) []deployment {
	var ds []deployment
	for _, r := range regions {
		ds = append(ds, deployment{account: account, region: r, params: map[string]string{
			ParamCentralAccount:  centralAccount,
			ParamCentralBusARN:   "arn:aws:events:us-east-1:" + centralAccount + ":event-bus/b",
			ParamCentralRoleARNs: "arn:aws:iam::" + centralAccount + ":role/r",
		}})
	}
	return ds
}

// Finding 1: the member template's named remediation role is created once
// per account, by the instance in the role Region, and every other
// resource in every Region.
func TestMemberRoleOncePerAccount(t *testing.T) {
	s := synth(t, orgContext)
	regions := orgMemberRegions()
	ds := memberDeployments("555555555555", regions, testAccount)
	named := namedIAM(t, s.member, ds)
	roleKey := "555555555555/" + DefaultRoleName
	if named[roleKey] != 1 {
		t.Errorf("role %s created %d times over Regions %v, want once", DefaultRoleName, named[roleKey], regions)
	}
	for name, n := range named {
		if n > 1 {
			t.Errorf("named IAM resource %s created %d times in one account", name, n)
		}
	}
	for _, d := range ds {
		got := created(t, s.member, d)
		for _, typ := range []string{"AWS::Events::Rule", "AWS::KMS::Key", "AWS::KMS::Alias"} {
			n := 0
			for _, r := range got {
				if r["Type"] == typ {
					n++
				}
			}
			want := 1
			if typ == "AWS::Events::Rule" {
				want = 2
			}
			if n != want {
				t.Errorf("%s: %d %s, want %d", d.region, n, typ, want)
			}
		}
		_, hasRole := got[logicalIDIn(s.tg.Member.Stack, s.tg.Member.RemediationRole)]
		if hasRole != (d.region == regions[0]) {
			t.Errorf("%s: remediation role created = %v, want it only in %s", d.region, hasRole, regions[0])
		}
	}
}

// logicalIDIn is the logical id of c's CloudFormation resource in stack.
func logicalIDIn(stack awscdk.Stack, c constructs.IConstruct) string {
	return *stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// orgMemberRegions are orgContext's member Regions.
func orgMemberRegions() []string {
	return strings.Split(orgContext["memberRegions"].(string), ",")
}

// forwardTargets returns, for each forwarding rule of tmpl, its pattern
// and the ARN of its single target (resolved against the deployment's
// parameters), and checks the target's role may put events there.
func forwardTargets(t *testing.T, tmpl map[string]any, d deployment) map[string]string {
	t.Helper()
	got := created(t, tmpl, d)
	out := map[string]string{}
	for id, r := range got {
		if r["Type"] != "AWS::Events::Rule" {
			continue
		}
		targets, _ := props(r)["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%s: %d targets, want 1", id, len(targets))
		}
		tg := targets[0].(map[string]any)
		arn := substitute(t, tg["Arn"], d)
		pat, _ := json.Marshal(props(r)["EventPattern"])
		out[string(pat)] = arn
		roleRef, _ := tg["RoleArn"].(map[string]any)
		roleID, _ := roleRef["Fn::GetAtt"].([]any)
		if len(roleID) != 2 {
			t.Fatalf("%s: target has no role", id)
		}
		allowed := false
		for _, pol := range resources(tmpl, "AWS::IAM::Policy") {
			if !slices.ContainsFunc(props(pol)["Roles"].([]any), func(v any) bool {
				m, _ := v.(map[string]any)
				return m["Ref"] == roleID[0]
			}) {
				continue
			}
			for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				stm := st.(map[string]any)
				if stm["Effect"] == "Allow" && slices.Contains(strs(stm["Action"]), "events:PutEvents") && substitute(t, stm["Resource"], d) == arn {
					allowed = true
				}
			}
		}
		if !allowed {
			t.Errorf("%s: role %v may not events:PutEvents on %s", id, roleID[0], arn)
		}
	}
	return out
}

// substitute evaluates a string value of a template (Ref, Fn::Join,
// Fn::Select/Fn::Split of a parameter) for deployment d.
func substitute(t *testing.T, v any, d deployment) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		for k, arg := range x {
			switch k {
			case "Ref":
				switch arg {
				case "AWS::AccountId":
					return d.account
				case "AWS::Region":
					return d.region
				case "AWS::Partition":
					return "aws"
				}
				if p, ok := d.params[arg.(string)]; ok {
					return p
				}
				t.Fatalf("no value for %v", arg)
			case "Fn::Join":
				l := arg.([]any)
				var parts []string
				for _, p := range l[1].([]any) {
					parts = append(parts, substitute(t, p, d))
				}
				return strings.Join(parts, l[0].(string))
			}
		}
	}
	t.Fatalf("cannot substitute %v", v)
	return ""
}

// patterns are the forwarded patterns, as JSON.
func patterns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range []event.Pattern{event.TrailPattern(), event.KeyPattern()} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		// Through a map, so the key order is the template's (sorted).
		var m any
		_ = json.Unmarshal(b, &m)
		b, _ = json.Marshal(m)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// checkForwarding asserts tmpl, deployed as d, forwards the trail and key
// patterns to bus.
func checkForwarding(t *testing.T, what string, tmpl map[string]any, d deployment, bus string) {
	t.Helper()
	got := forwardTargets(t, tmpl, d)
	var pats []string
	for p, arn := range got {
		pats = append(pats, p)
		if arn != bus {
			t.Errorf("%s: rule %s forwards to %s, want %s", what, p, arn, bus)
		}
	}
	slices.Sort(pats)
	if want := patterns(t); !slices.Equal(pats, want) {
		t.Errorf("%s: forwarded patterns\n got %v\nwant %v", what, pats, want)
	}
}

// checkBaselineKey asserts tmpl creates, as d, one baseline key with the
// default alias.
func checkBaselineKey(t *testing.T, what string, tmpl map[string]any, d deployment) {
	t.Helper()
	var aliases []string
	keys := 0
	for _, r := range created(t, tmpl, d) {
		switch r["Type"] {
		case "AWS::KMS::Key":
			keys++
		case "AWS::KMS::Alias":
			aliases = append(aliases, fmt.Sprint(props(r)["AliasName"]))
		}
	}
	if keys != 1 || !slices.Equal(aliases, []string{DefaultKeyAlias}) {
		t.Errorf("%s: %d keys and aliases %v, want one key with %s", what, keys, aliases, DefaultKeyAlias)
	}
}

// Finding 3: account mode puts forwarding rules and a baseline key in
// every covered Region other than the stack's, forwarding to the default
// bus of the stack's Region, whose rules feed the event queues.
func TestAccountModeCoversEveryRegion(t *testing.T) {
	s := synth(t, regionsContext)
	var got []string
	for _, rs := range s.tg.Regions {
		got = append(got, rs.Region)
		if *rs.Stack.Region() != rs.Region {
			t.Errorf("stack %s is in Region %s, want %s", *rs.Stack.StackName(), *rs.Stack.Region(), rs.Region)
		}
		if want := RegionStackName(DefaultStackName, rs.Region); *rs.Stack.StackName() != want {
			t.Errorf("stack name %s, want %s", *rs.Stack.StackName(), want)
		}
		tmpl := stackJSON(t, rs.Stack)
		d := deployment{account: testAccount, region: rs.Region}
		checkForwarding(t, rs.Region, tmpl, d, "arn:aws:events:eu-west-1:"+testAccount+":event-bus/default")
		checkBaselineKey(t, rs.Region, tmpl, d)
		if n := len(namedIAM(t, tmpl, []deployment{d})); n != 0 {
			t.Errorf("%s: %d named IAM resources, want none", rs.Region, n)
		}
	}
	slices.Sort(got)
	if want := []string{"ap-southeast-2", "us-east-1"}; !slices.Equal(got, want) {
		t.Errorf("Region stacks in %v, want %v (the covered Regions but the stack's own)", got, want)
	}
	// The central stack's default-bus rules take every Region's events
	// (their patterns do not filter on Region).
	for _, p := range []event.Pattern{event.TrailPattern(), event.KeyPattern()} {
		if _, ok := p["region"]; ok {
			t.Errorf("pattern %v filters on region: forwarded events would be dropped", p)
		}
	}
}

func TestCoverRegionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"account mode, no regions", Config{}, DefaultRegions},
		{"account mode, regions", Config{Regions: []string{"eu-south-1"}}, []string{"eu-south-1"}},
		{"organization mode", Config{Organization: true, Regions: []string{"x"}, MemberRegions: []string{"eu-west-1", "us-east-1"}}, []string{"eu-west-1", "us-east-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.CoverRegions(); !slices.Equal(got, tc.want) {
				t.Errorf("CoverRegions() = %v, want %v", got, tc.want)
			}
		})
	}
	if len(DefaultRegions) != 17 || !slices.IsSorted(DefaultRegions) {
		t.Errorf("DefaultRegions: %d, sorted %v; want the 17 default Regions, sorted", len(DefaultRegions), slices.IsSorted(DefaultRegions))
	}
}

// Without a known Region (environment-agnostic synthesis) there are no
// Region stacks, and the central stack says so.
func TestNoHomeRegionWarns(t *testing.T) {
	s := synth(t, nil)
	if len(s.tg.Regions) != 0 {
		t.Errorf("%d Region stacks without a home Region", len(s.tg.Regions))
	}
	must(t, "warning", func() {
		assertions.Annotations_FromStack(s.tg.Stack).HasWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("no Region known.*")))
	})
}

// Finding 4: organization mode covers every member Region of the central
// account too (Region stacks), and the StackSet every member Region.
func TestOrganizationCoversCentralRegions(t *testing.T) {
	s := synth(t, orgRegionContext)
	var got []string
	for _, rs := range s.tg.Regions {
		got = append(got, rs.Region)
		tmpl := stackJSON(t, rs.Stack)
		d := deployment{account: testAccount, region: rs.Region}
		checkForwarding(t, rs.Region, tmpl, d, "arn:aws:events:us-east-1:"+testAccount+":event-bus/default")
		checkBaselineKey(t, rs.Region, tmpl, d)
	}
	if want := []string{"eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("central Region stacks in %v, want %v", got, want)
	}
	_, ss := only(t, s.json, "AWS::CloudFormation::StackSet")
	group := props(ss)["StackInstancesGroup"].([]any)[0].(map[string]any)
	if regions := strs(group["Regions"]); !slices.Equal(regions, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("StackSet Regions %v, want every member Region", regions)
	}
	// Every member instance forwards to the organization bus.
	for _, d := range memberDeployments("555555555555", orgMemberRegions(), testAccount) {
		checkForwarding(t, "member "+d.region, s.member, d, d.params[ParamCentralBusARN])
	}
}

// Finding 2: the management account, where no StackSet instance goes,
// gets the member template as a stack per member Region: forwarding to
// the central bus, the baseline key, and the remediation role (once) that
// only the central functions' roles may assume.
func TestManagementStacks(t *testing.T) {
	s := synth(t, managementContext)
	if s.tg.Stack != nil {
		t.Error("part=management synthesized the central stack")
	}
	mgmt := orgContext["managementAccount"].(string)
	var regions []string
	var tmpls []map[string]any
	var ds []deployment
	for _, m := range s.tg.Management {
		r := *m.Stack.Region()
		regions = append(regions, r)
		if *m.Stack.Account() != mgmt {
			t.Errorf("%s: account %s, want the management account %s", *m.Stack.StackName(), *m.Stack.Account(), mgmt)
		}
		if want := ManagementStackName(DefaultStackName, r); *m.Stack.StackName() != want {
			t.Errorf("stack name %s, want %s", *m.Stack.StackName(), want)
		}
		tmpl := stackJSON(t, m.Stack)
		tmpls = append(tmpls, tmpl)
		// Deployed as a plain stack: the parameters' defaults apply.
		d := deployment{account: mgmt, region: r, params: map[string]string{
			ParamCentralBusARN:   centralBus,
			ParamCentralAccount:  "444444444444",
			ParamCentralRoleARNs: strings.Join(centralRoles, ","),
		}}
		for k, v := range d.params {
			def, _ := tmpl["Parameters"].(map[string]any)[k].(map[string]any)
			if def["Default"] != v {
				t.Errorf("%s: parameter %s default %v, want %s", r, k, def["Default"], v)
			}
		}
		ds = append(ds, d)
		checkForwarding(t, "management "+r, tmpl, d, centralBus)
		checkBaselineKey(t, "management "+r, tmpl, d)
		role, hasRole := "", false
		for id, res := range created(t, tmpl, d) {
			if res["Type"] == "AWS::IAM::Role" && props(res)["RoleName"] == DefaultRoleName {
				role, hasRole = id, true
			}
		}
		if hasRole != (r == orgMemberRegions()[0]) {
			t.Errorf("%s: remediation role = %v, want it only in %s", r, hasRole, orgMemberRegions()[0])
		}
		if hasRole {
			trust := resources(tmpl, "AWS::IAM::Role")[role]
			doc, _ := json.Marshal(props(trust)["AssumeRolePolicyDocument"])
			for _, want := range []string{`"Ref":"` + ParamCentralRoleARNs + `"`, `"aws:PrincipalOrgID":"` + orgContext["organizationId"].(string) + `"`} {
				if !strings.Contains(string(doc), want) {
					t.Errorf("%s: trust policy %s lacks %s", r, doc, want)
				}
			}
		}
	}
	if want := orgMemberRegions(); !slices.Equal(regions, want) {
		t.Errorf("management stacks in %v, want %v", regions, want)
	}
	total := map[string]int{}
	for i, tmpl := range tmpls {
		for k, n := range namedIAM(t, tmpl, ds[i:i+1]) {
			total[k] += n
		}
	}
	if n := total[mgmt+"/"+DefaultRoleName]; n != 1 {
		t.Errorf("management account gets the role %d times, want 1", n)
	}
}

func TestManagementPartNeedsCentralOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"no bus", with(managementContext, map[string]any{"centralEventBusArn": nil}), `"centralEventBusArn"`},
		{"no roles", with(managementContext, map[string]any{"centralFunctionRoleArns": nil}), `"centralFunctionRoleArns"`},
		{"bad bus", with(managementContext, map[string]any{"centralEventBusArn": "arn:aws:sqs:us-east-1:444444444444:q"}), `"centralEventBusArn"`},
		{"account mode", with(managementContext, map[string]any{"organization": false}), `part=management`},
		{"central in management", with(managementContext, map[string]any{"centralEventBusArn": "arn:aws:events:us-east-1:222222222222:event-bus/b"}), `"part"`},
		{"bad part", with(orgContext, map[string]any{"part": "members"}), `"part"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromContext(func(k string) any { return tc.ctx[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	if _, err := ConfigFromContext(func(k string) any { return managementContext[k] }); err != nil {
		t.Errorf("management context: %v", err)
	}
}

// Finding 5: the StackSet skips the central account, and an instance in
// it anyway (the filter is the StackSet's, the template does not rely on
// it) creates no baseline key or alias.
func TestCentralAccountInTargetOUs(t *testing.T) {
	s := synth(t, orgContext)
	_, ss := only(t, s.json, "AWS::CloudFormation::StackSet")
	group := props(ss)["StackInstancesGroup"].([]any)[0].(map[string]any)
	dt := group["DeploymentTargets"].(map[string]any)
	if dt["AccountFilterType"] != "DIFFERENCE" {
		t.Errorf("AccountFilterType %v, want DIFFERENCE", dt["AccountFilterType"])
	}
	if ok, got, _ := jsonEqual(dt["Accounts"], []any{map[string]any{"Ref": "AWS::AccountId"}}); !ok {
		t.Errorf("excluded accounts %s, want the central stack's account", got)
	}
	for _, d := range memberDeployments(testAccount, orgMemberRegions(), testAccount) {
		for id, r := range created(t, s.member, d) {
			if typ := r["Type"]; typ == "AWS::KMS::Key" || typ == "AWS::KMS::Alias" {
				t.Errorf("central account %s: member instance creates %s %s (the central stack has the alias)", d.region, typ, id)
			}
		}
	}
	for _, d := range memberDeployments("555555555555", orgMemberRegions(), testAccount) {
		checkBaselineKey(t, "member "+d.region, s.member, d)
	}
}

// Finding 7: context "keys" sets TRAILGUARD_KEYS, in the form pkg/config
// reads.
func TestKeysContext(t *testing.T) {
	keys := map[string]any{
		"us-east-1": "arn:aws:kms:us-east-1:" + testAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"eu-west-1": "arn:aws:kms:eu-west-1:" + testAccount + ":key/5678abcd-12ab-34cd-56ef-1234567890ab",
	}
	want := "eu-west-1=" + keys["eu-west-1"].(string) + ",us-east-1=" + keys["us-east-1"].(string)
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"object", keys},
		{"JSON string", `{"us-east-1":"` + keys["us-east-1"].(string) + `","eu-west-1":"` + keys["eu-west-1"].(string) + `"}`},
		{"TRAILGUARD_KEYS form", "us-east-1=" + keys["us-east-1"].(string) + ", eu-west-1=" + keys["eu-west-1"].(string)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ConfigFromContext(func(k string) any {
				if k == "keys" {
					return tc.v
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			env := cfg.Environment("arn:aws:sns:us-east-1:111111111111:t", "table")
			if env["TRAILGUARD_KEYS"] != want {
				t.Errorf("TRAILGUARD_KEYS = %q, want %q", env["TRAILGUARD_KEYS"], want)
			}
			loaded, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("pkg/config refuses the environment: %v", err)
			}
			if len(loaded.Keys) != 2 || loaded.Keys["us-east-1"] != keys["us-east-1"] {
				t.Errorf("pkg/config read keys %v", loaded.Keys)
			}
		})
	}
	for _, bad := range []any{
		map[string]any{"us-east-1": "arn:aws:kms:eu-west-1:" + testAccount + ":key/1234"},
		map[string]any{"us-east-1": "alias/trailguard-cloudtrail"},
		"us-east-1=arn:aws:kms:us-east-1:" + testAccount + ":key/a,us-east-1=arn:aws:kms:us-east-1:" + testAccount + ":key/b",
		[]any{"x"},
	} {
		if _, err := ConfigFromContext(func(k string) any {
			if k == "keys" {
				return bad
			}
			return nil
		}); err == nil || !strings.Contains(err.Error(), `"keys"`) {
			t.Errorf("keys %v: error %v, want one naming \"keys\"", bad, err)
		}
	}
	// In the synthesized functions.
	s := synth(t, map[string]any{"keys": keys})
	for name, id := range functionIDs(t, s.json) {
		vars := props(s.json["Resources"].(map[string]any)[id].(map[string]any))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if vars["TRAILGUARD_KEYS"] != want {
			t.Errorf("%s: TRAILGUARD_KEYS = %v, want %q", name, vars["TRAILGUARD_KEYS"], want)
		}
	}
}
