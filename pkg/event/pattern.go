package event

// DetailType is the EventBridge detail-type of CloudTrail API call events.
const DetailType = "AWS API Call via CloudTrail"

// Trail and key event names trailguard reacts to. StopLogging and
// DeleteTrail matter because EventBridge receives API-call events only
// from a trail that is logging: the trail-remediator then reports
// trail-not-logging and alerts when the account and Region are left with
// no logging trail.
var (
	TrailEventNames = []string{"CreateTrail", "UpdateTrail", "StopLogging", "DeleteTrail"}
	KeyEventNames   = []string{"PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion"}
)

// Pattern is an EventBridge event pattern.
type Pattern map[string]any

// TrailPattern matches the trail events routed to trail-remediator.
func TrailPattern() Pattern {
	return pattern("aws.cloudtrail", "cloudtrail.amazonaws.com", TrailEventNames)
}

// KeyPattern matches the key events routed to key-remediator.
func KeyPattern() Pattern {
	return pattern("aws.kms", "kms.amazonaws.com", KeyEventNames)
}

func pattern(source, eventSource string, names []string) Pattern {
	return Pattern{
		"source":      []any{source},
		"detail-type": []any{DetailType},
		"detail": map[string]any{
			"eventSource": []any{eventSource},
			"eventName":   toAny(names),
		},
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
