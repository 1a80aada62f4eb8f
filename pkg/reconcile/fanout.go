package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/compliance"
)

// Target is one account and Region of a sweep: one work item of a
// fanned-out sweep (the coordinator enqueues one per Target, a worker
// reconciles it with SweepRegion).
type Target struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// targetListConcurrency is how many accounts SweepTargets lists the
// Regions of at once: each call is a different account's (AssumeRole,
// DescribeRegions), so per-account API rates do not add up, and an
// organization of thousands of accounts is listed well within a minute.
const targetListConcurrency = 64

// SweepTargets lists what a sweep covers: every Region (config Regions,
// else the Regions enabled for the account) of the own account or, in
// organization mode, of every ACTIVE account of the organization, sorted
// by account and Region. An account whose Regions cannot be listed is left
// out and named in errs; only a transient error is returned.
func (r *Reconciler) SweepTargets(ctx context.Context) (targets []Target, errs []string, err error) {
	bctx, cancel := r.bounded(ctx)
	defer cancel()
	rn := r.newRun()
	accounts, err := rn.accounts(bctx)
	if err != nil {
		if Transient(err) {
			return nil, nil, err
		}
		rn.addError(err)
		return nil, rn.errors, nil
	}
	per := make([][]string, len(accounts))
	g, gctx := errgroup.WithContext(bctx)
	g.SetLimit(max(cap(rn.sem), targetListConcurrency))
	for i, acct := range accounts {
		g.Go(func() error {
			regions, err := rn.regions(gctx, acct)
			if err != nil {
				if Transient(err) {
					return err
				}
				rn.addError(fmt.Errorf("account %s: %w", acct, err))
				return nil
			}
			per[i] = regions
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for i, acct := range accounts {
		for _, region := range per[i] {
			targets = append(targets, Target{Account: acct, Region: region})
		}
	}
	return targets, rn.errors, nil
}

// SweepRegion is the part of a sweep that one work item covers: it
// reconciles the trails of account whose home Region is region (a
// multi-Region trail whose home Region is not among covered, the Regions
// the sweep covers in the account, is taken by the covered Region first in
// sort order, where its shadow is listed), grouped by key as Sweep groups them, and
// alerts when no trail logs in region. Unlike Sweep it logs the results
// and imports the findings but sends no notice: the sweep's summary does
// (NotifySweep). Only transient errors are returned.
func (r *Reconciler) SweepRegion(ctx context.Context, account, region string, covered []string) (Report, error) {
	ctx = context.WithValue(ctx, sweepKey{}, true)
	rep, err := r.execute(ctx, func(ctx context.Context, rn *run) (Report, error) {
		return rn.sweepRegion(ctx, account, region, covered)
	})
	r.logResults(ctx, rep)
	r.publish(ctx, rep)
	return rep, err
}

// NotifySweep sends the notice of a fanned-out sweep (the same message
// Sweep sends, over the trails the work items reported), when a topic is
// configured and something changed or needs a human.
func (r *Reconciler) NotifySweep(ctx context.Context, rep Report) { r.notify(ctx, rep) }

func (rn *run) sweepRegion(ctx context.Context, account, region string, covered []string) (Report, error) {
	var rep Report
	c, err := rn.r.clients(ctx, account, region)
	if err != nil {
		if Transient(err) {
			return rep, err
		}
		rn.addError(fmt.Errorf("account %s Region %s: %w", account, region, err))
		return rep, nil
	}
	listed, err := rn.describeTrails(ctx, c, account, region)
	if err != nil {
		if Transient(err) {
			return rep, err
		}
		rn.addError(err)
		return rep, nil
	}
	var trails []compliance.Trail
	for _, t := range listed {
		if t.ARN != "" && ownsTrail(t, region, covered) {
			trails = append(trails, t)
		}
	}
	// Group by key, as Sweep does: trails sharing a key run one after the
	// other, with one key-policy write carrying what all of them need.
	var groups [][]compliance.Trail
	byKey := map[string]int{}
	for _, t := range trails {
		if i, ok := byKey[t.KMSKeyID]; ok {
			groups[i] = append(groups[i], t)
			continue
		}
		byKey[t.KMSKeyID] = len(groups)
		groups = append(groups, []compliance.Trail{t})
	}
	var (
		mu   sync.Mutex
		errs []error
		eg   errgroup.Group
	)
	eg.SetLimit(cap(rn.sem))
	for _, gr := range groups {
		eg.Go(func() error {
			results, gerrs := rn.reconcileGroup(ctx, account, gr)
			mu.Lock()
			defer mu.Unlock()
			rep.Results = append(rep.Results, results...)
			errs = append(errs, gerrs...)
			return nil
		})
	}
	_ = eg.Wait()
	slices.SortFunc(rep.Results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Trail, b.Trail))
	})
	alerts, err := rn.blindSpots(ctx, account, []string{region})
	if err != nil {
		errs = append(errs, err)
	}
	rep.Alerts = alerts
	return rep, errors.Join(errs...)
}

// ownsTrail reports whether the work item of region reconciles trail t,
// listed there: its home Region's item does, and for a trail whose home
// Region the sweep does not cover, the item of the covered Region first in
// sort order.
func ownsTrail(t compliance.Trail, region string, covered []string) bool {
	if t.HomeRegion == "" || t.HomeRegion == region {
		return true
	}
	if len(covered) == 0 || slices.Contains(covered, t.HomeRegion) {
		return false
	}
	return region == slices.Min(covered)
}
