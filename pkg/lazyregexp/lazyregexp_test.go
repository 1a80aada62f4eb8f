package lazyregexp

import (
	"slices"
	"sync"
	"testing"
)

func TestRegexp(t *testing.T) {
	tests := []struct {
		pattern, in string
		match       bool
		sub         []string
	}{
		{`^alias/[a-z]{1,3}$`, "alias/abc", true, []string{"alias/abc"}},
		{`^alias/[a-z]{1,3}$`, "alias/abcd", false, nil},
		{`^arn:(aws(?:-[a-z]+)*):`, "arn:aws-cn:kms", true, []string{"arn:aws-cn:", "aws-cn"}},
		{`^arn:(aws(?:-[a-z]+)*):`, "arn:gcp:", false, nil},
	}
	for _, tt := range tests {
		r := New(tt.pattern)
		if r.rx != nil {
			t.Fatalf("New(%q) compiled the pattern before its first use", tt.pattern)
		}
		if got := r.MatchString(tt.in); got != tt.match {
			t.Errorf("New(%q).MatchString(%q) = %v, want %v", tt.pattern, tt.in, got, tt.match)
		}
		if got := r.FindStringSubmatch(tt.in); !slices.Equal(got, tt.sub) {
			t.Errorf("New(%q).FindStringSubmatch(%q) = %q, want %q", tt.pattern, tt.in, got, tt.sub)
		}
		if r.String() != tt.pattern || r.Regexp().String() != tt.pattern {
			t.Errorf("String() = %q, Regexp().String() = %q, want %q", r.String(), r.Regexp().String(), tt.pattern)
		}
	}
}

// TestConcurrentFirstUse: many goroutines using a fresh Regexp at once get
// one compiled expression (run with -race).
func TestConcurrentFirstUse(t *testing.T) {
	r := New(`^[0-9]{12}$`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if !r.MatchString("123456789012") {
				t.Error("no match")
			}
		})
	}
	wg.Wait()
	if r.Regexp() != r.Regexp() {
		t.Error("Regexp() returned different expressions")
	}
}

func TestBadPatternPanicsOnFirstUse(t *testing.T) {
	r := New(`(`)
	defer func() {
		if recover() == nil {
			t.Error("a pattern that does not compile did not panic on first use")
		}
	}()
	r.MatchString("x")
}
