package demo

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailguard/trailguard/pkg/event"
)

// Account is moto's default account, the recipient of every demo event.
const Account = "123456789012"

// Event sources (EventBridge "source") of the demo's API calls.
const (
	sourceCloudTrail = "aws.cloudtrail"
	sourceKMS        = "aws.kms"
	sourceS3         = "aws.s3"
)

// call is one API call the demo (or trailguard) made, as CloudTrail
// records it.
type call struct {
	// Source is the EventBridge source, e.g. "aws.kms".
	Source string
	// EventName is the API operation, e.g. "PutKeyPolicy".
	EventName string
	// Region is where the call was made (detail.awsRegion).
	Region string
	// Request and Response are requestParameters and responseElements.
	Request  map[string]any
	Response map[string]any
	// KeyARN, for a KMS call on a key, becomes detail.resources.
	KeyARN string
	// Own is true for a call trailguard itself made: AWS records it and
	// delivers it like any other.
	Own bool
}

// eventSource returns the CloudTrail eventSource of c's service.
func (c call) eventSource() string {
	switch c.Source {
	case sourceCloudTrail:
		return event.CloudTrailEventSource
	case sourceKMS:
		return event.KMSEventSource
	case sourceS3:
		return "s3.amazonaws.com"
	}
	return ""
}

// detail returns the CloudTrail record of c, as EventBridge puts it in an
// event's "detail".
func (c call) detail(at time.Time) map[string]any {
	user := "arn:aws:iam::" + Account + ":user/demo"
	agent := "trailguard-demo"
	if c.Own {
		user = "arn:aws:sts::" + Account + ":assumed-role/trailguard-remediator/trailguard"
		agent = "trailguard"
	}
	d := map[string]any{
		"eventVersion": "1.11",
		"userIdentity": map[string]any{
			"type":        "IAMUser",
			"principalId": "AIDADEMO",
			"arn":         user,
			"accountId":   Account,
			"accessKeyId": "testing",
		},
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        c.eventSource(),
		"eventName":          c.EventName,
		"awsRegion":          c.Region,
		"sourceIPAddress":    "127.0.0.1",
		"userAgent":          agent,
		"requestParameters":  c.Request,
		"responseElements":   c.Response,
		"requestID":          newID(),
		"eventID":            newID(),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": Account,
		"eventCategory":      "Management",
	}
	if c.KeyARN != "" {
		d["resources"] = []any{map[string]any{"accountId": Account, "type": "AWS::KMS::Key", "ARN": c.KeyARN}}
	}
	return d
}

// envelope returns the whole EventBridge event for c, as AWS delivers it
// to a rule's target.
func (c call) envelope(at time.Time) ([]byte, error) {
	var resources []string
	if c.KeyARN != "" {
		resources = []string{c.KeyARN}
	}
	ev := map[string]any{
		"version":     "0",
		"id":          newID(),
		"detail-type": event.DetailType,
		"source":      c.Source,
		"account":     Account,
		"time":        at.UTC().Format(time.RFC3339),
		"region":      c.Region,
		"resources":   orEmpty(resources),
		"detail":      c.detail(at),
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", c.EventName, err)
	}
	return b, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newID returns a random UUID (version 4) for event and request ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
