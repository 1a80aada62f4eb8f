// Command trailguard checks and fixes the SSE-KMS encryption of AWS
// CloudTrail trails from the command line, with the same library the Lambda
// functions use.
//
//	trailguard scan [--region R ...|--all-regions] [--output table|json]
//	trailguard fix [--apply] [--table NAME] [--region R ...|--all-regions] [--output table|json]
//	trailguard policy --trail ARN
//	trailguard history [CHANGE-ID] [--trail ARN | --key ARN] [--limit N] [--output table|json] [--table NAME]
//	trailguard undo CHANGE-ID [--table NAME]
//	trailguard demo
//
// Exit codes: 0 all compliant (or nothing left to do), 1 findings remain
// (undo: refused, nothing written), 2 the command could not run (bad flag, no credentials, unreachable
// endpoint, ...). AWS settings come from the SDK's standard environment
// (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...), trailguard's from the
// TRAILGUARD_* variables the functions read.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
