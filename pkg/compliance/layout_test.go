package compliance

import (
	"strings"
	"testing"
)

// TestS3ContextOfLogFiles: an organization trail's log files live
// under AWSLogs/<organization id>/<account>/, and the reader checks use
// that path; a Bucket Key makes the context the bucket ARN.
func TestS3ContextOfLogFiles(t *testing.T) {
	trail := "arn:aws:cloudtrail:us-east-1:111111111111:trail/org"
	tests := []struct {
		name string
		d    Delivery
		// want are the prefixes of the readers' aws:s3:arn contexts, one
		// check each; a want without a "/" must match exactly.
		want []string
	}{
		{"account trail", Delivery{TrailARN: trail, Bucket: "logs"},
			[]string{"arn:aws:s3:::logs/AWSLogs/111111111111/CloudTrail/us-east-1/"}},
		{"organization trail", Delivery{TrailARN: trail, Bucket: "logs", Prefix: "p", OrganizationID: "o-abc123defg"},
			[]string{"arn:aws:s3:::logs/p/AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/"}},
		{"bucket key: older objects and newer ones", Delivery{TrailARN: trail, Bucket: "logs", BucketKey: true, OrganizationID: "o-abc123defg"},
			[]string{"arn:aws:s3:::logs/AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/", "arn:aws:s3:::logs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Grant{TrailARNs: []string{trail}, Accounts: []string{"111111111111"}, ReaderAccounts: []string{"111111111111"}, Deliveries: []Delivery{tt.d}}
			var got []string
			for _, ck := range grantChecks(g) {
				if ck.rule == KeyPolicyNoReaderDecrypt {
					got = append(got, ck.req.Context[ctxObjectARN]...)
				}
			}
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				if strings.HasSuffix(tt.want[i], "/") {
					ok = strings.HasPrefix(got[i], tt.want[i])
				} else {
					ok = got[i] == tt.want[i]
				}
			}
			if !ok {
				t.Errorf("reader decrypt aws:s3:arn = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNeedsOrganizationAndBucketKey: Needs carries the organization id of
// an organization trail and the Bucket Key trails.
func TestNeedsOrganizationAndBucketKey(t *testing.T) {
	s := State{Trail: Trail{ARN: "arn:aws:cloudtrail:us-east-1:111111111111:trail/org", S3BucketName: "logs", IsOrganizationTrail: true},
		OrganizationID: "o-abc123defg", BucketKey: BucketKeyEnabled}
	g := Needs(s, Config{})
	if g.Deliveries[0].OrganizationID != "o-abc123defg" || !g.Deliveries[0].BucketKey {
		t.Errorf("delivery %+v", g.Deliveries[0])
	}
	if len(g.BucketKeyTrails) != 1 {
		t.Errorf("bucket key trails %v", g.BucketKeyTrails)
	}
	merged, changed, err := Merge(`{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}`, g)
	if err != nil || !changed || !strings.Contains(merged, SidCloudTrailBucketKeyDecrypt) {
		t.Fatalf("Merge = %v, %v:\n%s", changed, err, merged)
	}
	if _, changed, _ := Merge(merged, g); changed {
		t.Errorf("second merge changed the policy")
	}
	s.Trail.IsOrganizationTrail = false
	if Needs(s, Config{}).Deliveries[0].OrganizationID != "" {
		t.Errorf("an account trail got the organization path")
	}
	g.BucketKeyTrails = []string{"arn:aws:cloudtrail:us-east-1:111111111111:trail/other"}
	if _, _, err := Merge(merged, g); err == nil {
		t.Errorf("Merge accepted a Bucket Key trail that is not one of the grant's trails")
	}
}
