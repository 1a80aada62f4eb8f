package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cfn-lint exit status bits.
const (
	cfnLintError   = 2
	cfnLintWarning = 4
)

// TestCfnLint runs cfn-lint on every synthesized template (account mode,
// organization mode, the member template embedded in the StackSet, the
// Region stacks and the management stacks).
// Errors fail the test; warnings and informational messages are logged.
func TestCfnLint(t *testing.T) {
	lint := requireTool(t, "cfn-lint", `python3 -m pip install "cfn-lint==1.51.*"`)
	var templates []string
	for _, overrides := range []map[string]any{nil, orgContext, regionsContext, managementContext} {
		s := synth(t, overrides)
		found, err := filepath.Glob(filepath.Join(s.dir, "*.template.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Fatalf("no *.template.json in %s", s.dir)
		}
		templates = append(templates, found...)
		if s.tg.Member != nil {
			p := filepath.Join(t.TempDir(), "TrailguardMember.template.json")
			if err := os.WriteFile(p, []byte(s.tg.Member.Template), 0o644); err != nil {
				t.Fatal(err)
			}
			templates = append(templates, p)
		}
	}
	// 1 (account) + 2 (organization: central, member) + 3 (central and
	// two Region stacks) + 2 (management stacks).
	if len(templates) != 8 {
		t.Errorf("templates to lint: %v, want 8", templates)
	}
	for _, tmpl := range templates {
		cmd := exec.Command(lint, "--", tmpl)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("run cfn-lint: %v", err)
		}
		switch {
		case code&cfnLintError != 0 || code&1 != 0:
			t.Errorf("cfn-lint %s: exit %d (errors):\n%s", filepath.Base(tmpl), code, out)
		case code != 0:
			kind := "informational"
			if code&cfnLintWarning != 0 {
				kind = "warnings"
			}
			t.Logf("cfn-lint %s: exit %d (%s, not failing):\n%s", filepath.Base(tmpl), code, kind, out)
		default:
			t.Logf("cfn-lint %s: clean", filepath.Base(tmpl))
		}
	}
}
