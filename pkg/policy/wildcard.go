package policy

import (
	"strings"
	"unicode/utf8"
)

// wildcardMatch reports whether s matches pattern, where "*" matches any
// run of characters (including none) and "?" exactly one character. With
// fold, ASCII letters compare case-insensitively (IAM action names).
// It runs in O(len(pattern)*len(s)) at worst and does not allocate.
func wildcardMatch(pattern, s string, fold bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(pattern) {
			switch c := pattern[pi]; c {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(s[si:])
				pi++
				si += w
				continue
			default:
				if c == s[si] || fold && lowerASCII(c) == lowerASCII(s[si]) {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last "*" swallow one more character and retry.
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		si = starS
		pi = starP + 1
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// arnLike matches an ARN against an ARN pattern the way the ArnLike and
// ArnEquals condition operators do: each of the six colon-separated parts
// (arn, partition, service, region, account, resource; the resource may
// itself contain colons) is matched separately with "*" and "?", case
// sensitively, so a wildcard never spans a colon in the first five parts.
// A value with fewer than six parts is not an ARN and never matches. A
// pattern with fewer than six parts, "*" included, is not one the ARN
// condition operators documentation describes ("Each of the six
// colon-delimited components of the ARN is checked separately",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN),
// so the result is unknown.
func arnLike(pattern, value string) tri {
	if strings.Count(value, ":") < 5 {
		return triFalse
	}
	if strings.Count(pattern, ":") < 5 {
		return triUnknown
	}
	p, v := pattern, value
	for range 5 {
		pi := strings.IndexByte(p, ':')
		vi := strings.IndexByte(v, ':')
		if !wildcardMatch(p[:pi], v[:vi], false) {
			return triFalse
		}
		p, v = p[pi+1:], v[vi+1:]
	}
	return boolTri(wildcardMatch(p, v, false))
}

// arnParts splits an ARN into its partition, service, region, account and
// resource without allocating; ok is false when s is not an ARN.
func arnParts(s string) (partition, service, region, account, resource string, ok bool) {
	if !strings.HasPrefix(s, "arn:") {
		return "", "", "", "", "", false
	}
	rest := s[len("arn:"):]
	var parts [4]string
	for i := range parts {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return "", "", "", "", "", false
		}
		parts[i], rest = rest[:j], rest[j+1:]
	}
	return parts[0], parts[1], parts[2], parts[3], rest, true
}

// isAccountID reports whether s is a 12-digit AWS account id.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Like reports whether s matches pattern the way the StringLike condition
// operator does: case-sensitive, "*" matches any run of characters and "?"
// any single character.
func Like(pattern, s string) bool { return wildcardMatch(pattern, s, false) }
