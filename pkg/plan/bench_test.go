package plan

import (
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// BenchmarkPlan evaluates and plans one whole trail state: an encrypted
// trail whose key lacks CloudTrail's statements, with a reader and
// rotation required.
func BenchmarkPlan(b *testing.B) {
	s := newState(b, "no-describe", "root-only")
	s.Key.RotationEnabled = false
	c := compliance.Config{Readers: []string{"arn:aws:iam::111111111111:user/Alice"}, RequireRotation: true}
	if p := Make(s, c); len(p.Actions) != 2 {
		b.Fatalf("plan has %d actions, want PutKeyPolicy and EnableKeyRotation", len(p.Actions))
	}
	b.ReportAllocs()
	for b.Loop() {
		Make(s, c)
	}
}
