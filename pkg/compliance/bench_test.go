package compliance

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchPolicy is a policy of n statements: the root statement, the
// documented encrypt statement (no describe, so a merge is needed) and
// n-2 role grants with conditions.
func benchPolicy(b testing.TB, n int) string {
	stmts := []any{
		map[string]any{"Sid": "Root", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
		map[string]any{"Sid": "Encrypt", "Effect": "Allow", "Principal": map[string]any{"Service": CloudTrailService}, "Action": "kms:GenerateDataKey*", "Resource": "*",
			"Condition": map[string]any{"StringLike": map[string]any{ctxTrailARN: "arn:aws:cloudtrail:*:111111111111:trail/*"},
				"StringEquals": map[string]any{ctxSourceARN: testTrailARN}}},
	}
	for i := 2; i < n; i++ {
		st := map[string]any{"Sid": fmt.Sprintf("R%d", i), "Effect": "Allow",
			"Principal": map[string]any{"AWS": fmt.Sprintf("arn:aws:iam::111111111111:role/R%d", i)},
			"Action":    "kms:Encrypt", "Resource": "*"}
		if i%3 == 0 {
			st["Effect"] = "Deny"
			st["Action"] = "kms:ScheduleKeyDeletion"
		}
		if i%2 == 0 {
			st["Condition"] = map[string]any{"Bool": map[string]any{"aws:SecureTransport": "true"}}
		}
		stmts = append(stmts, st)
	}
	out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}

// BenchmarkEvaluateMerge parses and evaluates a policy for one trail and
// merges the grant into it.
func BenchmarkEvaluateMerge(b *testing.B) {
	for _, n := range []int{5, 50, 200} {
		b.Run(fmt.Sprintf("statements=%d", n), func(b *testing.B) {
			s := testState(b, "root-only")
			s.Key.Policy = benchPolicy(b, n)
			c := Config{Readers: []string{bob}}
			g := GrantFor(*s.Key, s, c)
			if _, changed, err := Merge(s.Key.Policy, g); err != nil || !changed {
				b.Fatalf("Merge: changed %v, err %v", changed, err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(s.Key.Policy)))
			for b.Loop() {
				if fs := PolicyFindings(*s.Key, s, c); len(fs) == 0 {
					b.Fatal("no findings")
				}
				if _, _, err := Merge(s.Key.Policy, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
