package compliance

import (
	"strings"
)

// arn is a parsed Amazon Resource Name.
type arn struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string
}

// parseARN splits s into its six parts. It accepts any partition of the
// form aws or aws-<suffix> and rejects anything else, so a partition is
// always read from an ARN and never assumed.
func parseARN(s string) (arn, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !validPartition(parts[1]) || parts[2] == "" || parts[5] == "" {
		return arn{}, false
	}
	return arn{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}, true
}

// String writes the ARN back.
func (a arn) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

func validPartition(p string) bool {
	if p == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "aws-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}

// validAccount reports whether s is a 12-digit account id.
func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// hasWildcard reports whether s contains an IAM wildcard character, which
// trailguard never writes into a grant value it builds from a trail or
// reader.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// parseTrailARN parses a CloudTrail trail ARN
// (arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME) without wildcards.
func parseTrailARN(s string) (arn, bool) {
	a, ok := parseARN(s)
	if !ok || a.Service != "cloudtrail" || a.Region == "" || !validAccount(a.Account) ||
		!strings.HasPrefix(a.Resource, "trail/") || len(a.Resource) == len("trail/") || hasWildcard(s) ||
		strings.ContainsAny(s, " \t\r\n\"") {
		return arn{}, false
	}
	return a, true
}

// parsePrincipalARN parses an IAM or STS principal ARN (a user, role,
// assumed role or account root) without wildcards.
func parsePrincipalARN(s string) (arn, bool) {
	a, ok := parseARN(s)
	if !ok || (a.Service != "iam" && a.Service != "sts") || a.Region != "" || !validAccount(a.Account) ||
		hasWildcard(s) || strings.ContainsAny(s, " \t\r\n\"") {
		return arn{}, false
	}
	return a, true
}

// rootARN is the ARN that stands for a whole account in a key policy.
func rootARN(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
}

// trailPattern is the encryption-context pattern matching every trail of an
// account, as in AWS's documented encrypt statement.
func trailPattern(partition, account string) string {
	return "arn:" + partition + ":cloudtrail:*:" + account + ":trail/*"
}

// keyAccount is the account that owns k: Key.Account, else the account in
// its ARN.
func keyAccount(k *Key) string {
	if k.Account != "" {
		return k.Account
	}
	if a, ok := parseARN(k.ARN); ok {
		return a.Account
	}
	return ""
}

// keyRegion is the Region of k: Key.Region, else the Region in its ARN.
func keyRegion(k *Key) string {
	if k.Region != "" {
		return k.Region
	}
	if a, ok := parseARN(k.ARN); ok {
		return a.Region
	}
	return ""
}
