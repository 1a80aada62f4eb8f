package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// testAccount and testPartition replace the CloudFormation pseudo
// parameters when a synthesized policy is evaluated.
const (
	testAccount   = "111111111111"
	testPartition = "aws"
	testRegion    = "us-east-1"
)

// orgContext is the context of the organization-mode tests.
var orgContext = map[string]any{
	"organization":          true,
	"managementAccount":     "222222222222",
	"organizationId":        "o-abcdefghij",
	"organizationalUnitIds": []any{"r-ab12"},
	"memberRegions":         "us-east-1,eu-west-1",
}

// testReaders are the readers of customContext.
var testReaders = []any{"arn:aws:iam::" + testAccount + ":role/Auditor", "arn:aws:iam::333333333333:root"}

// customContext changes every account-mode setting from its default.
var customContext = map[string]any{
	"mode":     "report",
	"readers":  testReaders,
	"regions":  "us-east-1, eu-west-1",
	"schedule": "rate(2 hours)",
	// The event source mappings' maximum concurrency.
	"maxConcurrency":   "5",
	"sweepConcurrency": "7",
}

// envContext is organization mode pinned to an account and Region.
var envContext = map[string]any{
	"account":               "123456789012",
	"region":                "eu-west-1",
	"organization":          true,
	"managementAccount":     "123456789012",
	"organizationId":        "o-abcdefghij",
	"organizationalUnitIds": "r-ab12",
	"memberRegions":         "eu-west-1",
}

var (
	// assetDir holds a dummy bootstrap per function, so no test needs a
	// build.
	assetDir string
	// outRoot holds every test app's cloud assembly.
	outRoot string
	// synthCache keeps one synthesized app per context, so the slow
	// synthesis runs once per configuration.
	synthCache = map[string]*synthesized{}
)

func TestMain(m *testing.M) {
	code := func() int {
		var err error
		if assetDir, err = os.MkdirTemp("", "trailguard-assets-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(assetDir)
		for _, name := range FunctionNames {
			if err := os.MkdirAll(filepath.Join(assetDir, name), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if err := os.WriteFile(filepath.Join(assetDir, name, "bootstrap"), []byte("not a real binary\n"), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		if outRoot, err = os.MkdirTemp("", "trailguard-cdkout-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(outRoot)
		defer func() {
			for _, s := range synthCache {
				if s.tg != nil && s.tg.Member != nil {
					s.tg.Member.Cleanup()
				}
			}
		}()
		// jsii's Node.js end-of-life banner would fill every test log.
		if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
			os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
		}
		// Offline: nothing may try to reach AWS.
		for _, k := range []string{"CDK_CONTEXT_JSON", "CDK_OUTDIR", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"} {
			os.Unsetenv(k)
		}
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

// must runs f and turns the panic of a failed CDK assertion (or any jsii
// error) into a test failure.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: %v", what, r)
		}
	}()
	f()
}

// synthesized is one app built from the repository's cdk.json context plus
// overrides.
type synthesized struct {
	app      awscdk.App
	tg       *Trailguard
	dir      string // cloud assembly directory
	template assertions.Template
	json     map[string]any // the central template
	member   map[string]any // the member template (organization mode)
	err      error
}

// synth builds (once per overrides) and synthesizes the app the way main
// does, with the test asset directory.
func synth(t *testing.T, overrides map[string]any) *synthesized {
	t.Helper()
	keyBytes, _ := json.Marshal(overrides)
	key := string(keyBytes)
	s, ok := synthCache[key]
	if !ok {
		s = build(t, overrides)
		synthCache[key] = s
	}
	if s.err != nil {
		t.Fatalf("synthesize %s: %v", key, s.err)
	}
	return s
}

func build(t *testing.T, overrides map[string]any) (s *synthesized) {
	t.Helper()
	s = &synthesized{}
	defer func() {
		if r := recover(); r != nil {
			s.err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx, err := LoadContext("..", nil, false)
	if err != nil {
		s.err = err
		return s
	}
	if _, ok := ctx["@aws-cdk/core:target-partitions"]; !ok {
		s.err = fmt.Errorf("../cdk.json has no feature flags")
		return s
	}
	ctx["assetDir"] = assetDir
	for k, v := range overrides {
		ctx[k] = v
	}
	s.dir, err = os.MkdirTemp(outRoot, "app-")
	if err != nil {
		s.err = err
		return s
	}
	s.app = awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(s.dir)})
	s.tg, err = BuildApp(s.app, ctx)
	if err != nil {
		s.err = err
		return s
	}
	s.app.Synth(nil)
	if s.tg.Stack == nil { // part=management: no central stack
		return s
	}
	s.template = assertions.Template_FromStack(s.tg.Stack, nil)
	s.json = *s.template.ToJSON()
	if s.tg.Member != nil {
		if err := json.Unmarshal([]byte(s.tg.Member.Template), &s.member); err != nil {
			s.err = fmt.Errorf("member template: %w", err)
		}
	}
	return s
}

// resources returns the template's resources of type typ by logical id.
func resources(tmpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := tmpl["Resources"].(map[string]any)
	for id, r := range rs {
		rm, _ := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

// props returns a resource's Properties.
func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// only returns the single resource of type typ, failing otherwise.
func only(t *testing.T, tmpl map[string]any, typ string) (string, map[string]any) {
	t.Helper()
	rs := resources(tmpl, typ)
	if len(rs) != 1 {
		t.Fatalf("want exactly one %s, got %d", typ, len(rs))
	}
	for id, r := range rs {
		return id, r
	}
	panic("unreachable")
}

// logicalID is the logical id of a construct's CloudFormation resource in
// the central stack.
func logicalID(s *synthesized, c constructs.IConstruct) string {
	return *s.tg.Stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// getAttArn is {"Fn::GetAtt": [id, "Arn"]}.
func getAttArn(id string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, "Arn"}}
}

// functionIDs maps function names (without prefix) to logical ids.
func functionIDs(t *testing.T, tmpl map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, r := range resources(tmpl, "AWS::Lambda::Function") {
		name, _ := props(r)["FunctionName"].(string)
		out[strings.TrimPrefix(name, DefaultFunctionPrefix)] = id
	}
	return out
}

// resolve substitutes CloudFormation intrinsics the way a deployment in
// testAccount/testRegion would: pseudo parameters become concrete values,
// Fn::Join joins, and references to resources or parameters become
// "${LogicalId}" / "${LogicalId.Attr}" placeholders.
func resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					name, _ := arg.(string)
					switch name {
					case "AWS::Partition":
						return testPartition, nil
					case "AWS::AccountId":
						return testAccount, nil
					case "AWS::Region":
						return testRegion, nil
					case "AWS::URLSuffix":
						return "amazonaws.com", nil
					case "":
						return nil, fmt.Errorf("bad Ref %v", arg)
					}
					return "${" + name + "}", nil
				case "Fn::GetAtt":
					l, _ := arg.([]any)
					if len(l) != 2 {
						return nil, fmt.Errorf("bad Fn::GetAtt %v", arg)
					}
					return fmt.Sprintf("${%v.%v}", l[0], l[1]), nil
				case "Fn::Join":
					l, _ := arg.([]any)
					if len(l) != 2 {
						return nil, fmt.Errorf("bad Fn::Join %v", arg)
					}
					sep, _ := l[0].(string)
					parts, err := resolve(l[1])
					if err != nil {
						return nil, err
					}
					pl, ok := parts.([]any)
					if !ok {
						return nil, fmt.Errorf("Fn::Join of %v", parts)
					}
					ss := make([]string, len(pl))
					for i, p := range pl {
						s, ok := p.(string)
						if !ok {
							return nil, fmt.Errorf("Fn::Join part %v", p)
						}
						ss[i] = s
					}
					return strings.Join(ss, sep), nil
				}
				if strings.HasPrefix(k, "Fn::") {
					return nil, fmt.Errorf("intrinsic %s is not supported by the test resolver", k)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// mustResolve is resolve that fails the test on an error.
func mustResolve(t *testing.T, v any) any {
	t.Helper()
	r, err := resolve(v)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return r
}

// statement is one resolved policy statement.
type statement map[string]any

// statements returns a policy document's statements (resolved).
func statements(t *testing.T, doc any) []statement {
	t.Helper()
	d, ok := mustResolve(t, doc).(map[string]any)
	if !ok {
		t.Fatalf("policy document %v is not an object", doc)
	}
	var out []statement
	switch s := d["Statement"].(type) {
	case []any:
		for _, e := range s {
			m, _ := e.(map[string]any)
			out = append(out, m)
		}
	case map[string]any:
		out = append(out, s)
	}
	return out
}

// strs normalises a string-or-list policy value into a sorted list.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case []string:
		out = append(out, x...)
	}
	sort.Strings(out)
	return out
}

// bySid finds the statement with the given Sid.
func bySid(sts []statement, sid string) (statement, bool) {
	for _, s := range sts {
		if s["Sid"] == sid {
			return s, true
		}
	}
	return nil, false
}

// identityPolicies returns every identity-policy document of a template
// (IAM policies, managed policies and roles' inline policies) by a name,
// leaving out trust policies and resource policies.
func identityPolicies(tmpl map[string]any) map[string]any {
	out := map[string]any{}
	for id, r := range resources(tmpl, "AWS::IAM::Policy") {
		out[id] = props(r)["PolicyDocument"]
	}
	for id, r := range resources(tmpl, "AWS::IAM::ManagedPolicy") {
		out[id] = props(r)["PolicyDocument"]
	}
	for id, r := range resources(tmpl, "AWS::IAM::Role") {
		ps, _ := props(r)["Policies"].([]any)
		for i, p := range ps {
			pm, _ := p.(map[string]any)
			out[fmt.Sprintf("%s/Policies/%d", id, i)] = pm["PolicyDocument"]
		}
	}
	return out
}

// actionSet returns the sorted set of Allow actions of policy documents.
func actionSet(t *testing.T, docs ...any) []string {
	t.Helper()
	var out []string
	for _, d := range docs {
		for _, s := range statements(t, d) {
			if s["Effect"] != "Allow" {
				t.Errorf("statement %v is not an Allow", s["Sid"])
			}
			if _, ok := s["NotAction"]; ok {
				t.Errorf("statement %v uses NotAction", s["Sid"])
			}
			out = append(out, strs(s["Action"])...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// jsonEqual compares two values as JSON documents.
func jsonEqual(a, b any) (bool, string, string) {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var na, nb any
	_ = json.Unmarshal(ja, &na)
	_ = json.Unmarshal(jb, &nb)
	ca, _ := json.Marshal(na)
	cb, _ := json.Marshal(nb)
	return string(ca) == string(cb), string(ca), string(cb)
}

// requireTool returns the path of an external program, skipping the test
// with a visible reason when it is missing, or failing it when CI=true.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not on PATH and CI=true: install it (%s)", name, install)
	}
	t.Skipf("SKIPPED: %s is not on PATH (install it: %s); CI=true makes this a failure", name, install)
	return ""
}
