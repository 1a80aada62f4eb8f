package securityhub

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/trailguard/trailguard/pkg/compliance"
)

func TestMappingCoversCatalogue(t *testing.T) {
	ms := Mappings()
	cat := compliance.Catalogue()
	if len(ms) != len(cat) {
		t.Fatalf("%d mappings for %d rules", len(ms), len(cat))
	}
	for i, info := range cat {
		m := ms[i]
		if m.Rule != info.ID {
			t.Errorf("mapping %d is %s, want %s (catalogue order)", i, m.Rule, info.ID)
		}
		if !strings.Contains("INFORMATIONAL LOW MEDIUM HIGH CRITICAL", string(m.Severity)) || m.Severity == "" {
			t.Errorf("%s: severity %q", m.Rule, m.Severity)
		}
		if len(m.Types) == 0 {
			t.Errorf("%s: no types", m.Rule)
		}
		for _, typ := range m.Types {
			if strings.Count(typ, "/") < 1 || strings.Count(typ, "/") > 2 {
				t.Errorf("%s: type %q is not namespace/category[/classifier]", m.Rule, typ)
			}
		}
	}
	ms[0].Types[0] = "changed"
	if Mappings()[0].Types[0] == "changed" {
		t.Error("Mappings shares its slices")
	}
	if m := MappingOf("a-future-rule"); m.Severity != types.SeverityLabelMedium {
		t.Errorf("unknown rule mapping %+v", m)
	}
}

func TestProductARNAndID(t *testing.T) {
	tests := []struct{ partition, region, account, want string }{
		{"aws", "us-east-1", "111111111111", "arn:aws:securityhub:us-east-1:111111111111:product/111111111111/default"},
		{"aws-cn", "cn-north-1", "222222222222", "arn:aws-cn:securityhub:cn-north-1:222222222222:product/222222222222/default"},
		{"aws-us-gov", "us-gov-west-1", "333333333333", "arn:aws-us-gov:securityhub:us-gov-west-1:333333333333:product/333333333333/default"},
	}
	for _, tt := range tests {
		if got := ProductARN(tt.partition, tt.region, tt.account); got != tt.want {
			t.Errorf("ProductARN = %s, want %s", got, tt.want)
		}
	}
	if a, b := FindingID(trailA, compliance.KeyDisabled), FindingID(trailA, compliance.KeyDisabled); a != b || a == FindingID(trailB, compliance.KeyDisabled) || a == FindingID(trailA, compliance.KeyPendingDeletion) {
		t.Error("finding ids are not stable and distinct per trail and rule")
	}
}

func TestFindingFields(t *testing.T) {
	p := &Publisher{DocsURL: "https://example.test/README.md"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cn := "arn:aws-cn:cloudtrail:cn-north-1:222222222222:trail/t"
	tests := []struct {
		name      string
		trail     Trail
		st        status
		created   string
		prev      []types.Resource
		resources int
		workflow  bool
	}{
		{"new failing with key", Trail{ARN: cn, Account: "222222222222", Region: "cn-north-1", KMSKeyARN: "arn:aws-cn:kms:cn-north-1:222222222222:key/k", Done: []string{"EnableKey k: updated"}}, failed, "", nil, 2, true},
		{"failing without key", Trail{ARN: trailA, Account: motoAccount, Region: motoRegion}, failed, "2025-01-01T00:00:00Z", nil, 1, true},
		{"resolved keeps earlier key", Trail{ARN: trailA, Account: motoAccount, Region: motoRegion}, resolved, "2025-01-01T00:00:00Z", []types.Resource{{Type: aws.String("AwsCloudTrailTrail")}, {Type: aws.String("AwsKmsKey"), Id: aws.String(keyA)}}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := p.finding(tt.trail, compliance.Finding{Rule: compliance.KeyDisabled, Detail: "key k is Disabled"}, tt.st, tt.created, tt.prev, now)
			if len(f.Resources) != tt.resources {
				t.Errorf("%d resources, want %d", len(f.Resources), tt.resources)
			}
			if (f.Workflow != nil) != tt.workflow {
				t.Errorf("workflow %+v, want set=%v", f.Workflow, tt.workflow)
			}
			if tt.created != "" && aws.ToString(f.CreatedAt) != tt.created {
				t.Errorf("CreatedAt %s, want %s", aws.ToString(f.CreatedAt), tt.created)
			}
			if aws.ToString(f.UpdatedAt) != "2026-01-02T03:04:05Z" {
				t.Errorf("UpdatedAt %s", aws.ToString(f.UpdatedAt))
			}
			if got := aws.ToString(f.Remediation.Recommendation.Url); got != "https://example.test/README.md#rule-key-disabled" {
				t.Errorf("url %s", got)
			}
			if f.Compliance.Status != tt.st.compliance || f.Severity.Label != types.SeverityLabelHigh {
				t.Errorf("compliance %s severity %s", f.Compliance.Status, f.Severity.Label)
			}
			if want := partitionOf(tt.trail.ARN); !strings.HasPrefix(aws.ToString(f.ProductArn), "arn:"+want+":securityhub:") {
				t.Errorf("product %s", aws.ToString(f.ProductArn))
			}
			if len(tt.trail.Done) > 0 && f.ProductFields["trailguard/actions"] != "EnableKey k: updated" {
				t.Errorf("actions field %q", f.ProductFields["trailguard/actions"])
			}
		})
	}
}

// TestREADMEMapping keeps README.md's Security Hub table equal to the
// mapping: one row per rule with its anchor, severity and types.
func TestREADMEMapping(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, m := range Mappings() {
		row := `| <a id="rule-` + string(m.Rule) + `"></a>` + "`" + string(m.Rule) + "` | " + string(m.Severity) + " | " + strings.Join(m.Types, "<br>") + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row\n%s", row)
		}
	}
}
