package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/securityhub"
)

// DefaultDeadlineMargin is kept free before the Lambda deadline: work stops
// that long before it, so the handler can still log and return.
const DefaultDeadlineMargin = 3 * time.Second

// Reconciler observes, evaluates, plans and fixes trails. It is safe for
// concurrent use; build one per process (cold start) with New.
type Reconciler struct {
	cfg     config.Config
	ccfg    compliance.Config
	factory ClientFactory
	log     *slog.Logger
	guard   *Guard
	store   Store
	// index is the trail index (nil: none; index.go).
	index  TrailIndex
	source string
	locks  processLocks
	margin time.Duration
	region string

	ownMu    sync.Mutex
	own      string
	ownCall  *ownLookup
	retryer  func() aws.Retryer
	progress func(done, total int)
	// sleep and propagation: waits before retrying an UpdateTrail after
	// this run's own key-policy write (propagation.go).
	sleep       Sleeper
	propagation []time.Duration
	// hub imports findings into Security Hub (nil: off); hubOn asks for
	// it (WithSecurityHub).
	hub   *securityhub.Publisher
	hubOn bool
	// aliases keeps resolved aliases for the container's life (aliascache.go).
	aliases *aliasCache
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithProgress sets a function Sweep calls with the number of trails done
// and the total, once when the trails are found (done 0) and after each
// trail. It is called from several goroutines, one call at a time.
func WithProgress(f func(done, total int)) Option { return func(r *Reconciler) { r.progress = f } }

// WithSecurityHub makes the report step import the run's findings into
// AWS Security Hub wherever it is enabled (pkg/securityhub), unless the
// configuration turns it off (TRAILGUARD_SECURITY_HUB=off). The functions
// set it; a library caller (the CLI, tests) gets no Security Hub calls
// without it.
func WithSecurityHub() Option { return func(r *Reconciler) { r.hubOn = true } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Reconciler) { r.log = l } }

// WithClientFactory replaces the SDK client factory (tests, or a caller
// with its own clients). The retryer option does not apply to it.
func WithClientFactory(f ClientFactory) Option { return func(r *Reconciler) { r.factory = f } }

// WithRetryer replaces the SDK retryer of the default client factory
// (default NewRetryer(DefaultRetryMaxAttempts, DefaultRetryMaxBackoff)).
func WithRetryer(f func() aws.Retryer) Option { return func(r *Reconciler) { r.retryer = f } }

// WithGuard replaces the loop guard (default NewGuard(cfg.MaxAttempts,
// DefaultGuardWindow, nil)).
func WithGuard(g *Guard) Option { return func(r *Reconciler) { r.guard = g } }

// WithDeadlineMargin sets how long before the context deadline work stops
// (default DefaultDeadlineMargin).
func WithDeadlineMargin(d time.Duration) Option { return func(r *Reconciler) { r.margin = d } }

// WithOwnAccount sets the own account id, saving the sts
// GetCallerIdentity call that otherwise finds it when needed.
func WithOwnAccount(account string) Option { return func(r *Reconciler) { r.own = account } }

// New returns a Reconciler for cfg. base is the SDK configuration of the
// own account (config.LoadDefaultConfig: it honours AWS_REGION and
// AWS_ENDPOINT_URL); its Region is where account-wide calls (Regions,
// identity, organization) are made.
func New(base aws.Config, cfg config.Config, opts ...Option) *Reconciler {
	r := &Reconciler{
		cfg:     cfg,
		ccfg:    cfg.Compliance(),
		log:     slog.Default(),
		margin:  DefaultDeadlineMargin,
		region:  base.Region,
		retryer: NewRetryer(DefaultRetryMaxAttempts, DefaultRetryMaxBackoff),
		sleep:   sleepCtx,

		propagation: DefaultPropagationBackoff,
	}
	for _, o := range opts {
		o(r)
	}
	if r.factory == nil {
		b := base.Copy()
		b.Retryer = r.retryer
		r.factory = NewClientFactory(b, cfg.RoleName)
	}
	if r.aliases == nil {
		r.aliases = &aliasCache{ttl: DefaultAliasTTL}
	}
	if r.guard == nil {
		r.guard = NewGuard(cfg.MaxAttempts, DefaultGuardWindow, nil)
	}
	if r.region == "" {
		r.region = "us-east-1"
	}
	if r.hubOn && !cfg.SecurityHubOff {
		r.hub = &securityhub.Publisher{Clients: r.securityHubClients, Log: r.log}
	}
	return r
}

// orgMode reports whether trailguard works across the organization.
func (r *Reconciler) orgMode() bool { return r.cfg.RoleName != "" }

// ErrOtherAccount is returned (wrapped) for a request about another
// account outside organization mode: trailguard then has no credentials
// there and must not act on its own account's resource of the same name.
var ErrOtherAccount = errors.New("the request is for another account and organization mode is off (TRAILGUARD_ROLE_NAME is empty)")

// clients returns the clients for account in region: the base clients for
// the own account, the assumed role's for another account in organization
// mode. Outside organization mode a request for another account is refused
// with ErrOtherAccount: an event naming account B must never make
// trailguard change account A's trail of the same name.
func (r *Reconciler) clients(ctx context.Context, account, region string) (*Clients, error) {
	if account == "" {
		return r.factory.Clients(ctx, "", region)
	}
	own, err := r.ownAccount(ctx)
	if err != nil {
		return nil, err
	}
	if account == own {
		return r.factory.Clients(ctx, "", region)
	}
	if !r.orgMode() {
		return nil, fmt.Errorf("account %s (this is %s): %w", account, own, ErrOtherAccount)
	}
	return r.factory.Clients(ctx, account, region)
}

// ownLookup is one sts GetCallerIdentity in flight; done closes when
// account and err are set.
type ownLookup struct {
	done    chan struct{}
	account string
	err     error
}

// ownAccount returns the own account id: sts GetCallerIdentity, once per
// Reconciler. Callers arriving while a lookup is in flight wait for it (or
// for their own ctx); after a failed lookup the next caller tries again,
// with its own ctx.
func (r *Reconciler) ownAccount(ctx context.Context) (string, error) {
	for {
		r.ownMu.Lock()
		if r.own != "" {
			own := r.own
			r.ownMu.Unlock()
			return own, nil
		}
		l := r.ownCall
		if l == nil {
			l = &ownLookup{done: make(chan struct{})}
			r.ownCall = l
			r.ownMu.Unlock()
			l.account, l.err = r.callerIdentity(ctx)
			r.ownMu.Lock()
			if l.err == nil {
				r.own = l.account
			}
			r.ownCall = nil
			r.ownMu.Unlock()
			close(l.done)
			return l.account, l.err
		}
		r.ownMu.Unlock()
		select {
		case <-l.done:
			if l.err == nil {
				return l.account, nil
			}
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("get caller identity: %w", err)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("get caller identity: %w", ctx.Err())
		}
	}
}

func (r *Reconciler) callerIdentity(ctx context.Context) (string, error) {
	c, err := r.factory.Clients(ctx, "", r.region)
	if err != nil {
		return "", err
	}
	out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	return aws.ToString(out.Account), nil
}

// PrefetchOwnAccountTimeout bounds PrefetchOwnAccount's lookup.
const PrefetchOwnAccountTimeout = 10 * time.Second

// PrefetchOwnAccount starts, in the background, the lookup every
// invocation begins with: the own account id (sts GetCallerIdentity, which
// needs no permission). handler.Main calls it at cold start, so that the
// call overlaps the rest of the start instead of being the first
// invocation's first round trip. Its failure is not reported: the
// invocation that needs the id then looks it up itself, and reports that
// error. The lookup is bounded by PrefetchOwnAccountTimeout; ctx must not
// end with the cold start (use context.Background()).
func (r *Reconciler) PrefetchOwnAccount(ctx context.Context) {
	r.ownMu.Lock()
	busy := r.own != "" || r.ownCall != nil
	r.ownMu.Unlock()
	if busy {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, PrefetchOwnAccountTimeout)
		defer cancel()
		_, _ = r.ownAccount(ctx)
	}()
}

// bounded returns ctx ending the margin before its deadline.
func (r *Reconciler) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := r.margin
	if left := time.Until(dl); left < 4*margin {
		margin = left / 4
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}
