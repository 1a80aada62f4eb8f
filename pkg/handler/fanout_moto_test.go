package handler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailguard/trailguard/internal/testbed/statetable"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// countingNotifier forwards to the reconciler and keeps the notices.
type countingNotifier struct {
	r       *reconcile.Reconciler
	mu      sync.Mutex
	notices []reconcile.Report
}

func (n *countingNotifier) NotifySweep(ctx context.Context, rep reconcile.Report) {
	n.mu.Lock()
	n.notices = append(n.notices, rep)
	n.mu.Unlock()
	n.r.NotifySweep(ctx, rep)
}

// TestFanOutSweepAgainstMoto: the coordinator enqueues one item per
// Region on an SQS queue in moto, the queue is drained into the worker
// handler as Lambda's event source mapping would (batches of up to 10,
// ApproximateReceiveCount, delete unless reported failed), the trails are
// fixed, the sweep record in a DynamoDB table in moto counts every item,
// and one summary is written.
func TestFanOutSweepAgainstMoto(t *testing.T) {
	srv := moto(t)
	ctx := context.Background()
	w := world{t: t, srv: srv}
	base := w.key(config.DefaultKeyAlias)
	w.bucket("fanout-logs")
	w.trail("plain", "fanout-logs", "")
	w.trail("plain2", "fanout-logs", "")

	awsCfg := w.cfg("us-east-1")
	db := dynamodb.NewFromConfig(awsCfg)
	if err := statetable.Create(ctx, db, "fanout-state"); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(awsCfg)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("fanout-sweep")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Regions = []string{"us-east-1", "eu-west-1", "us-west-2"}
	cfg.Table, cfg.SweepQueue = "fanout-state", aws.ToString(qo.QueueUrl)
	r := reconcile.New(awsCfg, cfg, reconcile.WithLogger(discardLogger()),
		reconcile.WithStore(state.New(db, cfg.Table, state.WithWriter("sweep-worker"))))
	metricsOut := &syncBuffer{}
	notifier := &countingNotifier{r: r}
	sum := Summarizer{Sweeps: state.NewSweeps(db, cfg.Table, nil), Notifier: notifier, Metrics: metricsOut, Logger: discardLogger()}
	coord := CoordinatorHandler{Reconciler: r, Queue: q, QueueURL: cfg.SweepQueue, Summarizer: sum, Function: "trailguard-sweeper", Logger: discardLogger()}
	worker := WorkerHandler{Reconciler: r, Summarizer: sum, MaxReceives: 3, Logger: discardLogger()}

	enq, err := coord.Handle(ctx, eventJSON(t, "scheduled.json", ev{Account: motoAccount, Region: "us-east-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if enq.Items != 3 || enq.Unsent != 0 || enq.Summary != nil {
		t.Fatalf("coordinator: %+v", enq)
	}

	var results []reconcile.Result
	for round := 0; ; round++ {
		if round > 20 {
			t.Fatal("the queue did not drain")
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		var batch events.SQSEvent
		for _, m := range out.Messages {
			batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", Attributes: m.Attributes})
		}
		resp, err := worker.Serve(ctx, batchOf(t, batch.Records...))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) > 0 {
			t.Fatalf("items failed: %v (%q)", resp.BatchItemFailures, resp.Errors)
		}
		results = append(results, resp.Results...)
		for _, m := range out.Messages {
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: qo.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var fixed []string
	for _, res := range results {
		if res.Changed() {
			fixed = append(fixed, res.Trail[strings.LastIndex(res.Trail, "/")+1:])
		}
	}
	slices.Sort(fixed)
	if !slices.Equal(fixed, []string{"plain", "plain2"}) {
		t.Errorf("fixed %v, want plain and plain2 (results %+v)", fixed, results)
	}
	for _, name := range []string{"plain", "plain2"} {
		if got := w.trailKey(name); got != base {
			t.Errorf("trail %s key %q, want the baseline %s", name, got, base)
		}
	}
	if n := strings.Count(metricsOut.String(), `"Function":"trailguard-sweeper"`); n != 1 {
		t.Errorf("%d summary metric lines, want 1:\n%s", n, metricsOut.String())
	}
	if len(notifier.notices) != 1 {
		t.Fatalf("%d notices, want 1", len(notifier.notices))
	}
	if got := len(notifier.notices[0].Results); got != 2 {
		t.Errorf("notice lists %d trails, want the 2 fixed", got)
	}
	rec, err := state.NewSweeps(db, cfg.Table, nil).Get(ctx, enq.Sweep)
	if err != nil {
		t.Fatal(err)
	}
	// The trails are in us-east-1: its item has them, the others none.
	if rec.Done != 4 || rec.Counts.Trails != 2 || rec.Counts.Changed != 2 || rec.Counts.Failed != 0 || !rec.Claimed {
		t.Errorf("sweep record %+v", rec)
	}
}
