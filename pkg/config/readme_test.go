package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryVariable keeps README.md's configuration table
// true: every variable Load reads is documented there with its default.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	readme := string(b)
	d := Default()
	defaults := map[string]string{
		EnvMode: string(d.Mode), EnvKeyAlias: d.KeyAlias, EnvExemptTag: d.ExemptTag,
		EnvKeys: "empty", EnvReaders: "empty", EnvRoleName: "empty", EnvTopicARN: "empty",
		EnvDisabledKey: "enable", EnvRequireRotation: "false", EnvStartLogging: "false", EnvRegions: "every enabled Region",
		EnvConcurrency: "8", EnvMaxAttempts: "5", EnvTable: "empty", EnvSecurityHub: "auto",
		EnvSweepQueue: "empty", EnvSweepReceives: "3",
	}
	for name, def := range defaults {
		var row string
		for _, line := range strings.Split(readme, "\n") {
			if strings.HasPrefix(line, "| `"+name+"` |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README has no configuration row for %s", name)
			continue
		}
		if !strings.Contains(row, def) {
			t.Errorf("README row for %s does not state the default %q: %s", name, def, row)
		}
	}
}
