package compliance

import (
	"fmt"
	"strings"
)

// trailLevel are the rules about the trail itself, not its key: moving the
// trail to the baseline key does not fix them.
var trailLevel = map[Rule]bool{
	TrailDeliveryFailing: true,
	TrailNotLogging:      true,
	TrailUnverifiable:    true,
}

// trailLevelItems evaluates trail-not-logging and trail-unverifiable.
//
// EventBridge receives "AWS API Call via CloudTrail" events only from a
// trail that is logging (EventBridge user guide, "Events from AWS services",
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html):
// a trail that stopped logging blinds trailguard. It is fixed by
// StartLogging only when Config.StartLogging opts in; otherwise it is an
// alert.
func trailLevelItems(s State, c Config) []item {
	var items []item
	if s.Logging != nil && !*s.Logging {
		it := item{rule: TrailNotLogging, fix: fixInPlace,
			detail: fmt.Sprintf("trail %s is not logging (IsLogging false): no events are recorded, and trailguard receives none for this account and Region from it", s.Trail.ARN)}
		if !c.StartLogging {
			it.fix, it.why = fixAlert, "StartLogging is opt-in (TRAILGUARD_START_LOGGING=true)"
		}
		items = append(items, it)
	}
	if len(s.Unverified) > 0 {
		items = append(items, item{rule: TrailUnverifiable, fix: fixAlert,
			detail: fmt.Sprintf("trail %s cannot be fully checked: %s", s.Trail.ARN, strings.Join(s.Unverified, "; ")),
			why:    "trailguard changes nothing on the basis of a read it was denied"})
	}
	return items
}
