package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// sweepFlags are the flags scan and fix share.
type sweepFlags struct {
	regions    []string
	allRegions bool
	output     string
}

func (f *sweepFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.regions, "region", nil, "Region to cover (repeatable; default $TRAILGUARD_REGIONS, else the configured AWS Region)")
	cmd.Flags().BoolVar(&f.allRegions, "all-regions", false, "cover every Region enabled for the account")
	cmd.Flags().StringVarP(&f.output, "output", "o", outputTable, "output format: table or json")
	cmd.MarkFlagsMutuallyExclusive("region", "all-regions")
}

// regionRE is a Region name such as us-east-1 or us-gov-west-1.
var regionRE = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$`)

func (f *sweepFlags) validate() error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	for _, r := range f.regions {
		if !regionRE.MatchString(r) {
			return usagef("invalid --region %q: want a Region name such as us-east-1", r)
		}
	}
	return nil
}

// session is what a command needs to call AWS: the SDK configuration,
// trailguard's configuration and the own account.
type session struct {
	aws     aws.Config
	cfg     config.Config
	account string
}

// preflightTimeout bounds the first call, which tells a missing endpoint
// or bad credentials apart from everything else.
const preflightTimeout = 20 * time.Second

// newSession loads trailguard's configuration (the TRAILGUARD_* variables,
// as the functions read them) and the SDK's, and checks with sts
// GetCallerIdentity that AWS answers, without retries, so an unreachable
// endpoint or rejected credentials fail fast with a clear message.
func (a *app) newSession(ctx context.Context, mode config.Mode, fallbackRegion string) (*session, error) {
	cfg, err := config.Load(a.getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %s", oneLine(err.Error()))
	}
	cfg.Mode = mode
	if a.roleName != "" {
		if !roleNameRE.MatchString(a.roleName) {
			return nil, usagef("invalid --role-name %q: want an IAM role name (letters, digits and +=,.@_-, at most 64)", a.roleName)
		}
		cfg.RoleName = a.roleName
	}
	awsCfg, err := loadAWS(ctx, a.getenv, fallbackRegion)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	out, err := sts.NewFromConfig(awsCfg, func(o *sts.Options) { o.Retryer = preflightRetryer() }).
		GetCallerIdentity(pctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("check AWS access (sts GetCallerIdentity): %w", err)
	}
	return &session{aws: awsCfg, cfg: cfg, account: aws.ToString(out.Account)}, nil
}

// preflightRetryer retries the access check quickly: 3 attempts, at most
// 250 ms apart. A connection reset ("read: connection reset" or "use of
// closed network connection", which the SDK's retryer documents as the
// same TCP RST, aws/aws-sdk-go-v2#2737) is retried, where one attempt
// failed the whole command (CI saw it against moto); rejected credentials
// are not retryable and still fail at once, and an unreachable endpoint
// within about half a second.
func preflightRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.MaxBackoff = 250 * time.Millisecond
	})
}

var roleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// reconciler returns the reconciler of the session.
func (a *app) reconciler(s *session, opts ...reconcile.Option) *reconcile.Reconciler {
	return reconcile.New(s.aws, s.cfg, append([]reconcile.Option{reconcile.WithLogger(a.logger()), reconcile.WithOwnAccount(s.account)}, opts...)...)
}

// sweep runs a sweep over the Regions the flags select and returns the
// sorted results. Progress goes to stderr when it is a terminal and the
// sweep covers more than one Region or account. opts, when not nil, adds
// reconciler options once the session is made (fix --apply: the store).
func (a *app) sweep(ctx context.Context, f *sweepFlags, mode config.Mode, opts func(*session) []reconcile.Option) ([]result, []string, error) {
	fallback := ""
	if len(f.regions) > 0 {
		fallback = f.regions[0]
	}
	s, err := a.newSession(ctx, mode, fallback)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(f.regions) > 0:
		s.cfg.Regions = slices.Compact(slices.Sorted(slices.Values(f.regions)))
	case f.allRegions:
		s.cfg.Regions = nil // every enabled Region
	case len(s.cfg.Regions) == 0:
		s.cfg.Regions = []string{s.aws.Region}
	}
	if mode == config.Report {
		// Nothing changes, so nothing to notify about.
		s.cfg.TopicARN = ""
	}
	withProgress, stopProgress := a.progress(s)
	ropts := []reconcile.Option{withProgress}
	if opts != nil {
		ropts = append(ropts, opts(s)...)
	}
	rep, err := a.reconciler(s, ropts...).Sweep(ctx)
	stopProgress()
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	rs, err := decodeResults(rep)
	if err != nil {
		return nil, nil, err
	}
	return rs, rep.Errors, nil
}

// progress returns the reconcile option that shows a progress bar on
// stderr (trails done of trails found) while a multi-Region or
// multi-account sweep runs, if stderr is a terminal, and the function that
// removes it.
func (a *app) progress(s *session) (reconcile.Option, func()) {
	multi := len(s.cfg.Regions) != 1 || s.cfg.RoleName != ""
	if !multi || !isTerminal(a.stderr) {
		return func(*reconcile.Reconciler) {}, func() {}
	}
	what := "every enabled Region"
	if n := len(s.cfg.Regions); n > 0 {
		what = fmt.Sprintf("%d Regions", n)
	}
	if s.cfg.RoleName != "" {
		what += " of every account"
	}
	var bar *progressbar.ProgressBar
	update := func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(a.stderr),
				progressbar.OptionSetDescription("trails in "+what),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		}
		_ = bar.Set(done)
	}
	return reconcile.WithProgress(update), func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
}

// writeResults writes results in the chosen format.
func (a *app) writeResults(w io.Writer, rs []result, errs []string, output string, v view) error {
	if output == outputJSON {
		return writeJSON(w, rs, errs)
	}
	return writeTable(w, rs, v, style{enabled: isTerminal(w) && a.getenv("NO_COLOR") == ""})
}

// problems reports the errors of a report on stderr. A trail with an
// error but findings (e.g. no baseline key to switch to) is a warning: its
// findings are known. Run errors and trails with an error and no findings
// mean the result is incomplete: the first of those is returned (exit 2),
// the others are written to stderr.
func (a *app) problems(rs []result, errs []string) error {
	incomplete := slices.Clone(errs)
	var warnings []string
	count := map[string]int{}
	for _, r := range rs {
		if r.Error == "" {
			continue
		}
		if len(r.Findings) == 0 {
			incomplete = append(incomplete, fmt.Sprintf("trail %s: %s", r.Trail, r.Error))
			continue
		}
		if count[r.Error] == 0 {
			warnings = append(warnings, r.Error)
		}
		count[r.Error]++
	}
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "trailguard: warning: %s (%d %s)\n", oneLine(w), count[w], plural(count[w], "trail", "trails"))
	}
	if len(incomplete) == 0 {
		return nil
	}
	for _, e := range incomplete[1:] {
		fmt.Fprintf(a.stderr, "trailguard: %s\n", oneLine(e))
	}
	msg := incomplete[0]
	if len(incomplete) > 1 {
		msg += fmt.Sprintf(" (and %d more above)", len(incomplete)-1)
	}
	return errors.New(msg)
}
