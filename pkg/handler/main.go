package handler

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// HandleFunc is the signature of TrailHandler.Serve, KeyHandler.Serve and
// SweepHandler.Serve.
type HandleFunc func(ctx context.Context, raw json.RawMessage) (Response, error)

// Main is a function's whole main: at cold start it reads the TRAILGUARD_*
// configuration once (a bad value logs a clear message and exits 1), loads
// the AWS SDK configuration (honouring AWS_REGION and AWS_ENDPOINT_URL),
// builds one Reconciler (on the state table when TRAILGUARD_TABLE is set;
// importing findings into Security Hub unless TRAILGUARD_SECURITY_HUB=off),
// and serves the handler that build returns, with JSON logs and EMF metric
// lines (Measure) on stdout.
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
	opts := []reconcile.Option{reconcile.WithLogger(log), reconcile.WithSecurityHub()}
	if cfg.Table != "" {
		// The writer recorded in leases and the change log: the function.
		writer := cmp.Or(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "trailguard")
		opts = append(opts, reconcile.WithStore(state.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, state.WithWriter(writer))))
	}
	r := reconcile.New(awsCfg, cfg, opts...)
	// CloudWatch metrics go to stdout as EMF lines, beside the JSON logs.
	lambda.Start(Measure(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), os.Stdout, log, build(r, log)))
}
