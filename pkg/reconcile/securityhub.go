package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/trailguard/trailguard/pkg/plan"
	"github.com/trailguard/trailguard/pkg/securityhub"
)

// securityHubClients gives the Security Hub client acting as account in
// region: the account's own credentials (in organization mode, the
// remediation role there), because BatchImportFindings with the default
// product ARN must be called by the finding's AwsAccountId (see
// securityhub.ClientFunc).
func (r *Reconciler) securityHubClients(ctx context.Context, account, region string) (securityhub.API, error) {
	c, err := r.clients(ctx, account, region)
	if err != nil {
		return nil, err
	}
	if c.SecurityHub == nil {
		return nil, fmt.Errorf("no Security Hub client for %s in %s", account, region)
	}
	return c.SecurityHub, nil
}

// publish imports the run's findings into Security Hub, as the last part
// of the report step. Failures are logged: the run's fixes stand either
// way.
func (r *Reconciler) publish(ctx context.Context, rep Report) {
	if r.hub == nil {
		return
	}
	trails := hubTrails(rep)
	if len(trails) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.notifyTimeout(ctx))
	defer cancel()
	sum, err := r.hub.Publish(ctx, trails)
	if err != nil {
		r.log.Error("security hub", "error", err.Error())
	}
	if sum.Imported > 0 || sum.Resolved > 0 || sum.Rejected > 0 {
		r.log.Info("security hub findings imported", "imported", sum.Imported, "resolved", sum.Resolved, "rejected", sum.Rejected)
	}
}

// hubTrails turns a report into Security Hub's input: one entry per trail
// that was found (a trail that could not be named by ARN is left out). A
// trail is settled, so its earlier findings may be resolved, only when the
// run read it and acted without error.
func hubTrails(rep Report) []securityhub.Trail {
	var out []securityhub.Trail
	for _, res := range rep.Results {
		a, err := arn.Parse(res.Trail)
		if err != nil || a.Service != "cloudtrail" || res.Account == "" || res.Region == "" {
			continue
		}
		t := securityhub.Trail{
			ARN: res.Trail, Account: res.Account, Region: res.Region,
			KMSKeyARN: res.KMSKeyARN, Findings: res.Findings,
			Settled: res.Error == "",
		}
		for _, act := range res.Actions {
			t.Done = append(t.Done, fmt.Sprintf("%s %s: %s", act.Action, act.Target, act.Outcome))
			if act.Outcome == Failed {
				t.Settled = false
			}
		}
		out = append(out, t)
	}
	return out
}

// keyAfter is the key a trail uses after its actions: the key an
// UpdateTrail pointed it at, else the one it had. Only key ARNs are kept.
func keyAfter(before string, actions []ActionResult) string {
	key := before
	for _, a := range actions {
		if a.Action == plan.UpdateTrail && a.Outcome == Updated && a.KMSKeyID != "" {
			key = a.KMSKeyID
		}
	}
	if !strings.HasPrefix(key, "arn:") {
		return ""
	}
	return key
}
