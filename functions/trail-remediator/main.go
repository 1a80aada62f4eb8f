// Command trail-remediator reconciles a trail after a CloudTrail API call on it (CreateTrail, UpdateTrail).
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
		return handler.TrailHandler{Reconciler: r, Logger: log}.Serve
	})
}
