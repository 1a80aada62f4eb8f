package policy

import (
	"fmt"
	"strings"
	"testing"
)

// benchStatements are typical key policy statements, none of which lets
// CloudTrail encrypt for trailARN; benchPolicy repeats them and ends with
// the one that does, so Evaluate has to look at every statement. They are
// short enough for 200 of them to fit in MaxSize.
var benchStatements = []string{
	`{"Sid":"R%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/R%d"},"Action":"kms:Decrypt","Resource":"*"}`,
	`{"Sid":"A%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/Admin"},"Action":["kms:Create*","kms:Put*","kms:Delete*"],"Resource":"*"}`,
	`{"Sid":"G%d","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}`,
	`{"Sid":"T%d","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-2:222222222222:trail/T%d"}}}`,
	`{"Sid":"D%d","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}`,
}

const benchEncrypt = `{"Sid":"Allow CloudTrail to encrypt logs","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:aws:cloudtrail:arn":["arn:aws:cloudtrail:*:111111111111:trail/*"]},"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-2:111111111111:trail/TrailName"}}}`

// benchPolicy returns a compact policy of n statements.
func benchPolicy(tb testing.TB, n int) []byte {
	parts := make([]string, 0, n)
	for i := 0; i < n-1; i++ {
		tmpl := benchStatements[i%len(benchStatements)]
		args := []any{i}
		if strings.Count(tmpl, "%d") == 2 {
			args = append(args, i)
		}
		parts = append(parts, fmt.Sprintf(tmpl, args...))
	}
	parts = append(parts, benchEncrypt)
	data := []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(parts, ",") + `]}`)
	if len(data) > MaxSize {
		tb.Fatalf("benchmark policy of %d statements is %d bytes", n, len(data))
	}
	return data
}

func BenchmarkParseEvaluate(b *testing.B) {
	req := encryptRequest(trailARN, acct, keyARN)
	for _, n := range []int{5, 50, 200} {
		data := benchPolicy(b, n)
		if got := mustParse(b, data).Evaluate(req); got != allowed("Allow CloudTrail to encrypt logs") {
			b.Fatalf("statements=%d: %+v", n, got)
		}
		b.Run(fmt.Sprintf("statements=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				d, err := Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				if !d.Evaluate(req).Allowed() {
					b.Fatal("not allowed")
				}
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	req := encryptRequest(trailARN, acct, keyARN)
	for _, n := range []int{5, 50, 200} {
		d := mustParse(b, benchPolicy(b, n))
		b.Run(fmt.Sprintf("statements=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !d.Evaluate(req).Allowed() {
					b.Fatal("not allowed")
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	d := mustParse(b, benchPolicy(b, 50))
	d.Append(Statement{Sid: "TrailguardEncrypt", Effect: EffectAllow, Principal: ServicePrincipal(cloudtrail), Action: []string{"kms:GenerateDataKey*"}, Resource: []string{"*"},
		Condition: Condition{"StringEquals": {"aws:SourceArn": {trailARN}}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is Parse alone: the JSON reader and the policy model.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{5, 50, 200} {
		data := benchPolicy(b, n)
		b.Run(fmt.Sprintf("statements=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
