package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// accounts returns the accounts a sweep covers: the own account, or every
// ACTIVE account of the organization in organization mode.
func (rn *run) accounts(ctx context.Context) ([]string, error) {
	own, err := rn.r.ownAccount(ctx)
	if err != nil {
		return nil, err
	}
	if !rn.r.orgMode() {
		return []string{own}, nil
	}
	c, err := rn.r.clients(ctx, "", rn.r.region)
	if err != nil {
		return nil, err
	}
	var out []string
	p := organizations.NewListAccountsPaginator(c.Organizations, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list organization accounts: %w", err)
		}
		for _, a := range page.Accounts {
			active := a.State == orgtypes.AccountStateActive || (a.State == "" && a.Status == orgtypes.AccountStatusActive)
			if active && aws.ToString(a.Id) != "" {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// regions returns the Regions to look at in account: config Regions, else
// every Region enabled for the account (ec2 DescribeRegions).
func (rn *run) regions(ctx context.Context, account string) ([]string, error) {
	if len(rn.r.cfg.Regions) > 0 {
		return rn.r.cfg.Regions, nil
	}
	return rn.regionsOf.do(ctx, account, func() ([]string, error) {
		c, err := rn.r.clients(ctx, account, rn.r.region)
		if err != nil {
			return nil, err
		}
		out, err := c.EC2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil {
			return nil, fmt.Errorf("describe regions of account %s: %w", account, err)
		}
		var regions []string
		for _, r := range out.Regions {
			if n := aws.ToString(r.RegionName); n != "" {
				regions = append(regions, n)
			}
		}
		slices.Sort(regions)
		return regions, nil
	})
}

// findTrails lists the trails of account in every Region (DescribeTrails
// with shadow trails, Regions concurrently) whose KmsKeyId matches, each
// once (a multi-Region trail appears in every Region), sorted by ARN. A
// Region that cannot be read is recorded as a run error and skipped; a
// transient error is returned.
func (rn *run) findTrails(ctx context.Context, account string, match func(kmsKeyID string) bool) ([]compliance.Trail, error) {
	regions, err := rn.regions(ctx, account)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		found = map[string]compliance.Trail{}
	)
	g, gctx := errgroup.WithContext(ctx)
	for _, region := range regions {
		g.Go(func() error {
			select {
			case rn.sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-rn.sem }()
			c, err := rn.r.clients(gctx, account, region)
			if err != nil {
				return err
			}
			out, err := rn.describeTrails(gctx, c, account, region)
			if err != nil {
				if Transient(err) {
					return err
				}
				rn.addError(err)
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for _, t := range out {
				if t.ARN == "" || !match(t.KMSKeyID) {
					continue
				}
				if _, ok := found[t.ARN]; !ok || region == t.HomeRegion {
					found[t.ARN] = t
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	trails := make([]compliance.Trail, 0, len(found))
	for _, t := range found {
		trails = append(trails, t)
	}
	slices.SortFunc(trails, func(a, b compliance.Trail) int { return strings.Compare(a.ARN, b.ARN) })
	return trails, nil
}

// describeTrails lists the trails of account seen in region, shadow trails
// included, once per run.
func (rn *run) describeTrails(ctx context.Context, c *Clients, account, region string) ([]compliance.Trail, error) {
	return rn.trailLists.do(ctx, account+"|"+region, func() ([]compliance.Trail, error) {
		out, err := c.CloudTrail.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("describe trails of account %s in %s: %w", account, region, err)
		}
		trails := make([]compliance.Trail, 0, len(out.TrailList))
		for i := range out.TrailList {
			trails = append(trails, toTrail(&out.TrailList[i]))
		}
		return trails, nil
	})
}
