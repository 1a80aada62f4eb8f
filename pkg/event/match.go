package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Matches reports whether the event raw matches the EventBridge pattern p.
// It implements the subset of the pattern language trailguard's patterns
// use, with EventBridge's semantics:
//
//   - a pattern object matches an event object when every pattern field
//     matches the event field of the same name (a missing event field never
//     matches, except {"exists": false});
//   - a nested pattern object (map[string]any or Pattern) matches a nested
//     event object;
//   - a pattern array matches when the event value (or, for an event array,
//     any of its elements) equals one of the array's values: strings,
//     numbers (compared by value), booleans or null;
//   - array values may also be the content filters {"prefix": "s"} and
//     {"exists": true|false}.
//
// It returns an error for invalid JSON, an event that is not an object,
// or a pattern it cannot interpret (an empty array, a bare leaf value, any
// other content filter).
func Matches(p Pattern, raw []byte) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev any
	if err := dec.Decode(&ev); err != nil {
		return false, fmt.Errorf("match: decode event: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return false, errors.New("match: decode event: trailing data after the JSON value")
	}
	obj, ok := ev.(map[string]any)
	if !ok {
		return false, fmt.Errorf("match: event is a JSON %s, not an object", jsonKind(ev))
	}
	if len(p) == 0 {
		return false, errors.New("match: empty pattern")
	}
	return matchObject(map[string]any(p), obj, "")
}

func matchObject(p map[string]any, ev map[string]any, path string) (bool, error) {
	// Check every field (in a stable order) so a bad pattern is reported
	// even when an earlier field already fails to match.
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	matched := true
	for _, k := range keys {
		ok, err := matchField(p[k], ev, k, path+"/"+k)
		if err != nil {
			return false, err
		}
		matched = matched && ok
	}
	return matched, nil
}

func matchField(pv any, ev map[string]any, name, path string) (bool, error) {
	val, present := ev[name]
	switch pv := pv.(type) {
	case Pattern:
		return matchNested(map[string]any(pv), val, present, path)
	case map[string]any:
		return matchNested(pv, val, present, path)
	case []string:
		vals := make([]any, len(pv))
		for i, s := range pv {
			vals[i] = s
		}
		return matchValues(vals, val, present, path)
	case []any:
		return matchValues(pv, val, present, path)
	}
	return false, fmt.Errorf("match: pattern %s: want an object or an array, got %T", path, pv)
}

func matchNested(p map[string]any, val any, present bool, path string) (bool, error) {
	if len(p) == 0 {
		return false, fmt.Errorf("match: pattern %s: empty object", path)
	}
	obj, ok := val.(map[string]any)
	if !present || !ok {
		// Still validate the rest of the pattern.
		_, err := matchObject(p, map[string]any{}, path)
		return false, err
	}
	return matchObject(p, obj, path)
}

func matchValues(pvals []any, val any, present bool, path string) (bool, error) {
	if len(pvals) == 0 {
		return false, fmt.Errorf("match: pattern %s: empty array", path)
	}
	// An event array matches when any element matches.
	candidates := []any{val}
	if arr, ok := val.([]any); ok {
		candidates = arr
	}
	matched := false
	for _, pv := range pvals {
		ok, err := matchValue(pv, candidates, present, path)
		if err != nil {
			return false, err
		}
		matched = matched || ok
	}
	return matched, nil
}

func matchValue(pv any, candidates []any, present bool, path string) (bool, error) {
	if filter, ok := asFilter(pv); ok {
		return matchFilter(filter, candidates, present, path)
	}
	if !present {
		return false, nil
	}
	for _, c := range candidates {
		eq, err := equalLeaf(pv, c, path)
		if err != nil {
			return false, err
		}
		if eq {
			return true, nil
		}
	}
	return false, nil
}

func asFilter(pv any) (map[string]any, bool) {
	switch f := pv.(type) {
	case map[string]any:
		return f, true
	case Pattern:
		return map[string]any(f), true
	}
	return nil, false
}

func matchFilter(f map[string]any, candidates []any, present bool, path string) (bool, error) {
	if len(f) != 1 {
		return false, fmt.Errorf("match: pattern %s: a content filter has exactly one field, got %d", path, len(f))
	}
	for op, arg := range f {
		switch op {
		case "exists":
			want, ok := arg.(bool)
			if !ok {
				return false, fmt.Errorf("match: pattern %s: exists wants a boolean, got %T", path, arg)
			}
			// EventBridge: exists matches leaf values only, not objects.
			has := present
			if present && len(candidates) == 1 {
				if _, isObj := candidates[0].(map[string]any); isObj {
					has = false
				}
			}
			return has == want, nil
		case "prefix":
			pre, ok := arg.(string)
			if !ok {
				return false, fmt.Errorf("match: pattern %s: prefix wants a string, got %T", path, arg)
			}
			if !present {
				return false, nil
			}
			for _, c := range candidates {
				if s, ok := c.(string); ok && strings.HasPrefix(s, pre) {
					return true, nil
				}
			}
			return false, nil
		default:
			return false, fmt.Errorf("match: pattern %s: unsupported content filter %q", path, op)
		}
	}
	return false, nil // unreachable: len(f) == 1
}

// equalLeaf compares a pattern leaf with an event value.
func equalLeaf(pv, ev any, path string) (bool, error) {
	switch p := pv.(type) {
	case nil:
		return ev == nil, nil
	case string:
		s, ok := ev.(string)
		return ok && s == p, nil
	case bool:
		b, ok := ev.(bool)
		return ok && b == p, nil
	case json.Number:
		f, err := p.Float64()
		if err != nil {
			return false, fmt.Errorf("match: pattern %s: number %s: %w", path, p, err)
		}
		return equalNumber(f, ev), nil
	case float64:
		return equalNumber(p, ev), nil
	case float32:
		return equalNumber(float64(p), ev), nil
	case int:
		return equalNumber(float64(p), ev), nil
	case int64:
		return equalNumber(float64(p), ev), nil
	}
	return false, fmt.Errorf("match: pattern %s: unsupported value %v (%T)", path, pv, pv)
}

func equalNumber(want float64, ev any) bool {
	n, ok := ev.(json.Number)
	if !ok {
		return false
	}
	f, err := n.Float64()
	return err == nil && f == want
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case []any:
		return "array"
	}
	return "object"
}
