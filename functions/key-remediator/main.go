// Command key-remediator reconciles every trail using a KMS key after an API call on the key (PutKeyPolicy, DisableKey, ScheduleKeyDeletion).
// Configuration: the TRAILGUARD_* environment variables (see pkg/config),
// read once at cold start; a bad value stops the function with a clear
// message.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

func main() {
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
	r := reconcile.New(awsCfg, cfg, reconcile.WithLogger(log))
	lambda.Start(handler.KeyHandler{Reconciler: r, Logger: log}.Handle)
}
