// Command sweeper reconciles every trail in every enabled Region (and account, in organization mode) on a schedule.
// Configuration: the TRAILGUARD_* environment variables (see pkg/config),
// read once at cold start; a bad value stops the function with a clear
// message.
package main

import (
	"log/slog"

	"github.com/trailguard/trailguard/pkg/handler"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

func main() {
	handler.Main(func(r *reconcile.Reconciler, log *slog.Logger) handler.HandleFunc {
		return handler.SweepHandler{Reconciler: r, Logger: log}.Serve
	})
}
