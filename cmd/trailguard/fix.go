package main

import (
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/config"
)

// fixCmd is `trailguard fix`: plan (default) or apply the remediation.
func (a *app) fixCmd() *cobra.Command {
	var (
		f     sweepFlags
		apply bool
	)
	cmd := &cobra.Command{
		Use:   "fix [--apply] [--region R ...|--all-regions] [--output table|json]",
		Short: "Plan (default) or apply the same remediation as the functions",
		Long: `Plans the remediation of every trail of the selected Regions, exactly as the functions would
(outcome "planned"), without writing anything. With --apply it carries the plan out (enforce
mode): key policies are merged, never replaced, and keys are fixed before a trail is pointed
at them.

Exit codes: 0 nothing left to fix, 1 findings remain (planned but not applied, failed, or
without an automatic fix), 2 the command could not run.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			mode := config.Report
			if apply {
				mode = config.Enforce
			}
			rs, errs, err := a.sweep(cmd.Context(), &f, mode)
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
	cmd.Flags().BoolVar(&apply, "apply", false, "apply the plan (default: only show it)")
	return cmd
}
