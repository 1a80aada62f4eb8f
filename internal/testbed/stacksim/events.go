package stacksim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trailguard/trailguard/internal/testbed/awsproxy"
	"github.com/trailguard/trailguard/pkg/event"
)

// EventBridge sources of the API calls trailguard reacts to.
const (
	SourceCloudTrail = "aws.cloudtrail"
	SourceKMS        = "aws.kms"
)

// APICall is one AWS API call as CloudTrail records it.
type APICall struct {
	// Source is the EventBridge source: SourceCloudTrail or SourceKMS.
	Source string
	// EventName is the operation, e.g. "PutKeyPolicy".
	EventName string
	// Account and Region are where the call was made.
	Account, Region string
	// Caller is the principal ARN that made the call.
	Caller string
	// Request and Response are requestParameters and responseElements.
	Request, Response map[string]any
	// Resources are resource ARNs: detail.resources (as AWS::KMS::Key
	// for a KMS call) and the event's resources.
	Resources []string
	// ErrorCode is set for a call that failed.
	ErrorCode string
}

// eventSources maps an EventBridge source to the record's eventSource.
var eventSources = map[string]string{
	SourceCloudTrail: event.CloudTrailEventSource,
	SourceKMS:        event.KMSEventSource,
}

// Event returns the EventBridge "AWS API Call via CloudTrail" event that
// AWS delivers for c.
func (c APICall) Event() ([]byte, error) {
	src, ok := eventSources[c.Source]
	if !ok {
		return nil, fmt.Errorf("stacksim: event for %s: unknown source %q", c.EventName, c.Source)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	detail := map[string]any{
		"eventVersion":       "1.11",
		"userIdentity":       map[string]any{"type": "AssumedRole", "arn": c.Caller, "accountId": c.Account},
		"eventTime":          now,
		"eventSource":        src,
		"eventName":          c.EventName,
		"awsRegion":          c.Region,
		"sourceIPAddress":    "127.0.0.1",
		"userAgent":          "stacksim",
		"requestParameters":  c.Request,
		"responseElements":   c.Response,
		"requestID":          newID(),
		"eventID":            newID(),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": c.Account,
		"eventCategory":      "Management",
	}
	if c.ErrorCode != "" {
		detail["errorCode"] = c.ErrorCode
		detail["errorMessage"] = "the call failed"
	}
	resources := []string{}
	if len(c.Resources) > 0 {
		var rs []any
		for _, r := range c.Resources {
			rs = append(rs, map[string]any{"accountId": c.Account, "type": resourceType(c.Source), "ARN": r})
		}
		detail["resources"] = rs
		resources = c.Resources
	}
	b, err := json.Marshal(map[string]any{
		"version":     "0",
		"id":          newID(),
		"detail-type": event.DetailType,
		"source":      c.Source,
		"account":     c.Account,
		"time":        now,
		"region":      c.Region,
		"resources":   resources,
		"detail":      detail,
	})
	if err != nil {
		return nil, fmt.Errorf("stacksim: encode %s event: %w", c.EventName, err)
	}
	return b, nil
}

func resourceType(source string) string {
	if source == SourceKMS {
		return "AWS::KMS::Key"
	}
	return "AWS::CloudTrail::Trail"
}

// ScheduledEvent returns the EventBridge "Scheduled Event" that starts the
// sweeper.
func ScheduledEvent(account, region string) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": newID(), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": account, "time": time.Now().UTC().Format(time.RFC3339), "region": region,
		"resources": []string{"arn:aws:events:" + region + ":" + account + ":rule/trailguard-sweep"},
		"detail":    map[string]any{},
	})
	return b
}

// recorded are the write operations whose CloudTrail events trailguard's
// rules may match, by the service that records them.
var recorded = map[string]string{
	"CreateTrail":         SourceCloudTrail,
	"UpdateTrail":         SourceCloudTrail,
	"PutKeyPolicy":        SourceKMS,
	"EnableKey":           SourceKMS,
	"DisableKey":          SourceKMS,
	"CancelKeyDeletion":   SourceKMS,
	"ScheduleKeyDeletion": SourceKMS,
	"EnableKeyRotation":   SourceKMS,
}

// FromCall returns what CloudTrail records for a call the proxy forwarded,
// made by caller in account: a write to a trail or a key (reads are not
// needed here). ok is false for any other call and for one that never
// reached AWS (an injected fault other than Lost). A call AWS refused
// carries an error code.
func FromCall(c awsproxy.Call, account, caller string) (APICall, bool) {
	source, ok := recorded[c.Operation]
	if !ok || !c.Forwarded {
		return APICall{}, false
	}
	var body map[string]any
	if err := json.Unmarshal(c.Body, &body); err != nil {
		return APICall{}, false
	}
	call := APICall{Source: source, EventName: c.Operation, Account: account, Region: c.Region, Caller: caller,
		Request: map[string]any{}}
	for k, v := range body {
		call.Request[lowerFirst(k)] = v
	}
	if c.Status >= 300 {
		call.ErrorCode = fmt.Sprintf("HTTP%d", c.Status)
	}
	switch source {
	case SourceKMS:
		if id, _ := body["KeyId"].(string); id != "" {
			call.Resources = []string{keyARN(id, account, c.Region)}
		}
	case SourceCloudTrail:
		if name, _ := body["Name"].(string); strings.HasPrefix(name, "arn:") {
			call.Response = map[string]any{"trailARN": name}
		}
	}
	return call, true
}

// keyARN returns the key ARN of a key id (an ARN is returned as is).
func keyARN(id, account, region string) string {
	if strings.HasPrefix(id, "arn:") || strings.HasPrefix(id, "alias/") {
		return id
	}
	return "arn:" + event.PartitionForRegion(region) + ":kms:" + region + ":" + account + ":key/" + id
}

// lowerFirst turns an API member name into CloudTrail's requestParameters
// spelling: KmsKeyId -> kmsKeyId.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
