package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailguard/trailguard/pkg/event"
)

// trailEvent is the EventBridge event of a CloudTrail API call on a trail
// (CreateTrail, UpdateTrail), as AWS delivers it.
func trailEvent(account, region, eventName, name, trailARN, bucket string) ([]byte, error) {
	return envelope(account, region, "aws.cloudtrail", event.CloudTrailEventSource, eventName, nil,
		map[string]any{"name": name, "s3BucketName": bucket},
		map[string]any{"name": name, "s3BucketName": bucket, "trailARN": trailARN, "isMultiRegionTrail": false, "isOrganizationTrail": false})
}

// keyEvent is the EventBridge event of a KMS API call on a key
// (PutKeyPolicy, DisableKey, ScheduleKeyDeletion).
func keyEvent(account, region, eventName, keyARN string) ([]byte, error) {
	return envelope(account, region, "aws.kms", event.KMSEventSource, eventName, []string{keyARN},
		map[string]any{"keyId": keyARN}, nil)
}

// scheduledEvent is the EventBridge schedule event of the sweeper.
func scheduledEvent(account, region string) ([]byte, error) {
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "bench-schedule", "detail-type": "Scheduled Event", "source": "aws.events",
		"account": account, "time": time.Now().UTC().Format(time.RFC3339), "region": region,
		"resources": []string{"arn:aws:events:" + region + ":" + account + ":rule/trailguard-sweep"}, "detail": map[string]any{},
	})
	if err != nil {
		return nil, fmt.Errorf("encode scheduled event: %w", err)
	}
	return b, nil
}

func envelope(account, region, source, eventSource, eventName string, keyARNs []string, req, resp map[string]any) ([]byte, error) {
	now := time.Now().UTC().Format(time.RFC3339)
	detail := map[string]any{
		"eventVersion": "1.11",
		"userIdentity": map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::" + account + ":user/bench", "accountId": account},
		"eventTime":    now, "eventSource": eventSource, "eventName": eventName, "awsRegion": region,
		"sourceIPAddress": "192.0.2.1", "userAgent": "trailguard-bench",
		"requestParameters": req, "responseElements": resp,
		"requestID": "bench-request", "eventID": "bench-" + eventName, "readOnly": false,
		"eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account, "eventCategory": "Management",
	}
	resources := []string{}
	if len(keyARNs) > 0 {
		var rs []any
		for _, k := range keyARNs {
			rs = append(rs, map[string]any{"accountId": account, "type": "AWS::KMS::Key", "ARN": k})
			resources = append(resources, k)
		}
		detail["resources"] = rs
	}
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "bench-" + eventName, "detail-type": event.DetailType, "source": source,
		"account": account, "time": now, "region": region, "resources": resources, "detail": detail,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", eventName, err)
	}
	return b, nil
}
