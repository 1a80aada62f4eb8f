package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trailguard/trailguard/internal/testbed/motoserver"
	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/policy"
)

// Options configure Run.
type Options struct {
	// Verbose writes the handlers' structured logs (JSON, log/slog) to
	// Log; otherwise they are discarded so the output stays readable.
	Verbose bool
	// Log receives the handlers' logs when Verbose; nil means the demo's
	// output writer.
	Log io.Writer
}

// ErrFailed is returned (wrapped, with the reasons) by Run when the
// scenario ran but its outcome is wrong: a trail did not end compliant,
// the compliant trail was touched, a handler failed or trailguard did not
// converge. Any other error means the demo could not run.
var ErrFailed = errors.New("demo failed")

// maxGenerations bounds how many times trailguard's own calls may
// trigger it again before the demo declares it did not converge.
const maxGenerations = 3

// Run runs the demo scenario, writing its report to w. It starts a moto
// server on a free 127.0.0.1 port (moto_server must be installed: pip
// install "moto[server]==5.2.1") and always stops it, also when ctx is
// cancelled or the process gets SIGINT or SIGTERM.
//
// Run returns nil only if every trail ended compliant (compliance.Evaluate
// on state read back from moto finds nothing), every handler invocation
// succeeded, trailguard's own calls converged, and the compliant trail
// was left untouched: same KmsKeyId, same key policy, and no action on it
// other than "unchanged".
func Run(ctx context.Context, w io.Writer, opts Options) (err error) {
	started := time.Now()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	p := &printer{w: w}
	p.printf("trailguard demo: drift, CloudTrail events, EventBridge rules and the real handlers, on a local AWS emulator")
	if _, err := motoserver.Find(); err != nil {
		return fmt.Errorf("the demo needs moto server (an AWS emulator): %w", err)
	}
	srv, err := motoserver.Start(ctx)
	if err != nil {
		return fmt.Errorf("start moto server: %w", err)
	}
	defer func() {
		serr := srv.Stop()
		if serr != nil {
			serr = fmt.Errorf("stop moto server: %w", serr)
			p.printf("moto server: %v", serr)
		} else {
			p.printf("moto server at %s stopped (%.1fs in all)", srv.Endpoint, time.Since(started).Seconds())
		}
		if err == nil {
			err = serr
		}
		if err == nil {
			err = p.err
		}
	}()
	p.printf("moto server %s running at %s (account %s)", motoserver.Version, srv.Endpoint, Account)

	base, err := srv.AWSConfig(ctx, HomeRegion)
	if err != nil {
		return err
	}
	h, err := startHub(srv.Endpoint)
	if err != nil {
		return err
	}
	defer h.proxy.Close()
	base.BaseEndpoint = aws.String(h.proxy.URL)
	d := newDemo(p, base, handlerLogger(w, opts))
	d.hub = h
	return d.run(ctx)
}

// handlerLogger returns the handlers' logger: JSON to opts.Log (default w)
// when opts.Verbose, else discarded.
func handlerLogger(w io.Writer, opts Options) *slog.Logger {
	if !opts.Verbose {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	out := opts.Log
	if out == nil {
		out = w
	}
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// demo is one run of the scenario.
type demo struct {
	p      *printer
	w      *world
	router router
	// check is a second router whose verdicts must agree with router's.
	check router
	cfg   config.Config
	fns   map[string]function
	// hub is Security Hub behind the loopback proxy (nil: not shown).
	hub *hub

	scenarios []*scenario
	baseline  map[string]string // Region -> baseline key ARN
	labels    map[string]string // ARN -> name for the output

	// compliantBefore is the compliant trail's key and policy before any
	// event was handled.
	compliantKey, compliantPolicy string
	// touched lists every action on the compliant trail or its key that
	// was not "unchanged".
	touched []string
	// problems are failures that make the demo fail at the end.
	problems []string

	// changes is the state table and the demo's own `trailguard` (the
	// CLI's reconciler on it): see changes.go.
	changes changeLog
}

// newDemo builds the world, the router and the handlers.
func newDemo(p *printer, base aws.Config, log *slog.Logger) *demo {
	cfgFor := func(region string) aws.Config {
		c := base.Copy()
		c.Region = region
		return c
	}
	w := &world{config: cfgFor, s3Options: motoserver.S3Options}
	d := &demo{
		p:        p,
		w:        w,
		cfg:      config.Default(),
		labels:   map[string]string{},
		baseline: map[string]string{},
	}
	d.cfg.Regions = []string{HomeRegion, OtherRegion}
	d.check = matchRouter{}
	d.router = &busRouter{
		clients: func(region string) (EventBridgeAPI, SQSAPI) {
			c := w.in(region)
			return c.EventBridge, c.SQS
		},
		onSetup: func(region, rule, pattern, queueURL string) {
			p.printf("  %-10s rule %-32s -> SQS queue standing in for the function", region, rule)
			p.printf("  %-10s   pattern %s", "", pattern)
		},
	}
	d.fns = newFunctions(cfgFor(HomeRegion), d.cfg, log, StateTable)
	d.changes = newChangeLog(cfgFor(HomeRegion), d.cfg, log)
	return d
}

// run runs the scenario's steps.
func (d *demo) run(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"state table", d.setupState},
		{"routing", d.setupRouting},
		{"security hub", d.enableSecurityHub},
		{"setup", d.setup},
		{"drift", d.drift},
		{"events", d.deliverAll},
		{"after", d.showAfter},
		{"policy drift", d.policyDrift},
		{"history", d.showHistory},
		{"undo", d.undoMove},
		{"refused undo", d.undoRefused},
		{"security hub findings", d.showSecurityHub},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("demo interrupted during %s: %w", s.name, ctx.Err())
			}
			return fmt.Errorf("demo %s: %w", s.name, err)
		}
		if d.p.err != nil {
			return fmt.Errorf("write demo output: %w", d.p.err)
		}
	}
	return d.verdict(ctx)
}

// setupRouting creates the EventBridge rules in every Region used.
func (d *demo) setupRouting(ctx context.Context) error {
	d.p.heading("EventBridge rules from the stack's own patterns (event.TrailPattern, event.KeyPattern)")
	d.p.printf("  moto's EventBridge decides which function gets an event; event.Matches, trailguard's own")
	d.p.printf("  matcher, must agree on every one.")
	br, ok := d.router.(*busRouter)
	if !ok {
		return nil
	}
	for _, r := range []string{HomeRegion, OtherRegion} {
		if _, err := br.setup(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// setup creates the baseline keys and the trails that start compliant,
// and lets trailguard see their creation.
func (d *demo) setup(ctx context.Context) error {
	d.p.heading("Setup: baseline keys and the trails that start compliant")
	keys, err := d.w.createBaseline(ctx, d.cfg.KeyAlias, HomeRegion, OtherRegion)
	if err != nil {
		return err
	}
	for _, r := range []string{HomeRegion, OtherRegion} {
		d.baseline[r] = keys[r]
		d.labels[keys[r]] = "baseline key " + r
		d.p.printf("  baseline key %s in %s: %s (KMS default policy: trailguard adds CloudTrail's statements when a trail needs them)", d.cfg.KeyAlias, r, keys[r])
	}
	d.scenarios = scenarios()
	for _, s := range d.scenarios[:2] {
		pol, err := compliantPolicy(s, d.cfg.Compliance())
		if err != nil {
			return err
		}
		if err := d.w.createScenarioTrail(ctx, s, HomeRegion, pol); err != nil {
			return err
		}
		d.label(s)
		d.p.printf("  created %-22s bucket %s (%s), key %s", s.Trail, bucketName(s.Trail), s.BucketRegion, s.KeyARN)
	}
	comp := d.scenario(TrailCompliant)
	before, err := d.w.observe(ctx, HomeRegion, comp.Trail, d.cfg.KeyAlias)
	if err != nil {
		return err
	}
	if before.Key == nil {
		return fmt.Errorf("compliant trail %s: key %s: %s", comp.Trail, before.Trail.KMSKeyID, before.KeyError)
	}
	d.compliantKey, d.compliantPolicy = before.Trail.KMSKeyID, before.Key.Policy
	d.p.printf("  recorded %s before any event: KmsKeyId %s, key policy %d bytes with %d statements",
		comp.Trail, d.compliantKey, len(d.compliantPolicy), statementCount(d.compliantPolicy))
	d.p.printf("")
	d.p.printf("  The setup's CloudTrail events reach trailguard too:")
	return d.deliver(ctx, d.w.takeCalls())
}

// drift creates the drift.
func (d *demo) drift(ctx context.Context) error {
	d.p.heading("Drift: API calls that break the rules")
	pending := d.scenario(TrailPendingDeletion)
	if err := d.w.scheduleKeyDeletion(ctx, pending.KeyARN, 7); err != nil {
		return err
	}
	d.p.printf("  ScheduleKeyDeletion %s (7 days), the key of %s", pending.KeyARN, pending.Trail)
	for _, s := range d.scenarios[2:] {
		var err error
		switch s.Trail {
		case TrailUnencrypted:
			err = d.w.createScenarioTrail(ctx, s, "", "")
		case TrailPolicyGap:
			err = d.w.createScenarioTrail(ctx, s, HomeRegion, "-")
		case TrailCrossRegion:
			var pol string
			if pol, err = compliantPolicy(s, d.cfg.Compliance()); err == nil {
				err = d.w.createScenarioTrail(ctx, s, HomeRegion, pol)
			}
		}
		if err != nil {
			return err
		}
		d.label(s)
		key := "none"
		if s.KeyARN != "" {
			key = s.KeyARN
		}
		d.p.printf("  CreateTrail %-22s bucket in %s, key %s", s.Trail, s.BucketRegion, key)
	}
	d.p.printf("  (moto accepts every one of these; AWS would refuse CreateTrail with a key CloudTrail may not")
	d.p.printf("  use, so there this drift comes from a later PutKeyPolicy or a key in the wrong Region)")
	d.p.printf("")
	d.p.printf("  What each trail shows and what trailguard should do:")
	for _, s := range d.scenarios {
		d.p.printf("    %-22s %s", s.Trail, s.Drift)
		d.p.printf("    %-22s -> %s", "", s.Expect)
	}
	return d.showState(ctx, "State before trailguard reacts (read back from moto, evaluated with compliance.Evaluate)")
}

// deliverAll routes the drift's events.
func (d *demo) deliverAll(ctx context.Context) error {
	d.p.heading("CloudTrail events -> EventBridge (moto) -> handlers")
	d.p.printf("  Every call above becomes a CloudTrail event on the default bus of its Region; moto's")
	d.p.printf("  EventBridge matches it against the rules and the queue contents invoke the real handlers.")
	d.p.printf("  trailguard's own calls are events too: they must come back with nothing to do.")
	d.p.printf("")
	return d.deliver(ctx, d.w.takeCalls())
}

// showAfter prints the state after the events.
func (d *demo) showAfter(ctx context.Context) error {
	return d.showState(ctx, "State after trailguard reacted")
}

// policyDrift removes trailguard's statements from the key policy of the
// baseline key in HomeRegion with a PutKeyPolicy and lets trailguard
// restore them.
func (d *demo) policyDrift(ctx context.Context) error {
	d.p.heading("Drift again: PutKeyPolicy drops trailguard's statements from a key in use")
	keyARN := d.baseline[HomeRegion]
	k, err := d.w.key(ctx, HomeRegion, keyARN)
	if err != nil {
		return err
	}
	doc, err := policy.Parse([]byte(k.Policy))
	if err != nil {
		return fmt.Errorf("parse policy of %s: %w", keyARN, err)
	}
	var removed []string
	for i := len(doc.Statements) - 1; i >= 0; i-- {
		if compliance.IsOwnSid(doc.Statements[i].Sid) {
			removed = append([]string{doc.Statements[i].Sid}, removed...)
			if err := doc.Remove(i); err != nil {
				return err
			}
		}
	}
	if len(removed) == 0 {
		d.problems = append(d.problems, fmt.Sprintf("the policy of %s has no trailguard statements to remove", keyARN))
		return nil
	}
	out, err := doc.Marshal()
	if err != nil {
		return fmt.Errorf("write policy of %s: %w", keyARN, err)
	}
	if err := d.w.putKeyPolicy(ctx, keyARN, string(out)); err != nil {
		return err
	}
	var users []string
	for _, s := range d.scenarios {
		st, err := d.w.observe(ctx, HomeRegion, s.Trail, d.cfg.KeyAlias)
		if err != nil {
			return err
		}
		if st.Key != nil && st.Key.ARN == keyARN {
			users = append(users, s.Trail)
		}
	}
	d.p.printf("  PutKeyPolicy on %s (%s), used by %s:", d.labels[keyARN], keyARN, strings.Join(users, ", "))
	d.p.printf("  removed %s; kept %d other statement(s)", strings.Join(removed, ", "), len(doc.Statements))
	if err := d.showState(ctx, "State right after the PutKeyPolicy"); err != nil {
		return err
	}
	d.p.heading("The PutKeyPolicy event -> key-remediator")
	if err := d.deliver(ctx, d.w.takeCalls()); err != nil {
		return err
	}
	return d.showState(ctx, "State after trailguard restored the statements")
}

// deliver routes calls (and, up to maxGenerations, the calls trailguard
// makes in response) and invokes the functions the rules deliver to.
func (d *demo) deliver(ctx context.Context, calls []call) error {
	// queued is a call to route and its generation: 0 for the demo's
	// calls, n+1 for trailguard's answer to a generation-n call.
	type queued struct {
		c   call
		gen int
	}
	queue := make([]queued, 0, len(calls))
	for _, c := range calls {
		queue = append(queue, queued{c, 0})
	}
	var unmatched []string
	count := map[string]int{}
	flushUnmatched := func() {
		if len(unmatched) == 0 {
			return
		}
		var names []string
		for _, u := range unmatched {
			if n := count[u]; n > 1 {
				u = fmt.Sprintf("%s x%d", u, n)
			}
			names = append(names, u)
		}
		d.p.printf("  (no rule matches, not delivered: %s)", strings.Join(names, ", "))
		unmatched, count = nil, map[string]int{}
	}
	for len(queue) > 0 {
		item := queue[0]
		queue = queue[1:]
		got, err := d.router.Route(ctx, item.c)
		if err != nil {
			return err
		}
		if d.check != nil {
			want, err := d.check.Route(ctx, item.c)
			if err != nil {
				return err
			}
			if g, w := functionsOf(got), functionsOf(want); g != w {
				d.p.printf("  MISMATCH %s: EventBridge delivered it to %s, event.Matches says %s", d.describeCall(item.c), g, w)
				d.problems = append(d.problems, fmt.Sprintf("%s: EventBridge routed to %s, event.Matches to %s", d.describeCall(item.c), g, w))
			}
		}
		if len(got) == 0 {
			name := strings.TrimPrefix(item.c.Source, "aws.") + ":" + item.c.EventName
			if count[name] == 0 {
				unmatched = append(unmatched, name)
			}
			count[name]++
			continue
		}
		flushUnmatched()
		for _, dl := range got {
			by := ""
			if item.c.Own {
				by = " [trailguard's own call]"
			}
			d.p.printf("  %s%s -> %s", d.describeCall(item.c), by, dl.Function)
			fn, ok := d.fns[dl.Function]
			if !ok {
				return fmt.Errorf("no function %s", dl.Function)
			}
			var results []result
			rep, err := fn(ctx, json.RawMessage(dl.Body))
			if err == nil {
				results, err = decodeReport(rep)
			}
			if err != nil {
				d.p.printf("      ERROR %v", err)
				d.problems = append(d.problems, fmt.Sprintf("%s on %s: %v", dl.Function, d.describeCall(item.c), err))
				continue
			}
			for _, own := range d.showReport(ctx, results) {
				if item.gen+1 > maxGenerations {
					d.problems = append(d.problems, fmt.Sprintf("trailguard still changes %s after %d rounds of its own events", d.describeCall(own), maxGenerations))
					continue
				}
				queue = append(queue, queued{own, item.gen + 1})
			}
		}
	}
	flushUnmatched()
	return nil
}

// showReport prints a handler's report and returns the calls trailguard
// made (actions "updated"), which CloudTrail records as events too.
func (d *demo) showReport(ctx context.Context, results []result) []call {
	if len(results) == 0 {
		d.p.printf("      (no trail to reconcile)")
	}
	var own []call
	comp := d.scenario(TrailCompliant)
	// One write per action and target of an invocation: trails sharing a
	// key report the same merged PutKeyPolicy.
	wrote := map[string]bool{}
	for _, r := range results {
		var rules []string
		for _, f := range r.Findings {
			rules = append(rules, f.Rule)
		}
		status := "compliant"
		if len(rules) > 0 {
			status = strings.Join(rules, ", ")
		}
		if len(r.Actions) == 0 && len(rules) == 0 {
			status += ", nothing to do"
		}
		d.p.printf("      %s: %s", d.name(r.Trail), status)
		if r.Error != "" {
			d.p.printf("        error: %s", r.Error)
		}
		for _, a := range r.Actions {
			d.p.printf("        %-18s %-34s %s", a.Action, d.name(a.Target), a.Outcome)
			if (r.Trail == comp.TrailARN || a.Target == comp.KeyARN || a.Target == comp.TrailARN) && a.Outcome != "unchanged" {
				d.touched = append(d.touched, fmt.Sprintf("%s %s: %s", a.Action, d.name(a.Target), a.Outcome))
			}
			if a.Outcome == "failed" {
				d.problems = append(d.problems, fmt.Sprintf("%s on %s failed", a.Action, d.name(a.Target)))
			}
			if a.Outcome != "updated" {
				continue
			}
			if w := a.Action + " " + a.Target; !wrote[w] {
				wrote[w] = true
				d.changes.writes = append(d.changes.writes, w)
			}
			kmsKeyID := ""
			if a.Action == "UpdateTrail" {
				kmsKeyID = d.trailKey(ctx, a.Target)
			}
			if c, ok := ownCall(a.Action, a.Target, kmsKeyID); ok {
				own = append(own, c)
			}
		}
	}
	return own
}

// trailKey returns the key a trail uses now, as far as the demo knows
// ("" when it cannot tell): for the event of trailguard's UpdateTrail.
func (d *demo) trailKey(ctx context.Context, trail string) string {
	for _, s := range d.scenarios {
		if s.TrailARN == trail || s.Trail == trail {
			st, err := d.w.observe(ctx, HomeRegion, s.Trail, d.cfg.KeyAlias)
			if err == nil {
				return st.Trail.KMSKeyID
			}
		}
	}
	return ""
}

// showState prints every scenario trail's state and findings.
func (d *demo) showState(ctx context.Context, title string) error {
	d.p.printf("")
	d.p.printf("  %s:", title)
	var rows [][]string
	for _, s := range d.scenarios {
		if s.TrailARN == "" {
			continue
		}
		st, err := d.w.observe(ctx, HomeRegion, s.Trail, d.cfg.KeyAlias)
		if err != nil {
			return err
		}
		key, keyState := "none", "-"
		if st.Trail.KMSKeyID != "" {
			key = d.name(st.Trail.KMSKeyID)
		}
		if st.Key != nil {
			key = d.name(st.Key.ARN)
			keyState = fmt.Sprintf("%s (%s)", st.Key.State, st.Key.Region)
		} else if st.KeyError != "" {
			keyState = "unreadable"
		}
		var findings []string
		for _, f := range compliance.Evaluate(st, d.cfg.Compliance()) {
			findings = append(findings, string(f.Rule))
		}
		status := "compliant"
		if len(findings) > 0 {
			status = strings.Join(findings, "\n")
		}
		rows = append(rows, []string{s.Trail, st.BucketRegion, key, keyState, status})
	}
	d.p.table([]string{"Trail", "Bucket Region", "Key", "Key State", "Findings"}, rows)
	return nil
}

// verdict checks the end state and prints the result.
func (d *demo) verdict(ctx context.Context) error {
	d.p.heading("Verdict")
	var fails []string
	for _, s := range d.scenarios {
		st, err := d.w.observe(ctx, HomeRegion, s.Trail, d.cfg.KeyAlias)
		if err != nil {
			return err
		}
		fs := compliance.Evaluate(st, d.cfg.Compliance())
		if len(fs) == 0 {
			d.p.printf("  ok    %-22s compliant, encrypted with %s", s.Trail, d.name(st.Trail.KMSKeyID))
			continue
		}
		var rules []string
		for _, f := range fs {
			rules = append(rules, fmt.Sprintf("%s (%s)", f.Rule, f.Detail))
		}
		d.p.printf("  FAIL  %-22s %s", s.Trail, strings.Join(rules, "; "))
		fails = append(fails, s.Trail+" is not compliant")
	}
	comp := d.scenario(TrailCompliant)
	st, err := d.w.observe(ctx, HomeRegion, comp.Trail, d.cfg.KeyAlias)
	if err != nil {
		return err
	}
	var changed []string
	if st.Trail.KMSKeyID != d.compliantKey {
		changed = append(changed, fmt.Sprintf("KmsKeyId %s -> %s", d.compliantKey, st.Trail.KMSKeyID))
	}
	if st.Key == nil || st.Key.Policy != d.compliantPolicy {
		changed = append(changed, "its key policy changed")
	}
	changed = append(changed, d.touched...)
	if len(changed) == 0 {
		d.p.printf("  ok    %-22s untouched: same KmsKeyId, same key policy, no action but \"unchanged\"", comp.Trail)
	} else {
		d.p.printf("  FAIL  %-22s was touched: %s", comp.Trail, strings.Join(changed, "; "))
		fails = append(fails, comp.Trail+" was touched: "+strings.Join(changed, "; "))
	}
	for _, pr := range d.problems {
		d.p.printf("  FAIL  %s", pr)
	}
	fails = append(fails, d.problems...)
	if len(fails) > 0 {
		d.p.printf("")
		d.p.printf("  RESULT: FAIL")
		return fmt.Errorf("%w: %s", ErrFailed, strings.Join(fails, "; "))
	}
	d.p.printf("")
	d.p.printf("  RESULT: PASS: every trail ended compliant and %s was left untouched", comp.Trail)
	return nil
}

// scenario returns the scenario of a trail name.
func (d *demo) scenario(trail string) *scenario {
	for _, s := range d.scenarios {
		if s.Trail == trail {
			return s
		}
	}
	return &scenario{Trail: trail}
}

// label remembers the names of a scenario's trail and key.
func (d *demo) label(s *scenario) {
	d.labels[s.TrailARN] = s.Trail
	if s.KeyARN != "" {
		d.labels[s.KeyARN] = "key of " + s.Trail
	}
}

// name returns the friendly name of an ARN, or the ARN.
func (d *demo) name(arn string) string {
	if n, ok := d.labels[arn]; ok {
		return n
	}
	for a, n := range d.labels {
		// A key id (not an ARN) names the same key.
		if strings.HasSuffix(a, "/"+arn) {
			return n
		}
	}
	if arn == "" {
		return "none"
	}
	return arn
}

// describeCall names a call for the output, e.g.
// "cloudtrail:CreateTrail demo-unencrypted (us-east-1)".
func (d *demo) describeCall(c call) string {
	what := ""
	switch {
	case c.KeyARN != "":
		what = d.name(c.KeyARN)
	case c.Request["name"] != nil:
		what = d.name(fmt.Sprint(c.Request["name"]))
	case c.Request["bucketName"] != nil:
		what = fmt.Sprint(c.Request["bucketName"])
	}
	svc := strings.TrimPrefix(c.Source, "aws.")
	if what == "" {
		return fmt.Sprintf("%s:%s (%s)", svc, c.EventName, c.Region)
	}
	return fmt.Sprintf("%s:%s %s (%s)", svc, c.EventName, what, c.Region)
}

// statementCount counts the statements of a policy (0 if it does not
// parse).
func statementCount(p string) int {
	doc, err := policy.Parse([]byte(p))
	if err != nil {
		return 0
	}
	return len(doc.Statements)
}
