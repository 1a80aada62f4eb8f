package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/changelog"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// historyCmd is `trailguard history`: the change log.
func (a *app) historyCmd() *cobra.Command {
	var (
		tf                 tableFlag
		trail, key, output string
		limit              int
	)
	cmd := &cobra.Command{
		Use:   "history [CHANGE-ID] [--trail ARN | --key ARN] [--limit N] [--output table|json]",
		Short: "List the changes trailguard made (the state table's change log), or show one",
		Long: `Lists the change log of the state table (--table, else TRAILGUARD_TABLE), newest first: one
record per write trailguard made (functions, sweeper, fix --apply, undo), with its id, time,
writer, source (the event id, "sweep" or "cli"), action, resource, trails, rules and status
(pending, applied, failed, undone). --trail and --key keep the changes of one trail or key.

With a CHANGE-ID it shows that change with its value before and after: for a key policy a
unified diff, for a trail its KmsKeyId. --output json writes the records as JSON.

Exit codes: 0 shown, 2 error (no state table, no such change, AWS error).`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := tf.validate(); err != nil {
				return err
			}
			if limit < 0 {
				return usagef("invalid --limit %d: want 0 (all) or more", limit)
			}
			if trail != "" && key != "" {
				return usagef("--trail and --key do not go together")
			}
			if len(args) == 1 && (trail != "" || key != "" || limit != 0) {
				return usagef("a CHANGE-ID shows one change: --trail, --key and --limit do not go with it")
			}
			if trail != "" {
				if _, err := parseTrailARN(trail); err != nil {
					return err
				}
			}
			if key != "" && !isKeyARN(key) {
				return usagef("invalid --key %q: want a key ARN such as arn:aws:kms:us-east-1:111122223333:key/1234abcd-...", key)
			}
			ctx := cmd.Context()
			s, st, err := a.stateSession(ctx, "history", &tf, config.Report)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				c, err := st.Get(ctx, args[0])
				if errors.Is(err, state.ErrNotFound) {
					return fmt.Errorf("no change %s in table %s (see trailguard history)", args[0], st.Table())
				}
				if err != nil {
					return fmt.Errorf("table %s: %w", st.Table(), err)
				}
				if output == outputJSON {
					return changelog.WriteChangeJSON(a.stdout, c)
				}
				return changelog.WriteDetail(a.stdout, c)
			}
			cs, err := a.reconciler(s, reconcile.WithStore(st)).History(ctx, state.Filter{Resource: trail + key, Limit: limit})
			if err != nil {
				return fmt.Errorf("table %s: %w", st.Table(), err)
			}
			if output == outputJSON {
				return changelog.WriteJSON(a.stdout, cs)
			}
			return changelog.WriteTable(a.stdout, cs, shortARN)
		}),
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&trail, "trail", "", "only the changes for this trail (its ARN)")
	cmd.Flags().StringVar(&key, "key", "", "only the changes of this key (its ARN)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many changes, newest first (0: all)")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "output format: table or json")
	return cmd
}

// isKeyARN reports whether s is a KMS key ARN.
func isKeyARN(s string) bool {
	a, err := arn.Parse(s)
	return err == nil && a.Service == "kms" && strings.HasPrefix(a.Resource, "key/") && len(a.Resource) > len("key/") &&
		regionRE.MatchString(a.Region) && len(a.AccountID) == 12
}
