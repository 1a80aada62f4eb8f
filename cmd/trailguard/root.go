package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// app is what every command shares: the streams, the environment and the
// global flags.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	// roleName overrides TRAILGUARD_ROLE_NAME.
	roleName string
	// verbose writes the library's logs to stderr.
	verbose bool
}

// runError marks an error returned by a command's RunE, as opposed to one
// cobra returns while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// runE wraps a command body so its errors are told apart from command-line
// errors.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return &runError{err: err}
		}
		return nil
	}
}

// newRootCmd builds the trailguard command. Output goes to stdout, errors
// and progress to stderr; getenv (os.Getenv in main) is the only source of
// environment variables the commands read themselves.
func newRootCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:   "trailguard",
		Short: "Keep every CloudTrail trail encrypted with a KMS key CloudTrail can really use",
		Long: `trailguard checks that every AWS CloudTrail trail is encrypted with SSE-KMS under a key whose
policy lets CloudTrail encrypt and the right people decrypt, and fixes what it finds, with the
same library as the Lambda functions.

AWS settings come from the SDK's standard environment (AWS_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...); trailguard's from the TRAILGUARD_* variables the
functions read (TRAILGUARD_KEY_ALIAS, TRAILGUARD_KEYS, TRAILGUARD_READERS, ...).

Exit codes: 0 all compliant (or nothing left to do), 1 findings remain, 2 the command could
not run.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.PersistentFlags().StringVar(&a.roleName, "role-name", "", "role to assume in other accounts (organization mode; default $TRAILGUARD_ROLE_NAME)")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "write trailguard's logs to stderr")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.scanCmd(), a.fixCmd(), a.policyCmd(), a.historyCmd(), a.undoCmd(), a.demoCmd())
	return root
}

// run executes the command line args and returns the exit code. Errors
// are written to stderr as one line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := newRootCmd(stdout, stderr, getenv)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var re *runError
	if !errors.As(err, &re) {
		// cobra's own errors: unknown command, bad arguments.
		err = usagef("%v", err)
	}
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.err != nil {
		fmt.Fprintf(stderr, "trailguard: %s\n", explain(err, getenv("AWS_ENDPOINT_URL")))
	}
	return exitCode(err)
}

// logger returns the library's logger: discarded unless --verbose.
func (a *app) logger() *slog.Logger {
	if !a.verbose {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
