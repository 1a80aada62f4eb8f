package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trailguard/trailguard/pkg/lazyregexp"
)

// Kind is what a request is about.
type Kind int

// The request kinds.
const (
	// KindTrail is a request about a trail (Request.Trail is set).
	KindTrail Kind = iota + 1
	// KindKey is a request about a KMS key (Request.Key is set).
	KindKey
)

// String returns "trail", "key" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case KindTrail:
		return "trail"
	case KindKey:
		return "key"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event sources of the CloudTrail records trailguard reacts to.
const (
	CloudTrailEventSource = "cloudtrail.amazonaws.com"
	KMSEventSource        = "kms.amazonaws.com"
)

// Request is what an event asks trailguard to reconcile: which trail or
// key, in which account and Region. It is decoded from the event only to
// identify the resource; its state is always read again.
type Request struct {
	// Kind is KindTrail or KindKey.
	Kind Kind
	// EventName is the API call, e.g. "UpdateTrail".
	EventName string
	// EventID is the CloudTrail eventID (else the EventBridge event id),
	// for logs.
	EventID string
	// Account is detail.recipientAccountId, else the event's account.
	Account string
	// Region is detail.awsRegion, else the event's region.
	Region string
	// Partition is the ARN partition ("aws", "aws-cn", "aws-us-gov", ...):
	// from the resource ARN, else the caller's ARN, else from Region.
	Partition string
	// Trail (KindTrail) is the trail name or ARN: responseElements.trailARN
	// when present, else requestParameters.name (a name or an ARN).
	Trail string
	// Key (KindKey) is the key: a key ARN from detail.resources, the
	// event's resources or responseElements.keyId when present, else
	// requestParameters.keyId as given (key id, key ARN, alias name or
	// alias ARN).
	Key string
}

// ResourceRegion returns the Region of the resource ARN (Trail or Key)
// when it is an ARN, else Region. Calls about the resource must be made
// there.
func (r Request) ResourceRegion() string {
	if m := arnRegionRE.FindStringSubmatch(r.Resource()); m != nil {
		return m[1]
	}
	return r.Region
}

// Resource returns Trail for a trail request and Key for a key request.
func (r Request) Resource() string {
	if r.Kind == KindKey {
		return r.Key
	}
	return r.Trail
}

// String describes the request for logs, e.g.
// "UpdateTrail trail arn:aws:cloudtrail:... in 111122223333/us-east-1 (event 1234)".
func (r Request) String() string {
	s := fmt.Sprintf("%s %s %s in %s/%s", r.EventName, r.Kind, r.Resource(), r.Account, r.Region)
	if r.EventID != "" {
		s += " (event " + r.EventID + ")"
	}
	return s
}

// ErrIgnored marks an event that is well formed but not for trailguard to
// act on: an API call that failed (errorCode), not an API-call event, an
// event name or source trailguard does not handle, or no usable resource
// id. Handlers acknowledge such events with a log line. Test with
// errors.Is; the wrapping error says why.
var ErrIgnored = errors.New("event ignored")

// ErrMalformed marks an event that is not a valid EventBridge CloudTrail
// event: invalid JSON, a field of the wrong type, or a missing or invalid
// account or Region. Test with errors.Is.
var ErrMalformed = errors.New("malformed event")

// maxID is an upper bound on the length of any identifier Decode returns
// (the patterns it validates them with are shorter).
const maxID = 2048

// envelope is the EventBridge event.
type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Resources  json.RawMessage `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// header is the part of the CloudTrail record read for every event.
type header struct {
	EventSource        string `json:"eventSource"`
	EventName          string `json:"eventName"`
	AWSRegion          string `json:"awsRegion"`
	ErrorCode          string `json:"errorCode"`
	RecipientAccountID string `json:"recipientAccountId"`
	EventID            string `json:"eventID"`
}

// trailRecord is what a trail event is read for.
type trailRecord struct {
	RequestParameters struct {
		Name string `json:"name"`
	} `json:"requestParameters"`
	ResponseElements struct {
		TrailARN string `json:"trailARN"`
	} `json:"responseElements"`
}

// keyRecord is what a key event is read for.
type keyRecord struct {
	RequestParameters struct {
		KeyID string `json:"keyId"`
	} `json:"requestParameters"`
	ResponseElements struct {
		KeyID string `json:"keyId"`
	} `json:"responseElements"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// Decode decodes an EventBridge "AWS API Call via CloudTrail" event, as
// AWS delivers it, into a Request. Errors wrapping ErrIgnored are events to
// acknowledge and skip; errors wrapping ErrMalformed are invalid input.
// Only the fields needed to identify the event are type-checked before it
// is known to be one trailguard handles. Decode never panics.
func Decode(raw []byte) (Request, error) {
	var env envelope
	if err := strictUnmarshal(raw, &env); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.DetailType != DetailType {
		return Request{}, fmt.Errorf("%w: detail-type %s is not an API call event", ErrIgnored, short(env.DetailType))
	}
	if len(env.Detail) == 0 || string(env.Detail) == "null" {
		return Request{}, fmt.Errorf("%w: no detail", ErrMalformed)
	}
	var h header
	if err := strictUnmarshal(env.Detail, &h); err != nil {
		return Request{}, fmt.Errorf("%w: detail: %v", ErrMalformed, err)
	}
	if h.ErrorCode != "" {
		return Request{}, fmt.Errorf("%w: %s failed with errorCode %s", ErrIgnored, short(h.EventName), short(h.ErrorCode))
	}

	r := Request{EventName: h.EventName, EventID: firstOf(h.EventID, env.ID)}
	switch {
	case slices.Contains(TrailEventNames, h.EventName) && sourceIs(h.EventSource, env.Source, CloudTrailEventSource, "aws.cloudtrail"):
		r.Kind = KindTrail
	case slices.Contains(KeyEventNames, h.EventName) && sourceIs(h.EventSource, env.Source, KMSEventSource, "aws.kms"):
		r.Kind = KindKey
	default:
		return Request{}, fmt.Errorf("%w: event %s from %s is not handled", ErrIgnored, short(h.EventName), short(firstOf(h.EventSource, env.Source)))
	}

	r.Account = firstOf(h.RecipientAccountID, env.Account)
	if !accountRE.MatchString(r.Account) {
		return Request{}, fmt.Errorf("%w: account %s is not a 12-digit account id", ErrMalformed, short(r.Account))
	}
	r.Region = firstOf(h.AWSRegion, env.Region)
	if !regionRE.MatchString(r.Region) {
		return Request{}, fmt.Errorf("%w: region %s is not a Region name", ErrMalformed, short(r.Region))
	}

	var resourceARN string
	switch r.Kind {
	case KindTrail:
		var rec trailRecord
		if err := json.Unmarshal(env.Detail, &rec); err != nil {
			return Request{}, fmt.Errorf("%w: detail of %s: %v", ErrMalformed, r.EventName, err)
		}
		r.Trail, resourceARN = trailOf(rec)
		if r.Trail == "" {
			return Request{}, fmt.Errorf("%w: %s without a usable trail name (requestParameters.name %s)", ErrIgnored, r.EventName, short(rec.RequestParameters.Name))
		}
	case KindKey:
		var rec keyRecord
		if err := json.Unmarshal(env.Detail, &rec); err != nil {
			return Request{}, fmt.Errorf("%w: detail of %s: %v", ErrMalformed, r.EventName, err)
		}
		var envResources []string
		if len(env.Resources) > 0 {
			if err := json.Unmarshal(env.Resources, &envResources); err != nil {
				return Request{}, fmt.Errorf("%w: resources: %v", ErrMalformed, err)
			}
		}
		r.Key, resourceARN = keyOf(rec, envResources)
		if r.Key == "" {
			return Request{}, fmt.Errorf("%w: %s without a usable key id (requestParameters.keyId %s)", ErrIgnored, r.EventName, short(rec.RequestParameters.KeyID))
		}
	}
	r.Partition = partitionOf(resourceARN)
	if r.Partition == "" {
		r.Partition = partitionOf(callerARN(env.Detail))
	}
	if r.Partition == "" {
		r.Partition = PartitionForRegion(r.Region)
	}
	return r, nil
}

// callerARN returns detail.userIdentity.arn, or "" when absent or not a
// string.
func callerARN(detail json.RawMessage) string {
	var d struct {
		UserIdentity struct {
			ARN string `json:"arn"`
		} `json:"userIdentity"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return ""
	}
	return d.UserIdentity.ARN
}

// strictUnmarshal decodes one JSON object into v; trailing data, a value
// that is not an object and fields of the wrong type are errors.
func strictUnmarshal(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("empty input")
	}
	if trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(data, v)
}

// sourceIs reports whether a record comes from the wanted service: its
// eventSource, or when that is absent, the EventBridge source.
func sourceIs(eventSource, source, wantEventSource, wantSource string) bool {
	if eventSource != "" {
		return eventSource == wantEventSource
	}
	return source == wantSource
}

// trailOf returns the trail name or ARN and, when it is an ARN, the ARN.
func trailOf(rec trailRecord) (trail, arn string) {
	if a := rec.ResponseElements.TrailARN; trailARNRE.MatchString(a) {
		return a, a
	}
	name := rec.RequestParameters.Name
	switch {
	case trailARNRE.MatchString(name):
		return name, name
	case trailNameRE.MatchString(name):
		return name, ""
	}
	return "", ""
}

// keyOf returns the key reference and, when it is an ARN, the ARN.
func keyOf(rec keyRecord, envResources []string) (key, arn string) {
	for _, res := range rec.Resources {
		if keyARNRE.MatchString(res.ARN) {
			return res.ARN, res.ARN
		}
	}
	for _, a := range envResources {
		if keyARNRE.MatchString(a) {
			return a, a
		}
	}
	if a := rec.ResponseElements.KeyID; keyARNRE.MatchString(a) {
		return a, a
	}
	id := rec.RequestParameters.KeyID
	switch {
	case keyARNRE.MatchString(id), aliasARNRE.MatchString(id):
		return id, id
	case keyIDRE.MatchString(id), aliasNameRE.MatchString(id):
		return id, ""
	}
	return "", ""
}

var (
	partitionPat = `aws(?:-[a-z]+)*`
	regionPat    = `[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}`
	accountRE    = lazyregexp.New(`^[0-9]{12}$`)
	regionRE     = lazyregexp.New(`^` + regionPat + `$`)
	arnRE        = lazyregexp.New(`^arn:(` + partitionPat + `):`)
	arnRegionRE  = lazyregexp.New(`^arn:` + partitionPat + `:[a-z0-9-]+:(` + regionPat + `):`)
	// Trail names: 3-128 of letters, digits, ._- starting and ending with a
	// letter or digit.
	trailNameRE = lazyregexp.New(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,126})[A-Za-z0-9]$`)
	trailARNRE  = lazyregexp.New(`^arn:` + partitionPat + `:cloudtrail:` + regionPat + `:[0-9]{12}:trail/[A-Za-z0-9](?:[A-Za-z0-9._-]{1,126})[A-Za-z0-9]$`)
	keyIDPat    = `(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})`
	keyIDRE     = lazyregexp.New(`^` + keyIDPat + `$`)
	keyARNRE    = lazyregexp.New(`^arn:` + partitionPat + `:kms:` + regionPat + `:[0-9]{12}:key/` + keyIDPat + `$`)
	aliasNameRE = lazyregexp.New(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	aliasARNRE  = lazyregexp.New(`^arn:` + partitionPat + `:kms:` + regionPat + `:[0-9]{12}:alias/[A-Za-z0-9/_-]{1,250}$`)
)

// partitionOf returns the partition of an ARN, or "".
func partitionOf(arn string) string {
	if m := arnRE.FindStringSubmatch(arn); m != nil {
		return m[1]
	}
	return ""
}

// PartitionForRegion returns the ARN partition of a Region name: "aws-cn"
// for cn-*, "aws-us-gov" for us-gov-*, the ISO partitions for their
// Regions, and "aws" otherwise.
func PartitionForRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// short quotes an event value for an error message, shortening long ones.
func short(s string) string {
	const max = 100
	if len(s) > max {
		return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}
