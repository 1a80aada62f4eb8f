package main

import (
	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/config"
)

// scanCmd is `trailguard scan`: report every trail's findings, never
// write.
func (a *app) scanCmd() *cobra.Command {
	var f sweepFlags
	cmd := &cobra.Command{
		Use:   "scan [--region R ...|--all-regions] [--output table|json]",
		Short: "Report every trail's encryption findings (never changes anything)",
		Long: `Reads every trail of the selected Regions (and accounts, with --role-name or
TRAILGUARD_ROLE_NAME), evaluates it against the rule catalogue and reports the findings. It
runs in report mode: nothing is written.

Exit codes: 0 every trail compliant, 1 findings, 2 the scan could not run.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			rs, errs, err := a.sweep(cmd.Context(), &f, config.Report, nil)
			if err != nil {
				return err
			}
			if err := a.writeResults(a.stdout, rs, errs, f.output, viewScan); err != nil {
				return err
			}
			if err := a.problems(rs, errs); err != nil {
				return err
			}
			for _, r := range rs {
				if len(r.Findings) > 0 {
					return errFindings
				}
			}
			return nil
		}),
	}
	f.register(cmd)
	return cmd
}
