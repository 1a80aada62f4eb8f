package securityhub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// BatchSize is the most findings one BatchImportFindings or
// BatchUpdateFindings call takes (100, both API references:
// https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html,
// https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html).
const BatchSize = 100

// ClientFunc returns the Security Hub client of an account and Region.
//
// With the default product ARN, BatchImportFindings must be called by the
// account the finding is about: "the identifier of the account that you
// are calling BatchImportFindings from needs to be the same as the
// AwsAccountId attribute for the finding"
// (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
// Only allow-listed partner integrations may import for other accounts. So
// in organization mode the client for a member account must act as that
// account (trailguard's remediation role there); the organization's
// Security Hub administrator account then sees the findings as it sees
// every member's ("the administrator account can view the findings
// generated in the member account",
// https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_InviteMembers.html).
type ClientFunc func(ctx context.Context, account, region string) (API, error)

// Publisher imports trailguard's findings into Security Hub. It is safe
// for concurrent use; build one per process.
type Publisher struct {
	// Clients gives the client of an account and Region.
	Clients ClientFunc
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// DocsURL is the README the recommendations link (DefaultDocsURL).
	DocsURL string

	mu sync.Mutex
	// hubs caches, per account|Region, whether Security Hub is enabled
	// there (DescribeHub once per container).
	hubs map[string]bool
}

// Summary counts what one Publish did.
type Summary struct {
	// Imported findings (FAILED ones and resolutions), Resolved of them
	// PASSED/RESOLVED, Rejected by Security Hub.
	Imported, Resolved, Rejected int
	// Skipped lists account/Region pairs without Security Hub.
	Skipped []string
}

// Publish imports one ASFF finding per failing rule of each trail, and
// resolves the earlier findings of settled trails whose rule no longer
// fails: it imports them with Compliance.Status PASSED and sets their
// Workflow.Status to RESOLVED with BatchUpdateFindings (BatchImportFindings
// "cannot be used to update" Workflow after a finding is created,
// https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
//
// Which findings existed before is read, once per account and Region, with
// GetFindings (trailguard's generator under the default product ARN,
// active records): that gives each finding's CreatedAt to keep, and lets a
// run resolve exactly the findings that are open instead of importing a
// PASSED finding for every rule of every trail on every run. An account or
// Region without Security Hub enabled is skipped with one log line.
// Errors are returned joined after every group was tried; the caller logs
// them (the remediation is done either way).
func (p *Publisher) Publish(ctx context.Context, trails []Trail) (Summary, error) {
	var (
		sum   Summary
		errs  []error
		order []string
	)
	groups := map[string][]Trail{}
	for _, t := range trails {
		if t.ARN == "" || t.Account == "" || t.Region == "" {
			continue
		}
		k := t.Account + "|" + t.Region
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t)
	}
	for _, k := range order {
		g := groups[k]
		if err := p.publishGroup(ctx, g[0].Account, g[0].Region, g, &sum); err != nil {
			errs = append(errs, err)
		}
	}
	return sum, errors.Join(errs...)
}

func (p *Publisher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) publishGroup(ctx context.Context, account, region string, trails []Trail, sum *Summary) error {
	c, err := p.Clients(ctx, account, region)
	if err != nil {
		return fmt.Errorf("security hub clients for %s in %s: %w", account, region, err)
	}
	on, err := p.enabled(ctx, c, account, region)
	if err != nil {
		return err
	}
	if !on {
		sum.Skipped = append(sum.Skipped, account+"/"+region)
		return nil
	}
	product := ProductARN(partitionOf(trails[0].ARN), region, account)
	prev, err := previous(ctx, c, product, account)
	if err != nil {
		return fmt.Errorf("get security hub findings of %s in %s: %w", account, region, err)
	}

	now := p.now()
	var imports []types.AwsSecurityFinding
	var resolve []types.AwsSecurityFindingIdentifier
	for _, t := range trails {
		failing := map[compliance.Rule]bool{}
		for _, f := range t.Findings {
			if failing[f.Rule] {
				continue
			}
			failing[f.Rule] = true
			old := prev[FindingID(t.ARN, f.Rule)]
			imports = append(imports, p.finding(t, f, failed, aws.ToString(old.CreatedAt), old.Resources, now))
		}
		if !t.Settled {
			continue
		}
		for _, info := range compliance.Catalogue() {
			id := FindingID(t.ARN, info.ID)
			old, ok := prev[id]
			if failing[info.ID] || !ok || isResolved(old) {
				continue
			}
			imports = append(imports, p.finding(t, compliance.Finding{Rule: info.ID}, resolved, aws.ToString(old.CreatedAt), old.Resources, now))
			resolve = append(resolve, types.AwsSecurityFindingIdentifier{Id: aws.String(id), ProductArn: aws.String(product)})
		}
	}

	var errs []error
	for batch := range slices.Chunk(imports, BatchSize) {
		out, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: batch})
		if err != nil {
			errs = append(errs, fmt.Errorf("import %d security hub findings of %s in %s: %w", len(batch), account, region, err))
			continue
		}
		sum.Imported += int(aws.ToInt32(out.SuccessCount))
		for _, f := range out.FailedFindings {
			sum.Rejected++
			p.log().Error("security hub rejected a finding", "id", aws.ToString(f.Id), "code", aws.ToString(f.ErrorCode), "message", aws.ToString(f.ErrorMessage))
		}
	}
	for batch := range slices.Chunk(resolve, BatchSize) {
		out, err := c.BatchUpdateFindings(ctx, &securityhub.BatchUpdateFindingsInput{
			FindingIdentifiers: batch,
			Workflow:           &types.WorkflowUpdate{Status: types.WorkflowStatusResolved},
			Note: &types.NoteUpdate{
				Text:      aws.String("trailguard: the trail is compliant again; this rule no longer fails."),
				UpdatedBy: aws.String("trailguard"),
			},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %d security hub findings of %s in %s: %w", len(batch), account, region, err))
			continue
		}
		sum.Resolved += len(out.ProcessedFindings)
		for _, f := range out.UnprocessedFindings {
			p.log().Error("security hub did not resolve a finding", "id", aws.ToString(f.FindingIdentifier.Id), "code", aws.ToString(f.ErrorCode), "message", aws.ToString(f.ErrorMessage))
		}
	}
	return errors.Join(errs...)
}

// isResolved reports whether a finding already says PASSED and RESOLVED.
func isResolved(f types.AwsSecurityFinding) bool {
	return f.Compliance != nil && f.Compliance.Status == types.ComplianceStatusPassed &&
		f.Workflow != nil && f.Workflow.Status == types.WorkflowStatusResolved
}

// enabled reports whether Security Hub is enabled in account and region
// (DescribeHub; InvalidAccessException means "not subscribed"), once per
// container. A disabled hub is logged once.
func (p *Publisher) enabled(ctx context.Context, c API, account, region string) (bool, error) {
	key := account + "|" + region
	p.mu.Lock()
	on, known := p.hubs[key]
	p.mu.Unlock()
	if known {
		return on, nil
	}
	_, err := c.DescribeHub(ctx, &securityhub.DescribeHubInput{})
	var ae smithy.APIError
	switch {
	case err == nil:
		on = true
	case errors.As(err, &ae) && (ae.ErrorCode() == "InvalidAccessException" || ae.ErrorCode() == "ResourceNotFoundException"):
		on = false
		p.log().Info("Security Hub is not enabled: findings are not imported there", "account", account, "region", region)
	default:
		return false, fmt.Errorf("describe security hub of %s in %s: %w", account, region, err)
	}
	p.mu.Lock()
	if p.hubs == nil {
		p.hubs = map[string]bool{}
	}
	p.hubs[key] = on
	p.mu.Unlock()
	return on, nil
}

// previous returns trailguard's active findings under product in the
// account, by Id. The filters narrow the answer on AWS; the checks after
// them keep the result right where an emulator ignores filters.
func previous(ctx context.Context, c API, product, account string) (map[string]types.AwsSecurityFinding, error) {
	eq := func(v string) []types.StringFilter {
		return []types.StringFilter{{Comparison: types.StringFilterComparisonEquals, Value: aws.String(v)}}
	}
	in := &securityhub.GetFindingsInput{
		Filters: &types.AwsSecurityFindingFilters{
			ProductArn:   eq(product),
			AwsAccountId: eq(account),
			RecordState:  eq(string(types.RecordStateActive)),
			GeneratorId:  []types.StringFilter{{Comparison: types.StringFilterComparisonPrefix, Value: aws.String(GeneratorPrefix)}},
		},
		MaxResults: aws.Int32(100),
	}
	out := map[string]types.AwsSecurityFinding{}
	for pg := securityhub.NewGetFindingsPaginator(c, in); pg.HasMorePages(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range page.Findings {
			if aws.ToString(f.ProductArn) != product || aws.ToString(f.AwsAccountId) != account ||
				f.RecordState == types.RecordStateArchived || len(aws.ToString(f.GeneratorId)) <= len(GeneratorPrefix) ||
				aws.ToString(f.GeneratorId)[:len(GeneratorPrefix)] != GeneratorPrefix {
				continue
			}
			out[aws.ToString(f.Id)] = f
		}
	}
	return out, nil
}
