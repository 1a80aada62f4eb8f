package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromContext(func(string) any { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StackName:        DefaultStackName,
		AssetDir:         DefaultAssetDir,
		FunctionPrefix:   DefaultFunctionPrefix,
		Mode:             "enforce",
		SecurityHub:      "auto",
		KeyAlias:         "alias/trailguard-cloudtrail",
		ExemptTag:        "trailguard:exempt",
		Schedule:         "rate(6 hours)",
		LogRetentionDays: 90,
		MaxConcurrency:   2,
		SweepConcurrency: 50,
		RoleName:         "TrailguardRemediation",
		Part:             PartCentral,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
}

func TestConfigFromContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		check   func(Config) bool
		wantErr string // substring; "" means no error
	}{
		{"report mode", map[string]any{"mode": "report"}, func(c Config) bool { return c.Mode == "report" }, ""},
		{"bad mode", map[string]any{"mode": "fix"}, nil, `"mode"`},
		{"readers list", map[string]any{"readers": []any{"arn:aws:iam::111111111111:role/A", "arn:aws:iam::111111111111:role/A"}},
			func(c Config) bool { return reflect.DeepEqual(c.Readers, []string{"arn:aws:iam::111111111111:role/A"}) }, ""},
		{"readers string", map[string]any{"readers": "arn:aws:iam::111111111111:role/A, arn:aws:iam::222222222222:root"},
			func(c Config) bool { return len(c.Readers) == 2 }, ""},
		{"bad reader", map[string]any{"readers": "Bob"}, nil, `"readers"`},
		{"wildcard reader", map[string]any{"readers": "*"}, nil, `"readers"`},
		{"regions", map[string]any{"regions": []any{"eu-central-1", "us-gov-west-1"}},
			func(c Config) bool { return reflect.DeepEqual(c.Regions, []string{"eu-central-1", "us-gov-west-1"}) }, ""},
		{"bad region", map[string]any{"regions": "Europe"}, nil, `"regions"`},
		{"schedule cron", map[string]any{"schedule": "cron(0 */4 * * ? *)"}, func(c Config) bool { return c.Schedule == "cron(0 */4 * * ? *)" }, ""},
		{"bad schedule", map[string]any{"schedule": "every 6 hours"}, nil, `"schedule"`},
		{"organization string true", map[string]any{"organization": "true", "organizationId": "o-abcdefghij", "managementAccount": "222222222222",
			"organizationalUnitIds": "r-ab12", "memberRegions": "us-east-1"}, func(c Config) bool { return c.Organization }, ""},
		{"organization not a bool", map[string]any{"organization": "yes please"}, nil, `"organization"`},
		{"aws alias", map[string]any{"keyAlias": "alias/aws/cloudtrail"}, nil, `"keyAlias"`},
		{"alias without prefix", map[string]any{"keyAlias": "trailguard"}, nil, `"keyAlias"`},
		{"retention", map[string]any{"logRetentionDays": float64(365)}, func(c Config) bool { return c.LogRetentionDays == 365 }, ""},
		{"bad retention", map[string]any{"logRetentionDays": "100"}, nil, `"logRetentionDays"`},
		{"max concurrency", map[string]any{"maxConcurrency": "10"}, func(c Config) bool { return c.MaxConcurrency == 10 }, ""},
		{"max concurrency at the maximum", map[string]any{"maxConcurrency": float64(1000)}, func(c Config) bool { return c.MaxConcurrency == 1000 }, ""},
		{"max concurrency below Lambda's minimum", map[string]any{"maxConcurrency": float64(1)}, nil, `"maxConcurrency"`},
		{"max concurrency above Lambda's maximum", map[string]any{"maxConcurrency": "1001"}, nil, `"maxConcurrency"`},
		{"max concurrency not a number", map[string]any{"maxConcurrency": "many"}, nil, `"maxConcurrency"`},
		// reservedConcurrency is gone: 0 (its "unreserved") is accepted,
		// anything else fails instead of being ignored.
		{"reserved concurrency 0", map[string]any{"reservedConcurrency": "0"}, func(c Config) bool { return c.MaxConcurrency == DefaultMaxConcurrency }, ""},
		{"reserved concurrency 1 refused", map[string]any{"reservedConcurrency": float64(1)}, nil, `"reservedConcurrency" is no longer used`},
		{"reserved concurrency not a number", map[string]any{"reservedConcurrency": "one"}, nil, `"reservedConcurrency"`},
		{"bad account", map[string]any{"account": "12345"}, nil, `"account"`},
		{"env", map[string]any{"account": "123456789012", "region": "eu-west-1"},
			func(c Config) bool { return c.Account == "123456789012" && c.Region == "eu-west-1" }, ""},
		{"bad role name", map[string]any{"roleName": "a role"}, nil, `"roleName"`},
		{"number for a string", map[string]any{"mode": float64(1)}, nil, `"mode"`},
		{"bad OU", map[string]any{"organizationalUnitIds": "root"}, nil, `"organizationalUnitIds"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromContext(func(k string) any { return tc.ctx[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestEnvironmentVariables(t *testing.T) {
	c := Config{Mode: "report", KeyAlias: "alias/k", ExemptTag: "x", Readers: []string{"a", "b"}, Regions: []string{"r1"}}
	env := c.Environment("topic", "table")
	want := map[string]string{
		"TRAILGUARD_TABLE": "table",
		"TRAILGUARD_MODE":  "report", "TRAILGUARD_KEY_ALIAS": "alias/k", "TRAILGUARD_READERS": "a,b",
		"TRAILGUARD_EXEMPT_TAG": "x", "TRAILGUARD_TOPIC_ARN": "topic", "TRAILGUARD_REGIONS": "r1",
		"TRAILGUARD_SECURITY_HUB": "auto",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("Environment = %v, want %v", env, want)
	}
	c.Organization, c.RoleName = true, "R"
	if got := c.Environment("topic", "table")["TRAILGUARD_ROLE_NAME"]; got != "R" {
		t.Errorf("organization TRAILGUARD_ROLE_NAME = %q", got)
	}
}

func TestLoadContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cdk.json", `{"app": "go run ./infra", "context": {"mode": "report", "regions": ["us-east-1"], "flag": true}}`)
	write("cdk.context.json", `{"regions": ["eu-west-1"]}`)

	ctx, err := LoadContext(dir, []string{"-c", "mode=enforce", "--context=organization=true", "--context", "x=a=b"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"mode": "enforce", "regions": []any{"eu-west-1"}, "flag": true, "organization": "true", "x": "a=b"}
	if !reflect.DeepEqual(ctx, want) {
		t.Errorf("context = %v, want %v", ctx, want)
	}

	// Run by the CLI, the files are already in CDK_CONTEXT_JSON.
	ctx, err = LoadContext(dir, nil, true)
	if err != nil || len(ctx) != 0 {
		t.Errorf("CLI mode context = %v, %v; want empty", ctx, err)
	}

	for _, args := range [][]string{{"-c"}, {"-c", "novalue"}, {"--verbose"}, {"-c", "=x"}} {
		if _, err := LoadContext(dir, args, false); err == nil {
			t.Errorf("LoadContext(%q): want an error", args)
		}
	}
	write("cdk.json", `{"context": [1]}`)
	if _, err := LoadContext(dir, nil, false); err == nil {
		t.Error("cdk.json with a non-object context: want an error")
	}
	write("cdk.json", `{not json`)
	if _, err := LoadContext(dir, nil, false); err == nil {
		t.Error("bad cdk.json: want an error")
	}
}

// TestRepositoryCDKJSON checks the repository's cdk.json: the app command
// and a context that passes validation.
func TestRepositoryCDKJSON(t *testing.T) {
	ctx, err := LoadContext("..", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatalf("cdk.json context: %v", err)
	}
	if c.Mode != "enforce" || c.Organization {
		t.Errorf("cdk.json must default to enforce, account mode; got %+v", c)
	}
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"app": "go run ./infra"`) {
		t.Error(`cdk.json: want "app": "go run ./infra"`)
	}
}
