package handler

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/trailguard/trailguard/pkg/reconcile"
)

// sqsEventSource is the eventSource of every record of an SQS batch.
const sqsEventSource = "aws:sqs"

// Response is a function's JSON result: the report of CONTRACTS.md
// ({"results": [...]}) and, for an SQS batch, "batchItemFailures", the
// member Lambda reads to make only the failed messages visible again
// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
type Response struct {
	reconcile.Report
	// BatchItemFailures lists the messages of an SQS batch that failed
	// transiently, so SQS delivers them again (and after the queue's
	// maxReceiveCount moves them to its dead-letter queue). nil for a bare
	// event, whose result then has no such member; for a batch it is
	// non-nil, empty when every message was handled.
	BatchItemFailures []events.SQSBatchItemFailure
}

// MarshalJSON writes the report's members and, for a batch,
// "batchItemFailures".
func (r Response) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Report)
	if err != nil || r.BatchItemFailures == nil {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	f, err := json.Marshal(r.BatchItemFailures)
	if err != nil {
		return nil, err
	}
	m["batchItemFailures"] = f
	return json.Marshal(m)
}

// handleFunc handles one EventBridge event with a logger.
type handleFunc func(ctx context.Context, log *slog.Logger, raw json.RawMessage) (reconcile.Report, error)

// serve handles raw, an SQS batch or a bare EventBridge event. A bare event
// goes to handle unchanged: its transient error is returned, so Lambda
// retries it. A batch never returns an error (that would fail every
// message of the batch): each message body is handled as one event, one
// after the other, and a message whose handling failed transiently is
// reported in BatchItemFailures. A body that is not an event can never
// succeed, so handle acknowledges it with a log line rather than letting
// it loop to the dead-letter queue. The reports of the messages are merged.
func serve(ctx context.Context, log *slog.Logger, raw json.RawMessage, handle handleFunc) (Response, error) {
	batch, ok := sqsBatch(raw)
	if !ok {
		rep, err := handle(ctx, log, raw)
		return Response{Report: rep}, err
	}
	out := Response{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range batch.Records {
		mlog := log.With("messageId", m.MessageId)
		if err := ctx.Err(); err != nil {
			// Out of time: leave the message to the next delivery.
			mlog.Warn("message not handled before the deadline, SQS delivers it again", "error", err.Error())
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		rep, err := handle(ctx, mlog, json.RawMessage(m.Body))
		out.Results = append(out.Results, rep.Results...)
		out.Errors = append(out.Errors, rep.Errors...)
		if err != nil {
			// An empty messageId (never sent by SQS) makes Lambda fail the
			// whole batch, which still redelivers this message.
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	log.Info("batch handled", "messages", len(batch.Records), "failed", len(out.BatchItemFailures))
	return out, nil
}

// sqsBatch decodes raw as an SQS batch: a JSON object with a "Records"
// list whose every record comes from SQS. An EventBridge event has no
// "Records" member, so anything else is a bare event.
func sqsBatch(raw []byte) (events.SQSEvent, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return events.SQSEvent{}, false
	}
	if _, ok := top["Records"]; !ok {
		return events.SQSEvent{}, false
	}
	var batch events.SQSEvent
	if json.Unmarshal(raw, &batch) != nil {
		return events.SQSEvent{}, false
	}
	for _, m := range batch.Records {
		if m.EventSource != sqsEventSource {
			return events.SQSEvent{}, false
		}
	}
	return batch, true
}

// maxEventID bounds the event id recorded as a change's source (an
// EventBridge event id is a 36-character UUID).
const maxEventID = 128

// withEventID returns ctx carrying the EventBridge event's "id", which the
// change log records as the source of the writes made for it. raw has
// already been decoded as a valid event.
func withEventID(ctx context.Context, raw []byte) context.Context {
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &env) != nil || env.ID == "" || len(env.ID) > maxEventID {
		return ctx
	}
	return reconcile.WithEventID(ctx, env.ID)
}
