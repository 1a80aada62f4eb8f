package config

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The regexps the name checks replaced: the references they are compared
// with.
var (
	tagKeyPattern   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	aliasPattern    = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
	tablePattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	topicARNPattern = regexp.MustCompile(`^arn:` + partition + `:sns:` + region + `:` + account + `:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$`)
)

// nameChecks pairs each check with its reference pattern.
var nameChecks = []struct {
	name  string
	check func(string) bool
	ref   *regexp.Regexp
}{
	{"validTagKey", validTagKey, tagKeyPattern},
	{"validAlias", validAlias, aliasPattern},
	{"validTable", validTable, tablePattern},
	{"validTopicARN", validTopicARN, topicARNPattern},
}

func TestNameChecks(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:111122223333:"
	tests := []struct {
		check string
		in    string
		want  bool
	}{
		{"validAlias", "alias/trailguard-cloudtrail", true},
		{"validAlias", "alias/a/b_c-D9", true},
		{"validAlias", "alias/" + strings.Repeat("a", 250), true},
		{"validAlias", "alias/" + strings.Repeat("a", 251), false},
		{"validAlias", "alias/", false},
		{"validAlias", "alias", false},
		{"validAlias", "Alias/x", false},
		{"validAlias", "alias/a.b", false},
		{"validAlias", "alias/é", false},
		{"validAlias", "alias/a\n", false},
		{"validAlias", "alias/a\xff", false},
		{"validTable", "trailguard-state", true},
		{"validTable", "a_b.c-D", true},
		{"validTable", "abc", true},
		{"validTable", "ab", false},
		{"validTable", strings.Repeat("t", 255), true},
		{"validTable", strings.Repeat("t", 256), false},
		{"validTable", "a b c", false},
		{"validTable", "tablé", false},
		{"validTopicARN", topic + "trailguard-notices", true},
		{"validTopicARN", topic + "n.fifo", true},
		{"validTopicARN", topic + strings.Repeat("n", 256), true},
		{"validTopicARN", topic + strings.Repeat("n", 256) + ".fifo", true},
		{"validTopicARN", topic + strings.Repeat("n", 257), false},
		{"validTopicARN", topic + strings.Repeat("n", 257) + ".fifo", false},
		{"validTopicARN", topic, false},
		{"validTopicARN", topic + ".fifo", false},
		{"validTopicARN", topic + "a.b", false},
		{"validTopicARN", topic + "a:b", false},
		{"validTopicARN", "arn:aws-cn:sns:cn-north-1:111122223333:t", true},
		{"validTopicARN", "arn:aws:sqs:us-east-1:111122223333:t", false},
		{"validTopicARN", "arn:aws:sns:us-east-1:11112222333:t", false},
	}
	checks := map[string]int{}
	for i, c := range nameChecks {
		checks[c.name] = i
	}
	for _, tt := range tests {
		c := nameChecks[checks[tt.check]]
		if got := c.check(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", c.name, tt.in, got, tt.want)
		}
		if ref := c.ref.MatchString(tt.in); ref != tt.want {
			t.Errorf("reference of %s on %q = %v, want %v (the table is wrong)", c.name, tt.in, ref, tt.want)
		}
	}
}

func TestValidTagKey(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"trailguard:exempt", true},
		{"Compliance Exempt", true},
		{"team:security/exempt=+-@_.", true},
		{"Étiquette-ñ", true},
		{"标签", true},
		{"\u00a0nbsp\u2028line-sep", true}, // \p{Z}: space and line separators
		{"٣٤", true},                       // Arabic-Indic digits, \p{N}
		{"Ⅻ½", true},                       // \p{Nl}, \p{No}
		{"k", true},
		{strings.Repeat("k", 128), true},
		{strings.Repeat("é", 128), true}, // 128 characters, 256 bytes
		{"", false},
		{strings.Repeat("k", 129), false},
		{strings.Repeat("é", 129), false},
		{"exempt!", false},
		{"tab\there", false}, // \t is a control character, not \p{Z}
		{"new\nline", false},
		{"a*b", false},
		{"emoji😀", false}, // \p{So}
		{"bad\xffutf8", false},
		{"\xc3", false},
		{"\ufffd", false},
	}
	for _, tt := range tests {
		if got := validTagKey(tt.in); got != tt.want {
			t.Errorf("validTagKey(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if ref := tagKeyPattern.MatchString(tt.in); ref != tt.want {
			t.Errorf("reference pattern on %q = %v, want %v (the table is wrong)", tt.in, ref, tt.want)
		}
	}
}

// TestValidTagKeyEveryRune compares validTagKey with the reference pattern
// on every Unicode code point.
func TestValidTagKeyEveryRune(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		s := string(r)
		if got, want := validTagKey(s), tagKeyPattern.MatchString(s); got != want {
			t.Fatalf("validTagKey(%q) (U+%04X) = %v, pattern says %v", s, r, got, want)
		}
	}
}

// TestNameChecksEveryByte compares every check with its reference on each
// byte value in a valid value's every position.
func TestNameChecksEveryByte(t *testing.T) {
	valid := []string{"alias/ab", "abc", "arn:aws:sns:us-east-1:111122223333:ab.fifo", "trailguard:exempt"}
	for _, c := range nameChecks {
		for _, v := range valid {
			for i := 0; i <= len(v); i++ {
				for b := 0; b < 256; b++ {
					for _, s := range []string{v[:i] + string(rune(b)) + v[i:], v[:i] + string([]byte{byte(b)}) + v[i:]} {
						if got, want := c.check(s), c.ref.MatchString(s); got != want {
							t.Fatalf("%s(%q) = %v, pattern says %v", c.name, s, got, want)
						}
					}
				}
			}
		}
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"trailguard:exempt", "", "exempt!", strings.Repeat("é", 128), "bad\xff", "alias/x", "abc",
		"arn:aws:sns:us-east-1:111122223333:x.fifo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range nameChecks {
			if got, want := c.check(s), c.ref.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, pattern says %v", c.name, s, got, want)
			}
		}
	})
}
