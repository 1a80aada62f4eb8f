package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/internal/demo"
)

// demoCmd is `trailguard demo`: what `make demo` runs.
func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the end-to-end demo against a local moto server",
		Long: `Starts a local AWS emulator (moto_server, pip install "moto[server]==5.2.1") on 127.0.0.1,
creates drift with real API calls, routes the CloudTrail events those calls produce through
EventBridge rules built from the stack's own patterns, drives the real handlers, and prints the
state before and after. Exits 0 only if every trail ended compliant and the compliant trail was
left untouched, 1 if not, 2 if the demo could not run.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			err := demo.Run(cmd.Context(), a.stdout, demo.Options{Verbose: a.verbose, Log: a.stderr})
			if errors.Is(err, demo.ErrFailed) {
				return &exitCodeError{code: exitFindings, err: err}
			}
			return err
		}),
	}
}
