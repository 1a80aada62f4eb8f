package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/lazyregexp"
)

// Environment variable names.
const (
	EnvMode            = "TRAILGUARD_MODE"
	EnvKeyAlias        = "TRAILGUARD_KEY_ALIAS"
	EnvKeys            = "TRAILGUARD_KEYS"
	EnvReaders         = "TRAILGUARD_READERS"
	EnvExemptTag       = "TRAILGUARD_EXEMPT_TAG"
	EnvRoleName        = "TRAILGUARD_ROLE_NAME"
	EnvTopicARN        = "TRAILGUARD_TOPIC_ARN"
	EnvDisabledKey     = "TRAILGUARD_DISABLED_KEY"
	EnvRequireRotation = "TRAILGUARD_REQUIRE_ROTATION"
	EnvStartLogging    = "TRAILGUARD_START_LOGGING"
	EnvRegions         = "TRAILGUARD_REGIONS"
	EnvConcurrency     = "TRAILGUARD_CONCURRENCY"
	EnvMaxAttempts     = "TRAILGUARD_MAX_ATTEMPTS"
	EnvTable           = "TRAILGUARD_TABLE"
	EnvSecurityHub     = "TRAILGUARD_SECURITY_HUB"
	EnvSweepQueue      = "TRAILGUARD_SWEEP_QUEUE"
	EnvSweepReceives   = "TRAILGUARD_SWEEP_MAX_RECEIVES"
)

// Defaults.
const (
	DefaultKeyAlias    = "alias/trailguard-cloudtrail"
	DefaultExemptTag   = "trailguard:exempt"
	DefaultConcurrency = 8
	DefaultMaxAttempts = 5
	// DefaultSweepReceives is the sweep work queue's maxReceiveCount the
	// stack deploys.
	DefaultSweepReceives = 3

	maxConcurrency = 64
	maxAttempts    = 100
	maxReceives    = 1000
)

// Mode says whether trailguard fixes what it finds or only reports it.
type Mode string

// The modes.
const (
	// Enforce applies the remediation plan.
	Enforce Mode = "enforce"
	// Report plans and reports only (dry run).
	Report Mode = "report"
)

// Config is trailguard's configuration. Build it with Load or Default.
type Config struct {
	// Mode is Enforce or Report.
	Mode Mode
	// KeyAlias is the baseline key's alias ("alias/...").
	KeyAlias string
	// Keys maps a Region to an explicit baseline key ARN in that Region.
	Keys map[string]string
	// Readers are extra principal ARNs that must be able to decrypt logs.
	Readers []string
	// ExemptTag is the tag key that, with value "true", exempts a trail.
	ExemptTag string
	// RoleName is the role assumed in other accounts; "" means own account
	// only.
	RoleName string
	// TopicARN is the SNS topic for notices; "" means none.
	TopicARN string
	// Table is the state table (pkg/state): leases, loop guard, change
	// log; "" means none (local runs: in-process locks and loop guard, no
	// change log).
	Table string
	// DisabledKey says how key-disabled is fixed.
	DisabledKey compliance.DisabledKeyAction
	// RequireRotation turns on the key-rotation-disabled rule.
	RequireRotation bool
	// StartLogging makes trailguard fix trail-not-logging with
	// StartLogging (opt-in; default: alert only).
	StartLogging bool
	// Regions the sweep covers; empty means every enabled Region.
	Regions []string
	// Concurrency bounds parallel reconciles (1..64).
	Concurrency int
	// MaxAttempts is the number of remediation attempts per resource per
	// hour before trailguard stops and alerts.
	MaxAttempts int
	// SecurityHubOff stops findings going to Security Hub; by default
	// they are imported wherever Security Hub is enabled.
	SecurityHubOff bool
	// SweepQueue is the URL of the sweep work queue; "" means the sweep
	// runs in one invocation.
	SweepQueue string
	// SweepReceives is the work queue's maxReceiveCount.
	SweepReceives int
}

// Default returns the configuration used when no variable is set.
func Default() Config {
	return Config{
		Mode:        Enforce,
		KeyAlias:    DefaultKeyAlias,
		ExemptTag:   DefaultExemptTag,
		DisabledKey: compliance.DisabledKeyEnable,
		Concurrency: DefaultConcurrency,
		MaxAttempts: DefaultMaxAttempts,

		SweepReceives: DefaultSweepReceives,
	}
}

// Load reads the configuration through getenv (callers pass os.Getenv). It
// validates every variable and returns all problems joined (errors.Join);
// on error the returned Config is the zero value.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		return Config{}, errors.New("config: nil getenv")
	}
	l := loader{getenv: getenv}
	c := Default()

	if v, ok := l.get(EnvMode); ok {
		switch m := Mode(strings.ToLower(v)); m {
		case Enforce, Report:
			c.Mode = m
		default:
			l.fail(EnvMode, v, `"enforce" or "report"`)
		}
	}
	if v, ok := l.get(EnvKeyAlias); ok {
		if want := checkAlias(v); want != "" {
			l.fail(EnvKeyAlias, v, want)
		} else {
			c.KeyAlias = v
		}
	}
	if v, ok := l.get(EnvKeys); ok {
		c.Keys = l.keys(v)
	}
	if v, ok := l.get(EnvReaders); ok {
		for _, r := range splitList(v) {
			if !principalRE.MatchString(r) {
				l.fail(EnvReaders, r, "an IAM or STS principal ARN such as arn:aws:iam::111122223333:role/Name, arn:aws:iam::111122223333:root or arn:aws:sts::111122223333:assumed-role/Name/Session")
				continue
			}
			c.Readers = append(c.Readers, r)
		}
	}
	if v, ok := l.get(EnvExemptTag); ok {
		if want := checkTagKey(v); want != "" {
			l.fail(EnvExemptTag, v, want)
		} else {
			c.ExemptTag = v
		}
	}
	if v, ok := l.get(EnvRoleName); ok {
		if !roleNameRE.MatchString(v) {
			l.fail(EnvRoleName, v, "an IAM role name: 1 to 64 characters from letters, digits and +=,.@_-")
		} else {
			c.RoleName = v
		}
	}
	if v, ok := l.get(EnvTopicARN); ok {
		if !validTopicARN(v) {
			l.fail(EnvTopicARN, v, "an SNS topic ARN such as arn:aws:sns:us-east-1:111122223333:name")
		} else {
			c.TopicARN = v
		}
	}
	if v, ok := l.get(EnvTable); ok {
		if !validTable(v) {
			l.fail(EnvTable, v, "a DynamoDB table name: 3 to 255 characters from letters, digits and _.-")
		} else {
			c.Table = v
		}
	}
	if v, ok := l.get(EnvDisabledKey); ok {
		switch a := compliance.DisabledKeyAction(strings.ToLower(v)); a {
		case compliance.DisabledKeyEnable, compliance.DisabledKeySwitch, compliance.DisabledKeyReport:
			c.DisabledKey = a
		default:
			l.fail(EnvDisabledKey, v, `"enable", "switch" or "report"`)
		}
	}
	if v, ok := l.get(EnvRequireRotation); ok {
		c.RequireRotation = l.boolean(EnvRequireRotation, v)
	}
	if v, ok := l.get(EnvStartLogging); ok {
		c.StartLogging = l.boolean(EnvStartLogging, v)
	}
	if v, ok := l.get(EnvSecurityHub); ok {
		switch strings.ToLower(v) {
		case "auto":
			c.SecurityHubOff = false
		case "off":
			c.SecurityHubOff = true
		default:
			l.fail(EnvSecurityHub, v, `"auto" or "off"`)
		}
	}
	if v, ok := l.get(EnvRegions); ok {
		for _, r := range splitList(v) {
			if !regionRE.MatchString(r) {
				l.fail(EnvRegions, r, "a Region name such as us-east-1")
				continue
			}
			c.Regions = append(c.Regions, r)
		}
	}
	if v, ok := l.get(EnvSweepQueue); ok {
		if !queueURLRE.MatchString(v) {
			l.fail(EnvSweepQueue, v, "the URL of a standard (not FIFO) SQS queue such as https://sqs.us-east-1.amazonaws.com/111122223333/name")
		} else {
			c.SweepQueue = v
		}
	}
	if v, ok := l.get(EnvSweepReceives); ok {
		c.SweepReceives = l.intIn(EnvSweepReceives, v, 1, maxReceives)
	}
	if v, ok := l.get(EnvConcurrency); ok {
		c.Concurrency = l.intIn(EnvConcurrency, v, 1, maxConcurrency)
	}
	if v, ok := l.get(EnvMaxAttempts); ok {
		c.MaxAttempts = l.intIn(EnvMaxAttempts, v, 1, maxAttempts)
	}

	if err := errors.Join(l.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Compliance returns the part of the configuration the compliance rules
// use. The returned Readers slice is a copy.
func (c Config) Compliance() compliance.Config {
	d := c.DisabledKey
	if d == "" {
		d = compliance.DisabledKeyEnable
	}
	var readers []string
	if len(c.Readers) > 0 {
		readers = append([]string(nil), c.Readers...)
	}
	return compliance.Config{
		Readers:         readers,
		ExemptTag:       c.ExemptTag,
		RequireRotation: c.RequireRotation,
		DisabledKey:     d,
		StartLogging:    c.StartLogging,
	}
}

// BaselineKey returns how to find the baseline key in region: the explicit
// key ARN from Keys (explicit is true), else the alias KeyAlias, to be
// resolved in that Region (explicit is false).
func (c Config) BaselineKey(region string) (keyRef string, explicit bool) {
	if k := c.Keys[region]; k != "" {
		return k, true
	}
	return c.KeyAlias, false
}

var (
	// partition matches aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...
	partition = `aws(?:-[a-z]+)*`
	account   = `[0-9]{12}`
	region    = `[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}`
	// iamName is the IAM name charset (users, roles, sessions).
	iamName = `[\w+=,.@-]+`

	regionRE = lazyregexp.New(`^` + region + `$`)
	// queueURLRE: an SQS standard queue URL, scheme, host, account id and
	// name of 1 to 80 characters (a local emulator's host and http
	// included). Not a FIFO queue: the coordinator sends no message group
	// id, which a FIFO queue requires
	// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatchRequestEntry.html).
	queueURLRE = lazyregexp.New(`^https?://[A-Za-z0-9.:-]+/` + account + `/[A-Za-z0-9_-]{1,80}$`)
	roleNameRE = lazyregexp.New(`^[\w+=,.@-]{1,64}$`)
	keyARNRE   = lazyregexp.New(`^arn:(` + partition + `):kms:(` + region + `):` + account + `:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	// topicARNRE: the topic name's length (1 to 256) is checked by
	// validTopicARN, not by a counted repetition, which is slow to compile.
	topicARNRE  = lazyregexp.New(`^arn:` + partition + `:sns:` + region + `:` + account + `:[A-Za-z0-9_-]+(?:\.fifo)?$`)
	principalRE = lazyregexp.New(`^arn:` + partition + `:(?:` +
		`iam::` + account + `:(?:root|(?:user|role)` + iamPathNoWild + iamName + `)` +
		`|sts::` + account + `:(?:assumed-role/` + iamName + `/` + iamName + `|federated-user/` + iamName + `)` +
		`)$`)
)

// The names below are checked by loops rather than by regexps with counted
// repetitions ({1,250}), which take up to a millisecond and hundreds of
// kilobytes each to compile at every cold start. Each is the pattern given
// in its comment, character for character (names_test.go compares them).

// validAlias: ^alias/[a-zA-Z0-9/_-]{1,250}$.
func validAlias(v string) bool {
	name, ok := strings.CutPrefix(v, "alias/")
	return ok && charsIn(name, 1, 250, "/_-")
}

// validTable: ^[A-Za-z0-9_.-]{3,255}$, the DynamoDB table name rule:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
func validTable(v string) bool { return charsIn(v, 3, 255, "_.-") }

// validTopicARN: an SNS topic ARN whose name (without ".fifo") is 1 to
// 256 characters, ^arn:P:sns:R:A:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$.
func validTopicARN(v string) bool {
	if !topicARNRE.MatchString(v) {
		return false
	}
	name := v[strings.LastIndexByte(v, ':')+1:]
	return len(strings.TrimSuffix(name, ".fifo")) <= 256
}

// charsIn reports whether s is min to max ASCII letters, digits and bytes
// of extra.
func charsIn(s string, min, max int, extra string) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// validTagKey reports whether v is 1 to 128 characters of the tag key
// charset of CloudTrail and most services: Unicode letters, separators and
// numbers, and _.:/=+-@ (the pattern ^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$).
// It is a loop rather than a regexp because compiling that pattern (its
// Unicode classes) cost about 6 ms and 5 MB at every cold start.
func validTagKey(v string) bool {
	n := 0
	for _, r := range v {
		n++
		if n > 128 {
			return false
		}
		if strings.ContainsRune("_.:/=+-@", r) {
			continue
		}
		if !unicode.In(r, unicode.L, unicode.Z, unicode.N) {
			return false
		}
	}
	return n > 0
}

// iamPathNoWild is "/" or "/a/b/" with the IAM path charset minus "*".
const iamPathNoWild = `/(?:[\x21-\x29\x2b-\x7e]+/)*`

func checkAlias(v string) string {
	switch {
	case !strings.HasPrefix(v, "alias/"):
		return `a KMS alias name starting with "alias/"`
	case strings.HasPrefix(v, "alias/aws/"):
		return "a customer managed key alias (alias/aws/... names AWS managed keys, which CloudTrail cannot use)"
	case !validAlias(v):
		return `a KMS alias name: "alias/" then 1 to 250 characters from letters, digits and /_-`
	}
	return ""
}

func checkTagKey(v string) string {
	switch {
	case strings.HasPrefix(strings.ToLower(v), "aws:"):
		return `a tag key not starting with "aws:" (reserved)`
	case !validTagKey(v):
		return "a tag key: 1 to 128 letters, digits, spaces and _.:/=+-@"
	}
	return ""
}

type loader struct {
	getenv func(string) string
	errs   []error
}

// get returns the trimmed value of name and whether it is non-empty.
func (l *loader) get(name string) (string, bool) {
	v := strings.TrimSpace(l.getenv(name))
	return v, v != ""
}

func (l *loader) fail(name, value, want string) {
	l.errs = append(l.errs, fmt.Errorf("%s=%s: want %s", name, quote(value), want))
}

// boolean parses "true" or "false" (any case); anything else fails.
func (l *loader) boolean(name, v string) bool {
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	l.fail(name, v, `"true" or "false"`)
	return false
}

func (l *loader) intIn(name, v string, lo, hi int) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return 0
	}
	return n
}

func (l *loader) keys(v string) map[string]string {
	keys := map[string]string{}
	for _, item := range splitList(v) {
		reg, arn, ok := strings.Cut(item, "=")
		reg, arn = strings.TrimSpace(reg), strings.TrimSpace(arn)
		if !ok || reg == "" || arn == "" {
			l.fail(EnvKeys, item, "region=keyARN, e.g. us-east-1=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
			continue
		}
		if !regionRE.MatchString(reg) {
			l.fail(EnvKeys, item, fmt.Sprintf("a Region name before '=' (got %s)", quote(reg)))
			continue
		}
		m := keyARNRE.FindStringSubmatch(arn)
		if m == nil {
			l.fail(EnvKeys, item, "a KMS key ARN after '=', e.g. arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not a key id or alias)")
			continue
		}
		if m[2] != reg {
			l.fail(EnvKeys, item, fmt.Sprintf("a key in Region %s (the key ARN is in %s)", reg, m[2]))
			continue
		}
		if prev, dup := keys[reg]; dup && prev != arn {
			l.fail(EnvKeys, item, fmt.Sprintf("one key per Region (%s is given twice)", reg))
			continue
		}
		keys[reg] = arn
	}
	if len(keys) == 0 {
		return nil
	}
	return keys
}

// splitList splits a comma-separated list, trimming items and dropping
// empty items and duplicates (first occurrence wins).
func splitList(v string) []string {
	var out []string
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" || seen[item] {
			continue
		}
		seen[item] = true
		out = append(out, item)
	}
	return out
}

// quote renders a value for an error message, shortening very long values.
func quote(v string) string {
	const max = 200
	if len(v) > max {
		return strconv.Quote(v[:max]) + fmt.Sprintf("... (%d bytes)", len(v))
	}
	return strconv.Quote(v)
}
