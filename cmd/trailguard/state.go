package main

import (
	"cmp"
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// cliWriter is the name the CLI writes under in leases and the change log,
// and the source of the changes it records.
const cliWriter = "cli"

// tableFlag is the --table flag of fix, history and undo: the state table,
// winning over TRAILGUARD_TABLE.
type tableFlag struct{ name string }

func (f *tableFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "table", "", "the state table the stack deploys: leases, loop guard, change log (default $TRAILGUARD_TABLE)")
}

// tableNameRE is a DynamoDB table name (what config accepts in TRAILGUARD_TABLE).
var tableNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)

func (f *tableFlag) validate() error {
	if f.name != "" && !tableNameRE.MatchString(f.name) {
		return usagef("invalid --table %q: want a DynamoDB table name (3 to 255 letters, digits and _.-)", f.name)
	}
	return nil
}

// table is the state table's name: --table, else TRAILGUARD_TABLE ("" for
// none). A bad TRAILGUARD_TABLE is reported by the session's config.Load.
func (f *tableFlag) table(getenv func(string) string) string {
	return cmp.Or(f.name, getenv(config.EnvTable))
}

// store returns the state table of the session (the table named by
// --table, else the session's TRAILGUARD_TABLE), in the session's Region,
// writing as "cli"; nil when none is configured.
func (a *app) store(s *session, f *tableFlag) *state.Store {
	name := cmp.Or(f.name, s.cfg.Table)
	if name == "" {
		return nil
	}
	return state.New(dynamodb.NewFromConfig(s.aws), name, state.WithWriter(cliWriter))
}

// storeOptions are the reconciler options of a writing command: the store
// and the source "cli" when a table is configured. Without one it writes
// the notice that nothing is locked or recorded to stderr.
func (a *app) storeOptions(s *session, f *tableFlag) []reconcile.Option {
	st := a.store(s, f)
	if st == nil {
		fmt.Fprintln(a.stderr, "trailguard: notice: no state table (TRAILGUARD_TABLE or --table): this run cannot lock keys against the functions' writes, and its changes are not recorded for `trailguard history` and `trailguard undo`")
		return nil
	}
	return []reconcile.Option{reconcile.WithStore(st), reconcile.WithSource(cliWriter)}
}

// stateSession is the session and store of history and undo, which need
// a table: without one they fail (exit 2) before any AWS call.
func (a *app) stateSession(ctx context.Context, command string, f *tableFlag, mode config.Mode) (*session, *state.Store, error) {
	if f.table(a.getenv) == "" {
		return nil, nil, fmt.Errorf("%s: %w; set TRAILGUARD_TABLE or pass --table NAME (the stack's state table)", command, reconcile.ErrNoStore)
	}
	s, err := a.newSession(ctx, mode, "")
	if err != nil {
		return nil, nil, err
	}
	return s, a.store(s, f), nil
}
