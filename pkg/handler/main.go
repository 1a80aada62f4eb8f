package handler

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// HandleFunc is the signature of TrailHandler.Serve, KeyHandler.Serve and
// SweepHandler.Serve.
type HandleFunc func(ctx context.Context, raw json.RawMessage) (Response, error)

// Env is what Main builds at cold start, for the function's handler.
type Env struct {
	Config config.Config
	// AWS is the SDK configuration of the own account.
	AWS        aws.Config
	Reconciler *reconcile.Reconciler
	Log        *slog.Logger
	// DynamoDB is the state table's client (nil without TRAILGUARD_TABLE).
	DynamoDB *dynamodb.Client
	// Function is AWS_LAMBDA_FUNCTION_NAME.
	Function string
}

// Main is a function's whole main: at cold start it reads the TRAILGUARD_*
// configuration once (a bad value logs a clear message and exits 1), loads
// the AWS SDK configuration (honouring AWS_REGION and AWS_ENDPOINT_URL),
// builds one Reconciler (on the state table when TRAILGUARD_TABLE is set;
// importing findings into Security Hub unless TRAILGUARD_SECURITY_HUB=off),
// starts its own-account lookup (Reconciler.PrefetchOwnAccount), and
// serves the handler that build returns, with JSON logs and EMF metric
// lines (Measure) on stdout.
func Main(build func(r *reconcile.Reconciler, log *slog.Logger) HandleFunc) {
	MainEnv(func(e Env) HandleFunc { return build(e.Reconciler, e.Log) })
}

// MainEnv is Main for a handler that needs more than the Reconciler (the
// sweep coordinator and worker: the queue, the sweep record).
func MainEnv(build func(e Env) HandleFunc) {
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
	e := Env{Config: cfg, AWS: awsCfg, Log: log, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
	opts := []reconcile.Option{reconcile.WithLogger(log), reconcile.WithSecurityHub()}
	if cfg.Table != "" {
		// The writer recorded in leases and the change log: the function.
		writer := cmp.Or(e.Function, "trailguard")
		e.DynamoDB = dynamodb.NewFromConfig(awsCfg)
		opts = append(opts, reconcile.WithStore(state.New(e.DynamoDB, cfg.Table, state.WithWriter(writer))))
	}
	e.Reconciler = reconcile.New(awsCfg, cfg, opts...)
	// Every invocation starts by finding the own account: look it up
	// now, while the rest of the cold start runs.
	e.Reconciler.PrefetchOwnAccount(context.Background())
	// CloudWatch metrics go to stdout as EMF lines, beside the JSON logs.
	lambda.Start(Measure(e.Function, os.Stdout, log, build(e)))
}
