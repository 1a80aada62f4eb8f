package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// keyARNRE is a KMS key ARN (not an alias: TRAILGUARD_KEYS pins keys).
var keyARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z]{2}(-[a-z]+)+-\d{1,2}):\d{12}:key/[A-Za-z0-9-]+$`)

// validKeyItem reports whether item is "region=keyARN" with the key in
// that Region (TRAILGUARD_KEYS maps a Region to the key of that Region).
func validKeyItem(item string) bool {
	region, arn, ok := strings.Cut(item, "=")
	if !ok || !regionRE.MatchString(region) {
		return false
	}
	m := keyARNRE.FindStringSubmatch(arn)
	return m != nil && m[1] == region
}

// keys reads context "keys" (Config.Keys): a JSON object {"region":
// "keyARN"} (in cdk.json, or as a string with -c), or TRAILGUARD_KEYS'
// own "region=keyARN,region=keyARN" form. Items are returned sorted by
// Region; a Region given twice is an error.
func (r *contextReader) keys(key string) []string {
	var m map[string]string
	switch v := r.get(key).(type) {
	case nil:
		return nil
	case map[string]any:
		m = map[string]string{}
		for k, e := range v {
			s, ok := e.(string)
			if !ok {
				r.fail(key, v, "an object of Region to key ARN strings")
				return nil
			}
			m[k] = s
		}
	case string:
		v = strings.TrimSpace(v)
		if v == "" {
			return nil
		}
		if strings.HasPrefix(v, "{") {
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				r.fail(key, v, "a JSON object of Region to key ARN strings")
				return nil
			}
			break
		}
		m = map[string]string{}
		for _, item := range strings.Split(v, ",") {
			region, arn, _ := strings.Cut(strings.TrimSpace(item), "=")
			region, arn = strings.TrimSpace(region), strings.TrimSpace(arn)
			if _, dup := m[region]; dup {
				r.fail(key, v, "each Region once")
				return nil
			}
			m[region] = arn
		}
	default:
		r.fail(key, v, "an object of Region to key ARN strings")
		return nil
	}
	out := make([]string, 0, len(m))
	for region, arn := range m {
		out = append(out, strings.TrimSpace(region)+"="+strings.TrimSpace(arn))
	}
	slices.Sort(out)
	return out
}
