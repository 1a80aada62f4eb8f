package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Defaults of the configuration read from CDK context.
const (
	DefaultStackName      = "Trailguard"
	DefaultAssetDir       = "build"
	DefaultMode           = "enforce"
	DefaultKeyAlias       = "alias/trailguard-cloudtrail"
	DefaultExemptTag      = "trailguard:exempt"
	DefaultSchedule       = "rate(6 hours)"
	DefaultRoleName       = "TrailguardRemediation"
	DefaultFunctionPrefix = "trailguard-"
	DefaultLogRetention   = 90
	// DefaultMaxConcurrency is the event source mappings' maximum
	// concurrency: the smallest value Lambda accepts (2,
	// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-scalingconfig.html).
	DefaultMaxConcurrency = 2
	// DefaultSweepConcurrency is the sweep work queue's event source
	// mapping's maximum concurrency: how many sweep-worker invocations
	// reconcile accounts and Regions at once.
	DefaultSweepConcurrency = 50
)

// Bounds of ScalingConfig.MaximumConcurrency of an SQS event source mapping
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-scalingconfig.html:
// minimum 2, maximum 1000).
const (
	minMaxConcurrency = 2
	maxMaxConcurrency = 1000
)

// Config is the deployment configuration, read from CDK context (cdk.json,
// cdk.context.json or `-c key=value`). Every field has a safe default; a
// bad value fails synthesis with a message naming the context key.
type Config struct {
	// StackName is the central (account mode) stack's name. Context
	// "stackName".
	StackName string
	// Account and Region pin the stack's environment (context "account",
	// "region"); empty means an environment-agnostic stack, which is what
	// offline synthesis and the tests use.
	Account string
	Region  string
	// AssetDir holds one directory per function with its `bootstrap`
	// binary (`make build` writes build/<function>/bootstrap). Context
	// "assetDir".
	AssetDir string
	// FunctionPrefix is prepended to the function names (context
	// "functionPrefix").
	FunctionPrefix string

	// Mode is "enforce" or "report" (TRAILGUARD_MODE). Context "mode".
	Mode string
	// SecurityHub is "auto" (import findings wherever Security Hub is
	// enabled) or "off" (TRAILGUARD_SECURITY_HUB). Context "securityHub".
	SecurityHub string
	// KeyAlias is the baseline key's alias (TRAILGUARD_KEY_ALIAS). Context
	// "keyAlias".
	KeyAlias string
	// Readers are extra principal ARNs that must be able to decrypt log
	// files (TRAILGUARD_READERS). Context "readers": a JSON list or a
	// comma-separated string.
	Readers []string
	// ExemptTag is the exemption tag key (TRAILGUARD_EXEMPT_TAG). Context
	// "exemptTag".
	ExemptTag string
	// Regions limits the Regions the sweeper reconciles
	// (TRAILGUARD_REGIONS); empty means every enabled Region. Context
	// "regions".
	Regions []string
	// Schedule is the sweeper's EventBridge schedule expression. Context
	// "schedule".
	Schedule string
	// LogRetentionDays is the functions' log retention. Context
	// "logRetentionDays".
	LogRetentionDays int
	// MaxConcurrency bounds how many concurrent invocations each event
	// queue's event source mapping starts (ScalingConfig.MaximumConcurrency,
	// 2 to 1000). Context "maxConcurrency". The functions reserve no
	// concurrency: the former context "reservedConcurrency" is refused
	// unless 0 (see ConfigFromContext).
	MaxConcurrency int
	// SweepConcurrency bounds how many sweep-worker invocations the sweep
	// work queue's event source mapping starts at once
	// (ScalingConfig.MaximumConcurrency, 2 to 1000). Context
	// "sweepConcurrency".
	SweepConcurrency int

	// Organization turns on organization mode. Context "organization".
	Organization bool
	// ManagementAccount is the organization's management account
	// (context "managementAccount"); when the stack is deployed elsewhere
	// the StackSet is created as a delegated administrator.
	ManagementAccount string
	// OrganizationID is "o-..." (context "organizationId").
	OrganizationID string
	// OrganizationalUnitIDs are the StackSet deployment targets, usually
	// the root "r-..." (context "organizationalUnitIds").
	OrganizationalUnitIDs []string
	// MemberRegions are the Regions the member StackSet deploys to
	// (context "memberRegions").
	MemberRegions []string
	// RoleName is the remediation role in member accounts
	// (TRAILGUARD_ROLE_NAME). Context "roleName".
	RoleName string

	// Keys pins the baseline key per Region (TRAILGUARD_KEYS,
	// "region=keyARN" items, sorted by Region). Context "keys": a JSON
	// object {"region": "keyARN"}, or the TRAILGUARD_KEYS string.
	Keys []string
	// Part is what the app synthesizes: "central" (the central stack and
	// its Region stacks) or "management" (organization mode: the
	// management account's stacks, management.go). Context "part".
	Part string
	// CentralEventBusARN and CentralFunctionRoleARNs are the central
	// stack's outputs the management stacks need (part=management).
	// Context "centralEventBusArn", "centralFunctionRoleArns".
	CentralEventBusARN      string
	CentralFunctionRoleARNs []string
}

var (
	accountRE   = regexp.MustCompile(`^\d{12}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	orgIDRE     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	ouIDRE      = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	roleNameRE  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	aliasRE     = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
	tagKeyRE    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	prefixRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{0,40}$`)
	readerRE    = regexp.MustCompile(`^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$`)
	scheduleRE  = regexp.MustCompile(`^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$`)
)

// logRetentionDays are the values CloudWatch Logs accepts for RetentionInDays.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// ConfigFromContext reads the configuration through get (normally
// app.Node().TryGetContext, which returns nil for an absent key) and
// validates it.
func ConfigFromContext(get func(key string) any) (Config, error) {
	r := contextReader{get: get}
	c := Config{
		StackName:               r.str("stackName", DefaultStackName),
		Account:                 r.str("account", ""),
		Region:                  r.str("region", ""),
		AssetDir:                r.str("assetDir", DefaultAssetDir),
		FunctionPrefix:          r.str("functionPrefix", DefaultFunctionPrefix),
		Mode:                    r.str("mode", DefaultMode),
		SecurityHub:             r.str("securityHub", "auto"),
		KeyAlias:                r.str("keyAlias", DefaultKeyAlias),
		Readers:                 r.list("readers"),
		ExemptTag:               r.str("exemptTag", DefaultExemptTag),
		Regions:                 r.list("regions"),
		Schedule:                r.str("schedule", DefaultSchedule),
		LogRetentionDays:        r.integer("logRetentionDays", DefaultLogRetention),
		MaxConcurrency:          r.integer("maxConcurrency", DefaultMaxConcurrency),
		SweepConcurrency:        r.integer("sweepConcurrency", DefaultSweepConcurrency),
		Organization:            r.boolean("organization", false),
		ManagementAccount:       r.str("managementAccount", ""),
		OrganizationID:          r.str("organizationId", ""),
		OrganizationalUnitIDs:   r.list("organizationalUnitIds"),
		MemberRegions:           r.list("memberRegions"),
		RoleName:                r.str("roleName", DefaultRoleName),
		Keys:                    r.keys("keys"),
		Part:                    r.str("part", PartCentral),
		CentralEventBusARN:      r.str("centralEventBusArn", ""),
		CentralFunctionRoleARNs: r.list("centralFunctionRoleArns"),
	}
	// Reserved concurrency is gone: events wait in SQS queues, so nothing
	// is lost when a function is throttled, and reserving needs the
	// account to keep 100 units unreserved ("You can reserve up to the
	// Unreserved account concurrency value minus 100",
	// https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
	// which small accounts do not have. A leftover non-zero value fails
	// rather than being silently ignored.
	if reserved := r.integer("reservedConcurrency", 0); r.err == nil && reserved != 0 {
		return Config{}, fmt.Errorf("context %q is no longer used: the functions reserve no concurrency (events wait in SQS queues; \"maxConcurrency\" bounds the event functions); remove it or set it to 0", "reservedConcurrency")
	}
	if r.err != nil {
		return Config{}, r.err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every field and returns the first problem, naming its
// context key.
func (c Config) Validate() error {
	checks := []struct {
		ok  bool
		key string
		msg string
	}{
		{stackNameRE.MatchString(c.StackName), "stackName", "a CloudFormation stack name"},
		{c.Account == "" || accountRE.MatchString(c.Account), "account", "a 12-digit account id"},
		{c.Region == "" || regionRE.MatchString(c.Region), "region", "a Region name such as us-east-1"},
		{c.AssetDir != "", "assetDir", "a directory"},
		{prefixRE.MatchString(c.FunctionPrefix), "functionPrefix", "at most 40 letters, digits, '-' or '_'"},
		{c.Mode == "enforce" || c.Mode == "report", "mode", `"enforce" or "report"`},
		{c.SecurityHub == "" || c.SecurityHub == "auto" || c.SecurityHub == "off", "securityHub", `"auto" or "off"`},
		{aliasRE.MatchString(c.KeyAlias) && !strings.HasPrefix(c.KeyAlias, "alias/aws/"), "keyAlias", `"alias/<name>" (not alias/aws/...)`},
		{all(c.Readers, readerRE.MatchString), "readers", "IAM principal ARNs"},
		{tagKeyRE.MatchString(c.ExemptTag), "exemptTag", "a tag key"},
		{all(c.Regions, regionRE.MatchString), "regions", "Region names"},
		{scheduleRE.MatchString(c.Schedule), "schedule", `an EventBridge schedule expression such as "rate(6 hours)"`},
		{slices.Contains(logRetentionDays, c.LogRetentionDays), "logRetentionDays", fmt.Sprintf("one of %v", logRetentionDays)},
		{c.MaxConcurrency >= minMaxConcurrency && c.MaxConcurrency <= maxMaxConcurrency, "maxConcurrency", fmt.Sprintf("%d to %d (the event source mapping's MaximumConcurrency)", minMaxConcurrency, maxMaxConcurrency)},
		{c.SweepConcurrency >= minMaxConcurrency && c.SweepConcurrency <= maxMaxConcurrency, "sweepConcurrency", fmt.Sprintf("%d to %d (the sweep work queue's MaximumConcurrency)", minMaxConcurrency, maxMaxConcurrency)},
		{roleNameRE.MatchString(c.RoleName), "roleName", "an IAM role name"},
		{c.ManagementAccount == "" || accountRE.MatchString(c.ManagementAccount), "managementAccount", "a 12-digit account id"},
		{c.OrganizationID == "" || orgIDRE.MatchString(c.OrganizationID), "organizationId", `an organization id "o-..."`},
		{all(c.OrganizationalUnitIDs, ouIDRE.MatchString), "organizationalUnitIds", `root or OU ids ("r-...", "ou-...")`},
		{all(c.MemberRegions, regionRE.MatchString), "memberRegions", "Region names"},
		{all(c.Keys, validKeyItem), "keys", `Region to KMS key ARN, {"us-east-1": "arn:aws:kms:us-east-1:111122223333:key/..."}, the key in that Region`},
		{c.Part == PartCentral || c.Part == PartManagement, "part", `"central" or "management"`},
		{c.CentralEventBusARN == "" || busARNRE.MatchString(c.CentralEventBusARN), "centralEventBusArn", "an event bus ARN (the central stack's output)"},
		{all(c.CentralFunctionRoleARNs, roleARNRE.MatchString), "centralFunctionRoleArns", "IAM role ARNs (the central stack's output)"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("context %q: want %s", ch.key, ch.msg)
		}
	}
	if c.Organization {
		switch {
		case c.OrganizationID == "":
			return fmt.Errorf("context %q is required when organization=true", "organizationId")
		case c.ManagementAccount == "":
			return fmt.Errorf("context %q is required when organization=true", "managementAccount")
		case len(c.OrganizationalUnitIDs) == 0:
			return fmt.Errorf("context %q is required when organization=true (the root id \"r-...\" covers every account)", "organizationalUnitIds")
		case len(c.MemberRegions) == 0:
			return fmt.Errorf("context %q is required when organization=true", "memberRegions")
		}
	}
	if c.Part == PartManagement {
		switch {
		case !c.Organization:
			return fmt.Errorf("context %q needs organization=true", "part=management")
		case c.CentralEventBusARN == "":
			return fmt.Errorf("context %q is required when part=management (output %s of the central stack)", "centralEventBusArn", OutputCentralBusARN)
		case len(c.CentralFunctionRoleARNs) == 0:
			return fmt.Errorf("context %q is required when part=management (output %s of the central stack)", "centralFunctionRoleArns", OutputCentralRoleARNs)
		case arnAccount(c.CentralEventBusARN) == c.ManagementAccount:
			return fmt.Errorf("context %q: the central stack is in the management account; there is no management part to deploy", "part")
		}
	}
	return nil
}

// Environment is the functions' configuration as the environment variables
// of CONTRACTS.md; topicARN and table are the stack's notices topic and
// state table.
func (c Config) Environment(topicARN, table string) map[string]string {
	env := map[string]string{
		"TRAILGUARD_TABLE":      table,
		"TRAILGUARD_MODE":       c.Mode,
		"TRAILGUARD_KEY_ALIAS":  c.KeyAlias,
		"TRAILGUARD_READERS":    strings.Join(c.Readers, ","),
		"TRAILGUARD_EXEMPT_TAG": c.ExemptTag,
		"TRAILGUARD_TOPIC_ARN":  topicARN,
		"TRAILGUARD_REGIONS":    strings.Join(c.Regions, ","),
		// Off by context; the functions import wherever Security Hub is
		// enabled otherwise.
		"TRAILGUARD_SECURITY_HUB": cmp.Or(c.SecurityHub, "auto"),
	}
	// Only when set: an empty TRAILGUARD_KEYS and an absent one both mean
	// the alias, and the template stays as it was for users without keys.
	if len(c.Keys) > 0 {
		env["TRAILGUARD_KEYS"] = strings.Join(c.Keys, ",")
	}
	if c.Organization {
		env["TRAILGUARD_ROLE_NAME"] = c.RoleName
	}
	return env
}

func all(ss []string, ok func(string) bool) bool {
	for _, s := range ss {
		if !ok(s) {
			return false
		}
	}
	return true
}

// contextReader converts context values, which are JSON values from
// cdk.json or strings from `-c key=value`, remembering the first error.
type contextReader struct {
	get func(string) any
	err error
}

func (r *contextReader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("context %q: want %s, got %v", key, want, v)
	}
}

func (r *contextReader) str(key, def string) string {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case string:
		if v == "" {
			return def
		}
		return strings.TrimSpace(v)
	default:
		r.fail(key, v, "a string")
		return def
	}
}

func (r *contextReader) boolean(key string, def bool) bool {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, v, "true or false")
			return def
		}
		return b
	default:
		r.fail(key, v, "true or false")
		return def
	}
}

func (r *contextReader) integer(key string, def int) int {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case float64:
		if v != float64(int(v)) {
			r.fail(key, v, "an integer")
			return def
		}
		return int(v)
	case int:
		return v
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, v, "an integer")
			return def
		}
		return n
	default:
		r.fail(key, v, "an integer")
		return def
	}
}

// list accepts a JSON list of strings, a JSON list encoded in a string
// (`-c regions='["us-east-1"]'`) or a comma-separated string.
func (r *contextReader) list(key string) []string {
	var out []string
	switch v := r.get(key).(type) {
	case nil:
		return nil
	case []string:
		out = v
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				r.fail(key, v, "a list of strings")
				return nil
			}
			out = append(out, s)
		}
	case string:
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") {
			if err := json.Unmarshal([]byte(v), &out); err != nil {
				r.fail(key, v, "a JSON list of strings")
				return nil
			}
			break
		}
		out = strings.Split(v, ",")
	default:
		r.fail(key, v, "a list of strings")
		return nil
	}
	var clean []string
	for _, s := range out {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(clean, s) {
			clean = append(clean, s)
		}
	}
	return clean
}
