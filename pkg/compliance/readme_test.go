package compliance

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryRule keeps README.md's rule table true: every
// rule of the catalogue has a row.
func TestREADMEDocumentsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	for _, r := range Catalogue() {
		if !strings.Contains(string(b), "| `"+string(r.ID)+"` |") {
			t.Errorf("README has no row for rule %s", r.ID)
		}
	}
}
