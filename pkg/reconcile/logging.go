package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/state"
)

// startLogging carries out StartLogging (opt-in) after re-reading the
// trail's status: a trail that is logging again is "unchanged".
func (rn *run) startLogging(ctx context.Context, st compliance.State, a plan.Action) (Outcome, string, error) {
	c, err := rn.r.clients(ctx, st.Account, cmp.Or(a.Region, st.Trail.HomeRegion))
	if err != nil {
		return Failed, "", err
	}
	name := cmp.Or(a.TrailName, a.Target)
	h, err := rn.r.lock(ctx, "start logging "+a.Target)
	if err != nil {
		return Failed, "", fmt.Errorf("start logging %s: %w", a.Target, err)
	}
	defer h.release(ctx, rn.r)
	gf := rn.startGuardRead(ctx, "start logging "+a.Target)
	defer gf.settle()
	out, err := c.CloudTrail.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
	if err != nil {
		return Failed, "", fmt.Errorf("get trail status %s: %w", a.Target, err)
	}
	if aws.ToBool(out.IsLogging) {
		return Unchanged, "", nil
	}
	defer rn.statuses.forget(a.Target)
	change := state.Change{Account: st.Account, Region: cmp.Or(a.Region, st.Trail.HomeRegion), Resource: a.Target,
		Trails: []string{a.Target}, Rules: ruleNames(a.Rules), Action: string(a.Kind), Before: "logging false", After: "logging true"}
	return rn.guardedWrite(ctx, h, gf, "start logging "+a.Target, change, func(ctx context.Context) error {
		if _, err := c.CloudTrail.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
			return fmt.Errorf("start logging %s: %w", a.Target, err)
		}
		return nil
	})
}

// blindSpots returns an alert for every Region of account in regions where
// no trail is known to be logging. EventBridge gets "AWS API Call via
// CloudTrail" events only from a trail that is logging (EventBridge user
// guide, "Events from AWS services",
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html),
// so trailguard's event rules are blind there until the sweep. A Region is
// covered by a logging trail whose home Region it is, or by a logging
// multi-Region (or organization) trail listed there. Statuses that cannot
// be read are named in the alert instead of being assumed. Only a
// transient error is returned.
func (rn *run) blindSpots(ctx context.Context, account string, regions []string) ([]string, error) {
	var (
		mu     sync.Mutex
		alerts []string
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
			msg, err := rn.blindSpot(gctx, account, region)
			if err != nil || msg == "" {
				return err
			}
			mu.Lock()
			alerts = append(alerts, msg)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.Sort(alerts)
	return alerts, nil
}

// blindSpot checks one Region; "" when a trail logs there.
func (rn *run) blindSpot(ctx context.Context, account, region string) (string, error) {
	c, err := rn.r.clients(ctx, account, region)
	if err != nil {
		if Transient(err) {
			return "", err
		}
		return fmt.Sprintf("account %s Region %s: cannot check whether a trail is logging: %v", account, region, err), nil
	}
	trails, err := rn.describeTrails(ctx, c, account, region)
	if err != nil {
		if Transient(err) {
			return "", err
		}
		return fmt.Sprintf("account %s Region %s: cannot check whether a trail is logging: %v", account, region, err), nil
	}
	var unknown []string
	for _, t := range trails {
		if t.ARN == "" || (t.HomeRegion != region && !t.IsMultiRegion && !t.IsOrganizationTrail) {
			continue
		}
		hc := c
		if t.HomeRegion != "" && t.HomeRegion != region {
			if hc, err = rn.r.clients(ctx, account, t.HomeRegion); err != nil {
				return "", err
			}
		}
		ts, err := rn.trailStatus(ctx, hc, t.ARN)
		if err != nil {
			if Transient(err) {
				return "", err
			}
			unknown = append(unknown, err.Error())
			continue
		}
		if ts.logging {
			return "", nil
		}
	}
	msg := fmt.Sprintf("account %s Region %s: no trail is logging there, so trailguard receives no events from it (EventBridge gets API-call events only from a logging trail)", account, region)
	if len(unknown) > 0 {
		msg += "; statuses that could not be read: " + strings.Join(unknown, "; ")
	}
	return msg, nil
}

// blindAfter checks, after one trail's reconcile, whether the trail's
// account and Region are left without a logging trail: when the trail no
// longer exists (DeleteTrail) or is not logging (StopLogging).
func (rn *run) blindAfter(ctx context.Context, res Result) ([]string, error) {
	gone := res.Error == "" && res.Message != "" && len(res.Findings) == 0
	stopped := slices.ContainsFunc(res.Findings, func(f compliance.Finding) bool { return f.Rule == compliance.TrailNotLogging })
	if (!gone && !stopped) || res.Account == "" || res.Region == "" {
		return nil, nil
	}
	return rn.blindSpots(ctx, res.Account, []string{res.Region})
}

// blindRegions is blindSpots over every Region a sweep covers in account.
func (rn *run) blindRegions(ctx context.Context, account string) ([]string, error) {
	regions, err := rn.regions(ctx, account)
	if err != nil {
		if Transient(err) {
			return nil, err
		}
		return nil, nil // already recorded by the sweep's discovery
	}
	return rn.blindSpots(ctx, account, regions)
}
