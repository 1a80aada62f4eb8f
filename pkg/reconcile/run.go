package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"golang.org/x/sync/errgroup"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/state"
)

// run is one invocation: its caches (what was read once is not read again
// in the same run) and its per-key write locks.
type run struct {
	r         *Reconciler
	keys      memo[keyRead] // by key ARN
	refs      memo[string]  // account|region|alias-or-id -> key ARN
	baselines memo[keyRead] // account|region
	buckets   memo[string]  // bucket -> Region
	// bucketKeys: Region|bucket -> S3 Bucket Key setting; statuses: trail
	// ARN -> GetTrailStatus; orgIDs: account -> organization id.
	bucketKeys memo[compliance.BucketKey]
	statuses   memo[trailStatus]
	tags       memo[map[string]string] // trail ARN -> ListTags
	orgIDs     memo[string]
	trailLists memo[[]compliance.Trail] // account|region -> DescribeTrails
	regionsOf  memo[[]string]
	// sem bounds concurrent discovery calls across accounts and Regions.
	sem chan struct{}

	mu     sync.Mutex
	errors []string
	// lastUndo is the change an undo recorded (Undo runs one write).
	lastUndo state.Change
	// amended are the before and after of the write in progress when its
	// last re-read differed from the recorded ones (amendChange).
	amended *[2]string
	// wrote: keys whose policy this run wrote (propagation.go).
	wrote map[string]bool
	// index: the run's background writes to the trail index (index.go).
	index indexWork
	// finishing: the change records' outcomes being written
	// (finishChange).
	finishing sync.WaitGroup
}

func (r *Reconciler) newRun() *run {
	n := r.cfg.Concurrency
	if n < 1 {
		n = 1
	}
	return &run{r: r, sem: make(chan struct{}, n)}
}

// execute runs body on a new run, within ctx's deadline less the margin
// kept for the notice, waits for the run's background writes (change
// outcomes, index), and returns body's report with the run's errors.
func (r *Reconciler) execute(ctx context.Context, body func(context.Context, *run) (Report, error)) (Report, error) {
	bctx, cancel := r.bounded(ctx)
	defer cancel()
	rn := r.newRun()
	rep, err := body(bctx, rn)
	rn.waitFinished()
	rn.waitIndex()
	rep.Errors = rn.errors
	return rep, err
}

// addError records a terminal error not tied to one trail.
func (rn *run) addError(err error) {
	rn.r.log.Error("reconcile", "error", err.Error())
	rn.mu.Lock()
	rn.errors = append(rn.errors, err.Error())
	rn.mu.Unlock()
}

// forgetKey drops what the run knows about a key after a write to it.
func (rn *run) forgetKey(keyARN string) { rn.keys.forget(keyARN) }

// ReconcileTrail reconciles one trail, by name or ARN, as seen by account
// in region (an ARN's own Region and account win). The trail is observed
// and fixed in its home Region. A trail that no longer exists is a result
// with no findings. Only transient errors are returned.
func (r *Reconciler) ReconcileTrail(ctx context.Context, account, region, trail string) (Report, error) {
	rep, err := r.execute(ctx, func(ctx context.Context, rn *run) (Report, error) {
		res, err := rn.trailByName(ctx, account, region, trail)
		rep := Report{Results: []Result{res}}
		if err == nil {
			rep.Alerts, err = rn.blindAfter(ctx, res)
		}
		return rep, err
	})
	r.finish(ctx, rep)
	return rep, err
}

// getTrail reads the trail in account and region. Outside organization
// mode it reads with the own account's clients while it checks, in the
// same round trip, that account is the own account (sts
// GetCallerIdentity, once per container): a request for another account
// fails with ErrOtherAccount before anything is written.
func (rn *run) getTrail(ctx context.Context, account, region, trail string) (*cloudtrail.GetTrailOutput, error) {
	if rn.r.orgMode() {
		c, err := rn.r.clients(ctx, account, region)
		if err != nil {
			return nil, err
		}
		return c.CloudTrail.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(trail)})
	}
	c, err := rn.r.factory.Clients(ctx, "", region)
	if err != nil {
		return nil, err
	}
	var (
		out    *cloudtrail.GetTrailOutput
		getErr error
		own    string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		out, getErr = c.CloudTrail.GetTrail(gctx, &cloudtrail.GetTrailInput{Name: aws.String(trail)})
		return nil
	})
	g.Go(func() (err error) {
		own, err = rn.r.ownAccount(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if account != own {
		return nil, fmt.Errorf("account %s (this is %s): %w", account, own, ErrOtherAccount)
	}
	return out, getErr
}

func (rn *run) trailByName(ctx context.Context, account, region, trail string) (Result, error) {
	if a, err := arn.Parse(trail); err == nil && a.Service == "cloudtrail" {
		region = a.Region
		if account == "" {
			account = a.AccountID
		}
	}
	res := Result{Trail: trail, Account: account, Region: region}
	if account == "" {
		own, err := rn.r.ownAccount(ctx)
		if err != nil {
			return rn.failed(res, err)
		}
		account, res.Account = own, own
	}
	out, err := rn.getTrail(ctx, account, region, trail)
	if err != nil {
		if errors.Is(err, ErrOtherAccount) {
			return rn.failed(res, err)
		}
		if isNotFound(err) {
			res.Message = "the trail no longer exists: nothing to do"
			rn.r.log.Info("trail not found", "trail", trail, "account", account, "region", region)
			return res, nil
		}
		return rn.failed(res, fmt.Errorf("get trail %s: %w", trail, err))
	}
	if out.Trail == nil {
		res.Message = "the trail no longer exists: nothing to do"
		return res, nil
	}
	return rn.reconcile(ctx, account, toTrail(out.Trail))
}

// failed records err in res: a transient error is also returned.
func (rn *run) failed(res Result, err error) (Result, error) {
	res.Error = err.Error()
	if Transient(err) {
		rn.r.log.Warn("transient error", "trail", res.Trail, "account", res.Account, "error", res.Error)
		return res, err
	}
	rn.r.log.Error("terminal error", "trail", res.Trail, "account", res.Account, "error", res.Error)
	return res, nil
}

// reconcile observes, evaluates, plans and fixes trail t in its home
// Region.
func (rn *run) reconcile(ctx context.Context, account string, t compliance.Trail) (Result, error) {
	results, errs := rn.reconcileGroup(ctx, account, []compliance.Trail{t})
	return results[0], errs[0]
}

// planned is one trail of a group, observed and planned.
type planned struct {
	res Result
	st  compliance.State
	p   plan.Plan
	err error
	ok  bool
}

// reconcileGroup reconciles trails of one account that may share keys: it
// observes (config.Concurrency at a time) and plans each of them first, so that every key two or more of
// them need statements on gets one write carrying all of them
// (shareWrites), then fixes them one after the other. results[i] and
// errs[i] are trails[i]'s.
func (rn *run) reconcileGroup(ctx context.Context, account string, trails []compliance.Trail) ([]Result, []error) {
	items := make([]planned, len(trails))
	var g errgroup.Group
	g.SetLimit(max(1, rn.r.cfg.Concurrency))
	for i, t := range trails {
		g.Go(func() error {
			items[i].res = Result{Trail: t.ARN, Account: account, Region: t.HomeRegion, KMSKeyARN: t.KMSKeyID}
			st, err := rn.observe(ctx, account, t)
			// Seen using its key, whether or not the rest could be read.
			rn.noteTrail(ctx, indexKeyOf(st, t), t, account)
			if err != nil {
				items[i].res, items[i].err = rn.failed(items[i].res, err)
				return nil
			}
			items[i].st, items[i].p, items[i].ok = st, plan.Make(st, rn.r.ccfg), true
			return nil
		})
	}
	_ = g.Wait()
	var states []compliance.State
	var plans []plan.Plan
	for _, it := range items {
		if it.ok {
			states, plans = append(states, it.st), append(plans, it.p)
		}
	}
	shared := shareWrites(states, plans)
	results := make([]Result, len(items))
	errs := make([]error, len(items))
	for i, it := range items {
		if !it.ok {
			results[i], errs[i] = it.res, it.err
			continue
		}
		results[i], errs[i] = rn.fix(ctx, it.res, it.st, it.p, shared)
		rn.indexAfterFix(ctx, account, trails[i], indexKeyOf(it.st, trails[i]), results[i])
	}
	return results, errs
}

// fix executes plan p of the trail observed in st and completes res.
func (rn *run) fix(ctx context.Context, res Result, st compliance.State, p plan.Plan, shared sharedWrites) (Result, error) {
	res.Findings = p.Findings
	res.Alerts = append(res.Alerts, p.Alerts...)
	if a := compliance.Assess(st, rn.r.ccfg); a.Switch && a.Blocked == "" && st.Baseline == nil {
		res.Error = st.BaselineError
		if res.Error == "" {
			res.Error = a.SwitchProblem
		}
		if !slices.Contains(res.Alerts, res.Error) {
			res.Alerts = append(res.Alerts, res.Error)
		}
	}
	actions, alerts, err := rn.execute(ctx, st, p, shared)
	res.Actions = actions
	res.KMSKeyARN = keyAfter(res.KMSKeyARN, actions)
	for _, al := range alerts {
		if !slices.Contains(res.Alerts, al) {
			res.Alerts = append(res.Alerts, al)
		}
	}
	if res.Error == "" {
		var failures []string
		for _, a := range actions {
			if a.Outcome == Failed {
				failures = append(failures, a.Message)
			}
		}
		res.Error = strings.Join(failures, "; ")
	}
	if err != nil {
		return rn.failed(res, err)
	}
	return res, nil
}

// ReconcileKey finds every trail of account that uses key (ARN, id or
// alias, resolved in region) in any enabled Region and reconciles each
// once, in its home Region, one after the other, with one key-policy
// write carrying what all of them need (reconcileGroup). Only transient errors are returned.
func (r *Reconciler) ReconcileKey(ctx context.Context, account, region, key string) (Report, error) {
	rep, err := r.execute(ctx, func(ctx context.Context, rn *run) (Report, error) {
		return rn.key(ctx, account, region, key)
	})
	r.finish(ctx, rep)
	return rep, err
}

func (rn *run) key(ctx context.Context, account, region, key string) (Report, error) {
	var rep Report
	if a, err := arn.Parse(key); err == nil {
		region = a.Region
		if account == "" {
			account = a.AccountID
		}
	}
	if account == "" {
		own, err := rn.r.ownAccount(ctx)
		if err != nil {
			return rep, err
		}
		account = own
	}
	// The index is read side by side with the key: no round trip added.
	var (
		look  indexLookup
		lookD = make(chan struct{})
	)
	go func() {
		defer close(lookD)
		look = rn.lookupIndex(ctx, keyARNOf(account, region, key))
	}()
	var (
		kr  keyRead
		err error
	)
	if rn.r.orgMode() {
		kr, err = rn.readKey(ctx, account, region, key)
	} else {
		// Outside organization mode the key is read with the own
		// account's clients while the own account is checked in the same
		// round trip, as getTrail does: a key event for another account
		// fails with ErrOtherAccount before anything else is read or
		// written.
		var own string
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			own, err = rn.r.ownAccount(gctx)
			return err
		})
		var readErr error
		g.Go(func() error {
			kr, readErr = rn.readKey(gctx, "", region, key)
			return nil
		})
		if err = g.Wait(); err == nil {
			if account != own {
				<-lookD
				return rep, fmt.Errorf("account %s (this is %s): %w", account, own, ErrOtherAccount)
			}
			err = readErr
		}
	}
	<-lookD
	if err != nil {
		return rep, err
	}
	if kr.Key == nil {
		if kr.NotFound {
			rn.r.log.Info("key not found: nothing to do", "key", key, "account", account, "region", region)
			return rep, nil
		}
		rn.addError(fmt.Errorf("key %s: %s", key, kr.Problem))
		return rep, nil
	}
	k := kr.Key
	trails, err := rn.trailsOfKey(ctx, account, k, look)
	if err != nil {
		return rep, err
	}
	rn.r.log.Info("trails using key", "key", k.ARN, "account", account, "trails", len(trails))
	results, errs := rn.reconcileGroup(ctx, account, trails)
	rep.Results = append(rep.Results, results...)
	return rep, errors.Join(errs...)
}

// Sweep reconciles every trail in every enabled Region (config Regions, if
// set) of the own account or, in organization mode, of every ACTIVE account
// of the organization through the role. Trails run config.Concurrency at a
// time; trails that share a key run one after the other. Transient errors
// are recorded on their trails and returned joined after the sweep.
func (r *Reconciler) Sweep(ctx context.Context) (Report, error) {
	ctx = context.WithValue(ctx, sweepKey{}, true)
	rep, err := r.execute(ctx, func(ctx context.Context, rn *run) (Report, error) { return rn.sweep(ctx) })
	r.finish(ctx, rep)
	return rep, err
}

func (rn *run) sweep(ctx context.Context) (Report, error) {
	var rep Report
	started := time.Now()
	accounts, err := rn.accounts(ctx)
	if err != nil {
		if Transient(err) {
			return rep, err
		}
		rn.addError(err)
		return rep, nil
	}
	type found struct {
		account string
		trails  []compliance.Trail
	}
	all := make([]found, len(accounts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cap(rn.sem))
	for i, acct := range accounts {
		g.Go(func() error {
			trails, err := rn.findTrails(gctx, acct, func(string) bool { return true })
			if err != nil {
				if Transient(err) {
					return err
				}
				rn.addError(fmt.Errorf("account %s: %w", acct, err))
				return nil
			}
			all[i] = found{acct, trails}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}

	// Group by key: trails sharing a key run one after the other.
	type group struct {
		account string
		trails  []compliance.Trail
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, f := range all {
		for _, t := range f.trails {
			// Unencrypted trails of an account form one group too: they
			// all move to the baseline key of their bucket's Region, which
			// then gets one write carrying all of them.
			k := f.account + "|" + t.KMSKeyID
			if g, ok := byKey[k]; ok {
				g.trails = append(g.trails, t)
				continue
			}
			g := &group{f.account, []compliance.Trail{t}}
			byKey[k] = g
			groups = append(groups, g)
		}
	}

	var (
		mu    sync.Mutex
		errs  []error
		eg    errgroup.Group
		total int
	)
	for _, gr := range groups {
		total += len(gr.trails)
	}
	progress := rn.r.progress
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, total)
	eg.SetLimit(cap(rn.sem))
	for _, gr := range groups {
		eg.Go(func() error {
			results, gerrs := rn.reconcileGroup(ctx, gr.account, gr.trails)
			mu.Lock()
			defer mu.Unlock()
			for i, res := range results {
				rep.Results = append(rep.Results, res)
				if gerrs[i] != nil {
					errs = append(errs, gerrs[i])
				}
				progress(len(rep.Results), total)
			}
			return nil
		})
	}
	_ = eg.Wait()
	rn.markSwept(ctx, started, len(errs) > 0)
	slices.SortFunc(rep.Results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Trail, b.Trail))
	})
	for _, acct := range accounts {
		alerts, err := rn.blindRegions(ctx, acct)
		if err != nil {
			errs = append(errs, err)
		}
		rep.Alerts = append(rep.Alerts, alerts...)
	}
	return rep, errors.Join(errs...)
}

// finish logs the report and sends the notification.
func (r *Reconciler) finish(ctx context.Context, rep Report) {
	r.logResults(ctx, rep)
	r.notify(ctx, rep)
	r.publish(ctx, rep)
}

// logResults logs every result and alert of rep.
func (r *Reconciler) logResults(ctx context.Context, rep Report) {
	for _, res := range rep.Results {
		level := slog.LevelInfo
		switch {
		case res.Error != "":
			level = slog.LevelError
		case res.Alerting():
			level = slog.LevelWarn
		}
		rules := make([]string, 0, len(res.Findings))
		for _, f := range res.Findings {
			rules = append(rules, string(f.Rule))
		}
		acts := make([]string, 0, len(res.Actions))
		for _, a := range res.Actions {
			acts = append(acts, fmt.Sprintf("%s %s: %s", a.Action, a.Target, a.Outcome))
		}
		r.log.Log(ctx, level, "trail reconciled", "trail", res.Trail, "account", res.Account, "region", res.Region,
			"findings", strings.Join(rules, ","), "actions", acts, "alerts", res.Alerts, "error", res.Error)
	}
	for _, a := range rep.Alerts {
		r.log.Warn("alert", "alert", a)
	}
}
