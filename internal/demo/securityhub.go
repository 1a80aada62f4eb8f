package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
)

// hub is the demo's view of Security Hub: the loopback proxy in front of
// moto (it answers BatchUpdateFindings, which moto 5.2.1 lacks, as the API
// reference documents) and the import and resolve calls the functions
// made through it, in order.
type hub struct {
	proxy *awsproxy.Proxy

	mu     sync.Mutex
	events []hubEvent
}

// hubEvent is one finding as a function sent it.
type hubEvent struct {
	id, status, severity string
}

// startHub starts the proxy in front of the moto server at endpoint.
func startHub(endpoint string) (*hub, error) {
	h := &hub{}
	px, err := awsproxy.Start(endpoint, awsproxy.Options{
		Reply: awsproxy.SecurityHubBatchUpdate(endpoint),
		After: h.record,
	})
	if err != nil {
		return nil, fmt.Errorf("start the Security Hub proxy: %w", err)
	}
	h.proxy = px
	return h, nil
}

func (h *hub) record(c awsproxy.Call) {
	var body struct {
		Findings []struct {
			Id         string
			Compliance struct{ Status string }
			Severity   struct{ Label string }
		}
		FindingIdentifiers []struct{ Id string }
		Workflow           struct{ Status string }
	}
	if c.Status != 200 || json.Unmarshal(c.Body, &body) != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch c.Path {
	case "/findings/import":
		for _, f := range body.Findings {
			h.events = append(h.events, hubEvent{f.Id, f.Compliance.Status, f.Severity.Label})
		}
	case "/findings/batchupdate":
		for _, f := range body.FindingIdentifiers {
			h.events = append(h.events, hubEvent{id: f.Id, status: "Workflow " + body.Workflow.Status})
		}
	}
}

// take returns the events recorded since the last call.
func (h *hub) take() []hubEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events = nil
	return out
}

// enableSecurityHub turns Security Hub on in the demo's Regions, so the
// functions (which import findings wherever it is enabled) report there.
func (d *demo) enableSecurityHub(ctx context.Context) error {
	if d.hub == nil {
		return nil
	}
	d.p.heading("Security Hub enabled in " + HomeRegion + " and " + OtherRegion)
	for _, r := range []string{HomeRegion, OtherRegion} {
		c := securityhub.NewFromConfig(d.w.config(r))
		if _, err := c.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
			return fmt.Errorf("enable Security Hub in %s: %w", r, err)
		}
	}
	d.p.printf("  The functions import one ASFF finding per trail and rule (BatchImportFindings, default product")
	d.p.printf("  ARN) and resolve it once the trail is compliant (PASSED, then BatchUpdateFindings: RESOLVED).")
	return nil
}

// showSecurityHub prints the findings the functions sent, in the order
// they sent them, then what Security Hub holds. Every finding must end
// PASSED and RESOLVED.
func (d *demo) showSecurityHub(ctx context.Context) error {
	if d.hub == nil {
		return nil
	}
	if sweep := d.fns[sweepFunction]; sweep != nil {
		// Not every fix produces an event that brings the trail back (a
		// CancelKeyDeletion matches no rule); the scheduled sweeper is what
		// resolves such findings in a deployment.
		d.p.heading("The scheduled sweeper runs once")
		if _, err := sweep(ctx, json.RawMessage(`{"detail-type":"Scheduled Event"}`)); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		d.p.printf("  every trail in %s and %s reconciled again; findings of compliant trails resolved", HomeRegion, OtherRegion)
	}
	d.p.heading("Security Hub: the findings as the functions sent them, then as Security Hub holds them")
	var rows [][]string
	for _, e := range d.hub.take() {
		trail, rule := splitFindingID(e.id)
		rows = append(rows, []string{d.name(trail), rule, e.severity, e.status})
	}
	if len(rows) == 0 {
		d.problems = append(d.problems, "no finding reached Security Hub")
	}
	d.p.table([]string{"trail", "rule", "severity", "sent"}, rows)

	rows = rows[:0]
	for _, r := range []string{HomeRegion, OtherRegion} {
		c := securityhub.NewFromConfig(d.w.config(r))
		for pg := securityhub.NewGetFindingsPaginator(c, &securityhub.GetFindingsInput{}); pg.HasMorePages(); {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("get Security Hub findings in %s: %w", r, err)
			}
			for _, f := range page.Findings {
				trail, rule := splitFindingID(aws.ToString(f.Id))
				comp, wf := "", ""
				if f.Compliance != nil {
					comp = string(f.Compliance.Status)
				}
				if f.Workflow != nil {
					wf = string(f.Workflow.Status)
				}
				rows = append(rows, []string{r, d.name(trail), rule, comp, wf})
				if comp != "PASSED" || wf != "RESOLVED" {
					d.problems = append(d.problems, fmt.Sprintf("Security Hub finding %s is %s/%s, want PASSED/RESOLVED", aws.ToString(f.Id), comp, wf))
				}
			}
		}
	}
	slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(strings.Join(a, " "), strings.Join(b, " ")) })
	d.p.printf("")
	d.p.table([]string{"region", "trail", "rule", "compliance", "workflow"}, rows)
	return nil
}

// splitFindingID splits a trailguard finding Id (<trail ARN>/trailguard/<rule>).
func splitFindingID(id string) (trail, rule string) {
	if i := strings.LastIndex(id, "/trailguard/"); i >= 0 {
		return id[:i], id[i+len("/trailguard/"):]
	}
	return id, ""
}
