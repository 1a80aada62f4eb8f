package main

import (
	"slices"
	"testing"
)

// TestFunctionRolesTrustOnlyLambda: each function's role may be assumed by
// the Lambda service alone, with no condition that could widen it, so no
// other principal can take on the remediator's write access.
func TestFunctionRolesTrustOnlyLambda(t *testing.T) {
	s := synth(t, nil)
	fns := functionIDs(t, s.json)
	if len(fns) != len(FunctionNames) {
		t.Fatalf("functions %v, want %d", fns, len(FunctionNames))
	}
	roles := resources(s.json, "AWS::IAM::Role")
	for name, id := range fns {
		role, ok := props(resources(s.json, "AWS::Lambda::Function")[id])["Role"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no role reference", name)
		}
		att, _ := role["Fn::GetAtt"].([]any)
		if len(att) != 2 {
			t.Fatalf("%s: role is %v, want a Fn::GetAtt of a role in the stack", name, role)
		}
		roleID, _ := att[0].(string)
		r, ok := roles[roleID]
		if !ok {
			t.Fatalf("%s: role %s is not in the template", name, roleID)
		}
		sts := statements(t, props(r)["AssumeRolePolicyDocument"])
		if len(sts) != 1 {
			t.Fatalf("%s: %d trust statements, want 1: %v", name, len(sts), sts)
		}
		st := sts[0]
		principal, _ := st["Principal"].(map[string]any)
		if st["Effect"] != "Allow" || !slices.Equal(strs(st["Action"]), []string{"sts:AssumeRole"}) ||
			len(principal) != 1 || !slices.Equal(strs(principal["Service"]), []string{"lambda.amazonaws.com"}) || st["Condition"] != nil {
			t.Errorf("%s: trust statement %v, want only lambda.amazonaws.com to sts:AssumeRole", name, st)
		}
	}
}
