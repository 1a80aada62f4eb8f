package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/trailguard/trailguard/pkg/event"
	"github.com/trailguard/trailguard/pkg/reconcile"
)

// TrailReconciler reconciles one trail (reconcile.Reconciler does).
type TrailReconciler interface {
	ReconcileTrail(ctx context.Context, account, region, trail string) (reconcile.Report, error)
}

// KeyReconciler reconciles every trail using one key (reconcile.Reconciler
// does).
type KeyReconciler interface {
	ReconcileKey(ctx context.Context, account, region, key string) (reconcile.Report, error)
}

// Sweeper reconciles every trail (reconcile.Reconciler does).
type Sweeper interface {
	Sweep(ctx context.Context) (reconcile.Report, error)
}

var (
	_ TrailReconciler = (*reconcile.Reconciler)(nil)
	_ KeyReconciler   = (*reconcile.Reconciler)(nil)
	_ Sweeper         = (*reconcile.Reconciler)(nil)
)

// TrailHandler is the handler of functions/trail-remediator: CloudTrail
// API call events on trails (CreateTrail, UpdateTrail).
type TrailHandler struct {
	Reconciler TrailReconciler
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handle decodes the EventBridge event and reconciles its trail, with the
// event's id in the context (the change log's source). Key events and
// events to ignore are acknowledged with a log line and an empty result.
func (h TrailHandler) Handle(ctx context.Context, raw json.RawMessage) (reconcile.Report, error) {
	return h.handle(ctx, logger(h.Logger), raw)
}

// Serve is the function's handler: it accepts the SQS batch of the
// function's event queue (each message body one EventBridge event, failed
// messages reported in batchItemFailures) and the bare EventBridge event
// (a direct invocation), which Handle handles.
func (h TrailHandler) Serve(ctx context.Context, raw json.RawMessage) (Response, error) {
	return serve(ctx, logger(h.Logger), raw, h.handle)
}

func (h TrailHandler) handle(ctx context.Context, log *slog.Logger, raw json.RawMessage) (reconcile.Report, error) {
	req, ok := decode(log, raw, event.KindTrail)
	if !ok {
		return reconcile.Report{}, nil
	}
	rep, err := h.Reconciler.ReconcileTrail(withEventID(ctx, raw), req.Account, req.Region, req.Trail)
	return done(log, req, rep, err)
}

// KeyHandler is the handler of functions/key-remediator: KMS API call
// events on keys (PutKeyPolicy, DisableKey, ScheduleKeyDeletion).
type KeyHandler struct {
	Reconciler KeyReconciler
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handle decodes the EventBridge event and reconciles every trail using its
// key, with the event's id in the context (the change log's source). Trail
// events and events to ignore are acknowledged with a log line and an
// empty result.
func (h KeyHandler) Handle(ctx context.Context, raw json.RawMessage) (reconcile.Report, error) {
	return h.handle(ctx, logger(h.Logger), raw)
}

// Serve is the function's handler: the SQS batch of the function's event
// queue or a bare EventBridge event, as TrailHandler.Serve.
func (h KeyHandler) Serve(ctx context.Context, raw json.RawMessage) (Response, error) {
	return serve(ctx, logger(h.Logger), raw, h.handle)
}

func (h KeyHandler) handle(ctx context.Context, log *slog.Logger, raw json.RawMessage) (reconcile.Report, error) {
	req, ok := decode(log, raw, event.KindKey)
	if !ok {
		return reconcile.Report{}, nil
	}
	rep, err := h.Reconciler.ReconcileKey(withEventID(ctx, raw), req.Account, req.Region, req.Key)
	return done(log, req, rep, err)
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// decode decodes raw and reports whether it is a request of kind want. It
// logs why not: an ignored event, another function's event, or a
// malformed one (which retrying cannot fix).
func decode(log *slog.Logger, raw []byte, want event.Kind) (event.Request, bool) {
	req, err := event.Decode(raw)
	switch {
	case errors.Is(err, event.ErrIgnored):
		log.Info("event ignored", "reason", err.Error())
		return req, false
	case err != nil:
		log.Error("event rejected", "error", err.Error(), "bytes", len(raw))
		return req, false
	case req.Kind != want:
		log.Info("event ignored", "reason", "a "+req.Kind.String()+" event is not for this function", "request", req.String())
		return req, false
	}
	log.Info("event received", "request", req.String())
	return req, true
}

// done logs the outcome of a request and passes it on.
func done(log *slog.Logger, req event.Request, rep reconcile.Report, err error) (reconcile.Report, error) {
	if err != nil {
		log.Warn("request failed, to be retried", "request", req.String(), "error", err.Error())
		return rep, err
	}
	logReport(log, rep)
	return rep, nil
}

// logReport logs the handler's result.
func logReport(log *slog.Logger, rep reconcile.Report) {
	if b, err := json.Marshal(rep); err == nil {
		log.Info("result", "result", json.RawMessage(b))
	}
}
