package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"

	"github.com/trailguard/trailguard/pkg/reconcile"
)

// ScheduledDetailType is the detail-type of an EventBridge schedule event.
const ScheduledDetailType = "Scheduled Event"

// SweepHandler is the handler of functions/sweeper, run on a schedule.
type SweepHandler struct {
	Reconciler Sweeper
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handle sweeps every trail. It accepts an EventBridge "Scheduled Event"
// and, for a manual run, an empty payload, null or {}; any other event is
// acknowledged with a log line and an empty result. Transient errors of
// single trails are returned after the sweep (the report is logged first).
func (h SweepHandler) Handle(ctx context.Context, raw json.RawMessage) (reconcile.Report, error) {
	log := logger(h.Logger)
	if reason := notScheduled(raw); reason != "" {
		log.Info("event ignored", "reason", reason)
		return reconcile.Report{}, nil
	}
	log.Info("sweep started")
	rep, err := h.Reconciler.Sweep(ctx)
	logReport(log, rep)
	if err != nil {
		log.Warn("sweep had transient errors", "error", err.Error())
		return rep, err
	}
	return rep, nil
}

// Serve is the function's handler: Handle with its report as a Response
// (the sweeper runs on a schedule, not from a queue).
func (h SweepHandler) Serve(ctx context.Context, raw json.RawMessage) (Response, error) {
	rep, err := h.Handle(ctx, raw)
	return Response{Report: rep}, err
}

// notScheduled says why raw is not a sweep trigger ("" when it is).
func notScheduled(raw []byte) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return ""
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(t, &env); err != nil {
		return "not a JSON object: " + err.Error()
	}
	if len(env) == 0 {
		return ""
	}
	var dt string
	if v, ok := env["detail-type"]; ok {
		if err := json.Unmarshal(v, &dt); err != nil {
			return "detail-type is not a string"
		}
	}
	if dt != ScheduledDetailType {
		if len(dt) > 100 {
			dt = dt[:100]
		}
		return "detail-type " + strconv.Quote(dt) + " is not " + ScheduledDetailType
	}
	return ""
}
