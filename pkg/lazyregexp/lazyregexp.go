// Package lazyregexp provides a regular expression compiled on first use
// rather than at package initialisation, like the Go toolchain's own
// internal/lazyregexp. The functions' validation patterns (counted
// repetitions such as {1,250}, which expand into long programs) cost
// milliseconds and hundreds of kilobytes to compile; compiled in package
// init, they were paid at every cold start whether an event needed them or
// not.
package lazyregexp

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled the first time it is used. It is
// safe for concurrent use. A pattern that does not compile panics on first
// use, as regexp.MustCompile does at init.
type Regexp struct {
	str  string
	once sync.Once
	rx   *regexp.Regexp
}

// New returns a Regexp for the pattern str, not yet compiled.
func New(str string) *Regexp { return &Regexp{str: str} }

// Regexp returns the compiled expression, compiling it on the first call.
func (r *Regexp) Regexp() *regexp.Regexp {
	r.once.Do(func() { r.rx = regexp.MustCompile(r.str) })
	return r.rx
}

// MatchString is regexp.Regexp.MatchString.
func (r *Regexp) MatchString(s string) bool { return r.Regexp().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Regexp().FindStringSubmatch(s) }

// String returns the pattern.
func (r *Regexp) String() string { return r.str }
