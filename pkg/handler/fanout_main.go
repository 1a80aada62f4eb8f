package handler

import (
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailguard/trailguard/pkg/state"
)

// SweepCoordinator returns functions/sweeper's handler: the coordinator of a
// fanned-out sweep when a work queue and the state table are configured
// (TRAILGUARD_SWEEP_QUEUE, TRAILGUARD_TABLE), else the sweep in one
// invocation (SweepHandler).
func SweepCoordinator(e Env) HandleFunc {
	if e.Config.SweepQueue == "" || e.Config.Table == "" || e.DynamoDB == nil {
		if e.Config.SweepQueue != "" {
			e.Log.Warn("TRAILGUARD_SWEEP_QUEUE is set but TRAILGUARD_TABLE is not: the sweep runs in one invocation")
		}
		return SweepHandler{Reconciler: e.Reconciler, Logger: e.Log}.Serve
	}
	return CoordinatorHandler{
		Reconciler: e.Reconciler,
		Queue:      sqs.NewFromConfig(e.AWS),
		QueueURL:   e.Config.SweepQueue,
		Summarizer: summarizer(e, os.Stdout),
		Function:   e.Function,
		Logger:     e.Log,
	}.Serve
}

// SweepWorker returns functions/sweep-worker's handler. It needs the state
// table (the sweep record); without it every item is still reconciled but
// none can be counted, so each is reported failed and retried.
func SweepWorker(e Env) HandleFunc {
	if e.DynamoDB == nil {
		e.Log.Error("TRAILGUARD_TABLE is not set: the sweep worker cannot count its work items")
	}
	return WorkerHandler{
		Reconciler:  e.Reconciler,
		Summarizer:  summarizer(e, os.Stdout),
		MaxReceives: e.Config.SweepReceives,
		Logger:      e.Log,
	}.Serve
}

func summarizer(e Env, w io.Writer) Summarizer {
	var recs SweepRecords = missingTable{}
	if e.DynamoDB != nil {
		recs = state.NewSweeps(e.DynamoDB, e.Config.Table, nil)
	}
	return Summarizer{Sweeps: recs, Notifier: e.Reconciler, Metrics: w, Logger: e.Log}
}
