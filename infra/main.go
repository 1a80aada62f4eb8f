// Command infra is trailguard's CDK app. It synthesizes the central stack
// (the three functions, their EventBridge rules, the event queues that feed
// trail-remediator and key-remediator, dead-letter queues, alarms, the
// state table, the baseline CloudTrail key and the notices topic) and, in organization
// mode, the organization event bus and a service-managed StackSet that
// installs event forwarding, a remediation role and the baseline key in
// every member account.
//
// Run it offline with `CDK_OUTDIR=cdk.out go run ./infra [-c key=value ...]`
// (what `make synth` does) or through the CDK CLI (`cdk synth`, `cdk
// deploy`; cdk.json says how). Configuration comes from CDK context; see
// Config for the keys and defaults. cdk-nag's AWS Solutions checks run on
// every synthesis and their errors fail it.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "trailguard infra:", err)
		os.Exit(1)
	}
}

func run(args []string) (err error) {
	defer jsii.Close()
	// jsii reports JavaScript errors as panics; turn them into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synthesis failed: %v", r)
		}
	}()
	_, cli := os.LookupEnv("CDK_CONTEXT_JSON")
	ctx, err := LoadContext(".", args, cli)
	if err != nil {
		return err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	tg, err := BuildApp(app, ctx)
	if err != nil {
		return err
	}
	if tg.Member != nil {
		defer tg.Member.Cleanup()
	}
	asm := app.Synth(nil)
	var errs []string
	for _, s := range *asm.Stacks() {
		errs = append(errs, ErrorMessages(s)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("synthesis reported errors:\n%s", strings.Join(errs, "\n"))
	}
	fmt.Fprintf(os.Stderr, "trailguard infra: synthesized to %s\n", *asm.Directory())
	return nil
}

// BuildApp reads the configuration from app's context, adds the cdk-nag
// checks and builds the central stack. ctx is the context the app was made
// with; organization mode gives it to the member template's own app.
func BuildApp(app awscdk.App, ctx map[string]any) (*Trailguard, error) {
	cfg, err := ConfigFromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return nil, err
	}
	AddChecks(app)
	if cfg.Part == PartManagement {
		// The management stacks have no function code: no build needed.
		ms, err := newManagementStacks(app, cfg)
		if err != nil {
			return nil, err
		}
		return &Trailguard{Management: ms}, nil
	}
	if err := checkAssets(cfg.AssetDir); err != nil {
		return nil, err
	}
	var env *awscdk.Environment
	if cfg.Account != "" || cfg.Region != "" {
		env = &awscdk.Environment{}
		if cfg.Account != "" {
			env.Account = jsii.String(cfg.Account)
		}
		if cfg.Region != "" {
			env.Region = jsii.String(cfg.Region)
		}
	}
	tg, err := NewTrailguardStack(app, cfg.StackName, &StackProps{
		StackProps: awscdk.StackProps{Env: env},
		Config:     cfg,
		AssetDir:   cfg.AssetDir,
		Context:    ctx,
	})
	if err != nil {
		return nil, err
	}
	// The central stack's Region: pinned by context, else the CLI's
	// (CDK_DEFAULT_REGION, from the profile `cdk deploy` uses).
	home := cfg.Region
	if home == "" {
		home = os.Getenv("CDK_DEFAULT_REGION")
	}
	if tg.Regions, err = newRegionStacks(app, tg.Stack, cfg, home); err != nil {
		return nil, err
	}
	return tg, nil
}

// checkAssets makes sure every function's bootstrap exists, so a missing
// build fails with a useful message rather than a JavaScript stack trace.
func checkAssets(dir string) error {
	for _, name := range FunctionNames {
		p := filepath.Join(dir, name, "bootstrap")
		st, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%s not found: run `make build` first, or point -c assetDir=DIR at a directory with <function>/bootstrap", p)
		case err != nil:
			return fmt.Errorf("function asset: %w", err)
		case st.IsDir():
			return fmt.Errorf("function asset %s is a directory, want the bootstrap binary", p)
		}
	}
	return nil
}
