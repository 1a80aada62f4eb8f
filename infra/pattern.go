package main

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/trailguard/trailguard/pkg/event"
)

// EventPattern converts a shared pattern definition into the CDK's
// EventPattern, so the rules route exactly what pkg/event defines. Every
// top-level field must be one EventPattern models; list fields must hold
// strings.
func EventPattern(p event.Pattern) (*awsevents.EventPattern, error) {
	var ep awsevents.EventPattern
	lists := map[string]**[]*string{
		"source":      &ep.Source,
		"detail-type": &ep.DetailType,
		"account":     &ep.Account,
		"region":      &ep.Region,
		"resources":   &ep.Resources,
		"id":          &ep.Id,
		"time":        &ep.Time,
		"version":     &ep.Version,
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p[k]
		if k == "detail" {
			d, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("event pattern field detail: want an object, got %T", v)
			}
			ep.Detail = &d
			continue
		}
		dst, ok := lists[k]
		if !ok {
			return nil, fmt.Errorf("event pattern field %q is not supported", k)
		}
		ss, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("event pattern field %s: %w", k, err)
		}
		*dst = &ss
	}
	return &ep, nil
}

// stringList converts a list of strings ([]any or []string) to jsii strings.
func stringList(v any) ([]*string, error) {
	var in []string
	switch l := v.(type) {
	case []string:
		in = l
	case []any:
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %T", e)
			}
			in = append(in, s)
		}
	default:
		return nil, fmt.Errorf("want a list of strings, got %T", v)
	}
	out := make([]*string, len(in))
	for i := range in {
		out[i] = &in[i]
	}
	return out, nil
}
