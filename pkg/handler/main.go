package handler

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// HandleFunc is the signature of TrailHandler.Handle, KeyHandler.Handle and
// SweepHandler.Handle.
type HandleFunc func(ctx context.Context, raw json.RawMessage) (reconcile.Report, error)

// Main is a function's whole main: at cold start it reads the TRAILGUARD_*
// configuration once (a bad value logs a clear message and exits 1), loads
// the AWS SDK configuration (honouring AWS_REGION and AWS_ENDPOINT_URL),
// builds one Reconciler (importing findings into Security Hub unless
// TRAILGUARD_SECURITY_HUB=off), and serves the handler that build returns,
// with JSON logs and EMF metric lines (Measure) on stdout.
func Main(build func(r *reconcile.Reconciler, log *slog.Logger) HandleFunc) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	slog.SetDefault(log)
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		log.Error("bad configuration: fix the TRAILGUARD_* environment variables", "error", err.Error())
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("cannot load the AWS SDK configuration", "error", err.Error())
		os.Exit(1)
	}
	r := reconcile.New(awsCfg, cfg, reconcile.WithLogger(log), reconcile.WithSecurityHub())
	// CloudWatch metrics go to stdout as EMF lines, beside the JSON logs.
	lambda.Start(Measure(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), os.Stdout, log, build(r, log)))
}
