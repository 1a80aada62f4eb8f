package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// maxMessage keeps an SNS message under its 256 KiB limit.
const maxMessage = 250 * 1024

// notify publishes one SNS message for a run that changed something or
// needs a human (an alert, a failed action, a terminal error), when a topic
// is configured. The body is the JSON report of those trails. A failure to
// publish is logged, not returned: the fixes are made and logged either
// way.
func (r *Reconciler) notify(ctx context.Context, rep Report) {
	if r.cfg.TopicARN == "" || (!rep.Changed() && !rep.Alerting()) {
		return
	}
	var (
		sub              Report
		changed, alerted int
	)
	sub.Errors, sub.Alerts = rep.Errors, rep.Alerts
	for _, res := range rep.Results {
		c, a := res.Changed(), res.Alerting()
		if c {
			changed++
		}
		if a {
			alerted++
		}
		if c || a {
			sub.Results = append(sub.Results, res)
		}
	}
	body, err := json.Marshal(sub)
	if err == nil && len(body) > maxMessage {
		// Too long: keep trails, actions and alerts, drop finding details.
		for i := range sub.Results {
			sub.Results[i].Findings = nil
		}
		body, err = json.Marshal(sub)
		if len(body) > maxMessage {
			body = []byte(fmt.Sprintf(`{"truncated":true,"changed":%d,"alerting":%d,"errors":%d}`, changed, alerted, len(rep.Errors)))
		}
	}
	if err != nil {
		r.log.Error("notify: encode report", "error", err.Error())
		return
	}
	subject := fmt.Sprintf("trailguard: %d trail(s) changed, %d need attention", changed, alerted)
	if len(rep.Errors) > 0 {
		subject += fmt.Sprintf(", %d error(s)", len(rep.Errors))
	}

	region := r.region
	if a, err := arn.Parse(r.cfg.TopicARN); err == nil {
		region = a.Region
	}
	// The run's context stops a margin before the deadline; the
	// notification may use that margin.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.notifyTimeout(ctx))
	defer cancel()
	c, err := r.factory.Clients(ctx, "", region)
	if err != nil {
		r.log.Error("notify", "topic", r.cfg.TopicARN, "error", err.Error())
		return
	}
	_, err = c.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(r.cfg.TopicARN),
		Subject:  aws.String(subject),
		Message:  aws.String(string(body)),
	})
	if err != nil {
		r.log.Error("notify: publish", "topic", r.cfg.TopicARN, "error", err.Error())
		return
	}
	r.log.Info("notified", "topic", r.cfg.TopicARN, "changed", changed, "alerting", alerted)
}

// notifyTimeout is how long the notification may take: up to the
// deadline, at most 10 seconds.
func (r *Reconciler) notifyTimeout(ctx context.Context) time.Duration {
	d := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	return d
}
