package state

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Allow is the loop guard shared by every container: it records one write
// attempt on resource and returns true while fewer than max attempts were
// recorded in the last window. When it refuses, alert is true the first
// time in the window, so exactly one alert is raised however many
// containers are refused.
//
// The item keeps the attempt times (epoch ms) and a version; every change
// is conditioned on the version read, and a lost race is read again, so
// concurrent writers never count one attempt twice or lose one.
func (s *Store) Allow(ctx context.Context, resource string, max int, window time.Duration) (ok, alert bool, err error) {
	if max < 1 {
		max = 1
	}
	for range 20 {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.tableName(), Key: key(pkGuard, resource), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, false, fmt.Errorf("loop guard %s: read: %w", resource, err)
		}
		now := s.now()
		cut := now.Add(-window).UnixMilli()
		version := numAttr(out.Item, "version")
		var kept []types.AttributeValue
		if l, isList := out.Item["attempts"].(*types.AttributeValueMemberL); isList {
			for _, v := range l.Value {
				if n, isNum := v.(*types.AttributeValueMemberN); isNum {
					if t, perr := strconv.ParseInt(n.Value, 10, 64); perr == nil && t > cut {
						kept = append(kept, n)
					}
				}
			}
		}
		cond, vals := "attribute_not_exists(pk)", map[string]types.AttributeValue{}
		if out.Item != nil {
			cond, vals = "version = :v", map[string]types.AttributeValue{":v": num(version)}
		}
		item := map[string]types.AttributeValue{
			"pk": str(pkGuard), "sk": str(resource), "version": num(version + 1),
			"expires_at": s.expiresAt(2 * window),
		}
		refused := len(kept) >= max
		if refused {
			if alerted := numAttr(out.Item, "alerted_ms"); alerted > cut {
				return false, false, nil
			}
			item["alerted_ms"] = num(now.UnixMilli())
		} else {
			kept = append(kept, num(now.UnixMilli()))
			if a := numAttr(out.Item, "alerted_ms"); a > 0 {
				item["alerted_ms"] = num(a)
			}
		}
		item["attempts"] = &types.AttributeValueMemberL{Value: kept}
		in := &dynamodb.PutItemInput{TableName: s.tableName(), Item: item, ConditionExpression: aws.String(cond)}
		if len(vals) > 0 {
			in.ExpressionAttributeValues = vals
		}
		if _, err := s.db.PutItem(ctx, in); err != nil {
			if conditionFailed(err) {
				continue // another container counted at the same time: read again
			}
			return false, false, fmt.Errorf("loop guard %s: write: %w", resource, err)
		}
		if refused {
			return false, true, nil
		}
		return true, false, nil
	}
	return false, false, fmt.Errorf("loop guard %s: %w", resource, ErrBusy)
}
