package main

import (
	"fmt"
	"math"
)

// Cost model assumptions (stated in the report).
const (
	memoryGB               = 0.25 // the stack's MemorySize: 256 MB
	eventsPerAccountPerDay = 10   // trail and key API calls the rules deliver, trailguard's own included
	sweepsPerDay           = 4    // the default schedule: rate(6 hours)
	trailsPerAccount       = 2    // e.g. the organization trail's shadow and one account trail
	daysPerMonth           = 30.4
	// Lambda prices, us-east-1, arm64 (https://aws.amazon.com/lambda/pricing/),
	// before the free tier.
	pricePerGBSecond       = 0.0000133334
	pricePerMillionRequest = 0.20
	lambdaMaxSeconds       = 900
)

// OrgCost is the monthly Lambda use of one organization size.
type OrgCost struct {
	Accounts           int     `json:"accounts"`
	Trails             int     `json:"trails"`
	EventInvocations   float64 `json:"event_invocations_per_month"`
	EventGBSeconds     float64 `json:"event_gb_seconds_per_month"`
	SweepSeconds       float64 `json:"seconds_per_sweep"`
	SweepInvocations   float64 `json:"sweep_invocations_per_month"`
	SweepGBSeconds     float64 `json:"sweep_gb_seconds_per_month"`
	Requests           float64 `json:"requests_per_month"`
	GBSeconds          float64 `json:"gb_seconds_per_month"`
	USD                float64 `json:"usd_per_month"`
	SweepFitsOneLambda bool    `json:"sweep_fits_one_invocation"`
}

// CostModel derives monthly Lambda use from the measured per-event,
// per-account and per-trail costs.
type CostModel struct {
	Assumptions []string `json:"assumptions"`
	// EventMS is the billed time of one event invocation: the mean
	// critical-path scenario wall time plus the measured init (every
	// event assumed to be a cold start).
	EventMS float64 `json:"event_ms"`
	// SweepMSPerAccount and SweepMSPerTrail come from the largest sweep:
	// its discovery time per account and the rest per trail.
	SweepMSPerAccount float64   `json:"sweep_ms_per_account"`
	SweepMSPerTrail   float64   `json:"sweep_ms_per_trail"`
	From              string    `json:"derived_from"`
	Orgs              []OrgCost `json:"organizations"`
}

// costModel returns nil when the critical path or the sweep was not
// measured.
func costModel(r *Report) *CostModel {
	if r.Critical == nil || r.Sweep == nil {
		return nil
	}
	var walls []float64
	for _, s := range r.Critical.Scenarios {
		if s.Error == "" {
			walls = append(walls, s.WallMS)
		}
	}
	var big *SweepRun
	for i := range r.Sweep.Runs {
		if run := &r.Sweep.Runs[i]; run.Error == "" && (big == nil || run.Trails > big.Trails) {
			big = run
		}
	}
	if len(walls) == 0 || big == nil || big.Accounts == 0 {
		return nil
	}
	var mean float64
	for _, w := range walls {
		mean += w
	}
	mean /= float64(len(walls))
	initMS := 0.0
	if f := r.Footprint; f != nil {
		for _, c := range f.ColdStarts {
			initMS = math.Max(initMS, c.InitMS)
		}
	}
	m := &CostModel{
		EventMS:           mean + initMS,
		SweepMSPerAccount: big.DiscoverySeconds * 1000 / float64(big.Accounts),
		SweepMSPerTrail:   big.ReconcileSeconds * 1000 / float64(big.Trails),
		From: fmt.Sprintf("critical-path mean %.0f ms + init %.0f ms; sweep of %d trails in %d accounts at concurrency %d: discovery %.2f s, reconcile %.2f s, with %.0f ms per AWS call",
			mean, initMS, big.Trails, big.Accounts, big.Concurrency, big.DiscoverySeconds, big.ReconcileSeconds, r.Sweep.LatencyMS),
		Assumptions: []string{
			fmt.Sprintf("%d trail or key events per account per day reach the functions (trailguard's own follow-up events included), each a cold start", eventsPerAccountPerDay),
			fmt.Sprintf("the sweeper runs %d times a day (rate(6 hours)), one invocation per sweep, organization mode", sweepsPerDay),
			fmt.Sprintf("%d trails per account (e.g. the organization trail as seen from the account, and one account trail)", trailsPerAccount),
			fmt.Sprintf("%.0f MB memory (the stack's setting), arm64 prices of us-east-1: $%.10f per GB-second, $%.2f per million requests, before the free tier", memoryGB*1024, pricePerGBSecond, pricePerMillionRequest),
			"per-call latency as injected; the sweep figures are upper bounds: the local emulator serves one call at a time per CPU, where AWS serves accounts and Regions in parallel",
		},
	}
	for _, accounts := range []int{100, 1000} {
		m.Orgs = append(m.Orgs, orgCost(m, accounts))
	}
	return m
}

func orgCost(m *CostModel, accounts int) OrgCost {
	o := OrgCost{Accounts: accounts, Trails: accounts * trailsPerAccount}
	o.EventInvocations = float64(accounts*eventsPerAccountPerDay) * daysPerMonth
	o.EventGBSeconds = o.EventInvocations * math.Ceil(m.EventMS) / 1000 * memoryGB
	o.SweepSeconds = (float64(accounts)*m.SweepMSPerAccount + float64(o.Trails)*m.SweepMSPerTrail) / 1000
	o.SweepInvocations = sweepsPerDay * daysPerMonth
	o.SweepGBSeconds = o.SweepInvocations * o.SweepSeconds * memoryGB
	o.Requests = o.EventInvocations + o.SweepInvocations
	o.GBSeconds = o.EventGBSeconds + o.SweepGBSeconds
	o.USD = o.GBSeconds*pricePerGBSecond + o.Requests/1e6*pricePerMillionRequest
	o.SweepFitsOneLambda = o.SweepSeconds < lambdaMaxSeconds
	return o
}
