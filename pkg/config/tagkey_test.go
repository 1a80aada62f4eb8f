package config

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// tagKeyPattern is the tag key charset validTagKey implements, as the
// regexp it replaced: the reference the tests compare it with.
var tagKeyPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)

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
// on every Unicode code point, alone and after a valid prefix.
func TestValidTagKeyEveryRune(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		for _, s := range []string{string(r), "k" + string(r) + "k"} {
			if got, want := validTagKey(s), tagKeyPattern.MatchString(s); got != want {
				t.Fatalf("validTagKey(%q) (U+%04X) = %v, pattern says %v", s, r, got, want)
			}
		}
	}
}

func FuzzValidTagKey(f *testing.F) {
	for _, s := range []string{"trailguard:exempt", "", "exempt!", strings.Repeat("é", 128), "bad\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validTagKey(s), tagKeyPattern.MatchString(s); got != want {
			t.Fatalf("validTagKey(%q) = %v, pattern says %v", s, got, want)
		}
	})
}
