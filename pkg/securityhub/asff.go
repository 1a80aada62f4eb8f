package securityhub

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// SchemaVersion is the ASFF schema version trailguard writes.
const SchemaVersion = "2018-10-08"

// GeneratorPrefix starts the GeneratorId of every trailguard finding
// ("trailguard/<rule>"); previous findings are found by it.
const GeneratorPrefix = "trailguard/"

// DefaultDocsURL is the README whose Security Hub table has one row (and
// anchor "rule-<id>") per rule; Remediation.Recommendation.Url links it.
const DefaultDocsURL = "https://github.com/trailguard/trailguard/blob/main/README.md"

// The ASFF finding types trailguard uses (namespace/category/classifier,
// https://docs.aws.amazon.com/securityhub/latest/userguide/asff-type-taxonomy.html).
const (
	typeBestPractices = "Software and Configuration Checks/AWS Security Best Practices"
	typeCIS           = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
	typeDataExposure  = "Effects/Data Exposure"
)

// Mapping is how one rule appears in Security Hub.
type Mapping struct {
	Rule     compliance.Rule
	Severity types.SeverityLabel
	Types    []string
}

// mappings is the ASFF mapping, in catalogue order. The README's Security
// Hub table is checked against it.
var mappings = []Mapping{
	{compliance.TrailNotEncrypted, types.SeverityLabelMedium, []string{typeBestPractices, typeCIS}},
	{compliance.TrailKeyMissing, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.TrailKeyWrongRegion, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.TrailKeyUnusable, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.KeyDisabled, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.KeyPendingDeletion, types.SeverityLabelCritical, []string{typeBestPractices, typeDataExposure}},
	{compliance.KeyPolicyNoEncrypt, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.KeyPolicyNoDescribe, types.SeverityLabelMedium, []string{typeBestPractices}},
	{compliance.KeyPolicyNoReaderDecrypt, types.SeverityLabelMedium, []string{typeBestPractices}},
	{compliance.KeyPolicyDeniesCloudTrail, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.KeyPolicyTooLarge, types.SeverityLabelMedium, []string{typeBestPractices}},
	{compliance.KeyRotationDisabled, types.SeverityLabelLow, []string{typeBestPractices, typeCIS}},
	{compliance.TrailDeliveryFailing, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.TrailNotLogging, types.SeverityLabelHigh, []string{typeBestPractices, typeCIS}},
	{compliance.KeyPolicyNoBucketKeyDecrypt, types.SeverityLabelHigh, []string{typeBestPractices}},
	{compliance.KeyUnverifiable, types.SeverityLabelMedium, []string{typeBestPractices}},
	{compliance.TrailUnverifiable, types.SeverityLabelMedium, []string{typeBestPractices}},
}

// Mappings returns the ASFF mapping of every rule, in catalogue order (a
// new slice on every call).
func Mappings() []Mapping {
	out := make([]Mapping, len(mappings))
	for i, m := range mappings {
		m.Types = append([]string(nil), m.Types...)
		out[i] = m
	}
	return out
}

// MappingOf returns the mapping of rule; a rule the table does not know
// (a newer rule) is MEDIUM, best practices.
func MappingOf(rule compliance.Rule) Mapping {
	for _, m := range mappings {
		if m.Rule == rule {
			return m
		}
	}
	return Mapping{Rule: rule, Severity: types.SeverityLabelMedium, Types: []string{typeBestPractices}}
}

// ProductARN is the account's default product ARN for a custom
// integration: arn:<partition>:securityhub:<region>:<account>:product/<account>/default
// (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-custom-providers.html).
func ProductARN(partition, region, account string) string {
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", partition, region, account, account)
}

// FindingID is the stable Id of the finding for rule on trailARN: the
// same trail and rule always update the same finding.
func FindingID(trailARN string, rule compliance.Rule) string {
	return trailARN + "/trailguard/" + string(rule)
}

// Trail is what one reconcile run knows about one trail: the input of
// Publish.
type Trail struct {
	// ARN, Account and Region are the trail's ARN, account and home
	// Region (where its findings are imported).
	ARN, Account, Region string
	// KMSKeyARN is the key the trail uses after the run ("" when none or
	// unknown).
	KMSKeyARN string
	// Findings are the rules failing after the run's evaluation.
	Findings []compliance.Finding
	// Done says what trailguard did about them, one line per action
	// ("PutKeyPolicy arn:aws:kms:...: updated").
	Done []string
	// Settled is false when the run could not finish its view of the
	// trail (a read or an action failed): its failing findings are still
	// imported, but nothing is resolved on its word.
	Settled bool
}

// status is a finding's compliance state.
type status struct{ compliance types.ComplianceStatus }

var (
	failed   = status{types.ComplianceStatusFailed}
	resolved = status{types.ComplianceStatusPassed}
)

// finding builds the ASFF finding for rule on t. created is the CreatedAt
// of the existing finding ("" for a new one); prev are its resources, kept
// when the run no longer names the key.
func (p *Publisher) finding(t Trail, f compliance.Finding, st status, created string, prev []types.Resource, now time.Time) types.AwsSecurityFinding {
	partition := partitionOf(t.ARN)
	m := MappingOf(f.Rule)
	info, _ := f.Rule.Info()
	ts := now.UTC().Format(time.RFC3339Nano)
	if created == "" {
		created = ts
	}
	title := fmt.Sprintf("CloudTrail trail encryption: %s", f.Rule)
	desc := info.Summary
	if f.Detail != "" {
		desc = f.Detail
	}
	if st == resolved {
		desc = "Compliant again: " + info.Summary + " no longer holds."
	}
	desc = clip(desc, 1024)
	fields := map[string]string{
		"trailguard/rule":       string(f.Rule),
		"trailguard/actionable": fmt.Sprint(f.Actionable),
	}
	if len(t.Done) > 0 {
		fields["trailguard/actions"] = clip(strings.Join(t.Done, "; "), 2048)
	} else {
		fields["trailguard/actions"] = "none"
	}
	if info.Fix != "" {
		fields["trailguard/fix"] = clip(info.Fix, 2048)
	}
	resources := []types.Resource{{Type: aws.String("AwsCloudTrailTrail"), Id: aws.String(t.ARN), Partition: types.Partition(partition), Region: aws.String(t.Region)}}
	if t.KMSKeyARN != "" {
		resources = append(resources, types.Resource{Type: aws.String("AwsKmsKey"), Id: aws.String(t.KMSKeyARN), Partition: types.Partition(partition), Region: aws.String(regionOf(t.KMSKeyARN, t.Region))})
	} else {
		for _, r := range prev {
			if aws.ToString(r.Type) == "AwsKmsKey" {
				resources = append(resources, r)
			}
		}
	}
	sev := &types.Severity{Label: m.Severity}
	out := types.AwsSecurityFinding{
		SchemaVersion: aws.String(SchemaVersion),
		Id:            aws.String(FindingID(t.ARN, f.Rule)),
		ProductArn:    aws.String(ProductARN(partition, t.Region, t.Account)),
		GeneratorId:   aws.String(GeneratorPrefix + string(f.Rule)),
		AwsAccountId:  aws.String(t.Account),
		Region:        aws.String(t.Region),
		Types:         m.Types,
		CreatedAt:     aws.String(created),
		UpdatedAt:     aws.String(ts),
		Severity:      sev,
		// Severity and Types after creation are set through
		// FindingProviderFields (BatchImportFindings,
		// https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
		FindingProviderFields: &types.FindingProviderFields{Severity: &types.FindingProviderSeverity{Label: m.Severity}, Types: m.Types},
		Title:                 aws.String(title),
		Description:           aws.String(desc),
		Remediation: &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String(clip(info.Fix, 512)),
			Url:  aws.String(p.docsURL() + "#rule-" + string(f.Rule)),
		}},
		ProductFields: fields,
		Resources:     resources,
		Compliance:    &types.Compliance{Status: st.compliance},
		RecordState:   types.RecordStateActive,
	}
	// Security Hub takes Workflow from BatchImportFindings only when it
	// creates a finding (a new finding is NEW); an existing one is
	// resolved with BatchUpdateFindings (see Publish), and Security Hub
	// itself resets RESOLVED to NEW when Compliance.Status goes from
	// PASSED to FAILED
	// (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Workflow.html).
	if st == failed {
		out.Workflow = &types.Workflow{Status: types.WorkflowStatusNew}
	}
	return out
}

func (p *Publisher) docsURL() string {
	if p.DocsURL != "" {
		return p.DocsURL
	}
	return DefaultDocsURL
}

// partitionOf returns the partition of an ARN ("aws" when it does not
// parse).
func partitionOf(s string) string {
	if a, err := arn.Parse(s); err == nil && a.Partition != "" {
		return a.Partition
	}
	return "aws"
}

// regionOf returns the Region of an ARN, or def.
func regionOf(s, def string) string {
	if a, err := arn.Parse(s); err == nil && a.Region != "" {
		return a.Region
	}
	return def
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
