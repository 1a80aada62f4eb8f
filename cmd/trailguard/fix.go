package main

import (
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// fixCmd is `trailguard fix`: plan (default) or apply the remediation.
func (a *app) fixCmd() *cobra.Command {
	var (
		f     sweepFlags
		tf    tableFlag
		apply bool
	)
	cmd := &cobra.Command{
		Use:   "fix [--apply] [--region R ...|--all-regions] [--output table|json]",
		Short: "Plan (default) or apply the same remediation as the functions",
		Long: `Plans the remediation of every trail of the selected Regions, exactly as the functions would
(outcome "planned"), without writing anything. With --apply it carries the plan out (enforce
mode): key policies are merged, never replaced, and keys are fixed before a trail is pointed
at them.

With a state table (--table, else TRAILGUARD_TABLE), --apply takes the same lease per key as
the functions around every read-merge-write, counts in the shared loop guard, and records
every write in the change log (writer and source "cli"): see trailguard history and undo.
Without one it works the same but cannot lock or record, and says so on stderr.

Exit codes: 0 nothing left to fix, 1 findings remain (planned but not applied, failed, or
without an automatic fix), 2 the command could not run.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if err := tf.validate(); err != nil {
				return err
			}
			mode := config.Report
			var opts func(*session) []reconcile.Option
			if apply {
				mode = config.Enforce
				opts = func(s *session) []reconcile.Option { return a.storeOptions(s, &tf) }
			}
			rs, errs, err := a.sweep(cmd.Context(), &f, mode, opts)
			if err != nil {
				return err
			}
			v := viewPlan
			if apply {
				v = viewApply
			}
			if err := a.writeResults(a.stdout, rs, errs, f.output, v); err != nil {
				return err
			}
			if err := a.problems(rs, errs); err != nil {
				return err
			}
			for _, r := range rs {
				if len(r.Findings) > 0 && (!apply || !r.allFixed()) {
					return errFindings
				}
			}
			return nil
		}),
	}
	f.register(cmd)
	tf.register(cmd)
	cmd.Flags().BoolVar(&apply, "apply", false, "apply the plan (default: only show it)")
	return cmd
}
