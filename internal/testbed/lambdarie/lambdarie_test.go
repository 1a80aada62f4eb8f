package lambdarie

import (
	"slices"
	"testing"
)

func TestCleanEnv(t *testing.T) {
	t.Setenv("AWS_PROFILE", "prod")
	t.Setenv("aws_region", "eu-west-1")
	t.Setenv("TRAILGUARD_MODE", "report")
	t.Setenv("LAMBDARIE_KEEP", "1")
	tests := []struct {
		name      string
		extra     []string
		want, not []string
	}{
		{"drops AWS_ and TRAILGUARD_ of any case", nil, []string{"LAMBDARIE_KEEP=1"}, []string{"AWS_PROFILE=prod", "aws_region=eu-west-1", "TRAILGUARD_MODE=report"}},
		{"extra comes last", []string{"AWS_REGION=us-east-1", "TRAILGUARD_MODE=enforce"}, []string{"AWS_REGION=us-east-1", "TRAILGUARD_MODE=enforce"}, []string{"TRAILGUARD_MODE=report"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := CleanEnv(tc.extra...)
			for _, w := range tc.want {
				if !slices.Contains(env, w) {
					t.Errorf("missing %s", w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(env, n) {
					t.Errorf("kept %s", n)
				}
			}
			if n := len(tc.extra); n > 0 && !slices.Equal(env[len(env)-n:], tc.extra) {
				t.Errorf("extra not at the end: %v", env[len(env)-n:])
			}
		})
	}
}
